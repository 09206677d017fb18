"""The health of a spectroscopic grid, read from its spectra: did the tip change half-way?

A grid is measured point after point, row after row (x fast).  When the tip changes — it picks
up or loses an atom — every spectrum from that point on is seen through a different tip: the
shape (background slope, asymmetry, a tip state) and the set-point normalisation change at
once, and stay changed.  The sample changes too from pixel to pixel, but smoothly or in
patches, not at one instant of the acquisition across the whole width of the scan.

The test compares each spectrum with the one measured a row earlier at the same x (so that
the sample's variation along x cancels): after a tip change at pixel t, the nx differences
from t on all carry the same step, and their running mean over one row stands out from that
of every other row.  Each spectrum is reduced to ~32 bias bins of its shape (normalised by
its outer-bias level) plus the log of that level.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from supramap.quality import QualityWarning, warn

#: A running mean this many robust standard deviations (root-mean-square over the features)
#: from the median of the grid's rows is a tip change.  Set on generated grids
#: (tests/test_health.py): no flag on 200 clean heterogeneous grids, all changes of ≥ 3 % of
#: the spectrum's shape found.
THRESHOLD = 4.0

#: Bias bins each spectrum is reduced to.
FEATURE_BINS = 32


@dataclass(frozen=True)
class TipChange:
    """A sudden, lasting change of the spectra at one point of the acquisition."""

    index: int  # the first pixel after the change, in acquisition order (row · nx + column)
    row: int
    column: int
    score: float  # robust standard deviations
    size: float  # rms change of the normalised spectrum's shape (fraction)

    def to_dict(self) -> dict:
        return {"row": self.row, "column": self.column, "score": self.score,
                "relative_change": self.size}


def spectrum_features(spectra: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """(n, FEATURE_BINS + 1): each spectrum's shape in bias bins, divided by its mean |G| over
    the outer 20 % of the sweep, and the log of that level."""
    g = np.asarray(spectra, dtype=float)
    b = np.asarray(bias, dtype=float)
    outer = np.abs(b) >= 0.8 * np.nanmax(np.abs(b))
    level = np.nanmean(np.abs(g[:, outer]), axis=1)
    level = np.where(level > 0, level, np.nan)
    shape = g / level[:, None]
    order = np.argsort(b)
    bins = np.array_split(order, min(FEATURE_BINS, b.size))
    feats = np.stack([np.nanmean(shape[:, idx], axis=1) for idx in bins], axis=1)
    return np.concatenate([feats, np.log(level)[:, None]], axis=1)


def _robust_scale(x: np.ndarray, axis=0) -> np.ndarray:
    med = np.nanmedian(x, axis=axis)
    return 1.4826 * np.nanmedian(np.abs(x - med), axis=axis)


def tip_changes(grid, *, threshold: float = THRESHOLD, max_events: int = 5,
                ) -> list[TipChange]:
    """The tip changes of a ``(y, x, bias)`` grid measured row by row, x fast."""
    import warnings

    g = np.asarray(grid.values, dtype=float)
    ny, nx, nb = g.shape
    if ny < 4 or nx < 4 or nb < 8:
        return []
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        # An aborted grid's NaN rows give empty slices: their features are NaN, left out.
        warnings.simplefilter("ignore", RuntimeWarning)
        return _tip_changes(g, np.asarray(grid["bias"].values, float), threshold, max_events)


def _tip_changes(g, bias, threshold, max_events):
    ny, nx, nb = g.shape
    f = spectrum_features(g.reshape(-1, nb), bias)
    f = f.reshape(ny * nx, -1)
    # Differences to the pixel one row earlier, same column: the sample's variation along x
    # cancels; a change at pixel t puts its step into d[t − nx : t] (differences indexed by
    # the earlier pixel).
    d = f[nx:] - f[:-nx]
    ok = np.isfinite(d).all(axis=1)
    d = np.where(ok[:, None], d, 0.0)
    # Running mean of one row of differences: windows starting at each pixel.
    c = np.concatenate([np.zeros((1, d.shape[1])), np.cumsum(d, axis=0)])
    n_ok = np.concatenate([[0], np.cumsum(ok)])
    w = nx
    starts = np.arange(0, d.shape[0] - w + 1)
    counts = n_ok[starts + w] - n_ok[starts]
    m = (c[starts + w] - c[starts]) / np.maximum(counts, 1)[:, None]
    m[counts < w // 2] = np.nan
    # Robust centre and spread per feature, from the rows' non-overlapping windows (the
    # running means overlap; one window per row gives independent samples).
    rows_m = m[::w]
    centre = np.nanmedian(rows_m, axis=0)
    spread = _robust_scale(rows_m)
    # The noise of one window, from the pixel differences themselves (1/√w of theirs): a
    # floor under the spread so that a grid of identical rows does not flag its noise.
    floor = _robust_scale(d[ok]) / np.sqrt(w)
    scale = np.maximum(spread, floor)
    scale = np.where(scale > 0, scale, np.inf)
    score = np.sqrt(np.nanmean(((m - centre) / scale) ** 2, axis=1))
    score = np.nan_to_num(score, nan=0.0)
    events: list[TipChange] = []
    s = score.copy()
    for _ in range(max_events):
        k = int(np.argmax(s))
        if s[k] < threshold:
            break
        if not _across_the_row(d[k:k + w], m[k] - centre, scale) or \
                _seen_before(f, k + nx, w, scale):
            s[k] = 0.0  # a domain entering the scan, not the tip: try the next candidate
            continue
        t = k + nx  # the first pixel after the change (the later pixel of the difference)
        size = float(np.sqrt(np.mean((m[k, :-1] - centre[:-1]) ** 2)))
        events.append(TipChange(int(t), int(t // nx), int(t % nx), float(s[k]), size))
        s[max(0, k - w):k + w] = 0.0
    return sorted(events, key=lambda e: e.index)


def _across_the_row(diffs: np.ndarray, step: np.ndarray, scale: np.ndarray) -> bool:
    """A tip change moves every spectrum after it, whatever its x; a domain of the sample
    entering the scan moves only the columns it covers.  True when the median pixel carries
    at least half of the window's mean step (projected on it, in robust units)."""
    u = step / scale
    u = np.where(np.isfinite(u), u, 0.0)
    proj = (diffs / scale) @ u
    mean = float(np.mean(proj))
    return mean > 0 and float(np.median(proj)) >= 0.5 * mean


