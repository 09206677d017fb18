"""Peaks of a 1-D signal by prominence and width: :func:`scipy.signal.find_peaks` and
:func:`scipy.signal.peak_widths`, the parts the spectrum analyses use, with the same results.

Why our own: ``import scipy.signal`` costs ~0.5 s (it loads scipy.stats), more than fitting
a spectrum; every ``supramap sts fit`` paid it for the starting gaps (#27: an analysis
command's fixed cost < 1 s).  The definitions are scipy's (local maxima with plateaus at
their middle; prominence within an optional window; width at a fraction of the prominence,
interpolated), and ``tests/test_peakfind.py`` asserts equal output with scipy's on random
and plateau-rich signals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def local_maxima(x: np.ndarray) -> np.ndarray:
    """Indices of the local maxima of *x*: a sample (or a flat run, taken at its middle,
    rounded down) higher than both neighbours; the first and the last samples never are."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n < 3:
        return np.zeros(0, dtype=np.intp)
    start = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    end = np.r_[start[1:], n] - 1
    v = x[start]
    inner = (start >= 1) & (end <= n - 2)
    s, e, vv = start[inner], end[inner], v[inner]
    keep = (x[s - 1] < vv) & (x[e + 1] < vv)
    return ((s[keep] + e[keep]) // 2).astype(np.intp)


@dataclass(frozen=True)
class Prominence:
    """Prominence of each peak and the bases it is measured from (indices)."""

    prominences: np.ndarray
    left_bases: np.ndarray
    right_bases: np.ndarray


def prominences(x: np.ndarray, peaks: np.ndarray, wlen: float | None = None) -> Prominence:
    """Height of each peak above the higher of the lowest points on either side before the
    signal rises above the peak, within a window of *wlen* samples about it when given."""
    x = np.asarray(x, dtype=float)
    n = x.size
    half = int(np.ceil(wlen)) // 2 if wlen is not None and np.ceil(wlen) >= 2 else None
    prom = np.empty(len(peaks))
    lb = np.empty(len(peaks), dtype=np.intp)
    rb = np.empty(len(peaks), dtype=np.intp)
    for j, p in enumerate(np.asarray(peaks, dtype=np.intp)):
        lo, hi = (0, n - 1) if half is None else (max(p - half, 0), min(p + half, n - 1))
        xp = x[p]
        left = x[lo:p + 1][::-1]          # from the peak leftwards
        stop = np.flatnonzero(left > xp)
        left = left[: stop[0]] if stop.size else left
        k = int(np.argmin(left))          # first minimum met walking away from the peak
        right = x[p:hi + 1]
        stop = np.flatnonzero(right > xp)
        right = right[: stop[0]] if stop.size else right
        m = int(np.argmin(right))
        lb[j], rb[j] = p - k, p + m
        prom[j] = xp - max(left[k], right[m])
    return Prominence(prom, lb, rb)


@dataclass(frozen=True)
class Widths:
    """Width of each peak (samples), the height it is measured at, and the interpolated
    left and right crossing positions (fractional indices)."""

    widths: np.ndarray
    heights: np.ndarray
    left: np.ndarray
    right: np.ndarray


def widths(x: np.ndarray, peaks: np.ndarray, rel_height: float = 0.5,
           prominence: Prominence | None = None) -> Widths:
    """Width of each peak where the signal crosses peak − *rel_height* × prominence, between
    the peak's bases, with linear interpolation between samples."""
    x = np.asarray(x, dtype=float)
    peaks = np.asarray(peaks, dtype=np.intp)
    pr = prominence if prominence is not None else prominences(x, peaks)
    out = np.empty((4, len(peaks)))
    for j, p in enumerate(peaks):
        lo, hi = int(pr.left_bases[j]), int(pr.right_bases[j])
        h = x[p] - pr.prominences[j] * rel_height
        # Walk left while the signal is above h (not past the left base).
        seg = x[lo + 1:p + 1][::-1]
        below = np.flatnonzero(~(h < seg))
        i = p - int(below[0]) if below.size else lo
        left = float(i)
        if x[i] < h:
            left += (h - x[i]) / (x[i + 1] - x[i])
        seg = x[p:hi]
        below = np.flatnonzero(~(h < seg))
        i = p + int(below[0]) if below.size else hi
        right = float(i)
        if x[i] < h:
            right -= (h - x[i]) / (x[i - 1] - x[i])
        out[:, j] = right - left, h, left, right
    return Widths(*out)


def find_peaks(x: np.ndarray, *, prominence: float | None = None, width: float | None = None,
               wlen: float | None = None, rel_height: float = 0.5
               ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Local maxima with prominence ≥ *prominence* (within *wlen* samples) and width at
    *rel_height* of the prominence ≥ *width* samples; the indices and their properties."""
    x = np.asarray(x, dtype=float)
    peaks = local_maxima(x)
    props: dict[str, np.ndarray] = {}
    if prominence is None and width is None:
        return peaks, props
    pr = prominences(x, peaks, wlen)
    if prominence is not None:
        keep = pr.prominences >= prominence
        peaks = peaks[keep]
        pr = Prominence(pr.prominences[keep], pr.left_bases[keep], pr.right_bases[keep])
    props |= {"prominences": pr.prominences, "left_bases": pr.left_bases,
              "right_bases": pr.right_bases}
    if width is not None:
        w = widths(x, peaks, rel_height, pr)
        keep = w.widths >= width
        peaks = peaks[keep]
        props = {k: v[keep] for k, v in props.items()}
        props |= {"widths": w.widths[keep], "width_heights": w.heights[keep],
                  "left_ips": w.left[keep], "right_ips": w.right[keep]}
    return peaks, props
