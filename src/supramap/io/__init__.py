"""Readers of instrument files, one module per format, chosen by the file's first bytes.

>>> ds = read("scan.bcrf")                       # doctest: +SKIP
>>> current = read_image("scan.sxm", "Current_forward")   # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.errors import ChannelError, FormatError
from supramap.io import (  # noqa: F401  (registration)
    apt,
    bcr,
    createc,
    gwy,
    igor,
    image,
    mdt,
    nanonis_3ds,
    nanonis_dat,
    nanoscope,
    nanosurf,
    qd,
    sxm,
    wsxm,
)
from supramap.io.base import Reader, find_reader, readers, register

__all__ = ["read", "read_image", "describe", "find_reader", "readers", "register", "Reader"]


def read(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read every channel of an instrument file into a Dataset.

    The format is picked from the file's first bytes.  Raises
    :class:`supramap.errors.FormatError` naming the file when it cannot be read.
    """
    p = Path(path)
    reader = find_reader(p)
    try:
        ds = reader.read(p)
    except FormatError:
        raise
    except (ValueError, IndexError, KeyError, UnicodeDecodeError, EOFError, OSError,
            AssertionError, TypeError) as exc:
        # A reader hit something its checks did not foresee: still a bad file, not a crash.
        raise FormatError(p, f"cannot be read as {reader.name}: {exc}") from exc
    ds.attrs.setdefault("format", reader.name)
    ds.attrs.setdefault("source_file", str(p))
    return ds


def read_image(path: str | os.PathLike[str], channel: str | None = None, *,
               prefer_units: str | None = None) -> xr.DataArray:
    """Read one 2-D channel of an image file.

    Parameters
    ----------
    path : path-like
        The file.
    channel : str, optional
        Channel name (exact, or case-insensitive prefix such as ``"current"`` for
        ``"Current_forward"``).  Default: the first channel in *prefer_units*, else the first.
    prefer_units : str, optional
        SI unit of the wanted quantity (``"A"`` for a current map, ``"m"`` for topography).
    """
    ds = read(path)
    da = pick_channel(ds, channel, path=path, prefer_units=prefer_units)
    if da.dims != ("y", "x"):
        raise FormatError(path, f"not an image: channel {da.name!r} has dims "
                                f"{tuple(map(str, da.dims))} (format "
                                f"{ds.attrs.get('format', '?')}), an image has (y, x)")
    return da


def pick_channel(ds: xr.Dataset, channel: str | None, *, path: Any = None,
                 prefer_units: str | None = None) -> xr.DataArray:
    """Choose a channel of *ds* by exact name or case-insensitive prefix (or, with no name,
    the first channel whose units are *prefer_units*)."""
    names = [str(n) for n in ds.data_vars]
    if not names:
        raise FormatError(path, "file holds no data channel")
    if channel is None:
        same = [n for n in names if ds[n].attrs.get("units") == prefer_units]
        name = same[0] if same else names[0]
    else:
        name = resolve_channel(ds, channel, path=path)
    da = ds[name]
    da.attrs = {**{k: v for k, v in ds.attrs.items() if k not in da.attrs}, **da.attrs}
    return da


def _norm(text: str) -> str:
    """Lower case, the unit in parentheses removed, spaces folded: ``'LI Demod 1 X (A)'`` and
    ``'li demod 1 x'`` compare equal; ``[bwd]``/``[AVG]``/``[filt]`` markers are kept."""
    import re

    t = re.sub(r"\s*\([^()]*\)", "", text)
    return " ".join(t.lower().split())


def resolve_channel(ds: xr.Dataset, channel: str, *, path: Any = None) -> str:
    """The variable of *ds* that the user means by *channel*: the exact name, the name as the
    file header writes it (with its unit, ``'LI Demod 1 X (A)'``, ``'Current [AVG]'``), any of
    these case-insensitively, or a unique case-insensitive prefix (``'current'`` for
    ``'Current_forward'``).  Raises :class:`ChannelError` listing the channels."""
    names = [str(n) for n in ds.data_vars]
    if channel in names:
        return channel
    want = _norm(channel)
    for n in names:
        raw = str(ds[n].attrs.get("column", ""))
        if want in (_norm(n), _norm(raw)) and want:
            return n
    hits = [n for n in names if _norm(n).startswith(want)] if want else []
    if hits:
        return hits[0]
    raise ChannelError(f"{path}: no channel {channel!r}; channels are {', '.join(names)}")


def describe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Summary of a file for ``supramap info``: format, channels, shape, size, units, metadata."""
    ds = read(path)
    channels = []
    for name, da in ds.data_vars.items():
        entry: dict[str, Any] = {
            "name": str(name),
            "shape": list(da.shape),
            "dims": list(da.dims),
            "units": da.attrs.get("units", ""),
        }
        lateral_known = da.attrs.get("pixel_size_known", True)
        for dim in da.dims:
            c = np.asarray(da[dim].values, dtype=float)
            if dim in ("x", "y") and not lateral_known:
                continue  # pixel coordinates of an uncalibrated image are not a size
            if c.size > 1:
                step = float(abs(c[1] - c[0]))
                entry[f"{dim}_size"] = step * c.size
                entry[f"{dim}_step"] = step
                entry[f"{dim}_units"] = da[dim].attrs.get("units", "")
        finite = np.asarray(da.values, dtype=float)
        finite = finite[np.isfinite(finite)]
        entry["nan_fraction"] = float(1 - finite.size / max(da.size, 1))
        if finite.size:
            entry["min"] = float(finite.min())
            entry["max"] = float(finite.max())
            entry["mean"] = float(finite.mean())
        for key in ("bias_V", "temperature_K", "scan_speed_m_per_s", "direction"):
            v = da.attrs.get(key)
            if isinstance(v, (int, float, str)) and not isinstance(v, bool):
                entry[key] = v
        channels.append(entry)
    meta = {k: v for k, v in ds.attrs.items() if isinstance(v, (str, int, float, bool))}
    coords = []
    for name, c in ds.coords.items():
        if c.ndim != 1 or not np.issubdtype(c.dtype, np.number) or c.size < 2:
            continue
        v = np.asarray(c.values, dtype=float)
        coords.append({"name": str(name), "dim": str(c.dims[0]), "size": int(c.size),
                       "min": float(np.nanmin(v)), "max": float(np.nanmax(v)),
                       "units": c.attrs.get("units", "")})
    return {
        "file": str(path),
        "format": ds.attrs.get("format", ""),
        "channels": channels,
        "coordinates": coords,
        "metadata": meta,
    }
