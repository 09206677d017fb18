"""Edge sharpness: 10–90 % width of the current across island boundaries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import ndimage

from supramap.data import pixel_size, require_image
from supramap.errors import AnalysisError
from supramap.spm import profile


@dataclass(frozen=True)
class EdgeWidths:
    """10–90 % widths measured on profiles normal to the conducting boundary.

    Attributes
    ----------
    median_m : float
        Median width (NaN when no profile qualified).
    widths_m : ndarray
        Every accepted profile's width.
    n_profiles : int
        Profiles sampled; ``widths_m.size`` of them were accepted.
    distance_m, profiles : ndarray
        Distance along the normal (negative inside) and the normalised profiles (0 outside,
        1 inside) of up to 200 accepted profiles, for figures.
    """

    median_m: float
    widths_m: np.ndarray
    n_profiles: int
    distance_m: np.ndarray
    profiles: np.ndarray


def width_10_90(t: np.ndarray, q: np.ndarray) -> np.ndarray:
    """10–90 % widths of falling normalised profiles ``q`` (rows; 1 at ``t[0]``, 0 at the end).

    Crossings are linearly interpolated; profiles that never cross give NaN.
    """
    q = np.atleast_2d(q)
    out = np.full(q.shape[0], np.nan)
    pos = {}
    for level in (0.9, 0.1):
        below = q < level
        first = np.argmax(below, axis=1)
        ok = below.any(axis=1) & (first > 0)
        i = np.clip(first, 1, q.shape[1] - 1)
        rows = np.arange(q.shape[0])
        q0, q1 = q[rows, i - 1], q[rows, i]
        frac = np.where(q0 != q1, (q0 - level) / np.where(q0 != q1, q0 - q1, 1.0), 0.0)
        pos[level] = np.where(ok, t[i - 1] + frac * (t[i] - t[i - 1]), np.nan)
    out = pos[0.1] - pos[0.9]
    return out


_R = 5  # radius of the Gaussian(σ = 1 px, truncated at 4σ) followed by a 3 × 3 Sobel


def _gradient_kernels() -> tuple[np.ndarray, np.ndarray]:
    """Weights w with ``sobel(gaussian_filter(z, 1), axis)[p] = Σ w · z[p + offset]`` on an
    (2R+1)² patch: the filters' response to a unit impulse, flipped (correlation form)."""
    delta = np.zeros((2 * _R + 1, 2 * _R + 1))
    delta[_R, _R] = 1.0
    smooth = ndimage.gaussian_filter(delta, 1.0, mode="constant")
    return (ndimage.sobel(smooth, axis=0, mode="constant")[::-1, ::-1],
            ndimage.sobel(smooth, axis=1, mode="constant")[::-1, ::-1])


def smoothed_gradient_at(z: np.ndarray, rows: np.ndarray, cols: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray]:
    """``sobel(gaussian_filter(z, 1), axis=0/1)`` at the pixels (rows, cols), from patches;
    outside the image the data are mirrored (scipy's ``reflect``) once for the combined
    filter, so within 5 px of the border the value differs slightly from the two-pass
    filtering (it serves as an edge-normal direction only)."""
    ky, kx = _gradient_kernels()
    off = np.arange(-_R, _R + 1)
    ny, nx = z.shape

    def mirror(i, n):  # scipy's "reflect": d c b a | a b c d | d c b a
        i = np.where(i < 0, -i - 1, i)
        i = np.where(i >= n, 2 * n - 1 - i, i)
        return np.clip(i, 0, n - 1)

    rr = mirror(rows[:, None] + off[None, :], ny)
    cc = mirror(cols[:, None] + off[None, :], nx)
    patch = z[rr[:, :, None], cc[:, None, :]]
    return np.einsum("pij,ij->p", patch, ky), np.einsum("pij,ij->p", patch, kx)