def _seen_before(f: np.ndarray, t: int, w: int, scale: np.ndarray) -> bool:
    """A domain of the sample crossing the scan along x changes the spectra of every column
    too, but into spectra the grid has already shown elsewhere; a new tip makes new ones.
    True when the row after *t* is as close to the spectra measured before t − w (its
    nearest neighbours there, in robust units) as the row before t is."""
    before = f[:max(t - 2 * w, 0)]
    before = before[np.isfinite(before).all(axis=1)]
    if before.shape[0] < 2 * w:
        return False  # too little history to tell
    u = 1.0 / np.where(np.isfinite(scale) & (scale > 0), scale, np.inf)
    # At most 4096 earlier spectra, spread over the history: distances cost w × 4096 × 33.
    before = before[np.unique(np.linspace(0, before.shape[0] - 1,
                                          min(before.shape[0], 4096)).astype(int))] * u
    sq_before = (before ** 2).sum(axis=1)

    def nearest(x):
        x = x[np.isfinite(x).all(axis=1)] * u
        if x.size == 0:
            return np.inf
        dist = (x ** 2).sum(axis=1)[:, None] - 2 * x @ before.T + sq_before[None, :]
        return float(np.median(np.sqrt(np.maximum(dist.min(axis=1), 0))))

    return nearest(f[t:t + w]) <= 1.5 * nearest(f[t - w:t])


