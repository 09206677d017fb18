"""Bulk characterisation: transport, magnetisation, specific heat, critical current."""

from supramap.bulk.heat import (
    HeatResult,
    analyze_heat,
    debye_temperature,
    entropy_conserving_jump,
    fit_gamma_beta,
)
from supramap.bulk.loops import LoopResult, analyze_loop, bean_jc_cgs, bean_jc_si
from supramap.bulk.magnetisation import (
    Branches,
    SusceptibilityResult,
    analyze_susceptibility,
    demag_correct,
    demag_ellipsoid,
    demag_prism,
    identify_branches,
    onset_temperature,
    si_to_cgs_susceptibility,
    volume_susceptibility,
)
from supramap.bulk.transport import (
    FieldSweepResult,
    Transition,
    TransportResult,
    analyze_field_sweeps,
    analyze_transport,
    resistivity,
    transition,
)

__all__ = [
    "analyze_transport", "TransportResult", "transition", "Transition", "resistivity",
    "analyze_field_sweeps", "FieldSweepResult", "analyze_susceptibility", "SusceptibilityResult",
    "identify_branches", "Branches",
    "demag_prism", "demag_ellipsoid", "demag_correct", "volume_susceptibility",
    "si_to_cgs_susceptibility", "onset_temperature", "analyze_heat", "HeatResult",
    "fit_gamma_beta", "debye_temperature", "entropy_conserving_jump", "analyze_loop",
    "LoopResult", "bean_jc_si", "bean_jc_cgs",
]
