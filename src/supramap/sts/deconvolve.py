"""Recovering the sample DOS from an SIS spectrum taken with a calibrated superconducting tip.

The conductance is linear in the sample DOS, G = K N_s, with the kernel of
:func:`supramap.sts.lineshapes.sis_conductance` written as a matrix once.  N_s = 1 + y is found
by Tikhonov regularisation — smoothness (second differences) plus a small pull towards the
normal state, so energies the data do not constrain (the padding beyond the window) stay at 1
— with λ chosen by generalised cross-validation, and N_s ≥ 0 enforced when needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.linalg import cho_factor, cho_solve
from scipy.optimize import lsq_linear

from supramap.errors import AnalysisError
from supramap.sts.lineshapes import fermi, minus_dfermi
from supramap.sts.models import TipModel, check_bias
from supramap.sts.peaks import coherence_peaks


def sis_kernel(bias: np.ndarray, energy: np.ndarray, tip: TipModel) -> np.ndarray:
    """K[i, j] with G(V_i) = Σ_j K[i, j] N_s(E_j):
    (N_t′(E−eV)[f(E) − f(E−eV)] − N_t(E−eV) f′(E−eV)) dE — the kernel of
    :func:`~supramap.sts.lineshapes.sis_conductance` in the same sample-bias convention (a
    sample state at +E appears at positive bias)."""
    e = np.asarray(energy, dtype=float)
    de = float(e[1] - e[0])
    ev = e[None, :] - np.asarray(bias, dtype=float)[:, None]
    t = tip.temperature_K
    return (tip.dos_derivative(ev) * (fermi(e[None, :], t) - fermi(ev, t))
            + tip.dos(ev) * minus_dfermi(ev, t)) * de


@dataclass
class Deconvolution:
    """Recovered sample DOS on ``energy_eV``, the regularisation used, the re-convolved fit."""

    energy_eV: np.ndarray
    dos: np.ndarray
    regularisation: dict[str, Any]
    gaps_eV: list[float]
    bias: np.ndarray = field(repr=False)
    data: np.ndarray = field(repr=False)
    reconvolved: np.ndarray = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        """Keys of ``supramap sts deconvolve --json``."""
        return {"energy_eV": self.energy_eV.tolist(), "dos": self.dos.tolist(),
                "regularisation": self.regularisation, "gaps_eV": self.gaps_eV,
                "rms_residual": float(np.sqrt(np.mean((self.data - self.reconvolved) ** 2)))}


def _second_difference(n: int) -> np.ndarray:
    d = np.zeros((n - 2, n))
    i = np.arange(n - 2)
    d[i, i], d[i, i + 1], d[i, i + 2] = 1.0, -2.0, 1.0
    return d


def deconvolve(bias: np.ndarray, g: np.ndarray, tip: TipModel, *, pad_eV: float | None = None,
               step_eV: float | None = None, lam: float | None = None, ridge: float = 1e-3,
               normalise: bool = True) -> Deconvolution:
    """Sample DOS from an SIS conductance spectrum and a calibrated tip.

    Parameters
    ----------
    bias, g : 1-D arrays (V, conductance)
    tip : TipModel
    pad_eV : float
        Energy range beyond the bias window (default 2 Δ_tip + 10 k_B T).
    step_eV : float
        Energy grid step (default the bias step).
    lam : float, optional
        Regularisation weight; default chosen by GCV over a log grid.
    normalise : bool
        Divide g by its value far from the gaps (median of the outer 10 %) first.
    """
    b, y = check_bias(bias, g)
    if normalise:
        outer = np.abs(b) >= 0.9 * np.abs(b).max()
        y = y / float(np.median(y[outer]))
    step = step_eV or float(np.median(np.diff(b)))
    pad = pad_eV if pad_eV is not None else 2 * tip.delta_eV + 10 * 8.617e-5 * tip.temperature_K
    vmax = float(np.abs(b).max())
    n = int(np.ceil(2 * (vmax + pad) / step)) + 1
    if n > 6000:
        raise AnalysisError(f"energy grid of {n} points is too fine; give a larger step_eV")
    e = -(vmax + pad) + step * np.arange(n)
    k = sis_kernel(b, e, tip)
    r = y - k.sum(axis=1)  # data minus the response to N_s = 1
    d2 = _second_difference(n)
    reg = d2.T @ d2 + ridge * np.eye(n)
    ktk = k.T @ k
    ktr = k.T @ r
    scale = np.trace(ktk) / np.trace(reg)

    def solve(lmb: float) -> tuple[np.ndarray, float]:
        a = ktk + lmb * scale * reg
        c = cho_factor(a)
        sol = cho_solve(c, ktr)
        infl = np.trace(cho_solve(c, ktk))  # trace of the influence matrix
        res = float(np.sum((k @ sol - r) ** 2))
        gcv = res / max((b.size - infl) ** 2, 1e-300) * b.size
        return sol, gcv

    if lam is None:
        grid = np.logspace(-12, 0, 13)
        scores = [solve(lv)[1] for lv in grid]
        lam = float(grid[int(np.argmin(scores))])
        method = "GCV"
    else:
        method = "user"
    sol, gcv = solve(lam)
    nonneg = False
    if (1 + sol).min() < 0:
        aug = np.vstack([k, np.sqrt(lam * scale) * np.linalg.cholesky(reg).T])
        rhs = np.concatenate([r, np.zeros(n)])
        sol = lsq_linear(aug, rhs, bounds=(-1.0, np.inf), lsmr_tol="auto").x
        nonneg = True
    dos = 1 + sol
    # The data constrain N_s only where the tip's coherence peak sweeps across it:
    # |E| ≤ V_max − Δ_tip − 3 k_B T.  Gaps are reported inside that range only.
    trusted = vmax - tip.delta_eV - 3 * 8.617e-5 * tip.temperature_K
    inside = np.abs(e) <= trusted
    peaks = coherence_peaks(e[inside], dos[inside], prominence=0.02, min_width_points=0)
    gaps = sorted(p for p in peaks.positions_eV if p > 0)
    return Deconvolution(e, dos, {"method": method, "lambda": lam, "gcv": gcv,
                                  "ridge": ridge, "nonnegative_enforced": nonneg,
                                  "pad_eV": pad, "step_eV": step,
                                  "trusted_range_eV": trusted},
                         gaps, b, y, k @ dos)
