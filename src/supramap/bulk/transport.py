"""Resistive transitions: ρ(T) and ρ(H) — Tc / Hc criteria, residual resistivity, RRR."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.optimize import curve_fit

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.quality import (
    QualityWarning,
    as_warnings,
    interval_90,
    warn,
    warnings_to_list,
)

CRITERIA = (0.9, 0.5, 0.1)


def resistivity(resistance: np.ndarray, *, length: float, width: float,
                thickness: float) -> np.ndarray:
    """ρ = R · w · t / l (Ω·m) for a bar with voltage contacts a distance *length* (m) apart."""
    for name, v in (("length", length), ("width", width), ("thickness", thickness)):
        if not (v is not None and np.isfinite(v) and v > 0):
            raise AnalysisError(f"sample {name} must be a positive length in metres, got {v}")
    return np.asarray(resistance, dtype=float) * width * thickness / length


def _sorted(x: np.ndarray, y: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise AnalysisError(f"{name}: x and y must be 1-D arrays of one length")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.size < 8:
        raise AnalysisError(f"{name}: need at least 8 valid points, got {x.size}")
    # Repeated x (±H folded onto |H|, repeated sweeps) are averaged.
    ux, inv = np.unique(x, return_inverse=True)
    if ux.size < x.size:
        y = np.bincount(inv, weights=y) / np.bincount(inv)
        x = ux
        if x.size < 8:
            raise AnalysisError(f"{name}: need at least 8 distinct x values, got {x.size}")
        return x, y
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def _crossing(x: np.ndarray, y: np.ndarray, level: np.ndarray | float) -> float:
    """Highest x where y falls below *level* going down from the top (linear interpolation)."""
    lv = np.broadcast_to(level, y.shape)
    above = y >= lv
    if above.all() or not above.any():
        return float("nan")
    # Last point below the level; the crossing lies between it and the next (above) point.
    below_idx = np.nonzero(~above)[0]
    i = int(below_idx[-1])
    if i + 1 >= y.size:
        return float("nan")
    y0, y1 = y[i] - lv[i], y[i + 1] - lv[i + 1]
    t = y0 / (y0 - y1) if y0 != y1 else 0.0
    return float(x[i] + t * (x[i + 1] - x[i]))


@displayable
@dataclass(frozen=True)
class Transition:
    """A resistive transition along x (temperature in K or field µ0H in T).

    ``onset``: intersection of the normal-state line with the steepest tangent; ``x90``,
    ``x50``, ``x10``: where ρ falls to 90/50/10 % of the normal-state extrapolation; ``zero``:
    highest x below which ρ stays under the zero criterion; ``width``: x90 − x10.
    """

    onset: float
    x90: float
    x50: float
    x10: float
    zero: float
    width: float
    normal_slope: float
    normal_intercept: float
    zero_level: float

    def to_dict(self) -> dict[str, float]:
        """Plain dict."""
        return asdict(self)


def _default_normal_window(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Just above the transition: from where ρ first reaches 98 % of twice its value at the
    steepest point (the midpoint), one transition-width further, over ≥ 4 widths or 2 units."""
    # Smooth over ~1 % of the points so a jagged foot (folded ±H sweeps) does not win.
    ys = uniform_filter1d(y, size=max(3, x.size // 100), mode="nearest")
    dydx = np.gradient(ys, x)
    k = int(np.argmax(dydx))
    target = 0.98 * min(2 * ys[k], float(np.max(ys[k:])))
    # Reached either at the target level, or where the slope has fallen to a tenth of the
    # steepest while ρ is within 80 % of the target: on a sharp transition sampled coarsely the
    # steepest grid point is not the midpoint (ρ there 0.58 of the normal state with w = 0.23 K
    # on 0.1 K steps), and twice its ρ was reached only at 25 K — a window 35–60 K whose line,
    # extrapolated to Tc, moved Tc_mid by 23 mK (15σ).
    up = np.nonzero((x > x[k]) & ((ys >= target) |
                                  ((dydx < 0.1 * dydx[k]) & (ys >= 0.8 * target))))[0]
    if up.size == 0:
        return float(x[-1] - 0.2 * (x[-1] - x[0])), float(x[-1])
    x_up = float(x[up[0]])
    w = max(x_up - float(x[k]), 1e-9)
    lo = x_up + w
    hi = lo + max(4 * w, 2.0 * (1.0 if x[-1] > 20 else 0.1))
    if np.sum((x >= lo) & (x <= hi)) < 3:
        lo, hi = x_up, float(x[-1])
    return lo, min(hi, float(x[-1]))


def transition_errors(x: np.ndarray, rho: np.ndarray, *, draws: int = 200,
                      normal_window: tuple[float, float] | None = None,
                      base: Transition | None = None) -> dict[str, float]:
    """Standard errors of the transition's criteria (onset, x90, x50, x10, zero) by a
    parametric bootstrap: the noise σ is the scatter of ρ about the normal-state line (its
    window), and *draws* curves ρ + N(0, σ) are analysed with the same window and zero
    criterion (fixed seed: the same file gives the same errors).  The noise on a resistance
    bridge is set by the excitation and the amplifier, not by ρ, so one σ serves the whole
    curve; a criterion is reported only if ≥ 80 % of the draws find it.  *base*: the
    transition of these data with this window, when the caller has it already."""
    xs, y = _sorted(x, rho, "transition")
    if base is None:
        base = transition(xs, y, normal_window=normal_window)
    lo, hi = normal_window or _default_normal_window(xs, y)
    sel = (xs >= lo) & (xs <= hi)
    if sel.sum() < 4:
        return {}
    resid = y[sel] - np.polyval(np.polyfit(xs[sel], y[sel], 1), xs[sel])
    sigma = float(np.sqrt(resid @ resid / (sel.sum() - 2)))
    rng = np.random.default_rng(0)
    names = ("onset", "x90", "x50", "x10", "zero")
    out = np.full((draws, len(names)), np.nan)
    for i in range(draws):
        try:
            tr = transition(xs, y + sigma * rng.standard_normal(y.size), normal_window=(lo, hi),
                            zero_level=base.zero_level)
        except AnalysisError:
            continue
        out[i] = [getattr(tr, n) for n in names]
    errs = {}
    normal = base.normal_slope * xs + base.normal_intercept
    for j, n in enumerate(names):
        ok = np.isfinite(out[:, j])
        if ok.mean() >= 0.8 and np.isfinite(getattr(base, n)):
            var = float(np.var(out[ok, j], ddof=1))
            if n in CRITERIA_NAMES:
                x0 = getattr(base, n)
                err = _interpolation_error(xs, y - CRITERIA_NAMES[n] * normal, x0)
                # A transition narrower than two sampling steps is not resolved: the crossing
                # is anywhere between the two points bracketing it (uniform: step/√12).
                i = int(np.clip(np.searchsorted(xs, x0), 1, xs.size - 1))
                step = float(xs[i] - xs[i - 1])
                if not (base.width >= 2 * step):
                    err = max(err, step / np.sqrt(12))
                var += err ** 2
            errs[n] = float(np.sqrt(var))
    errs["noise"] = sigma
    return errs


#: The fraction of the normal state at each crossing criterion.
CRITERIA_NAMES = {"x90": 0.9, "x50": 0.5, "x10": 0.1}


def _interpolation_error(x: np.ndarray, g: np.ndarray, x0: float) -> float:
    """The error of a crossing x0 of g found by linear interpolation between two points:
    g''/2 · (x0 − x_i)(x_{i+1} − x0) / g', g'' from the second differences around it.  On a
    sharp transition sampled every 0.1 K (w = 0.23 K) it reached 4 mK, twice the noise's
    share — the bootstrap does not see it, as every draw interpolates the same way."""
    i = int(np.searchsorted(x, x0)) - 1
    if i < 1 or i + 2 >= x.size:
        return 0.0
    h = np.diff(x[i - 1:i + 3])
    if np.any(h <= 0):
        return 0.0
    d1 = np.diff(g[i - 1:i + 3]) / h
    curv = float(np.mean(np.diff(d1) / (0.5 * (h[:-1] + h[1:]))))
    slope = float(d1[1])
    if slope == 0:
        return 0.0
    return abs(0.5 * curv * (x0 - x[i]) * (x[i + 1] - x0) / slope)


def transition(x: np.ndarray, rho: np.ndarray, *, normal_window: tuple[float, float] | None
               = None, zero_level: float | None = None) -> Transition:
    """Criteria of a resistive transition (x ascending: superconducting at low x).

    Parameters
    ----------
    x : 1-D array
        Temperature (K) or |µ0H| (T).
    rho : 1-D array
        Resistivity or resistance.
    normal_window : (lo, hi), optional
        Range of x for the normal-state line; default: just above the transition (see
        ``_default_normal_window``).
    zero_level : float, optional
        ρ below this counts as zero; default 1 % of the normal-state value or 5 × the scatter
        of the lowest points, whichever is larger.
    """
    x, y = _sorted(x, rho, "transition")
    ymax = float(np.percentile(y, 99))
    if ymax <= 0:
        raise AnalysisError("transition: the resistivity never rises above zero")
    if normal_window is None:
        lo, hi = _default_normal_window(x, y)
    else:
        lo, hi = normal_window
    sel = (x >= lo) & (x <= hi)
    if sel.sum() < 3:
        raise AnalysisError(f"transition: fewer than 3 points in the normal-state window "
                            f"[{lo:g}, {hi:g}]")
    slope, intercept = np.polyfit(x[sel], y[sel], 1)
    normal = slope * x + intercept
    if np.any(normal[x <= hi] <= 0):
        raise AnalysisError("transition: the normal-state extrapolation reaches zero")
    # Crossings below the window's top only: above it the line is extrapolated upwards, and
    # with 1 % noise on a 2 K window its slope wanders enough to cross the data far above Tc
    # (x90 at 46 K for a transition at 11 K).
    below_hi = x <= hi
    x90, x50, x10 = (_crossing(x[below_hi], y[below_hi], (c * normal)[below_hi])
                     for c in CRITERIA)
    low = y[: max(5, y.size // 20)]
    if zero_level is None:
        scatter = float(np.std(low)) if low.size > 2 else 0.0
        zero_level = max(0.01 * float(np.interp(x50, x, normal)) if np.isfinite(x50)
                         else 0.01 * ymax, 5 * scatter)
    above_zero = np.nonzero(y > zero_level)[0]
    if above_zero.size and above_zero[0] > 0:
        j = int(above_zero[0])
        y0, y1 = y[j - 1] - zero_level, y[j] - zero_level
        zero = float(x[j - 1] + (x[j] - x[j - 1]) * (y0 / (y0 - y1) if y0 != y1 else 0.0))
    else:
        zero = float("nan")
    # Steepest tangent: the largest (lightly smoothed) slope between the 10 and 90 % points.
    dydx = np.gradient(uniform_filter1d(y, size=max(3, x.size // 100), mode="nearest"), x)
    band = (x >= (x10 if np.isfinite(x10) else x[0])) & (x <= (x90 if np.isfinite(x90) else x[-1]))
    if band.sum() >= 1:
        k = np.nonzero(band)[0][np.argmax(dydx[band])]
        t_slope = dydx[k]
        t_icpt = y[k] - t_slope * x[k]
        onset = float((t_icpt - intercept) / (slope - t_slope)) if t_slope != slope \
            else float("nan")
    else:
        onset = float("nan")
    return Transition(onset, x90, x50, x10, zero, x90 - x10, float(slope), float(intercept),
                      float(zero_level))


def power_law(t: np.ndarray, rho0: float, a: float, n: float) -> np.ndarray:
    """ρ(T) = ρ0 + A·Tⁿ."""
    return rho0 + a * np.power(t, n)


#: JSON name of each criterion's error.
_ERR_KEYS = (("onset", "onset"), ("90", "x90"), ("mid", "x50"), ("10", "x10"),
             ("zero", "zero"))


@displayable
@dataclass(frozen=True)
class TransportResult:
    """ρ(T) analysis (SI: K, Ω·m or Ω when no geometry was given)."""

    transition: Transition
    rho0: float
    rho0_err: float
    a: float
    exponent: float
    rrr: float
    rho_300K: float
    normal_state: str
    units: str
    branches: dict[str, dict[str, float]]
    warnings: tuple[QualityWarning, ...] = ()
    #: Standard errors of the criteria (keys onset, x90, x50, x10, zero; noise: the σ used).
    errors: dict[str, float] = field(default_factory=dict)

    @property
    def has_transition(self) -> bool:
        """False when no superconducting transition was found (every Tc is then NaN)."""
        return bool(np.isfinite(self.transition.x50))

    def to_dict(self) -> dict[str, Any]:
        """Keys of ``supramap bulk transport --json``."""
        t = self.transition
        return {"superconducting_transition": self.has_transition,
                "warnings": warnings_to_list(self.warnings),
            "Tc_onset_K": t.onset, "Tc_90_K": t.x90, "Tc_mid_K": t.x50, "Tc_10_K": t.x10,
            "Tc_zero_K": t.zero, "transition_width_K": t.width,
            **{f"Tc_{k}_err_K": self.errors.get(n) for k, n in _ERR_KEYS},
            "Tc_mid_interval_90_K": interval_90(t.x50, self.errors.get("x50", float("nan"))),
            "Tc_errors": "parametric bootstrap, noise from the scatter about the normal-state "
                         "line (1σ); 90 % intervals ±1.645σ",
            "rho0_ohm_m" if self.units == "ohm m" else "R0_ohm": self.rho0,
            "rho0_err": self.rho0_err, "A": self.a, "n": self.exponent,
            "RRR": self.rrr, "rho_300K": self.rho_300K, "normal_state": self.normal_state,
            "units": self.units, "branches": self.branches,
        }


def analyze_transport(temperature: np.ndarray, rho: np.ndarray, *, units: str = "ohm m",
                      fit_window: tuple[float, float] | None = None) -> TransportResult:
    """Tc criteria, residual resistivity (fit ρ0 + A·Tⁿ above Tc), RRR, normal-state sign.

    Warming and cooling branches (by the sign of dT between rows) are also analysed separately
    and reported in ``branches``.
    """
    t_raw = np.asarray(temperature, dtype=float)
    r_raw = np.asarray(rho, dtype=float)
    t, r = _sorted(t_raw, r_raw, "transport")
    if float(np.percentile(r, 99)) <= 0:
        raise AnalysisError("transport: the resistivity never rises above zero (is the "
                            "transition above the measured range, or the column wrong?)")
    ws: list[QualityWarning] = []
    tr, why = _superconducting_transition(t, r)
    if tr is None:
        ws.append(warn("transport.no_transition",
                       f"no superconducting transition in {t[0]:.3g}–{t[-1]:.3g} K ({why}): "
                       "no Tc is given", T_min_K=t[0], T_max_K=t[-1]))
        nan = float("nan")
        tr = Transition(nan, nan, nan, nan, nan, nan, nan, nan, nan)
        onset = float(t[0])
    else:
        onset = tr.onset if np.isfinite(tr.onset) else tr.x90
    if fit_window is None:
        lo = onset + max(2 * tr.width, 1.0) if np.isfinite(tr.width) else onset + 1.0
        if tr is not None and not np.isfinite(tr.x50):
            lo = float(t[0])
        fit_window = (lo, min(lo + 40.0, t[-1]))
    sel = (t >= fit_window[0]) & (t <= fit_window[1])
    if sel.sum() < 5:
        raise AnalysisError(f"transport: fewer than 5 points between {fit_window[0]:.3g} and "
                            f"{fit_window[1]:.3g} K for the normal-state fit")
    p0 = (float(r[sel].min()), 1e-3 * float(np.ptp(r[sel]) or 1.0), 2.0)
    try:
        popt, pcov = curve_fit(power_law, t[sel], r[sel], p0=p0,
                               bounds=([-np.inf, -np.inf, 0.3], [np.inf, np.inf, 6.0]),
                               maxfev=20000)
        perr = np.sqrt(np.diag(pcov))
    except (RuntimeError, ValueError) as exc:
        raise AnalysisError(f"transport: normal-state fit failed ({exc})") from None
    slope = np.gradient(r[t > onset], t[t > onset]) if (t > onset).sum() > 3 else np.array([])
    if slope.size == 0:
        state = "unknown"
    else:
        pos = float(np.mean(slope > 0))
        state = "metallic" if pos > 0.7 else "non-metallic" if pos < 0.3 else "mixed"
    rho300 = float(np.interp(300.0, t, r)) if t[-1] >= 290 else float("nan")
    rho_above = float(np.interp(onset, t, power_law(t, *popt))) if np.isfinite(onset) \
        else float("nan")
    rrr = rho300 / rho_above if np.isfinite(rho300) and rho_above > 0 else float("nan")
    branches: dict[str, dict[str, float]] = {}
    d = np.diff(t_raw)
    for name, keep in (("warming", d > 0), ("cooling", d < 0)):
        if not np.isfinite(tr.x50):
            break
        rows = np.nonzero(np.concatenate([keep, [False]]) | np.concatenate([[False], keep]))[0]
        if rows.size >= 8 and rows.size < t_raw.size:
            try:
                b = transition(t_raw[rows], r_raw[rows])
                branches[name] = {"Tc_mid_K": b.x50, "Tc_onset_K": b.onset,
                                  "Tc_zero_K": b.zero}
            except AnalysisError:
                continue
    errors = transition_errors(t, r, base=tr) if np.isfinite(tr.x50) else {}
    return TransportResult(tr, float(popt[0]), float(perr[0]), float(popt[1]), float(popt[2]),
                           float(rrr), rho300, state, units, branches, as_warnings(ws),
                           errors)


def _superconducting_transition(t: np.ndarray, r: np.ndarray,
                                ) -> tuple[Transition | None, str]:
    """The transition, or None and the reason when the curve shows none.

    A superconducting transition makes ρ fall below half of the normal-state line and does so
    steeply: the logarithmic slope d ln ρ / d ln T exceeds 8 somewhere between the 90 % and 10 %
    points.  A metal (ρ0 + A Tⁿ, n ≤ 5) never does; an insulator rises on cooling.
    """
    try:
        tr = transition(t, r)
    except AnalysisError as exc:
        return None, str(exc).removeprefix("transition: ")
    if not np.isfinite(tr.x50):
        return None, "ρ never falls below half of the normal-state line"
    lo = tr.x10 if np.isfinite(tr.x10) else t[0]
    band = (t >= lo) & (t <= tr.x90) & (r > 0)
    if band.sum() >= 2:
        ys = uniform_filter1d(r, size=max(3, t.size // 100), mode="nearest")
        with np.errstate(divide="ignore", invalid="ignore"):
            logslope = np.gradient(np.log(np.clip(ys, 1e-300, None)), np.log(t))
        steep = float(np.nanmax(logslope[band])) if np.isfinite(logslope[band]).any() else 0.0
        if steep < 8:
            return None, (f"the drop is gradual (d ln ρ/d ln T ≤ {steep:.1f}), as in a metal, "
                          "not a transition")
    return tr, ""


@displayable
@dataclass(frozen=True)
class FieldSweepResult:
    """Critical fields (T) from ρ(µ0H) at fixed temperatures."""

    temperatures_K: list[float]
    hc_90_T: list[float]
    hc_50_T: list[float]
    hc_10_T: list[float]
    hc_zero_T: list[float]
    hc_onset_T: list[float]
    normal_value: list[float]

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return asdict(self)


def analyze_field_sweeps(field: np.ndarray, rho: np.ndarray, temperature: np.ndarray, *,
                         temperature_step: float = 0.05) -> FieldSweepResult:
    """Group ρ(µ0H) rows by temperature (to *temperature_step*), fold ±H onto |H| and apply
    the transition criteria in field."""
    h = np.asarray(field, dtype=float)
    r = np.asarray(rho, dtype=float)
    temp = np.asarray(temperature, dtype=float)
    ok = np.isfinite(h) & np.isfinite(r) & np.isfinite(temp)
    if ok.sum() < 8:
        raise AnalysisError("field sweep: need at least 8 valid rows")
    keys = np.round(temp[ok] / temperature_step) * temperature_step
    out: dict[str, list[float]] = {k: [] for k in ("t", "h90", "h50", "h10", "h0", "hon", "rn")}
    for key in np.unique(keys):
        sel = keys == key
        tr = transition(np.abs(h[ok][sel]), r[ok][sel])
        out["t"].append(float(np.mean(temp[ok][sel])))
        out["h90"].append(tr.x90)
        out["h50"].append(tr.x50)
        out["h10"].append(tr.x10)
        out["h0"].append(tr.zero)
        out["hon"].append(tr.onset)
        out["rn"].append(float(tr.normal_slope * np.abs(h[ok][sel]).max() + tr.normal_intercept))
    return FieldSweepResult(out["t"], out["h90"], out["h50"], out["h10"], out["h0"],
                            out["hon"], out["rn"])
