"""The core data model: images as :class:`xarray.DataArray` with physical coordinates.

An SPM image is a 2-D DataArray with dims ``("y", "x")``; coordinates hold pixel centres in
metres (``attrs["units"] == "m"`` on each coordinate); ``attrs["units"]`` of the array is the SI
unit of the signal (``"m"`` for height, ``"A"`` for current, ...).  Row 0 is the first line shown
at the top of the image, as in Gwyddion; ``y`` increases with the row index.

``attrs["provenance"]`` is a list of strings, one per processing step, oldest first.  Instrument
metadata travel in the other attrs (``bias_V``, ``scan_speed_m_per_s``, ``instrument``,
``source_file``, ``direction`` ...).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import xarray as xr

from supramap import _lazy_dask
from supramap.errors import AnalysisError

_lazy_dask.install()

__all__ = [
    "make_image",
    "make_images",
    "pixel_size",
    "with_provenance",
    "require_image",
    "like",
]


def make_image(
    values: np.ndarray,
    *,
    dx: float,
    dy: float | None = None,
    x0: float = 0.0,
    y0: float = 0.0,
    units: str = "",
    name: str | None = None,
    attrs: Mapping[str, Any] | None = None,
) -> xr.DataArray:
    """Wrap a 2-D array as an image with physical coordinates.

    Parameters
    ----------
    values : (M, N) array_like
        Image data, row 0 at the top.
    dx, dy : float
        Pixel size in metres along x (columns) and y (rows); ``dy`` defaults to ``dx``.
    x0, y0 : float
        Coordinate of the *corner* of the first pixel in metres (pixel centres are at
        ``x0 + (i + 0.5) dx``).
    units : str
        SI unit of the values.
    name : str, optional
        Channel name.
    attrs : mapping, optional
        Extra metadata.
    """
    arr = np.asarray(values)
    if arr.ndim != 2:
        raise AnalysisError(f"an image must be 2-D, got shape {arr.shape}")
    dy = dx if dy is None else dy
    if not (dx > 0 and dy > 0 and np.isfinite(dx) and np.isfinite(dy)):
        raise AnalysisError(f"pixel size must be positive and finite, got dx={dx}, dy={dy}")
    ny, nx = arr.shape
    x = x0 + (np.arange(nx) + 0.5) * dx
    y = y0 + (np.arange(ny) + 0.5) * dy
    out_attrs: dict[str, Any] = {"units": units, "provenance": []}
    if attrs:
        out_attrs.update(attrs)
        out_attrs["provenance"] = list(out_attrs.get("provenance", []))
    return xr.DataArray(
        arr,
        dims=("y", "x"),
        coords={"y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"})},
        name=name,
        attrs=out_attrs,
    )


def make_images(images: Mapping[str, tuple[np.ndarray, Mapping[str, Any]]], *, dx: float,
                dy: float | None = None, x0: float = 0.0, y0: float = 0.0,
                attrs: Mapping[str, Any] | None = None) -> xr.Dataset:
    """Several images of one grid as a Dataset sharing its coordinates: ``name → (values,
    attrs)`` with ``attrs["units"]`` in each (as :func:`make_image` would give each image;
    built in one step, ~5× faster than one DataArray per image merged into a Dataset)."""
    dy = dx if dy is None else dy
    if not (dx > 0 and dy > 0 and np.isfinite(dx) and np.isfinite(dy)):
        raise AnalysisError(f"pixel size must be positive and finite, got dx={dx}, dy={dy}")
    variables = {}
    shape = None
    for name, (values, var_attrs) in images.items():
        arr = np.asarray(values)
        if arr.ndim != 2 or (shape is not None and arr.shape != shape):
            raise AnalysisError(f"image {name!r}: every image must be 2-D of one shape, got "
                                f"{arr.shape}")
        shape = arr.shape
        out_attrs: dict[str, Any] = {"units": "", **var_attrs}
        out_attrs["provenance"] = list(out_attrs.get("provenance", []))
        variables[name] = (("y", "x"), arr, out_attrs)
    ny, nx = shape if shape is not None else (0, 0)
    coords = {"y": ("y", y0 + (np.arange(ny) + 0.5) * dy, {"units": "m"}),
              "x": ("x", x0 + (np.arange(nx) + 0.5) * dx, {"units": "m"})}
    return xr.Dataset(variables, coords=coords, attrs=dict(attrs or {}))


def pixel_size(image: xr.DataArray) -> tuple[float, float]:
    """Return ``(dy, dx)`` in metres from an image's coordinates."""
    require_image(image)
    out = []
    for dim in ("y", "x"):
        c = np.asarray(image[dim].values, dtype=float)
        if c.size < 2:
            out.append(float(image.attrs.get(f"d{dim}", np.nan)))
            continue
        out.append(float(abs(c[1] - c[0])))
    return out[0], out[1]


def require_image(image: Any, *, name: str = "image") -> xr.DataArray:
    """Check that *image* is a 2-D DataArray with dims ``(y, x)``; raise AnalysisError if not."""
    if not isinstance(image, xr.DataArray):
        raise AnalysisError(f"{name} must be an xarray.DataArray, got {type(image).__name__}")
    if image.dims != ("y", "x"):
        raise AnalysisError(f"{name} must have dims ('y', 'x'), got {image.dims}")
    if image.shape[0] < 2 or image.shape[1] < 2:
        raise AnalysisError(f"{name} is too small: shape {image.shape}")
    return image


def like(image: xr.DataArray, values: np.ndarray, *, units: str | None = None,
         step: str | None = None, name: str | None = None) -> xr.DataArray:
    """A new image with the coordinates and metadata of *image* and new *values*.

    ``step`` is appended to the provenance; ``units`` replaces the unit when given.
    """
    out = image.copy(data=np.asarray(values))
    out.attrs = dict(image.attrs)
    out.attrs["provenance"] = list(image.attrs.get("provenance", []))
    if units is not None:
        out.attrs["units"] = units
    if name is not None:
        out.name = name
    if step is not None:
        out.attrs["provenance"].append(step)
    return out


def with_provenance(image: xr.DataArray, step: str, **params: Any) -> xr.DataArray:
    """Return a shallow copy of *image* with ``step(params)`` appended to its provenance."""
    out = image.copy(deep=False)
    out.attrs = dict(image.attrs)
    desc = step
    if params:
        desc += json.dumps(params, sort_keys=True, default=str)
    out.attrs["provenance"] = [*image.attrs.get("provenance", []), desc]
    return out