def tip_change_warnings(events: list[TipChange], shape: tuple[int, int]) -> list[QualityWarning]:
    """One ``grid.tip_change`` warning per change: the rows measured after it."""
    ny, nx = shape
    out = []
    for i, ev in enumerate(events):
        end = events[i + 1].row if i + 1 < len(events) else ny
        out.append(warn("grid.tip_change",
                        f"the spectra change suddenly and stay changed from row {ev.row}, "
                        f"column {ev.column} (in acquisition order; {ev.score:.0f} robust σ, "
                        f"shape {100 * ev.size:.1f} %): a tip change — compare rows "
                        f"{ev.row}–{end - 1} with the rows before before pooling them",
                        row=ev.row, column=ev.column, rows_affected=f"{ev.row}–{end - 1}",
                        score=ev.score, relative_change=ev.size))
    return out


def grid_health(grid) -> list[QualityWarning]:
    """The health warnings of a ``(y, x, bias)`` grid (tip changes)."""
    return tip_change_warnings(tip_changes(grid), tuple(grid.shape[:2]))


#: T_eff against the header's thermometer: a difference this many standard errors and
#: this factor apart draws a warning.
TEMPERATURE_SIGMAS = 3.0
TEMPERATURE_FACTOR = 1.3


def temperature_warnings(t_eff: float, t_err: float, t_header: float | None,
                         ) -> list[QualityWarning]:
    """Compare the effective temperature a spectrum's sharpest features demand (a fit's T)
    with the temperature its header records.  Hotter: the electrons are hotter than the
    thermometer (RF noise, poor filtering) or a broadening (lock-in, noise) is unaccounted
    for; colder: the header's temperature is not the junction's (another stage, a stale
    reading) — a fit at the header's T would then be too broad."""
    if t_header is None or not (np.isfinite(t_eff) and t_header > 0):
        return []
    err = t_err if np.isfinite(t_err) and t_err > 0 else 0.0
    # A floor of 2 % of T: a spectrum's T_eff is never known better than its calibration.
    sig = abs(t_eff - t_header) / max(err, 0.02 * t_header)
    if sig < TEMPERATURE_SIGMAS:
        return []
    values = dict(T_eff_K=t_eff, T_eff_err_K=err, T_header_K=t_header)
    if t_eff > TEMPERATURE_FACTOR * t_header:
        return [warn("sts.hotter_than_header",
                     f"the spectrum's sharpest features demand T_eff = {t_eff:.3g} ± {err:.2g} "
                     f"K, the header's thermometer says {t_header:.3g} K: the electrons are "
                     "hotter (RF noise, filtering) or a broadening is unaccounted for (lock-in, "
                     "noise); use T_eff, not the header, in fits of this set-up", **values)]
    if t_eff * TEMPERATURE_FACTOR < t_header:
        return [warn("sts.colder_than_header",
                     f"the spectrum's sharpest features are narrower than {t_header:.3g} K "
                     f"allows (T_eff = {t_eff:.3g} ± {err:.2g} K): the header's temperature is "
                     "not the junction's (another stage, a stale reading); fits at the header's "
                     "T would be too broad", **values)]
    return []


#: Bias modulations (V rms) tried when a reference spectrum does not fit with the one given:
#: the cost has side minima in the modulation (a wrong one is traded against T and the tip's
#: Γ), so the profile starts from the best of these.
LOCKIN_TRIALS_V = (0.0, 10e-6, 20e-6, 35e-6, 60e-6, 100e-6, 170e-6, 300e-6, 500e-6)

#: A fitted modulation differing from the header's by more than this many standard errors,
#: by more than LOCKIN_FACTOR and by more than half a bias step is a mismatch.
LOCKIN_SIGMAS = 4.0
LOCKIN_FACTOR = 1.25
#: The coarsest energy grid of the SIS model (sts.fit._fixed_grid): the floor of a fitted
#: modulation's error.
MODEL_GRID_V = 2e-6


