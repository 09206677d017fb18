"""Atom probe tomography: ranging, mass spectra, compositions, profiles, needle comparison."""

from supramap.apt.analysis import (
    Composition,
    Profile,
    Spectrum,
    assign,
    compare_compositions,
    composition,
    concentration_map,
    depth_profile,
    detect_cap,
    local_background,
    mass_spectrum,
    ratio,
)
from supramap.apt.isotopes import (
    decompose,
    element_isotopes,
    ion_label,
    isotope_pattern,
    parse_formula,
)

__all__ = [
    "assign", "mass_spectrum", "Spectrum", "composition", "Composition", "depth_profile",
    "Profile", "detect_cap", "concentration_map", "local_background", "ratio",
    "compare_compositions", "isotope_pattern", "element_isotopes", "decompose", "parse_formula",
    "ion_label",
]
