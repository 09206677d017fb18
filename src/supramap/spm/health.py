"""A tip change inside a topography image, read from the image itself: a sudden height offset
between two scan lines that stays.

When the tip's apex changes (it picks up or loses an atom, a cluster, part of a coating) its
length changes, and the feedback keeps the new apex at the same distance from the surface:
every line after the change is offset by that length, typically 0.1–1 nm, in every pixel of
the line.  The offset between consecutive lines is read robustly as the median over the fast
axis of their difference (features cancel, since neighbouring lines see nearly the same
sample; an oblique step edge moves few pixels of a line pair), the slow trend (tilt, creep)
is taken out by a running median, and a change is a line pair beyond THRESHOLD robust
standard deviations of the others whose offset *stays* — lines SKIP + 1 … SKIP + 4 away on
either side differ by it too, to within half — and is *uniform*: at least UNIFORM of the
pair's pixels carry it.  Persistence separates a tip change from a scar (one line, or a few,
off and back, which the line-alignment tools repair) and from the lines' ordinary jitter;
uniformity separates it from a step edge at a small angle to the fast axis.

What this cannot tell apart: a step edge that runs along the fast axis (within a line pair
over the whole width), or a feedback set-point or Z-offset changed by hand during the scan;
the message names them.  The apparent *resolution* of a topography is not used: the sample's
texture moves a power-spectrum estimate by ×3 between windows of a clean image (cAFM maps,
whose island boundaries are sharper than the tip, give it: :mod:`supramap.conduction.tipchange`).

Written here rather than taken from a library: Gwyddion and pySPM align or mark lines (and so
remove or hide a tip change's offset), none reports a lasting offset as an event.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from supramap.quality import QualityWarning, warn

#: A line-pair offset this many robust standard deviations out (of all line pairs' detrended
#: offsets: 1.4826 × their MAD, or their 90th percentile / 1.645 when larger) may be a
#: change.  Set on generated images (tests/test_health.py): with the persistence and
#: uniformity tests below, 1 flag in 300 clean images with scars, 1/f line drift and step
#: edges at any angle; recall 0.94 at 0.3 nm offsets (~10× the line jitter), 0.6 at 0.2 nm.
THRESHOLD = 6.0
#: Lines either side compared for the persistence test and the running median of the trend.
WINDOW = 12
#: The lines beyond the pair must be offset by the pair's offset to within this fraction …
PERSIST = 0.5
#: … read on lines this many (and up to 3 more) away from the pair on each side: a scar of
#: up to SKIP lines beside the pair does not enter.
SKIP = 3
#: … and this share of the pair's pixels must carry the offset (to within half of it).
UNIFORM = 0.8


@dataclass(frozen=True)
class OffsetJump:
    """A sudden, lasting height offset between scan lines *row* − 1 and *row*."""

    row: int  # the first scan line after the change (rows as stored)
    offset: float  # the height change, in the image's units
    score: float  # the pair's offset in robust standard deviations of all pairs' offsets


def line_offsets(z: np.ndarray, *, chunk: int = 256) -> np.ndarray:
    """Per pair of consecutive lines, the median over the fast axis of their difference
    (``(ny − 1,)``; NaN where the lines share fewer than 8 finite pixels).  Taken *chunk*
    line pairs at a time: a 4096² image's differences would be another 128 MB at once."""
    z = np.asarray(z, dtype=float)
    out = np.full(max(z.shape[0] - 1, 0), np.nan)
    for a in range(0, out.size, chunk):
        b = min(a + chunk, out.size)
        diff = z[a + 1:b + 1] - z[a:b]
        ok = np.isfinite(diff)
        if ok.all():
            out[a:b] = np.median(diff, axis=1)
            continue
        enough = ok.sum(axis=1) >= 8
        if enough.any():
            out[a:b][enough] = np.nanmedian(diff[enough], axis=1)
    return out


