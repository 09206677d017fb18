"""Horizontal scar (streak) marking and removal, compatible with Gwyddion's "Mark scars".

Follows ``gwy_data_field_mark_scars`` (Gwyddion, libprocess, D. Nečas & P. Klapetek): the
"vertical RMS" is ``sqrt(Σ (z[i] - z[i+1])² / (xres·yres))``; a pixel starts a scar of width
``k ≤ max_width`` rows when the band of ``k`` rows stands above both the row before and the row
after it by at least ``threshold_low × rms``; the marked value is its height above that border
in RMS units.  Runs of pixels above ``threshold_low`` that touch a pixel above
``threshold_high`` join the scar; scars shorter than ``min_length`` pixels are dropped.
Defaults are Gwyddion's: hard 0.666, soft 0.25, min length 16 px, max width 4 px.

Gwyddion walks the pixels one by one; here every step works on whole arrays (the only loop
runs over the ≤ ``max_width`` candidate widths).
"""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from supramap.data import like, require_image
from supramap.errors import AnalysisError
from supramap.spm.labels import label_max

_ROW = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]])


def _mark_one_sign(d: np.ndarray, rms: float, low: float, width: int) -> np.ndarray:
    ny, nx = d.shape
    m = np.zeros_like(d)
    n = ny - (width + 1)
    if n <= 0:
        return m
    row0 = d[:n]
    top = d[1 : n + 1].copy()
    found = np.zeros((n, nx), dtype=bool)
    k_hit = np.zeros((n, nx), dtype=int)
    bottom_hit = np.zeros((n, nx))
    for k in range(1, width + 1):
        bottom = np.maximum(row0, d[k + 1 : k + 1 + n])
        top = np.minimum(top, d[k : k + n])
        hit = ~found & (top - bottom >= low * rms)
        k_hit[hit] = k
        bottom_hit[hit] = bottom[hit]
        found |= hit
    # Each start row i marks rows i+1..i+k; where several starts cover a pixel the largest
    # value wins (``fmax``, as in current Gwyddion).
    for kk in range(1, width + 1):
        ok = found & (k_hit >= kk)
        target = m[kk : kk + n]
        target[ok] = np.maximum(target[ok], (d[kk : kk + n][ok] - bottom_hit[ok]) / rms)
    return m


def _finish(m: np.ndarray, high: float, low: float, min_length: int) -> np.ndarray:
    # Expand: a run of ≥ low pixels in a row that contains a ≥ high pixel becomes a scar.
    labels, n = ndimage.label(m >= low, structure=_ROW)
    if n == 0:
        return np.zeros(m.shape, dtype=bool)
    peak = label_max(m, labels, n)
    keep = np.concatenate([[False], peak >= high])
    scar = keep[labels]
    # Drop runs shorter than min_length.
    labels, n = ndimage.label(scar, structure=_ROW)
    if n == 0:
        return scar
    length = np.bincount(labels.ravel(), minlength=n + 1)
    long_enough = length >= min_length
    long_enough[0] = False
    return long_enough[labels]


def scar_mask(values: np.ndarray, *, threshold_high: float = 0.666,
              threshold_low: float = 0.25, min_length: int = 16, max_width: int = 4,
              kind: str = "both") -> np.ndarray:
    """Boolean mask of horizontal scars in a 2-D array (see module docstring)."""
    if kind not in ("both", "positive", "negative"):
        raise AnalysisError(f"kind must be 'both', 'positive' or 'negative', got {kind!r}")
    if threshold_low <= 0:
        raise AnalysisError("threshold_low must be positive")
    threshold_high = max(threshold_high, threshold_low)
    d = np.asarray(values, dtype=float)
    if not np.isfinite(d).all():
        # Void pixels must not seed scars: fill them with their row median.
        finite = np.isfinite(d)
        med = np.zeros(d.shape[0])
        rows_ok = finite.any(axis=1)
        if rows_ok.any():
            med[rows_ok] = np.nanmedian(np.where(finite, d, np.nan)[rows_ok], axis=1)
        d = np.where(finite, d, med[:, None])
    ny, nx = d.shape
    min_length = max(int(min_length), 1)
    max_width = min(int(max_width), ny - 2)
    rms = float(np.sqrt(np.sum((d[:-1] - d[1:]) ** 2) / (nx * ny)))
    if rms == 0.0 or max_width < 1 or min_length > nx:
        return np.zeros(d.shape, dtype=bool)
    out = np.zeros(d.shape, dtype=bool)
    signs = {"both": (1, -1), "positive": (1,), "negative": (-1,)}[kind]
    for s in signs:
        m = _mark_one_sign(s * d, rms, threshold_low, max_width)
        out |= _finish(m, threshold_high, threshold_low, min_length)
    return out