def reference_lockin(bias: np.ndarray, g: np.ndarray, *, sample_gaps, sample_gamma: float,
                     sample_weights, temperature: float, lockin_rms: float, start=None):
    """The bias modulation (V rms) a superconducting-tip reference spectrum demands, fitted
    with the tip's gap and Γ and the effective temperature (the reference's gaps and weights
    fixed), and its standard error (inflated for correlated residuals like the calibration's).

    *start* is a successful calibration (a :class:`~supramap.sts.fit.FitResult` fitted with
    *lockin_rms*): the cost is profiled around that modulation.  Without it (the calibration
    failed, perhaps because the modulation is wrong), the SIS fit is made at each of
    LOCKIN_TRIALS_V (up to a tenth of the sweep) and profiled around the best.  The
    sum peak of an SIS spectrum is broadened by the modulation's semicircle but hardly by
    temperature, so the two separate: on generated Pb/Pb(111) references at 0.8 K (0.3 %
    noise, 20 µV steps) 30, 50, 100, 200 µV rms are recovered to 0.5 %.  Returns
    (rms, err, fit at rms); NaN when the profile has no minimum or the fit there fails."""
    from supramap.sts.fit import fit_spectrum, reference_fixed

    fixed = reference_fixed(sample_gaps, sample_gamma, sample_weights)
    b, y = np.asarray(bias, float), np.asarray(g, float)
    kw = dict(model="sis", n_gaps=len(sample_gaps), fixed=fixed, vary_temperature=True)
    guesses = {"gaps": list(sample_gaps), "gamma": sample_gamma}
    if start is not None:
        best, rms0 = start, lockin_rms
    else:
        sides = [np.abs(b[m][np.argmax(y[m])]) for m in (b < 0, b > 0) if m.sum() > 2]
        tip_guess = max((float(np.mean(sides)) if sides else 2e-3) - max(sample_gaps), 1e-4)
        trials = [r for r in LOCKIN_TRIALS_V if r <= 0.1 * np.ptp(b)]
        fits = [fit_spectrum(b, y, temperature=temperature, lockin_rms=r, max_nfev=300,
                             guesses={**guesses, "tip_delta": tip_guess}, **kw)
                for r in trials]
        costs = [float(np.sum(np.square(f.residual))) for f in fits]
        k = int(np.nanargmin(np.where(np.isfinite(costs), costs, np.inf)))
        best, rms0 = fits[k], trials[k]
    step = float(np.median(np.abs(np.diff(b)))) if b.size > 1 else 1e-5
    return _lockin_profile(b, y, rms0, max(0.15 * rms0, 0.25 * step), best, kw, guesses)


def _lockin_profile(b, y, centre, h, start, kw, guesses, *, rounds: int = 4, levels: int = 3):
    """The modulation at the minimum of the SIS fit's cost over fixed modulations (T and the
    tip free at each, started from *start*): a parabola through the best of five values
    (:func:`_parabola_minimum`), looked at again 5× closer when the fit there fails; the
    error from its curvature (Δχ² = 1, the noise from the residuals, inflated for their
    correlation).  A fit with the modulation free would be quicker but stalls: the model's
    kernel is sampled on its energy grid, so the cost is stepped for small modulations."""
    from supramap.sts.fit import fit_spectrum

    tried: dict[float, Any] = {}

    def at(x: float):
        x = round(float(x), 12)
        if x not in tried:
            tried[x] = fit_spectrum(b, y, temperature=start.params["temperature"][0],
                                    lockin_rms=x, max_nfev=400,
                                    guesses={**guesses, "tip_delta": start.params["tip_delta"][0],
                                             "tip_gamma": start.params["tip_gamma"][0]}, **kw)
        return tried[x]

    def cost(x: float) -> float:
        c = float(np.sum(np.square(at(x).residual)))
        return c if np.isfinite(c) else np.inf

    for _ in range(levels):
        found = _parabola_minimum(cost, centre, h, rounds)
        if found is None:
            return float("nan"), float("nan"), at(centre)
        x_min, a = found
        best = at(x_min)
        if best.success:
            break
        # The cost is sharp (a reference with Γ = 10 µeV misfits 0.4 µV off 30 µV) and not a
        # parabola over ±2h: look again closer.
        centre, h = x_min, h / 5
    else:
        return float("nan"), float("nan"), best
    noise2 = cost(x_min) / max(y.size - 5, 1)
    r = best.residual - np.mean(best.residual)
    rho = float(np.clip(np.dot(r[:-1], r[1:]) / np.dot(r, r), 0.0, 0.98)) \
        if np.dot(r, r) > 0 else 0.0
    err = float(np.sqrt(noise2 / a) * np.sqrt((1 + rho) / (1 - rho)))
    # The model samples the modulation's semicircle on its energy grid (≤ 2 µeV): no error
    # below that grid's is claimed (30 µV read 30.2 with a curvature error of 0.04 µV).
    return x_min, float(max(err, MODEL_GRID_V / np.sqrt(12))), best


