"""Specific heat: Sommerfeld and Debye coefficients, the jump, superconducting volume fraction."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.integrate import trapezoid
from scipy.optimize import brentq

from supramap.errors import AnalysisError

R_GAS = 8.314462618  # J / (mol K)


@dataclass(frozen=True)
class DebyeFit:
    """C/T = γ + β T² fitted in a window (SI: J mol⁻¹ K⁻², J mol⁻¹ K⁻⁴)."""

    gamma: float
    gamma_err: float
    beta: float
    beta_err: float
    window_K: tuple[float, float]
    n_points: int
    redchi: float


def debye_temperature(beta: float, atoms_per_formula_unit: float) -> float:
    """θ_D = (12 π⁴ n R / (5 β))^(1/3) with β in J mol⁻¹ K⁻⁴."""
    if not (beta > 0 and atoms_per_formula_unit > 0):
        raise AnalysisError(f"θ_D needs β > 0 and n > 0, got β={beta}, n={atoms_per_formula_unit}")
    return float((12 * np.pi**4 * atoms_per_formula_unit * R_GAS / (5 * beta)) ** (1 / 3))


def fit_gamma_beta(t: np.ndarray, c: np.ndarray, *, window: tuple[float, float]) -> DebyeFit:
    """Least-squares line of C/T against T² over ``window`` (K), with standard errors."""
    t = np.asarray(t, dtype=float)
    c = np.asarray(c, dtype=float)
    sel = np.isfinite(t) & np.isfinite(c) & (t >= window[0]) & (t <= window[1]) & (t > 0)
    n = int(sel.sum())
    if n < 4:
        raise AnalysisError(f"specific heat: fewer than 4 points in {window[0]}–{window[1]} K")
    x = t[sel] ** 2
    y = c[sel] / t[sel]
    a = np.stack([np.ones(n), x], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    resid = y - a @ coef
    dof = max(n - 2, 1)
    s2 = float(resid @ resid) / dof
    cov = s2 * np.linalg.inv(a.T @ a)
    return DebyeFit(float(coef[0]), float(np.sqrt(cov[0, 0])), float(coef[1]),
                    float(np.sqrt(cov[1, 1])), (float(window[0]), float(window[1])), n,
                    s2 / max(float(np.var(y)), 1e-300))


@dataclass(frozen=True)
class Jump:
    """Entropy-conserving construction of the specific-heat jump at Tc."""

    Tc_K: float
    delta_c_over_tc: float
    gamma_n: float
    jump_ratio: float


def entropy_conserving_jump(t: np.ndarray, ce_over_t: np.ndarray, *, gamma_n: float,
                            below: tuple[float, float], window: tuple[float, float]) -> Jump:
    """Replace the broadened transition by an ideal jump that conserves entropy.

    Below Tc the ideal curve is the straight line fitted to C_e/T in ``below``; above Tc it is
    γn.  Tc is the temperature at which ∫ (data − ideal) dT over ``window`` vanishes (equal
    areas), so the entropy at the end of the window is unchanged.  ΔC/(γn Tc) follows.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(ce_over_t, dtype=float)
    ok = np.isfinite(t) & np.isfinite(y)
    t, y = t[ok], y[ok]
    order = np.argsort(t)
    t, y = t[order], y[order]
    sel = (t >= below[0]) & (t <= below[1])
    if sel.sum() < 3:
        raise AnalysisError("jump: fewer than 3 points in the superconducting-branch window")
    slope, icpt = np.polyfit(t[sel], y[sel], 1)
    w = (t >= window[0]) & (t <= window[1])
    tw, yw = t[w], y[w]
    if tw.size < 5:
        raise AnalysisError("jump: fewer than 5 points in the construction window")

    area = float(trapezoid(yw, tw))
    a, b = float(tw[0]), float(tw[-1])

    def imbalance(tc: float) -> float:
        # Entropy of the data minus that of the ideal curve, integrated exactly so the
        # balance is continuous in Tc (not stepwise at the data points).
        ideal = slope / 2 * (tc * tc - a * a) + icpt * (tc - a) + gamma_n * (b - tc)
        return area - ideal

    lo, hi = max(window[0], below[1]), window[1]
    try:
        tc = brentq(imbalance, lo, hi)
    except ValueError:
        raise AnalysisError("jump: no entropy-balancing Tc inside the window") from None
    dc_over_t = float(slope * tc + icpt - gamma_n)
    return Jump(float(tc), dc_over_t, float(gamma_n), dc_over_t / gamma_n)


@dataclass(frozen=True)
class HeatResult:
    """Specific-heat analysis (SI per mole of formula units)."""

    fit: DebyeFit
    theta_D_K: float
    gamma_n: float
    sc_volume_fraction: float
    jump: Jump | None

    def to_dict(self) -> dict[str, Any]:
        """Keys of ``supramap bulk heat --json``."""
        out = {
            "gamma_J_per_mol_K2": self.fit.gamma, "gamma_err": self.fit.gamma_err,
            "beta_J_per_mol_K4": self.fit.beta, "beta_err": self.fit.beta_err,
            "fit_window_K": list(self.fit.window_K), "theta_D_K": self.theta_D_K,
            "gamma_n_J_per_mol_K2": self.gamma_n, "sc_volume_fraction": self.sc_volume_fraction,
            "Tc_K": self.jump.Tc_K if self.jump else None,
            "jump_ratio": self.jump.jump_ratio if self.jump else None,
        }
        if self.jump:
            out["jump"] = asdict(self.jump)
        return out


def analyze_heat(t: np.ndarray, c_molar: np.ndarray, *, window: tuple[float, float] = (3, 5),
                 atoms_per_formula_unit: float = 2, gamma_n: float | None = None,
                 tc_guess: float | None = None) -> HeatResult:
    """γ, β (window fit), θ_D, γn (given, or from a C/T = γn + βT² fit 2–8 K above the jump),
    superconducting volume fraction 1 − γ0/γn, and the entropy-conserving jump.
    """
    t = np.asarray(t, dtype=float)
    c = np.asarray(c_molar, dtype=float)
    fit = fit_gamma_beta(t, c, window=window)
    theta = debye_temperature(fit.beta, atoms_per_formula_unit)
    ce_t = c / t - fit.beta * t**2
    if tc_guess is None:
        # The jump: the steepest fall of C_e/T above the fit window.
        above = t > window[1]
        if above.sum() < 5:
            raise AnalysisError("specific heat: no data above the fit window to find Tc")
        order = np.argsort(t[above])
        ta, ya = t[above][order], ce_t[above][order]
        tc_guess = float(ta[np.argmin(np.gradient(ya, ta))])
    if gamma_n is None:
        sel = (t > tc_guess + 2) & (t < tc_guess + 8)
        if sel.sum() < 4:
            raise AnalysisError("specific heat: give γn (no normal-state data above Tc)")
        gamma_n = float(np.median(ce_t[sel]))
    if gamma_n <= 0:
        raise AnalysisError(f"γn must be positive, got {gamma_n}")
    jump = None
    try:
        jump = entropy_conserving_jump(t, ce_t, gamma_n=gamma_n,
                                       below=(tc_guess * 0.6, tc_guess * 0.85),
                                       window=(tc_guess * 0.6, tc_guess * 1.3))
    except AnalysisError:
        jump = None
    return HeatResult(fit, theta, float(gamma_n), float(1 - fit.gamma / gamma_n), jump)
