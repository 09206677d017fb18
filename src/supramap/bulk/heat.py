"""Specific heat: Sommerfeld and Debye coefficients, the jump, superconducting volume fraction."""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.integrate import trapezoid
from scipy.optimize import brentq

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.quality import (
    QualityWarning,
    as_warnings,
    interval_90,
    warn,
    warnings_to_list,
)

R_GAS = 8.314462618  # J / (mol K)
K_B_EV = 8.617333262e-5  # eV / K
ALPHA_BCS = 1.764


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
class Transition:
    """A step down of C/T on warming through Tc, as a superconducting transition makes."""

    Tc_K: float
    step: float            # C/T just below minus just above Tc (J mol⁻¹ K⁻² per unit of c)
    step_err: float
    relative_step: float   # step / (C/T at Tc)


def find_transition(t: np.ndarray, c: np.ndarray, *,
                    rel_widths: tuple[float, ...] = (0.1, 0.2, 0.35),
                    min_significance: float = 6.0, min_relative: float = 0.02,
                    ) -> Transition | None:
    """The most significant step down of C/T on warming, or None when there is none.

    At every candidate temperature Tc (midpoints between measured temperatures), straight
    lines in T are fitted to C/T on [Tc(1 − w), Tc) and (Tc, Tc(1 + w)] and extrapolated to
    Tc; their difference is the step.  Several widths w serve sharp and smeared transitions.
    Windows of equal width on both sides make the smooth curvature of a phonon background
    cancel to first order, so a normal metal's C/T (rising as γ + βT² at low T, falling as
    3nR/T at high T) shows no step.  A transition must be a step down of at least
    *min_significance* standard errors and *min_relative* of C/T at Tc.
    """
    t = np.asarray(t, dtype=float)
    y = np.asarray(c, dtype=float) / np.where(t > 0, t, np.nan)
    ok = np.isfinite(t) & np.isfinite(y) & (t > 0)
    order = np.argsort(t[ok])
    t, y = t[ok][order], y[ok][order]
    if t.size < 10:
        return None
    best: Transition | None = None
    best_score = 0.0
    for tc, w in itertools.product(np.unique(0.5 * (t[1:] + t[:-1])), rel_widths):
        lo, hi = tc * (1 - w), tc * (1 + w)
        below = (t >= lo) & (t < tc)
        above = (t > tc) & (t <= hi)
        if below.sum() < 4 or above.sum() < 4:
            continue
        yb, eb = _line_at(t[below], y[below], tc)
        ya, ea = _line_at(t[above], y[above], tc)
        step, err = yb - ya, float(np.hypot(eb, ea))
        level = 0.5 * (yb + ya)
        if not (step > 0 and level > 0):
            continue
        score = step / max(err, 1e-12 * abs(level))
        if score >= min_significance and step / level >= min_relative and score > best_score:
            best_score = score
            best = Transition(float(tc), float(step), err, float(step / level))
    return best


def _line_at(x: np.ndarray, y: np.ndarray, x0: float) -> tuple[float, float]:
    """Value at *x0* of the least-squares line through (x, y), and its standard error."""
    xm = x - x0
    a = np.stack([np.ones_like(xm), xm], axis=1)
    coef, *_ = np.linalg.lstsq(a, y, rcond=None)
    res = y - a @ coef
    s2 = float(res @ res) / max(x.size - 2, 1)
    cov = s2 * np.linalg.inv(a.T @ a)
    return float(coef[0]), float(np.sqrt(max(cov[0, 0], 0.0)))