def boundary_edge_widths(current: xr.DataArray, mask: np.ndarray, threshold: float, *,
                         max_profiles: int = 2000, half_length_px: float = 5.0,
                         plateau_px: tuple[float, float] = (2.5, 4.0), seed: int = 0,
                         ) -> EdgeWidths:
    """Sample profiles along the outward normal at boundary pixels of *mask*.

    The normal comes from the gradient of the current smoothed by a 1-px Gaussian.  Each
    profile is normalised between its inside plateau (median at ``plateau_px`` inside) and
    outside floor (the same distance outside); profiles whose plateau is not clearly
    conducting (< 1.5 × threshold) or whose floor is not insulating (> 0.5 × threshold) — a
    neighbouring island, a level step — are rejected.
    """
    require_image(current)
    dy, dx = pixel_size(current)
    z = np.asarray(current.values, dtype=float)
    if not np.isfinite(z).all():  # a copy only where there is something to replace
        z = np.nan_to_num(z)
    m = np.asarray(mask, dtype=bool)
    boundary = m & ~ndimage.binary_erosion(m, border_value=1)
    rows, cols = np.nonzero(boundary)
    empty = EdgeWidths(float("nan"), np.array([]), 0, np.array([]), np.zeros((0, 0)))
    if rows.size == 0:
        return empty
    if rows.size > max_profiles:
        pick = np.random.default_rng(seed).choice(rows.size, max_profiles, replace=False)
        rows, cols = rows[pick], cols[pick]
    # Normal from the gradient of the 1-px-smoothed current, evaluated at the sampled boundary
    # pixels only (whole-image Gaussian + Sobel passes took 2 s at 4096² for ≤ 2000 points).
    gy, gx = smoothed_gradient_at(z, rows, cols)
    gy, gx = gy / dy, gx / dx
    norm = np.hypot(gx, gy)
    ok = norm > 0
    rows, cols, gx, gy, norm = rows[ok], cols[ok], gx[ok], gy[ok], norm[ok]
    if rows.size == 0:
        return empty
    ny_m, nx_m = -gy / norm, -gx / norm  # outward (current decreasing), unit vector in metres
    t = np.arange(-half_length_px, half_length_px + 1e-9, 0.25) * min(dx, dy)
    rr = rows[:, None] + t[None, :] * ny_m[:, None] / dy
    cc = cols[:, None] + t[None, :] * nx_m[:, None] / dx
    prof = ndimage.map_coordinates(z, [rr.ravel(), cc.ravel()], order=1, mode="nearest")
    prof = prof.reshape(rr.shape)
    lo_in, hi_in = plateau_px
    inside = (t <= -lo_in * min(dx, dy)) & (t >= -hi_in * min(dx, dy))
    outside = (t >= lo_in * min(dx, dy)) & (t <= hi_in * min(dx, dy))
    top = np.median(prof[:, inside], axis=1)
    bottom = np.median(prof[:, outside], axis=1)
    good = (top > 1.5 * threshold) & (bottom < 0.5 * threshold) & (top > bottom)
    if not good.any():
        return EdgeWidths(float("nan"), np.array([]), int(rows.size), t, np.zeros((0, t.size)))
    q = (prof[good] - bottom[good, None]) / (top[good] - bottom[good])[:, None]
    # Use the part of each profile from the inner edge of the plateau outwards.
    first = int(np.nonzero(inside)[0][-1]) if inside.any() else 0
    widths = width_10_90(t[first:], q[:, first:])
    widths = widths[np.isfinite(widths) & (widths > 0)]
    if widths.size == 0:
        return EdgeWidths(float("nan"), widths, int(rows.size), t, q[:200])
    return EdgeWidths(float(np.median(widths)), widths, int(rows.size), t, q[:200])


def line_edge_width(current: xr.DataArray, start: tuple[float, float],
                    end: tuple[float, float], *, width: float = 0.0) -> float:
    """10–90 % width (m) of the current along a user line (box-averaged over *width*).

    The line should cross one edge; the plateau and floor are taken from its first and last
    15 % (whichever end is higher is the inside).
    """
    p = profile(current, start, end, width=width)
    d = np.asarray(p["distance"].values)
    v = np.asarray(p.values, dtype=float)
    ok = np.isfinite(v)
    if ok.sum() < 8:
        raise AnalysisError("the line has fewer than 8 valid samples")
    d, v = d[ok], v[ok]
    n = max(int(0.15 * v.size), 1)
    a, b = float(np.median(v[:n])), float(np.median(v[-n:]))
    if a == b:
        raise AnalysisError("the line does not cross an edge (same level at both ends)")
    if a < b:
        d, v, a, b = d[::-1], v[::-1], b, a
        d = d[0] - d
    q = (v - b) / (a - b)
    w = width_10_90(d, q[None, :])[0]
    if not np.isfinite(w):
        raise AnalysisError("the profile does not fall through 90 % and 10 % of its step")
    return float(abs(w))
