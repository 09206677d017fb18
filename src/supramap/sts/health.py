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
