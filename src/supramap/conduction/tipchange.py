"""A tip change inside a cAFM map, read from the map itself: the apparent resolution of its
edges, line by line along the slow axis.

A conduction map is an image of step-like edges: the superconducting islands' boundaries are
sharper than the tip (< 50 nm in Fe(Se,Te)), so the width of a boundary crossed by a scan line
is the tip's point-spread function — not the sample's texture, which is what defeated a
resolution estimate from the topography's power spectrum (it wandered ×3 between windows of 16
lines of a clean image).  At each boundary crossing of the fast axis the steepest step between
neighbouring pixels gives the edge's Gaussian width σ = rise / (√(2π) · slope), the rise being
the island's current level.  A tip that picks up or loses material changes σ from one scan
line on, in every island across the width of the scan; a region of the sample with broader
boundaries changes it in part of the width only, and a slow drift changes it gradually.

The per-line medians of log σ are compared in windows either side of every line; a change is
the largest difference, with the same sign in both halves of the width, beyond THRESHOLD
robust standard errors of such a difference (set from the line-to-line scatter) and beyond
MIN_CHANGE.  A tip that loses its coating scales every island's current instead: the plateaus
are compared line to line within each island (so the islands' levels cancel), the lines'
median ratios summed into a series tested the same way, and the step must show in at least
two islands (a sample region of another level shows in its own island only).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supramap.quality import QualityWarning, warn

#: A window difference this many standard errors out is a change.  Set on generated maps
#: (tests/test_health.py).
THRESHOLD = 6.0
#: … and at least this relative change of the edge width or of the plateaus' current.
MIN_CHANGE = 0.2
#: Lines either side of a candidate line compared (at least; a 32nd of the map for large maps).
WINDOW = 12


@dataclass(frozen=True)
class ImageTipChange:
    """A sudden, lasting change of the apparent resolution (or current scale) of a map."""

    row: int  # the first scan line after the change
    quantity: str  # "edge width" or "current scale"
    before: float  # median edge width (px) or plateau current / level before
    after: float
    score: float  # the smaller of the two halves' differences, in standard errors


def _group_medians(groups: np.ndarray, values: np.ndarray, n: int, *, min_count: int = 1
                   ) -> np.ndarray:
    """Median of *values* per group 0 … n − 1 (NaN for groups with fewer than *min_count*),
    without a Python loop over the groups: sorted by (group, value), the middle elements."""
    out = np.full(n, np.nan)
    if values.size == 0:
        return out
    order = np.lexsort((values, groups))
    g, v = groups[order], values[order]
    starts = np.searchsorted(g, np.arange(n))
    counts = np.searchsorted(g, np.arange(n), side="right") - starts
    ok = counts >= min_count
    lo = starts[ok] + (counts[ok] - 1) // 2
    hi = starts[ok] + counts[ok] // 2
    out[ok] = 0.5 * (v[lo] + v[hi])
    return out


def line_edge_widths(current: np.ndarray, mask: np.ndarray, levels) -> np.ndarray:
    """Per scan line (row), the median Gaussian width (px) of the boundaries it crosses:
    rise / (√(2π) · steepest gradient magnitude within one pixel of the crossing), the rise
    being the level nearest to the highest current within 6 px.  NaN for lines crossing
    fewer than two boundaries.  Returns an (ny, 2) array: left and right halves of the width."""
    cur = np.asarray(current, dtype=float)
    ny, nx = cur.shape
    out = np.full((ny, 2), np.nan)
    lv = np.asarray(sorted(levels), dtype=float)
    if lv.size == 0 or nx < 16:
        return out
    rows, cols = np.nonzero(mask[:, 1:] != mask[:, :-1])  # between cols and cols + 1
    keep = (cols >= 6) & (cols < nx - 7)
    rows, cols = rows[keep], cols[keep]
    if rows.size == 0:
        return out
    win = np.stack([cur[rows, np.clip(cols + k, 0, nx - 1)] for k in range(-5, 7)], axis=1)
    top = np.nanmax(win, axis=1)
    rise = lv[np.argmin(np.abs(top[:, None] - lv[None, :]), axis=1)]
    # The steepest gradient magnitude between the pixel pairs at and beside the crossing: the
    # magnitude, not the slope along the line, so that an edge crossed obliquely (its width
    # along x is σ / sin θ) reads its own width.
    up, down = np.clip(rows - 1, 0, ny - 1), np.clip(rows + 1, 0, ny - 1)
    span = np.maximum(down - up, 1)
    slope = np.zeros(rows.size)
    for k in (-1, 0, 1):
        c0, c1 = cols + k, cols + k + 1
        gx = cur[rows, c1] - cur[rows, c0]
        gy = 0.5 * (cur[down, c0] - cur[up, c0] + cur[down, c1] - cur[up, c1]) / span
        slope = np.fmax(slope, np.hypot(gx, gy))
    ok = np.isfinite(slope) & (slope > 0)
    sigma = np.where(ok, rise / (np.sqrt(2 * np.pi) * np.where(ok, slope, 1.0)), np.nan)
    half = (cols >= nx // 2).astype(int)
    good = np.isfinite(sigma)
    out[:] = _group_medians(rows[good] * 2 + half[good], np.log(sigma[good]), 2 * ny,
                            min_count=2).reshape(ny, 2)
    out = np.exp(out)
    return out


#: Lines back a plateau pixel may be compared over (the last line it was plateau of the
#: same island).
SCALE_REACH = 16
#: Pixels a line's comparison needs to count.
MIN_PAIRS = 8


def plateau_pairs(current: np.ndarray, mask: np.ndarray, labels: np.ndarray | None = None
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per scan line, (island labels, log current ratios) of its plateau pixels (4 px from the
    boundary along both axes: a blurred island's top and bottom rows carry less current)
    against the last line, at most SCALE_REACH back, where the same column was plateau of the
    same island — so that the islands' different levels cancel.  *labels*: the mask's
    islands when the caller has them."""

    cur = np.asarray(current, dtype=float)
    ny, nx = cur.shape
    m = np.asarray(mask, dtype=bool)
    inner = m.copy()
    for k in range(1, 5):
        inner[:, k:] &= m[:, :-k]
        inner[:, :-k] &= m[:, k:]
        inner[k:, :] &= m[:-k, :]
        inner[:-k, :] &= m[k:, :]
    inner &= cur > 0
    if labels is None:
        from scipy import ndimage

        labels, _ = ndimage.label(m)
    last_val = np.full(nx, np.nan)
    last_row = np.full(nx, -10 ** 9)
    last_lab = np.zeros(nx, dtype=labels.dtype)
    out = []
    for i in range(ny):
        here = inner[i]
        pair = here & (i - last_row <= SCALE_REACH) & (last_lab == labels[i])
        if pair.sum() >= MIN_PAIRS:
            out.append((labels[i, pair], np.log(cur[i, pair] / last_val[pair])))
            update = here
        else:
            # Too few to count: the pixels keep their older reference, so that a change at
            # this line is seen at the next line that counts (not lost).
            out.append((labels[i, :0], np.zeros(0)))
            update = here & ~pair
        last_val[update], last_row[update] = cur[i, update], i
        last_lab[update] = labels[i, update]
    return out


