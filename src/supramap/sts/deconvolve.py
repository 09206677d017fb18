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
from scipy.optimize import lsq_linear

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.quality import QualityWarning, warn, warnings_to_list
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


@displayable
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
    warnings: tuple[QualityWarning, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Keys of ``supramap sts deconvolve --json`` (the DOS is null outside the trusted
        range)."""
        return {"energy_eV": self.energy_eV.tolist(), "dos": self.dos.tolist(),
                "warnings": warnings_to_list(self.warnings),
                "regularisation": self.regularisation, "gaps_eV": self.gaps_eV,
                "rms_residual": float(np.sqrt(np.mean((self.data - self.reconvolved) ** 2)))}


def _second_difference(n: int) -> np.ndarray:
    d = np.zeros((n - 2, n))
    i = np.arange(n - 2)
    d[i, i], d[i, i + 1], d[i, i + 2] = 1.0, -2.0, 1.0
    return d


def _bounded_quadratic(h: np.ndarray, g: np.ndarray, start: np.ndarray, *, lower: float,
                       max_iter: int = 30) -> np.ndarray | None:
    """Minimise ½ xᵀHx − gᵀx subject to x ≥ *lower* (H positive definite) by a primal active
    set: pin the violating variables to the bound, solve for the others, release pinned ones
    whose gradient points into the feasible side, until the KKT conditions hold.  Only a few
    energies hit N_s = 0, so this takes a few dense solves (≪ ``lsq_linear`` on the stacked
    system, 7 s of the 11 s a deconvolution took).  None when it does not settle."""
    from scipy.linalg import cho_factor, cho_solve

    n = g.size
    pinned = start < lower
    x = np.where(pinned, lower, start)
    for _ in range(max_iter):
        free = ~pinned
        if free.any():
            rhs = g[free] - h[np.ix_(free, pinned)] @ np.full(pinned.sum(), lower)
            try:
                x_free = cho_solve(cho_factor(h[np.ix_(free, free)]), rhs)
            except np.linalg.LinAlgError:  # λ so small that H is singular: the general solver
                return None
        else:
            x_free = np.array([])
        x = np.full(n, lower)
        x[free] = x_free
        viol = free & (x < lower - 1e-12)
        if viol.any():
            pinned |= viol
            continue
        grad = h @ x - g  # the multiplier of a pinned variable is its gradient; must be ≥ 0
        release = pinned & (grad < -1e-12 * max(1.0, float(np.abs(g).max())))
        if not release.any():
            return np.maximum(x, lower)
        pinned &= ~release
    return None


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
    # One factorisation for every λ: with R = L Lᵀ (Cholesky) and L⁻¹ KᵀK L⁻ᵀ = U Λ Uᵀ,
    # (KᵀK + λ s R)⁻¹ = L⁻ᵀ U (Λ + λ s)⁻¹ Uᵀ L⁻¹, the influence trace is Σ Λᵢ/(Λᵢ + λ s) and
    # each point of the GCV path costs O(n²) instead of a new factorisation.
    from scipy.linalg import eigh, solve_triangular

    chol = np.linalg.cholesky(reg)
    linv_ktk = solve_triangular(chol, ktk, lower=True)
    m_sym = solve_triangular(chol, linv_ktk.T, lower=True)
    m_sym = 0.5 * (m_sym + m_sym.T)
    lam_eig, u = eigh(m_sym)
    lam_eig = np.clip(lam_eig, 0, None)
    z = u.T @ solve_triangular(chol, ktr, lower=True)

    def solve(lmb: float) -> tuple[np.ndarray, float]:
        w = z / (lam_eig + lmb * scale)
        sol = solve_triangular(chol.T, u @ w, lower=False)
        infl = float(np.sum(lam_eig / (lam_eig + lmb * scale)))
        res = float(np.sum((k @ sol - r) ** 2))
        gcv = res / max((b.size - infl) ** 2, 1e-300) * b.size
        return sol, gcv

    warnings_: list[QualityWarning] = []
    if lam is None:
        lo_exp, hi_exp = -12.0, 0.0
        for _ in range(3):  # extend the λ grid while GCV's minimum sits at one of its ends
            grid = np.logspace(lo_exp, hi_exp, int(round(hi_exp - lo_exp)) + 1)
            scores = [solve(lv)[1] for lv in grid]
            i = int(np.argmin(scores))
            if 0 < i < grid.size - 1:
                break
            if i == 0:
                lo_exp -= 4
            else:
                hi_exp += 4
        lam = float(grid[i])
        method = "GCV"
        if i in (0, grid.size - 1):
            warnings_.append(warn(
                "deconvolution.gcv_edge",
                f"generalised cross-validation chose λ = {lam:.1e} at the end of its grid "
                f"(1e{lo_exp:.0f}…1e{hi_exp:.0f}): the regularisation is not determined by the "
                "data (noise-free or over-smoothed input); give --lambda", lam=lam))
    else:
        method = "user"
    sol, gcv = solve(lam)
    nonneg = False
    if (1 + sol).min() < 0:
        h = ktk + lam * scale * reg
        sol = _bounded_quadratic(h, ktr, sol, lower=-1.0)
        if sol is None:  # the active set did not settle: the general bounded solver
            aug = np.vstack([k, np.sqrt(lam * scale) * chol.T])
            rhs = np.concatenate([r, np.zeros(n)])
            sol = lsq_linear(aug, rhs, bounds=(-1.0, np.inf), lsmr_tol="auto").x
        nonneg = True
    dos = 1 + sol
    # The data constrain N_s only where the tip's coherence peak sweeps across it:
    # |E| ≤ V_max − Δ_tip − 3 k_B T.  Gaps are reported inside that range only, and the DOS
    # outside it is masked (NaN), never drawn as if measured.
    trusted = vmax - tip.delta_eV - 3 * 8.617e-5 * tip.temperature_K
    inside = np.abs(e) <= trusted
    if trusted <= 0:
        raise AnalysisError(f"the bias window ±{vmax * 1e3:.3g} mV does not reach beyond the tip "
                            f"gap ({tip.delta_eV * 1e3:.3g} meV): nothing of the sample DOS is "
                            "constrained")
    peaks = coherence_peaks(e[inside], dos[inside], prominence=0.02, min_width_points=0)
    gaps = sorted(p for p in peaks.positions_eV if p > 0)
    reconvolved = k @ dos
    dos = np.where(inside, dos, np.nan)
    return Deconvolution(e, dos, {"method": method, "lambda": lam, "gcv": gcv,
                                  "ridge": ridge, "nonnegative_enforced": nonneg,
                                  "pad_eV": pad, "step_eV": step,
                                  "trusted_range_eV": trusted},
                         gaps, b, y, reconvolved, tuple(warnings_))
