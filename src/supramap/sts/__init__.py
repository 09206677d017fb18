"""Tunnelling spectroscopy: superconducting DOS models, fits, superconducting-tip calibration
and deconvolution, peak analysis and series."""

from supramap.sts.deconvolve import Deconvolution, deconvolve, sis_kernel
from supramap.sts.fit import FitResult, calibrate_tip, fit_global, fit_spectrum
from supramap.sts.lineshapes import (
    K_B,
    anisotropic,
    bcs,
    dynes,
    dynes_derivative,
    fermi,
    lockin_kernel,
    minus_dfermi,
    multigap,
    nis_conductance,
    sis_conductance,
)
from supramap.sts.models import TipModel
from supramap.sts.peaks import G0, CoherencePeaks, ZeroBiasPeak, coherence_peaks, zero_bias_peak
from supramap.sts.series import SeriesResult, track_low_energy_peaks, transmissivity

__all__ = [
    "K_B", "G0", "fermi", "minus_dfermi", "dynes", "dynes_derivative", "bcs", "multigap",
    "anisotropic", "lockin_kernel", "nis_conductance", "sis_conductance", "TipModel",
    "fit_spectrum", "fit_global", "calibrate_tip", "FitResult", "deconvolve", "sis_kernel",
    "Deconvolution", "coherence_peaks", "CoherencePeaks", "zero_bias_peak", "ZeroBiasPeak",
    "track_low_energy_peaks", "transmissivity", "SeriesResult",
]