def mark_scars(image: xr.DataArray, *, threshold_high: float = 0.666,
               threshold_low: float = 0.25, min_length: int = 16, max_width: int = 4,
               kind: str = "both") -> xr.DataArray:
    """Mark horizontal scars; returns a boolean DataArray on the image's grid.

    Parameters
    ----------
    image : DataArray (y, x)
    threshold_high, threshold_low : float
        Hard and soft thresholds in units of the vertical RMS (Gwyddion defaults).
    min_length : int
        Minimum scar length in pixels.
    max_width : int
        Maximum scar width in rows.
    kind : {"both", "positive", "negative"}
        Ridges, dips or both.
    """
    require_image(image)
    mask = scar_mask(image.values, threshold_high=threshold_high, threshold_low=threshold_low,
                     min_length=min_length, max_width=max_width, kind=kind)
    return like(image, mask, units="", name="scars",
                step=f"mark_scars(high={threshold_high}, low={threshold_low}, "
                     f"min_length={min_length}, max_width={max_width}, kind={kind!r})")


def fill_vertical(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Replace masked pixels by linear interpolation between the nearest unmasked pixels above
    and below in the same column (constant extrapolation at the image edges).

    For horizontal scars a few rows wide this equals Laplace interpolation (what Gwyddion's
    "Remove scars" uses) up to the in-row smoothing, and it needs no sparse solve.
    """
    z = np.asarray(values, dtype=float)
    bad = np.asarray(mask, dtype=bool) | ~np.isfinite(z)
    if not bad.any():
        return z.copy()
    ny, nx = z.shape
    rows = np.arange(ny)[:, None] * np.ones((1, nx), dtype=int)
    above = np.where(~bad, rows, -1)
    above = np.maximum.accumulate(above, axis=0)
    below = np.where(~bad, rows, ny)
    below = np.minimum.accumulate(below[::-1], axis=0)[::-1]
    cols = np.broadcast_to(np.arange(nx), (ny, nx))
    za = np.where(above >= 0, z[np.clip(above, 0, ny - 1), cols], np.nan)
    zb = np.where(below < ny, z[np.clip(below, 0, ny - 1), cols], np.nan)
    t = np.where((above >= 0) & (below < ny), (rows - above) / np.maximum(below - above, 1), 0.5)
    filled = np.where(np.isnan(za), zb, np.where(np.isnan(zb), za, za + t * (zb - za)))
    return np.where(bad & np.isfinite(filled), filled, z)


def remove_scars(image: xr.DataArray, *, mask: np.ndarray | xr.DataArray | None = None,
                 **mark_options: float | int | str) -> xr.DataArray:
    """Mark (unless *mask* is given) and remove horizontal scars by vertical interpolation."""
    require_image(image)
    if mask is None:
        mask = mark_scars(image, **mark_options)  # type: ignore[arg-type]
    m = np.asarray(getattr(mask, "values", mask), dtype=bool)
    if m.shape != image.shape:
        raise AnalysisError(f"scar mask shape {m.shape} does not match image {image.shape}")
    out = fill_vertical(image.values, m)
    # Keep void pixels void: interpolation only replaces scar pixels.
    out = np.where(np.isfinite(image.values) | m, out, np.nan)
    return like(image, out, step=f"remove_scars(n_pixels={int(m.sum())})")