def bcs_gap_ratio(t: np.ndarray) -> np.ndarray:
    """Δ(T)/Δ(0) of weak-coupling BCS, the standard interpolation tanh(1.74 √(Tc/T − 1))
    (within ~2 % of the tabulated Mühlschlegel values); 0 at and above Tc."""
    t = np.asarray(t, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(t < 1, np.tanh(1.74 * np.sqrt(np.clip(1 / np.maximum(t, 1e-9) - 1, 0,
                                                               None))), 0.0)


@lru_cache(maxsize=64)
def _alpha_curve(alpha: float, n_x: int) -> tuple[np.ndarray, np.ndarray]:
    """C_es/(γn T) of the α-model on a fine grid of reduced temperature (cached per α)."""
    grid = np.unique(np.concatenate([np.linspace(0.02, 1.0, 400), np.linspace(1.0, 3.0, 50)]))
    x = np.linspace(0, 40, n_x)[None, :]
    d = alpha * bcs_gap_ratio(grid)[:, None]
    e = np.sqrt(x * x + d * d)
    z = e / grid[:, None]
    # f ln f + (1 − f) ln(1 − f) written stably: −[ln(1 + e^{−z}) + z e^{−z}/(1 + e^{−z})].
    q = np.exp(-z)
    h = np.log1p(q) + z * q / (1 + q)
    s = (6 / np.pi**2) * trapezoid(h, x, axis=1)
    below = grid <= 1.0
    c = np.ones_like(grid)
    c[below] = np.gradient(s[below], grid[below], edge_order=2)
    return grid, c


def alpha_model(t: np.ndarray, alpha: float, *, n_x: int = 1500) -> np.ndarray:
    """Electronic specific heat of the α-model, C_es/(γn T), at reduced temperatures t = T/Tc
    (Padamsee, Neighbor & Shiffman, J. Low Temp. Phys. 12, 387 (1973)).

    The BCS gap is scaled to Δ(0) = α k_B Tc (α_BCS = 1.764); the entropy
    S/(γn Tc) = −(6/π²) ∫₀^∞ [f ln f + (1 − f) ln(1 − f)] dx with f = 1/(e^{E/t} + 1),
    E = √(x² + (Δ/k_B Tc)²), and C/(γn T) = d(S/γn Tc)/dt.  Equal to 1 above Tc; the jump at Tc
    is 1.43 for α = α_BCS.
    """
    t = np.atleast_1d(np.asarray(t, dtype=float))
    grid, c = _alpha_curve(float(alpha), int(n_x))
    out = np.interp(t, grid, c, left=0.0, right=1.0)
    return np.where(t > 1, 1.0, out)


def smeared_alpha_model(t_K: np.ndarray, alpha: float, tc_K: float, sigma_K: float,
                        ) -> np.ndarray:
    """The α-model averaged over a Gaussian distribution of local Tc (mean *tc_K*, standard
    deviation *sigma_K*), as an inhomogeneous crystal's smeared jump.  Each local part
    conserves entropy, so the average does too.

    The parts with Tc' < T are normal (weight Φ((T − Tc)/σ), exact); the superconducting
    parts are integrated by Gauss–Legendre from Tc' = T upwards, so the average is smooth in
    Tc and σ (a fixed set of Tc' nodes would make it a staircase that traps a fit)."""
    from scipy.special import ndtr

    t_K = np.asarray(t_K, dtype=float)
    if sigma_K <= 0:
        return alpha_model(t_K / tc_K, alpha)
    lo = np.clip((t_K - tc_K) / sigma_K, -8.0, 8.0)
    x, w = _LEGGAUSS
    u = lo[:, None] + (8.0 - lo)[:, None] * (x + 1) / 2
    weight = (8.0 - lo)[:, None] / 2 * w * np.exp(-u * u / 2) / np.sqrt(2 * np.pi)
    tcs = np.maximum(tc_K + sigma_K * u, 1e-6)
    sc = np.sum(weight * alpha_model(t_K[:, None] / tcs, alpha), axis=1)
    return ndtr((t_K - tc_K) / sigma_K) + sc


_LEGGAUSS = np.polynomial.legendre.leggauss(48)


@displayable
@dataclass(frozen=True)
class AlphaFit:
    """C_e/T = γ0 + (γn − γ0)·α-model(T/Tc) (smeared by a Gaussian spread σ of local Tc):
    residual γ0, gap ratio α, Tc, σ, Δ0, superconducting fraction."""

    gamma0: float
    gamma0_err: float
    alpha: float
    alpha_err: float
    Tc_K: float
    Tc_err_K: float
    gamma_n: float
    beta: float
    delta0_eV: float
    sc_fraction: float
    success: bool
    Tc_spread_K: float = 0.0
    sc_fraction_err: float = float("nan")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


def fit_alpha_model(t: np.ndarray, c_molar: np.ndarray, *, gamma_n: float, beta: float,
                    tc_guess: float, t_max: float | None = None) -> AlphaFit:
    """Fit the electronic part C/T − βT² (phonons β from the normal state) below
    ~1.3 Tc with γ0 + (γn − γ0)·α-model(T/Tc) averaged over a Gaussian spread σ of local Tc:
    γ0, α, Tc and σ free.  It uses every point, so a contaminated low-temperature window does
    not decide γ on its own, and the smeared jump does not pull Tc."""
    from scipy.optimize import least_squares

    t = np.asarray(t, dtype=float)
    y = np.asarray(c_molar, dtype=float) / t - beta * t**2
    t_max = t_max or 1.3 * tc_guess
    sel = np.isfinite(t) & np.isfinite(y) & (t > 0) & (t <= t_max)
    if sel.sum() < 8:
        raise AnalysisError("α-model fit: fewer than 8 points below 1.3 Tc")
    ts, ys = t[sel], y[sel]

    def resid(p):
        g0, a, tc, sig = p
        return g0 + (gamma_n - g0) * smeared_alpha_model(ts, a, tc, sig) - ys

    lo_sig, hi_sig = 1e-3 * tc_guess, 0.15 * tc_guess
    r = least_squares(resid, [0.1 * gamma_n, ALPHA_BCS, tc_guess, 0.02 * tc_guess],
                      bounds=([-gamma_n, 0.5, 0.5 * tc_guess, lo_sig],
                              [gamma_n, 5.0, 1.5 * tc_guess, hi_sig]),
                      x_scale=[gamma_n, 1.0, tc_guess, 0.02 * tc_guess])
    j = r.jac
    dof = max(ts.size - 4, 1)
    s2 = float(r.fun @ r.fun) / dof
    try:
        cov = np.linalg.inv(j.T @ j) * s2
        err = np.sqrt(np.clip(np.diag(cov), 0, None))
    except np.linalg.LinAlgError:
        err = np.full(4, np.nan)
    g0, a, tc, sig = r.x
    return AlphaFit(float(g0), float(err[0]), float(a), float(err[1]), float(tc),
                    float(err[2]), float(gamma_n), float(beta), float(a * K_B_EV * tc),
                    float(1 - g0 / gamma_n), bool(r.success), float(sig),
                    float(err[0] / gamma_n))


def check_window(t: np.ndarray, c_molar: np.ndarray, fit: DebyeFit, *,
                 tc: float | None) -> list[QualityWarning]:
    """Why a C/T-vs-T² window fit cannot be trusted: curvature (a significant T⁴ term or
    residual trend), a transition inside or just above the window, an upturn at its low end."""
    ws: list[QualityWarning] = []
    t = np.asarray(t, dtype=float)
    c = np.asarray(c_molar, dtype=float)
    lo, hi = fit.window_K
    sel = np.isfinite(t) & np.isfinite(c) & (t >= lo) & (t <= hi) & (t > 0)
    if sel.sum() >= 6:
        x, y = t[sel] ** 2, c[sel] / t[sel]
        a = np.stack([np.ones_like(x), x, x * x], axis=1)
        coef, *_ = np.linalg.lstsq(a, y, rcond=None)
        res = y - a @ coef
        s2 = float(res @ res) / max(x.size - 3, 1)
        err = np.sqrt(np.diag(s2 * np.linalg.inv(a.T @ a)))
        effect = abs(coef[2]) * (hi**2 - lo**2) ** 2 / 4
        if abs(coef[2]) > 3 * err[2] and effect > 0.02 * max(abs(float(np.mean(y))), 1e-300):
            ws.append(warn("heat.window_curved",
                           f"C/T is not linear in T² in {lo:g}–{hi:g} K (significant T⁴ term): "
                           "the window sees the superconducting electronic part or a Schottky "
                           "term; use the α-model fit or another window",
                           t4_coefficient=float(coef[2]), t4_significance=float(abs(coef[2]) /
                                                                               err[2])))
        y_lin = c[sel] / t[sel] - (fit.gamma + fit.beta * x)
        order = np.argsort(x)
        n_low = max(3, x.size // 5)
        low = y_lin[order][:n_low]
        # An upturn makes C/T *fall* with T at the low end; the superconducting electronic
        # term also leaves positive residuals there (convex curve) but C/T still rises.
        xl, yl = x[order][: max(4, x.size // 3)], (c[sel] / t[sel])[order][: max(4, x.size // 3)]
        falling = np.polyfit(xl, yl, 1)[0] < 0
        if falling and np.mean(low) > 3 * np.sqrt(max(s2, 1e-300)) and np.all(low > 0):
            ws.append(warn("heat.upturn", "C/T turns up at the low end of the window "
                                          "(nuclear/Schottky contribution)"))
    if tc is not None and np.isfinite(tc) and tc < hi * 1.2:
        ws.append(warn("heat.transition_in_window",
                       f"the transition ({tc:.2f} K) lies in or just above the fit window "
                       f"{lo:g}–{hi:g} K", Tc_K=tc))
    return ws


@displayable
@dataclass(frozen=True)
class HeatResult:
    """Specific-heat analysis (SI per mole of formula units).

    ``gamma0``, ``beta`` and ``theta_D_K`` are the best estimates: from the low-temperature
    window when it is clean, else (``source == "alpha-model"``) γ0 from the α-model fit and β
    from the normal state, because a window that sees the superconducting electronic term
    gives a biased (even negative) γ.  ``fit`` is always the window fit itself."""

    fit: DebyeFit
    theta_D_K: float
    gamma_n: float
    sc_volume_fraction: float
    jump: Jump | None
    alpha: AlphaFit | None = None
    warnings: tuple[QualityWarning, ...] = ()
    gamma0: float = float("nan")
    beta: float = float("nan")
    source: str = "window"
    beta_err: float = float("nan")

    @property
    def gamma_err(self) -> float:
        """Standard error of :attr:`gamma0` (the α-model's when it supplied γ0)."""
        return (self.alpha.gamma0_err if self.source == "alpha-model" and self.alpha
                else self.fit.gamma_err)

    def to_dict(self) -> dict[str, Any]:
        """Keys of ``supramap bulk heat --json``."""
        out = {
            "warnings": warnings_to_list(self.warnings),
            "source": self.source,
            "gamma_J_per_mol_K2": self.gamma0, "beta_J_per_mol_K4": self.beta,
            "gamma_err": self.gamma_err, "beta_err": self.beta_err,
            "gamma_interval_90": interval_90(self.gamma0, self.gamma_err),
            "beta_interval_90": interval_90(self.beta, self.beta_err),
            "theta_D_err_K": self.theta_D_K * self.beta_err / (3 * self.beta)
            if self.beta > 0 else None,
            "errors": "standard errors of least squares with the residuals' variance (1σ); "
                      "90 % intervals ±1.645σ (calibrated on C = γT + βT³ with 1 % noise)",
            "alpha_model": self.alpha.to_dict() if self.alpha else None,
            "window_fit": {"gamma_J_per_mol_K2": self.fit.gamma, "gamma_err": self.fit.gamma_err,
                           "beta_J_per_mol_K4": self.fit.beta, "beta_err": self.fit.beta_err,
                           "window_K": list(self.fit.window_K)},
            "theta_D_K": self.theta_D_K,
            "gamma_n_J_per_mol_K2": self.gamma_n, "sc_volume_fraction": self.sc_volume_fraction,
            "Tc_K": self.jump.Tc_K if self.jump else None,
            "Tc_err_K": self.alpha.Tc_err_K if self.alpha and self.alpha.success else None,
            "jump_ratio": self.jump.jump_ratio if self.jump else None,
        }
        if self.jump:
            out["jump"] = asdict(self.jump)
        return out


#: γ0 within this fraction of γn of zero is zero (a fully superconducting sample), and a
#: superconducting fraction within it of [0, 1] is in range: the α-model's exponential tail
#: leaves an intercept of ~−0.1 % of γn in a clean 1.5–3 K window under Tc = 14 K.
ZERO_GAMMA = 0.01
#: Window warnings that mean the superconducting electronic part (or a transition) is inside.
CONTAMINATED = {"heat.window_curved", "heat.negative_gamma", "heat.transition_in_window"}


def analyze_heat(t: np.ndarray, c_molar: np.ndarray, *, window: tuple[float, float] = (3, 5),
                 atoms_per_formula_unit: float = 2, gamma_n: float | None = None,
                 tc_guess: float | None = None) -> HeatResult:
    """γ, β (window fit), θ_D, γn (given, or from a C/T = γn + βT² fit 2–8 K above the jump),
    superconducting volume fraction 1 − γ0/γn, and the entropy-conserving jump.
    """
    t = np.asarray(t, dtype=float)
    c = np.asarray(c_molar, dtype=float)
    fit = fit_gamma_beta(t, c, window=window)
    if tc_guess is None:
        # The jump: the most significant step down of C/T on warming.  Without one the
        # sample is a normal metal (or insulator) here, and γ, β, θ_D are still the answer.
        found = find_transition(t, c)
        if found is None:
            return _normal_state(t, c, fit, atoms_per_formula_unit, gamma_n)
        tc_guess = found.Tc_K
    # Phonons from the normal state (C/T = γn + βT² above Tc) when there are enough points:
    # the electronic part below Tc is then free of the low-temperature window's bias.
    beta_e, beta_e_err, gamma_ns = fit.beta, fit.beta_err, None
    above = np.isfinite(t) & np.isfinite(c) & (t > tc_guess * 1.1) & (t < tc_guess * 1.1 + 15)
    curved = None
    if above.sum() >= 6:
        coef, err = _polyfit_err(t[above] ** 2, c[above] / t[above], 1)
        if coef[0] > 0 and coef[1] > 0:
            beta_e, gamma_ns = float(coef[0]), float(coef[1])
            beta_e_err = float(err[0])
            if gamma_n is None:
                curved = _normal_state_curvature(t[above], c[above], gamma_ns)
    ce_t = c / t - beta_e * t**2
    if gamma_n is None:
        if gamma_ns is not None:
            gamma_n = gamma_ns
        else:
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
    ws = check_window(t, c, fit, tc=jump.Tc_K if jump else tc_guess)
    if curved is not None:
        ws.append(curved)
    alpha = None
    try:
        alpha = fit_alpha_model(t, c, gamma_n=gamma_n, beta=beta_e, tc_guess=tc_guess)
    except AnalysisError:
        alpha = None
    # A fully superconducting sample has γ0 = 0: a window intercept within 1 % of γn (or its
    # 2σ) of zero is that, not a negative γ (the gap's own tail leaves ~−0.1 % of γn there).
    if fit.gamma < -_zero_tolerance(fit.gamma_err, gamma_n):
        ws.append(warn("heat.negative_gamma",
                       f"the window fit gives γ = {fit.gamma * 1e3:.3g} mJ/mol K² < 0: C/T vs T² "
                       "is not linear there (superconducting electronic part or curvature); "
                       "the α-model fit is the better estimate",
                       gamma_J_per_mol_K2=fit.gamma,
                       alpha_model_gamma0=alpha.gamma0 if alpha else None))
    gamma0, beta, source = fit.gamma, fit.beta, "window"
    beta_err = fit.beta_err
    if {w.code for w in ws} & CONTAMINATED and alpha is not None and alpha.success:
        gamma0, beta, source = alpha.gamma0, beta_e, "alpha-model"
        beta_err = beta_e_err
        ws.append(warn("heat.window_replaced",
                       f"the {window[0]:g}–{window[1]:g} K window is contaminated, so γ0 = "
                       f"{gamma0 * 1e3:.3g} mJ/mol K² comes from the α-model fit and β = "
                       f"{beta * 1e3:.3g} mJ/mol K⁴ from the normal state (window fit: γ = "
                       f"{fit.gamma * 1e3:.3g}, β = {fit.beta * 1e3:.3g})",
                       window_gamma=fit.gamma, alpha_model_gamma0=gamma0))
    theta = debye_temperature(beta, atoms_per_formula_unit) if beta > 0 else float("nan")
    fraction = float(1 - gamma0 / gamma_n)
    g0_err = alpha.gamma0_err if source == "alpha-model" and alpha else fit.gamma_err
    slack = _zero_tolerance(g0_err, gamma_n) / gamma_n
    if not -slack <= fraction <= 1 + slack:
        ws.append(warn("heat.fraction_out_of_range",
                       f"superconducting fraction 1 − γ0/γn = {100 * fraction:.1f} % lies "
                       "outside [0, 100 %]: γ0 is wrong (see the other warnings) or γn is",
                       fraction=fraction))
    return HeatResult(fit, theta, float(gamma_n), fraction, jump, alpha, as_warnings(ws),
                      float(gamma0), float(beta), source, float(beta_err))


def _polyfit_err(x: np.ndarray, y: np.ndarray, deg: int) -> tuple[np.ndarray, np.ndarray]:
    """Polynomial coefficients (highest power first) and their standard errors, the
    covariance scaled by the residual variance over n − deg − 1 degrees of freedom (numpy's
    ``cov=True`` divides by n − deg − 3)."""
    coef, cov = np.polyfit(x, y, deg, cov="unscaled")
    resid = y - np.polyval(coef, x)
    s2 = float(resid @ resid) / max(x.size - deg - 1, 1)
    return coef, np.sqrt(np.diag(cov) * s2)


def _zero_tolerance(gamma_err: float, gamma_n: float) -> float:
    """How far from zero a fitted γ0 is still zero: 2σ, or ``ZERO_GAMMA`` of γn (an error that
    is NaN or infinite counts for nothing)."""
    two_sigma = 2 * gamma_err if np.isfinite(gamma_err) else 0.0
    return max(two_sigma, ZERO_GAMMA * gamma_n)


def _normal_state_curvature(t: np.ndarray, c: np.ndarray, gamma_line: float):
    """A warning when C/T against T² above Tc is curved enough that γn, extrapolated to
    T = 0, depends on the lattice model: a T⁴ term (C ∝ T⁵) significant at 3σ that moves the
    intercept by more than 25 %.  Above ~θ_D/50 the lattice leaves its T³ law: a Debye
    lattice of θ_D = 200 K seen at 15–30 K gives a straight-line γn 3× the true one."""
    if t.size < 8:
        return None
    x = t**2
    coef, err = _polyfit_err(x / x.max(), c / t, 2)
    gamma_quad = float(coef[2])
    if abs(coef[0]) > 3 * err[0] and abs(gamma_quad - gamma_line) > 0.25 * abs(gamma_line):
        return warn("heat.normal_state_curved",
                    f"C/T against T² is curved at {t.min():.3g}–{t.max():.3g} K above Tc (the "
                    f"lattice is past its T³ law): γn = {gamma_line * 1e3:.3g} mJ/mol K² from a "
                    f"straight line, {gamma_quad * 1e3:.3g} with a T⁴ term. The superconducting "
                    "fraction and ΔC/γnTc depend on it: give γn (e.g. from the normal state in "
                    "a field, or a non-superconducting reference)",
                    gamma_n_line=gamma_line, gamma_n_with_T4=gamma_quad)
    return None


def _normal_state(t: np.ndarray, c: np.ndarray, fit: DebyeFit, atoms: float,
                  gamma_n: float | None) -> HeatResult:
    """γ, β, θ_D of a sample with no superconducting transition in the measured range."""
    ws = check_window(t, c, fit, tc=None)
    ok = np.isfinite(t) & (t > 0)
    ws.append(warn("heat.no_transition",
                   f"no superconducting transition found in {np.min(t[ok]):.3g}–"
                   f"{np.max(t[ok]):.3g} K (no step down of C/T on warming): γ, β and θ_D "
                   "are those of the normal state; no Tc, jump or superconducting fraction",
                   T_min_K=float(np.min(t[ok])), T_max_K=float(np.max(t[ok]))))
    if fit.gamma < 0:
        ws.append(warn("heat.negative_gamma",
                       f"the window fit gives γ = {fit.gamma * 1e3:.3g} mJ/mol K² < 0: C/T vs "
                       "T² is not linear there; choose another --window",
                       gamma_J_per_mol_K2=fit.gamma))
    theta = debye_temperature(fit.beta, atoms) if fit.beta > 0 else float("nan")
    return HeatResult(fit, theta, float("nan") if gamma_n is None else float(gamma_n),
                      float("nan"), None, None, as_warnings(ws), fit.gamma, fit.beta, "window",
                      fit.beta_err)
