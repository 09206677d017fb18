"""Square minimum and maximum filters of small odd size with ``mode="nearest"``: the values of
``scipy.ndimage.minimum_filter`` / ``maximum_filter``, in strips of rows.

Own helper: for the 3 × 3 and 7 × 7 windows of the cAFM analysis, scipy's separable filter
took 0.55 s per call on a 4096² float64 map (three calls, 1.7 s of a 7.5 s analysis); shifted
``np.minimum``/``np.maximum`` over strips of rows take ~0.15 s and add one strip of memory,
not a full copy of the map — the analysis's peak memory is the binding limit
there (< 1 GB at 4096², #27).  ``tests/test_spm.py`` compares with scipy.
"""

from __future__ import annotations

import numpy as np

#: Rows per strip: 16 rows of a 4096-wide float64 map are 0.5 MB.  Strips of 8 MB stayed in
#: the allocator's heap once freed and raised the 4096² analysis's peak RSS by 16 MB.
STRIP_ROWS = 16


def _extreme(values: np.ndarray, size: int, op: np.ufunc) -> np.ndarray:
    z = np.asarray(values)
    if z.ndim != 2 or size < 1 or size % 2 == 0:
        raise ValueError("a 2-D array and an odd window size ≥ 1")
    r = size // 2
    ny, nx = z.shape
    out = np.empty_like(z)
    if z.size == 0 or r == 0:
        out[...] = z
        return out
    # Along x, strip by strip: the strip padded by r edge columns, then 2r shifted extremes.
    for i0 in range(0, ny, STRIP_ROWS):
        i1 = min(i0 + STRIP_ROWS, ny)
        ext = np.pad(z[i0:i1], ((0, 0), (r, r)), mode="edge")
        res = out[i0:i1]
        res[...] = ext[:, :nx]
        for k in range(1, 2 * r + 1):
            op(res, ext[:, k:k + nx], out=res)
    # Along y, in place: a strip needs r rows above it as they were before the strip above
    # was overwritten (kept in `above`) and r rows below (not yet overwritten).
    above = np.repeat(out[:1], r, axis=0)
    for i0 in range(0, ny, STRIP_ROWS):
        i1 = min(i0 + STRIP_ROWS, ny)
        below = out[i1:min(i1 + r, ny)]
        if below.shape[0] < r:
            below = np.concatenate([below, np.repeat(out[ny - 1:ny], r - below.shape[0],
                                                     axis=0)])
        ext = np.concatenate([above, out[i0:i1], below])  # a copy: the rows as they were
        m = i1 - i0
        above = ext[m:m + r]  # rows i1 − r … i1 − 1 for the next strip
        res = out[i0:i1]
        res[...] = ext[:m]
        for k in range(1, 2 * r + 1):
            op(res, ext[k:k + m], out=res)
    return out


def minimum_filter(values: np.ndarray, size: int = 3) -> np.ndarray:
    """Minimum over the size × size window about each pixel, edges repeated outwards."""
    return _extreme(values, size, np.minimum)


def maximum_filter(values: np.ndarray, size: int = 3) -> np.ndarray:
    """Maximum over the size × size window about each pixel, edges repeated outwards."""
    return _extreme(values, size, np.maximum)
