"""Operations on spectroscopic grids ``(y, x, bias)``: maps at energies, normalisation, line
cuts, region averages."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from supramap.errors import AnalysisError


def check_grid(grid: xr.DataArray) -> None:
    """Refuse what is not a ``(y, x, bias)`` grid or holds no finite value at all (an empty
    or aborted grid would otherwise give maps of NaN and exit as a success)."""
    if not isinstance(grid, xr.DataArray) or grid.dims != ("y", "x", "bias"):
        raise AnalysisError("a grid must be a DataArray with dims ('y', 'x', 'bias')")
    with np.errstate(invalid="ignore"):
        if not bool(np.isfinite(grid.data).any()):
            raise AnalysisError("the grid holds no finite value: every spectrum is NaN (an "
                                "empty or aborted grid)")


_check = check_grid


def maps_at(grid: xr.DataArray, energies_eV, *, method: str = "nearest") -> xr.DataArray:
    """dI/dV maps at the given energies (eV): ``nearest`` bias point or ``linear``
    interpolation.  Returns dims (energy, y, x)."""
    _check(grid)
    e = np.atleast_1d(np.asarray(energies_eV, dtype=float))
    b = grid["bias"].values
    # Half a bias step of slack: the sweep ends are stored in float32 (40 meV reads back as
    # 39.99999991 meV) and asking for the end point must not be refused.
    slack = 0.5 * float(np.median(np.abs(np.diff(b)))) if b.size > 1 else 0.0
    if (e < b.min() - slack).any() or (e > b.max() + slack).any():
        raise AnalysisError(f"energies {e.tolist()} leave the bias range "
                            f"[{b.min():g}, {b.max():g}] V")
    if method not in ("nearest", "linear"):
        raise AnalysisError("method must be 'nearest' or 'linear'")
    out = grid.interp(bias=np.clip(e, b.min(), b.max()), method=method) \
        if method == "linear" else grid.sel(bias=e, method="nearest")
    out = out.rename(bias="energy").transpose("energy", "y", "x")
    out = out.assign_coords(energy=("energy", e, {"units": "eV"}))
    out.attrs = {**grid.attrs, "provenance": [*grid.attrs.get("provenance", []),
                                              f"maps_at({e.tolist()}, {method})"]}
    return out


def normalise(grid: xr.DataArray, *, method: str = "outer", current: xr.DataArray | None = None,
              ) -> xr.DataArray:
    """Normalise each spectrum: ``outer`` divides by its mean over the outer 10 % of the sweep
    (set-point independent for a flat normal state); ``iv`` divides dI/dV by I/V (needs the
    current grid; points near V = 0 are NaN)."""
    _check(grid)
    b = grid["bias"].values
    g = grid.values
    if method == "outer":
        outer = np.abs(b) >= 0.9 * np.abs(b).max()
        ref = np.nanmean(g[..., outer], axis=-1, keepdims=True)
        out = g / np.where(ref != 0, ref, np.nan)
    elif method == "iv":
        if current is None or current.shape != grid.shape:
            raise AnalysisError("I/V normalisation needs the current grid of the same shape")
        with np.errstate(divide="ignore", invalid="ignore"):
            iv = current.values / b
        iv[..., np.abs(b) < 0.02 * np.abs(b).max()] = np.nan
        out = g / iv
    else:
        raise AnalysisError("method must be 'outer' or 'iv'")
    res = grid.copy(data=out)
    res.attrs = {**grid.attrs, "units": "", "provenance": [*grid.attrs.get("provenance", []),
                                                            f"normalise({method})"]}
    return res


def line_cut(grid: xr.DataArray, path_m, *, step_m: float | None = None) -> xr.DataArray:
    """Spectra along a polyline of (x, y) points in metres (bilinear), dims (distance, bias):
    a waterfall."""
    _check(grid)
    pts = np.asarray(path_m, dtype=float)
    if pts.ndim != 2 or pts.shape[0] < 2 or pts.shape[1] != 2:
        raise AnalysisError("a path needs at least two (x, y) points")
    x, y = grid["x"].values, grid["y"].values
    dx, dy = x[1] - x[0], y[1] - y[0]
    step = step_m or min(abs(dx), abs(dy))
    seg = np.diff(pts, axis=0)
    lengths = np.hypot(seg[:, 0], seg[:, 1])
    s = np.arange(0, lengths.sum() + 1e-15, step)
    cum = np.concatenate([[0], np.cumsum(lengths)])
    k = np.clip(np.searchsorted(cum, s, side="right") - 1, 0, len(lengths) - 1)
    t = (s - cum[k]) / np.where(lengths[k] > 0, lengths[k], 1)
    px = pts[k, 0] + t * seg[k, 0]
    py = pts[k, 1] + t * seg[k, 1]
    cols, rows = (px - x[0]) / dx, (py - y[0]) / dy
    g = grid.values
    out = np.stack([ndimage.map_coordinates(g[..., j], [rows, cols], order=1, mode="nearest")
                    for j in range(g.shape[-1])], axis=-1)
    return xr.DataArray(out, dims=("distance", "bias"),
                        coords={"distance": ("distance", s, {"units": "m"}),
                                "bias": grid["bias"]},
                        attrs={"units": grid.attrs.get("units", ""), "path_m": pts.tolist()})


def region_average(grid: xr.DataArray, mask: np.ndarray) -> xr.DataArray:
    """Mean spectrum over the pixels of a boolean (y, x) mask, with the standard error."""
    _check(grid)
    m = np.asarray(mask, dtype=bool)
    if m.shape != grid.shape[:2]:
        raise AnalysisError(f"mask shape {m.shape} differs from the grid's {grid.shape[:2]}")
    if not m.any():
        raise AnalysisError("the region is empty")
    spectra = grid.values[m]
    mean = np.nanmean(spectra, axis=0)
    err = np.nanstd(spectra, axis=0) / np.sqrt(max(m.sum(), 1))
    return xr.DataArray(mean, dims=("bias",), coords={"bias": grid["bias"]},
                        attrs={"units": grid.attrs.get("units", ""), "n_pixels": int(m.sum()),
                               "stderr": err.tolist()})