def line_plateau_scale(pairs: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The plateaus' current scale per scan line relative to the first compared line, (ny, 1):
    the lines' median log-ratios (:func:`plateau_pairs`, ≥ 8 pixels) summed; NaN before the
    first comparison."""
    out = np.full((len(pairs), 1), np.nan)
    total, seen = 0.0, False
    for i, (_, logr) in enumerate(pairs):
        if logr.size >= MIN_PAIRS:
            total += float(np.median(logr))
            seen = True
        if seen:
            out[i, 0] = np.exp(total)
    return out


def _in_several_islands(pairs, row: int, change: float) -> bool:
    """Whether a current-scale change at *row* (log ratio *change*) is seen in at least two
    islands and in two thirds of those compared across it: a tip scales every island's
    current, a sample region with another level only its own island(s).  An island counts
    when it has plateau comparisons both 3–12 lines before and 3–12 lines after *row* (the
    step's line is found within a few lines); its change is the sum of its median
    log-ratios over the lines between."""
    lines: dict[int, list[int]] = {}
    per: dict[int, float] = {}
    for i in range(max(row - 12, 0), min(row + 13, len(pairs))):
        labs, logr = pairs[i]
        for lab in np.unique(labs):
            sel = logr[labs == lab]
            if sel.size >= 3:
                lines.setdefault(int(lab), []).append(i - row)
                per[int(lab)] = per.get(int(lab), 0.0) + float(np.median(sel))
    across = [lab for lab, ls in lines.items() if min(ls) <= -3 and max(ls) >= 3]
    if len(across) < 2:
        return False
    agree = sum(np.sign(per[lab]) == np.sign(change) and abs(per[lab]) >= 0.5 * abs(change)
                for lab in across)
    return agree >= 2 and agree >= 2 / 3 * len(across)


def _step(series: np.ndarray, window: int) -> tuple[int, float, float, float] | None:
    """The line where the medians of *window* valid lines either side differ most, in every
    part of the width (columns of *series*, (ny, parts)) with the same sign: (row, before,
    after, score), the score being the smallest part's difference in standard errors (from
    the line-to-line scatter); None when a part has too few valid lines.  Compared in logs."""
    ny, parts = series.shape
    logs = np.log(series)
    z = np.full((ny, parts), np.nan)
    for h in range(parts):
        valid = np.flatnonzero(np.isfinite(logs[:, h]))
        if valid.size < 4 * window:
            return None
        v = logs[valid, h]
        dv = np.diff(v)
        noise = 1.4826 * np.median(np.abs(dv - np.median(dv))) / np.sqrt(2)
        if not noise > 0:
            return None
        se = noise * np.sqrt(np.pi / 2) * np.sqrt(2 / window)  # two medians of `window`
        med = np.median(np.lib.stride_tricks.sliding_window_view(v, window), axis=1)
        # med[j] is the median of v[j:j + window]: after line j minus before it.
        j = np.arange(window, valid.size - window + 1)
        z[valid[j], h] = (med[j] - med[j - window]) / se
    agree = np.isfinite(z).all(axis=1) & (np.sign(z) == np.sign(z[:, :1])).all(axis=1)
    score = np.where(agree, np.min(np.abs(np.nan_to_num(z)), axis=1), -np.inf)
    if not np.isfinite(score).any():
        return None
    row = int(np.argmax(score))
    with np.errstate(all="ignore"):
        before = float(np.exp(np.nanmedian(logs[max(row - window, 0):row])))
        after = float(np.exp(np.nanmedian(logs[row:row + window])))
    return row, before, after, float(score[row])


def image_tip_changes(current: np.ndarray, mask: np.ndarray, levels,
                      labels: np.ndarray | None = None) -> list[ImageTipChange]:
    """Tip changes in a conduction map (rows are the slow axis, scanned in order): a lasting
    step of the edges' apparent width across the whole width of the scan (both halves), or of
    the plateaus' current within the islands (seen in ≥ 2 of them), beyond THRESHOLD
    standard errors and MIN_CHANGE.  At most one of each kind (the largest).  *labels*: the
    mask's islands when the caller has them."""
    cur = np.asarray(current, dtype=float)
    window = max(WINDOW, cur.shape[0] // 32)
    found = []
    pairs = plateau_pairs(cur, mask, labels)
    for quantity, series in (("edge width", line_edge_widths(cur, mask, levels)),
                             ("current scale", line_plateau_scale(pairs))):
        with np.errstate(all="ignore"):
            series = np.where(series > 0, series, np.nan)
        step = _step(series, window)
        if step is None:
            continue
        row, before, after, score = step
        if score < THRESHOLD or abs(np.log(after / before)) < np.log1p(MIN_CHANGE):
            continue
        if quantity == "current scale" and not _in_several_islands(pairs, row,
                                                                  np.log(after / before)):
            continue
        found.append(ImageTipChange(row, quantity, before, after, score))
    return found


def tip_change_warnings(changes: list[ImageTipChange], ny: int) -> list[QualityWarning]:
    """``cafm.tip_change``, naming the lines on either side (rows as stored)."""
    out = []
    for c in changes:
        what = (f"the edges' apparent width changes from {c.before:.2g} to {c.after:.2g} px"
                if c.quantity == "edge width" else
                f"the plateaus' current changes from {c.before:.3g} to {c.after:.3g} × their "
                "level")
        # Which part came first depends on the scan direction: both parts are named.
        out.append(warn("cafm.tip_change",
                        f"{what} between scan lines {c.row - 1} and {c.row} (of {ny}), across "
                        f"the whole width and for good ({c.score:.1f} standard errors): the "
                        f"tip changed there; lines 0–{c.row - 1} and {c.row}–{ny - 1} were "
                        "measured with different tips (compare the two parts, or rescan)",
                        row=c.row, quantity=c.quantity, before=c.before, after=c.after,
                        score=c.score))
    return out
