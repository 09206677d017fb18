"""Tunnelling spectroscopy: superconducting DOS models, fits, superconducting-tip calibration
and deconvolution, peak analysis and series.

The names below are imported on first use (PEP 562): ``import supramap.sts.gapmap`` no longer
pays for the deconvolution and scipy.signal (1.2 s of a command's start-up before).

``deconvolve`` is both a function and the submodule that holds it: once anything has imported
``supramap.sts.deconvolve`` the package attribute is the module, so code inside supramap imports
the function from ``supramap.sts.deconvolve``.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Deconvolution": "deconvolve", "deconvolve": "deconvolve", "sis_kernel": "deconvolve",
    "FitResult": "fit", "calibrate_tip": "fit", "fit_global": "fit", "fit_spectrum": "fit",
    "K_B": "lineshapes", "anisotropic": "lineshapes", "bcs": "lineshapes",
    "dynes": "lineshapes", "dynes_derivative": "lineshapes", "fermi": "lineshapes",
    "lockin_kernel": "lineshapes", "minus_dfermi": "lineshapes", "multigap": "lineshapes",
    "nis_conductance": "lineshapes", "sis_conductance": "lineshapes",
    "TipModel": "models",
    "G0": "peaks", "CoherencePeaks": "peaks", "ZeroBiasPeak": "peaks",
    "coherence_peaks": "peaks", "zero_bias_peak": "peaks",
    "SeriesResult": "series", "track_low_energy_peaks": "series", "transmissivity": "series",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f"supramap.sts.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'supramap.sts' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