def _parabola_minimum(cost, centre: float, h: float, rounds: int
                      ) -> tuple[float, float] | None:
    """Minimum of *cost* over x ≥ 0 near *centre*: five points centre + (−2…2)·h, moved to the
    best until it is inside (or at 0), then the parabola a (x − x_min)² + c through the best
    and its neighbours: (x_min, a), or None."""
    for _ in range(rounds):
        xs = sorted({max(centre + k * h, 0.0) for k in (-2, -1, 0, 1, 2)})
        cs = [cost(x) for x in xs]
        k = int(np.argmin(cs))
        if 0 < k < len(xs) - 1 or (k == 0 and xs[0] == 0.0):
            break
        centre = xs[k]
    else:
        return None
    j = min(max(k, 1), len(xs) - 2)
    (x0, x1, x2), (c0, c1, c2) = xs[j - 1:j + 2], cs[j - 1:j + 2]
    d1, d2 = (c1 - c0) / (x1 - x0), (c2 - c1) / (x2 - x1)
    a = (d2 - d1) / (x2 - x0)
    if not a > 0:
        return None
    x_min = float(np.clip(0.5 * (x0 + x1) - d1 / (2 * a), x0, x2))
    return x_min, float(a)


def lockin_warnings(fitted: float, err: float, used: float, bias_step: float, *,
                    source: str = "the header") -> list[QualityWarning]:
    """Compare the modulation a spectrum demands (:func:`reference_lockin`) with the one
    modelled (*source*: the header's ``Lock-in>Amplitude`` or the option).  Differences under
    LOCKIN_SIGMAS standard errors, a factor LOCKIN_FACTOR or half a bias step (what the
    sampling resolves) are not reported."""
    if not (np.isfinite(fitted) and np.isfinite(err)):
        return []
    used = float(used or 0.0)
    tol = max(LOCKIN_SIGMAS * err, (LOCKIN_FACTOR - 1) * max(fitted, used), 0.5 * bias_step)
    if abs(fitted - used) <= tol:
        return []
    values = dict(lockin_rms_fitted_V=fitted, lockin_rms_fitted_err_V=err,
                  lockin_rms_used_V=used)
    if fitted > used:
        return [warn("sts.lockin_broader_than_header",
                     f"the spectrum's sharpest features demand a bias modulation of "
                     f"{fitted * 1e6:.3g} ± {err * 1e6:.2g} µV rms, {source} gives "
                     f"{used * 1e6:.3g} µV rms: the modulation reaching the junction is larger "
                     "(an attenuator or divider not in the header, amplitude given as peak or "
                     "peak-to-peak) — give --lockin-rms with the fitted value", **values)]
    return [warn("sts.lockin_narrower_than_header",
                 f"the spectrum's sharpest features allow a bias modulation of only "
                 f"{fitted * 1e6:.3g} ± {err * 1e6:.2g} µV rms, {source} gives "
                 f"{used * 1e6:.3g} µV rms: the modulation reaching the junction is smaller "
                 "(a divider at the tip or sample, the lock-in off during the sweep, amplitude "
                 "given as rms where peak was meant) — give --lockin-rms with the fitted value",
                 **values)]
