"""Magnetisation: volume susceptibility, demagnetisation, shielding and Meissner fractions."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.special import elliprd

from supramap.errors import AnalysisError

MU0 = 4e-7 * np.pi


def demag_prism(a: float, b: float, c: float) -> float:
    """Demagnetising factor along *c* of a rectangular prism of edges a × b × c.

    Aharoni, J. Appl. Phys. 83, 3432 (1998), eq. (1), with half-edges a/2, b/2, c/2.
    A cube gives 1/3; the three factors of any prism sum to 1.
    """
    for v in (a, b, c):
        if not (np.isfinite(v) and v > 0):
            raise AnalysisError(f"prism edges must be positive, got {a}, {b}, {c}")
    a, b, c = a / 2, b / 2, c / 2
    abc = np.sqrt(a * a + b * b + c * c)
    ab = np.sqrt(a * a + b * b)
    bc = np.sqrt(b * b + c * c)
    ac = np.sqrt(a * a + c * c)
    pi_d = (
        (b * b - c * c) / (2 * b * c) * np.log((abc - a) / (abc + a))
        + (a * a - c * c) / (2 * a * c) * np.log((abc - b) / (abc + b))
        + b / (2 * c) * np.log((ab + a) / (ab - a))
        + a / (2 * c) * np.log((ab + b) / (ab - b))
        + c / (2 * a) * np.log((bc - b) / (bc + b))
        + c / (2 * b) * np.log((ac - a) / (ac + a))
        + 2 * np.arctan(a * b / (c * abc))
        + (a**3 + b**3 - 2 * c**3) / (3 * a * b * c)
        + (a * a + b * b - 2 * c * c) / (3 * a * b * c) * abc
        + c / (a * b) * (ac + bc)
        - (ab**3 + bc**3 + ac**3) / (3 * a * b * c)
    )
    return float(pi_d / np.pi)


def demag_ellipsoid(a: float, b: float, c: float) -> float:
    """Demagnetising factor along the *c* semi-axis of an ellipsoid with semi-axes a, b, c.

    Osborn, Phys. Rev. 67, 351 (1945), written with Carlson's symmetric integral:
    ``N_c = (abc/3) R_D(a², b², c²)``.  A sphere gives 1/3.
    """
    for v in (a, b, c):
        if not (np.isfinite(v) and v > 0):
            raise AnalysisError(f"ellipsoid semi-axes must be positive, got {a}, {b}, {c}")
    return float(a * b * c / 3 * elliprd(a * a, b * b, c * c))


def volume_susceptibility(moment: np.ndarray, field: np.ndarray, volume: float) -> np.ndarray:
    """SI volume susceptibility χ = M/H = m/(V·H) with H = µ0H/µ0.

    Parameters
    ----------
    moment : array, A·m²
    field : array, µ0H in T
    volume : float, m³
    """
    if not (volume is not None and np.isfinite(volume) and volume > 0):
        raise AnalysisError(f"sample volume must be positive (m³), got {volume}")
    h = np.asarray(field, dtype=float) / MU0
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(h != 0, np.asarray(moment, dtype=float) / volume / h, np.nan)


def si_to_cgs_susceptibility(chi_si: np.ndarray) -> np.ndarray:
    """Dimensionless SI volume susceptibility → CGS (emu cm⁻³ Oe⁻¹): χ_cgs = χ_SI / 4π."""
    return np.asarray(chi_si) / (4 * np.pi)


def demag_correct(chi: np.ndarray, n: float) -> np.ndarray:
    """Intrinsic susceptibility χ = χ_m / (1 − N χ_m) from the measured χ_m (SI)."""
    if not 0 <= n <= 1:
        raise AnalysisError(f"demagnetisation factor must lie in [0, 1], got {n}")
    chi = np.asarray(chi, dtype=float)
    return chi / (1 - n * chi)


def onset_temperature(t: np.ndarray, chi: np.ndarray, *, criterion: float = 0.02) -> float:
    """Highest temperature where χ falls below its normal-state value by *criterion* × the
    full diamagnetic drop (normal state: median of the top 20 % of temperatures)."""
    order = np.argsort(t)
    t, chi = np.asarray(t, float)[order], np.asarray(chi, float)[order]
    ok = np.isfinite(t) & np.isfinite(chi)
    t, chi = t[ok], chi[ok]
    if t.size < 8:
        raise AnalysisError("susceptibility: need at least 8 valid points")
    top = chi[t >= t[0] + 0.8 * (t[-1] - t[0])]
    base = float(np.median(top))
    drop = base - float(np.min(chi))
    if drop <= 0:
        return float("nan")
    below = chi < base - criterion * drop
    idx = np.nonzero(~below)[0]
    # The last point (from low T) of the initial run that is below the criterion.
    first_not = idx[0] if idx.size else t.size
    if first_not == 0:
        return float("nan")
    i = first_not - 1
    if i + 1 >= t.size:
        return float(t[i])
    lv = base - criterion * drop
    frac = (lv - chi[i]) / (chi[i + 1] - chi[i]) if chi[i + 1] != chi[i] else 0.0
    return float(t[i] + frac * (t[i + 1] - t[i]))


@dataclass(frozen=True)
class SusceptibilityResult:
    """ZFC/FC analysis: demagnetisation factor, corrected χ at the lowest T, fractions, Tc."""

    demag_factor: float
    chi_zfc_measured: float
    chi_fc_measured: float
    chi_zfc: float
    chi_fc: float
    shielding_fraction: float
    meissner_fraction: float
    Tc_onset_K: float
    chi_zfc_cgs: float

    def to_dict(self) -> dict[str, Any]:
        """Keys of ``supramap bulk susceptibility --json``."""
        return asdict(self)


def analyze_susceptibility(t_zfc: np.ndarray, chi_zfc: np.ndarray, t_fc: np.ndarray | None,
                           chi_fc: np.ndarray | None, *, demag_factor: float,
                           ) -> SusceptibilityResult:
    """Shielding (ZFC) and Meissner (FC) fractions after the demagnetisation correction.

    χ inputs are measured SI volume susceptibilities; fractions are −χ_corrected at the lowest
    temperature (1 = full diamagnetism).
    """
    tz = np.asarray(t_zfc, float)
    cz = np.asarray(chi_zfc, float)
    if tz.size < 8:
        raise AnalysisError("susceptibility: the ZFC branch needs at least 8 points")
    z_meas = float(np.nanmedian(cz[np.argsort(tz)[:3]]))  # the three lowest temperatures
    z = float(demag_correct(z_meas, demag_factor))
    if t_fc is not None and chi_fc is not None and np.size(t_fc) >= 3:
        f_meas = float(np.nanmedian(np.asarray(chi_fc, float)[np.argsort(t_fc)[:3]]))
        f = float(demag_correct(f_meas, demag_factor))
    else:
        f_meas = f = float("nan")
    return SusceptibilityResult(
        demag_factor=float(demag_factor), chi_zfc_measured=z_meas, chi_fc_measured=f_meas,
        chi_zfc=z, chi_fc=f, shielding_fraction=-z, meissner_fraction=-f,
        Tc_onset_K=onset_temperature(tz, cz), chi_zfc_cgs=float(si_to_cgs_susceptibility(z)),
    )