def offset_jumps(z: np.ndarray, *, threshold: float = THRESHOLD,
                 window: int = WINDOW) -> list[OffsetJump]:
    """Sudden, lasting height offsets between scan lines of a raw topography *z* (ny, nx),
    strongest first (see the module's description).  Images of fewer than 2·window + 2 lines
    or 16 columns are not tested (an empty list)."""
    from scipy.ndimage import median_filter

    z = np.asarray(z, dtype=float)
    if z.ndim != 2 or z.shape[0] < 2 * window + 2 or z.shape[1] < 16:
        return []
    d = line_offsets(z)
    good = np.isfinite(d)
    if good.sum() < 2 * window:
        return []
    d = np.where(good, d, np.median(d[good]))
    r = d - median_filter(d, size=2 * window + 1, mode="nearest")
    # The line pairs' scatter: the MAD's, or the 90th percentile's where the jitter has
    # heavier tails (bursts of line noise: a public STM image had 29 % of its line pairs
    # beyond 4 MAD-σ, and six 4–7 pm "changes" that its forward and backward scans, taken
    # together line by line, did not share).
    dev = np.abs(r - np.median(r))
    s = max(1.4826 * float(np.median(dev)), float(np.percentile(dev, 90)) / 1.645)
    if not s > 0:  # perfectly regular lines (a synthetic image): any offset would count
        s = float(np.finfo(float).eps * max(np.nanmax(np.abs(z)), 1.0))
    base = d - r  # the slow trend per line pair
    ny = z.shape[0]
    out: list[OffsetJump] = []
    taken = np.zeros(r.size, bool)
    for i in np.argsort(-np.abs(r)):
        if abs(r[i]) <= threshold * s:
            break
        if taken[i] or not good[i]:
            continue
        if i - SKIP - 3 < 0 or i + 1 + SKIP + 3 >= ny:
            continue  # too near the first or last line to tell a change from a glitch
        # Persistence: lines SKIP+1 … SKIP+4 away on either side, compared pixel by pixel
        # (medians of their differences, the trend between them taken out): a scar of up
        # to SKIP lines next to the pair leaves them alone, a tip change shifts them all.
        ks = np.arange(SKIP, SKIP + 4)
        pairs = z[i + 1 + ks] - z[i - ks]
        if np.isfinite(pairs).all():
            lines = np.median(pairs, axis=1)
        else:
            with warnings.catch_warnings():  # an aborted scan's empty lines: NaN, refused
                warnings.simplefilter("ignore", RuntimeWarning)
                lines = np.nanmedian(pairs, axis=1)
        trend = np.array([base[i - k:i + k + 1].sum() for k in ks])  # the 2k + 1 pairs
        jump = float(np.median(lines - trend))
        # Uniform along the line: a new apex shifts every pixel of the line, a step edge
        # at a small angle to the fast axis crosses the pair in part of the width only.
        step = z[i + 1] - z[i] - base[i]
        share = float(np.mean(np.abs(step[np.isfinite(step)] - r[i]) < 0.5 * abs(r[i])))
        if abs(jump - r[i]) <= PERSIST * abs(r[i]) and share >= UNIFORM:
            # The offset: the median of the pair's and the four farther pairs' (each carries
            # the lines' jitter; the pair alone was off by up to 15 % of a 0.3 nm jump).
            offset = float(np.median(np.r_[r[i], lines - trend]))
            out.append(OffsetJump(int(i + 1), offset, float(abs(r[i]) / s)))
            taken[max(0, i - window):i + window + 1] = True
    return out


def offset_jump_warnings(jumps: list[OffsetJump], ny: int, *, units: str = "m",
                         code: str = "topography.tip_change") -> list[QualityWarning]:
    """One warning per jump, naming the lines on both sides (which part was scanned first
    depends on the scan direction, which the rows alone do not say)."""
    out = []
    for j in jumps:
        size = (f"{j.offset * 1e9:+.3g} nm" if units == "m" else f"{j.offset:+.3g} {units}")
        out.append(warn(code,
                        f"the topography jumps by {size} between scan lines {j.row - 1} and "
                        f"{j.row} (of {ny}) and stays there ({j.score:.0f} robust standard "
                        "deviations of the line-to-line offsets): the tip changed there (or a "
                        "step edge runs along the fast axis, or the set-point was changed); "
                        f"lines 0–{j.row - 1} and {j.row}–{ny - 1} were measured with "
                        "different tips", row=j.row, offset=j.offset, score=j.score))
    return out
