"""Cropping and box-averaged cross-sections in physical coordinates."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from supramap.data import pixel_size, require_image, with_provenance
from supramap.errors import AnalysisError


def crop(image: xr.DataArray, *, x: tuple[float, float] | None = None,
         y: tuple[float, float] | None = None) -> xr.DataArray:
    """Keep the pixels whose centres lie in ``x = (x0, x1)`` and ``y = (y0, y1)`` (metres)."""
    require_image(image)
    out = image
    if x is not None:
        out = out.where((out.x >= min(x)) & (out.x <= max(x)), drop=True)
    if y is not None:
        out = out.where((out.y >= min(y)) & (out.y <= max(y)), drop=True)
    if out.sizes["x"] < 2 or out.sizes["y"] < 2:
        raise AnalysisError(f"crop x={x}, y={y} leaves fewer than 2 × 2 pixels")
    out.attrs = dict(image.attrs)
    return with_provenance(out, "crop", x=x, y=y)


def _to_pixel(image: xr.DataArray, point: tuple[float, float]) -> tuple[float, float]:
    """(x, y) in metres → (row, col) in fractional pixel indices."""
    dy, dx = pixel_size(image)
    col = (point[0] - float(image.x[0])) / dx
    row = (point[1] - float(image.y[0])) / dy
    return row, col


def profile(image: xr.DataArray, start: tuple[float, float], end: tuple[float, float], *,
            width: float = 0.0, step: float | None = None, order: int = 1) -> xr.DataArray:
    """Box-averaged cross-section from *start* to *end* (``(x, y)`` in metres).

    Parameters
    ----------
    image : DataArray (y, x)
    start, end : (float, float)
        End points in the image's coordinates (metres).
    width : float
        Full width of the averaging box across the line (metres); 0 samples the line only.
    step : float, optional
        Sampling step along and across the line; default the smaller pixel size.
    order : int
        Interpolation order (1 bilinear).

    Returns
    -------
    DataArray (distance,)
        Mean value across the box at each distance (metres) from *start*; NaN where the box
        leaves the image.
    """
    require_image(image)
    dy, dx = pixel_size(image)
    step = min(dx, dy) if step is None else float(step)
    if not (np.all(np.isfinite(start)) and np.all(np.isfinite(end))):
        raise AnalysisError(f"profile end points must be finite, got {start} and {end}")
    if not (np.isfinite(width) and width >= 0):
        raise AnalysisError(f"profile width must be ≥ 0 m, got {width}")
    if not (np.isfinite(step) and step > 0):
        raise AnalysisError(f"profile step must be positive, got {step}")
    x = np.asarray(image.x.values, dtype=float)
    y = np.asarray(image.y.values, dtype=float)
    xlo, xhi = x.min() - dx / 2, x.max() + dx / 2
    ylo, yhi = y.min() - dy / 2, y.max() + dy / 2
    diag = float(np.hypot(xhi - xlo, yhi - ylo))
    span = float(np.hypot(end[0] - start[0], end[1] - start[1]))
    far = max(abs(start[0] - (xlo + xhi) / 2), abs(end[0] - (xlo + xhi) / 2),
              abs(start[1] - (ylo + yhi) / 2), abs(end[1] - (ylo + yhi) / 2))
    if span > 4 * diag or far > 2 * diag:
        raise AnalysisError(
            f"profile from ({start[0]:.4g}, {start[1]:.4g}) to ({end[0]:.4g}, {end[1]:.4g}) m "
            f"lies far outside the image (x {xlo:.4g}…{xhi:.4g} m, y {ylo:.4g}…{yhi:.4g} m): "
            "coordinates are in metres")
    if width > diag:
        raise AnalysisError(f"profile width {width:.4g} m exceeds the image diagonal "
                            f"({diag:.4g} m)")
    p0 = np.asarray(_to_pixel(image, start))
    p1 = np.asarray(_to_pixel(image, end))
    vec_m = np.array([(end[1] - start[1]), (end[0] - start[0])])  # (y, x) metres
    length = float(np.hypot(*vec_m))
    if length == 0:
        raise AnalysisError("profile start and end are the same point")
    n = int(np.floor(length / step)) + 1
    t = np.linspace(0.0, 1.0, n) if n > 1 else np.zeros(1)
    along = p0[None, :] + t[:, None] * (p1 - p0)[None, :]
    unit = vec_m / length
    normal_m = np.array([unit[1], -unit[0]])  # perpendicular, (y, x) metres
    n_across = max(int(np.floor(width / step)) + 1, 1)
    offsets = (np.arange(n_across) - (n_across - 1) / 2) * step
    rows = along[:, 0][:, None] + offsets[None, :] * normal_m[0] / dy
    cols = along[:, 1][:, None] + offsets[None, :] * normal_m[1] / dx
    z = np.asarray(image.values, dtype=float)
    samples = ndimage.map_coordinates(np.nan_to_num(z), [rows.ravel(), cols.ravel()],
                                      order=order, mode="constant", cval=np.nan)
    inside = ndimage.map_coordinates(np.isfinite(z).astype(float),
                                     [rows.ravel(), cols.ravel()], order=1, mode="constant",
                                     cval=0.0)
    samples = np.where(inside > 0.999, samples, np.nan).reshape(rows.shape)
    count = np.isfinite(samples).sum(axis=1)
    if not count.any():
        raise AnalysisError(f"the profile from {start} to {end} m does not cross the image")
    mean = np.where(count > 0, np.nansum(samples, axis=1) / np.maximum(count, 1), np.nan)
    return xr.DataArray(
        mean,
        dims=("distance",),
        coords={"distance": ("distance", t * length, {"units": "m"})},
        name=f"profile of {image.name}" if image.name else "profile",
        attrs={"units": image.attrs.get("units", ""), "start_m": list(start),
               "end_m": list(end), "width_m": width,
               "provenance": [*image.attrs.get("provenance", []),
                              f"profile(start={start}, end={end}, width={width})"]},
    )
