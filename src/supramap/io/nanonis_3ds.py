"""Nanonis spectroscopy grids (``.3ds``).

Layout: ``Key=Value`` header lines up to ``:HEADER_END:``, then for each grid point, row by
row, ``# Parameters`` big-endian float32 (the fixed parameters such as Sweep Start/End, then
the experiment parameters X, Y, Z, …) followed by ``Points`` values of each channel in the
order of ``Channels``.  An aborted grid is shorter than the header promises: the missing
points are NaN.  Keys that some files lack (``Delay before measuring (s)``, ``Experiment
size``) are not required.

The data are memory-mapped; the Dataset has dims ``(y, x, bias)`` with one variable per
channel (SI units) and one ``(y, x)`` variable per parameter.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.errors import FormatError
from supramap.fileutil import atomic_open
from supramap.io.base import Reader, read_into, register
from supramap.units import parse_unit

END = b":HEADER_END:"


def _split_names(text: str) -> list[str]:
    return [t.strip() for t in text.strip().strip('"').split(";") if t.strip()]


def _name_unit(raw: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*(.*?)\s*\(([^()]*)\)\s*", raw)
    return (m.group(1), m.group(2)) if m else (raw.strip(), "")


def parse_3ds_header(path: Path, raw: bytes) -> tuple[dict[str, str], int]:
    """Header dict and the byte offset of the data."""
    end = raw.find(END)
    if end < 0:
        raise FormatError(path, "no :HEADER_END: tag: not a .3ds file or truncated header")
    nl = raw.find(b"\n", end)
    start = (nl + 1) if nl >= 0 else end + len(END)
    header: dict[str, str] = {}
    for line in raw[:end].decode("latin-1").splitlines():
        if "=" in line:
            k, _, v = line.partition("=")
            header[k.strip()] = v.strip()
    return header, start


def read_3ds(path: str | os.PathLike[str], *, chunks: int | None = None) -> xr.Dataset:
    """Read a Nanonis grid into a Dataset ``(y, x, bias)``.

    With ``chunks`` (rows per chunk) the channels are lazy dask arrays over the memory-mapped
    file, so grids larger than memory can be processed chunk by chunk; otherwise they are read
    into memory.  Missing points of an aborted grid are NaN either way.
    """
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(min(size, 65536))
    header, start = parse_3ds_header(p, head)

    def need(key: str) -> str:
        if key not in header:
            raise FormatError(p, f"header has no '{key}' field")
        return header[key]

    m = re.fullmatch(r'"?\s*(\d+)\s*x\s*(\d+)\s*"?', need("Grid dim"))
    if not m:
        raise FormatError(p, f"header field 'Grid dim' = {header['Grid dim']!r} is not 'N x M'")
    nx, ny = int(m.group(1)), int(m.group(2))
    try:
        n_points = int(need("Points"))
        n_params = int(need("# Parameters (4 byte)"))
    except ValueError:
        raise FormatError(p, "header fields 'Points' and '# Parameters (4 byte)' must be "
                             "integers") from None
    channels = _split_names(need("Channels"))
    params = _split_names(header.get("Fixed parameters", "")) + \
        _split_names(header.get("Experiment parameters", ""))
    if nx <= 0 or ny <= 0 or n_points <= 0 or not channels:
        raise FormatError(p, "header gives an empty grid (Grid dim, Points or Channels)")
    if len(params) != n_params:
        raise FormatError(p, f"header lists {len(params)} parameter names but '# Parameters "
                             f"(4 byte)' = {n_params}")
    per_point = n_params + len(channels) * n_points
    if (size - start) % 4:
        # Nanonis writes whole float32 values (and whole points): a data block that ends inside
        # a value is a damaged copy, not an aborted grid.
        raise FormatError(p, f"the data block ends inside a value ({(size - start) % 4} bytes "
                             "past the last whole one): truncated file")
    have = (size - start) // (4 * per_point)
    total = nx * ny
    if have <= 0:
        raise FormatError(p, "the file holds no complete grid point")
    count = min(have, total)
    if not chunks:
        # Estimate before allocating: a header may promise far more points than the file holds
        # (an aborted grid is NaN-padded to its full size).
        est = total * per_point * 4 + total * n_points * len(channels) * 4
        budget = _memory_budget()
        if est > budget or (count * 1000 < total and est > 5e7):
            raise FormatError(p, f"'Grid dim' {nx} x {ny} × {per_point} values needs "
                                 f"{est / 1e9:.2g} GB in memory but the file holds {count} of "
                                 f"{total} points (a lying or badly aborted header?); read it "
                                 "lazily with chunks= if it is genuine")
    mm = np.memmap(p, dtype=">f4", mode="r", offset=start, shape=(count, per_point))
    if chunks:
        import dask.array as da

        lazy = da.from_array(mm, chunks=(max(int(chunks), 1) * nx, per_point))
        if count < total:
            lazy = da.concatenate([lazy, da.full((total - count, per_point), np.nan,
                                                 dtype=np.float32)])
        block = lazy.reshape(ny, nx, per_point)
    else:
        # Read straight into the result and swap bytes in place (big-endian file, native
        # float32 in memory): one copy of the data instead of two; missing points of an
        # aborted grid are NaN.
        block = np.empty((total, per_point), dtype=np.float32)
        block[count:] = np.nan
        read_into(p, start, block[:count])
        block = block.reshape(ny, nx, per_point)
    sweep_name, sweep_unit = _name_unit(header.get("Sweep Signal", '"Bias (V)"').strip('"'))
    unit0, f0 = parse_unit(sweep_unit)
    pidx = {nm: i for i, nm in enumerate(params)}
    with np.errstate(invalid="ignore"):  # signalling NaNs in a corrupt file
        first = np.asarray(mm[0], dtype=np.float64)
    if "Sweep Start" in pidx and "Sweep End" in pidx and np.isfinite(first).any():
        s0, s1 = float(first[pidx["Sweep Start"]]), float(first[pidx["Sweep End"]])
        if not (np.isfinite(s0) and np.isfinite(s1)) or s0 == s1 or max(abs(s0), abs(s1)) > 1e3:
            raise FormatError(p, f"the first point's Sweep Start/End ({s0}, {s1}) do not give "
                                 "a finite sweep: no bias axis")
        # Every point repeats Sweep Start/End; read at the header's record length, a few
        # points spread over the file must agree with the first, else the header's Points,
        # Channels or parameter count do not describe the data (a doubled ``Points`` would
        # otherwise be read as an aborted grid of reshuffled numbers).
        idx = np.unique(np.linspace(0, count - 1, min(count, 64)).astype(int))
        with np.errstate(invalid="ignore"):
            sweeps = np.asarray(mm[idx][:, [pidx["Sweep Start"], pidx["Sweep End"]]],
                                dtype=np.float64)
        tol = 1e-3 * abs(s1 - s0)
        bad = ~(np.abs(sweeps - [s0, s1]) <= tol).all(axis=1)
        if bad.any():
            k = int(idx[np.argmax(bad)])
            a, b = sweeps[np.argmax(bad)]
            raise FormatError(p, f"point {k} has Sweep Start/End ({a:.6g}, {b:.6g}), the first "
                                 f"point ({s0:.6g}, {s1:.6g}): the header's Points, Channels or "
                                 "parameter count do not describe the data")
    else:
        s0, s1 = 0.0, float(n_points - 1)
    bias = np.linspace(s0, s1, n_points) * f0
    try:
        settings = [float(v) for v in header.get("Grid settings", "").split(";") if v.strip()] \
            if "Grid settings" in header else []
    except ValueError:
        raise FormatError(p, f"'Grid settings' {header['Grid settings']!r} are not numbers") \
            from None
    if not all(np.isfinite(settings)) or (len(settings) >= 4 and not (settings[2] > 0 and
                                                                       settings[3] > 0)):
        raise FormatError(p, f"'Grid settings' {header['Grid settings']!r} must be finite with "
                             "a positive width and height")
    cx, cy, w, h, angle = (settings + [0, 0, nx, ny, 0])[:5] if len(settings) >= 4 else \
        (0.0, 0.0, float(nx), float(ny), 0.0)
    dx, dy = w / nx, h / ny
    x = cx - w / 2 + (np.arange(nx) + 0.5) * dx
    y = cy - h / 2 + (np.arange(ny) + 0.5) * dy
    coords = {"y": ("y", y, {"units": "m"}), "x": ("x", x, {"units": "m"}),
              "bias": ("bias", bias, {"units": unit0, "long_name": sweep_name})}
    # (dims, data, attrs) tuples, not DataArrays: the Dataset then has nothing to align
    # (2× faster for a small grid's ~14 variables, #27).
    variables: dict[str, Any] = {}
    for k, raw_name in enumerate(channels):
        name, unit = _name_unit(raw_name)
        si, factor = parse_unit(unit)
        sl = block[:, :, n_params + k * n_points: n_params + (k + 1) * n_points]
        if factor != 1.0:  # the file's float32 kept (half of float64), scaled in place
            with np.errstate(invalid="ignore"):
                sl *= np.float32(factor)
        variables[name] = (("y", "x", "bias"), sl, {"units": si, "channel": raw_name})
    for i, raw_name in enumerate(params):
        name, unit = _name_unit(raw_name)
        si, factor = parse_unit(unit)
        key = f"param {name}"
        col = block[:, :, i]
        if factor != 1.0:
            with np.errstate(invalid="ignore"):
                col *= np.float32(factor)
        variables[key] = (("y", "x"), col, {"units": si, "parameter": raw_name})
    attrs = {"format": "3ds", "source_file": str(p), "header": header,
             "points_measured": int(count), "points_total": int(total),
             "grid_angle_deg": float(angle), "provenance": [f"read {p.name}"]}
    return xr.Dataset(variables, coords=coords, attrs=attrs)


def _memory_budget() -> float:
    """Half of the memory available now (bytes), at most 16 GB."""
    try:
        avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        avail = 8e9
    return float(min(avail / 2, 16e9))


def write_3ds(path: str | os.PathLike[str], channels: dict[str, np.ndarray], *,
              bias: np.ndarray, x_m: np.ndarray, y_m: np.ndarray,
              extra_params: dict[str, np.ndarray] | None = None, n_written: int | None = None,
              ) -> None:
    """Write a ``.3ds`` grid (channels ``"Name (unit)"`` → (ny, nx, points) arrays) atomically.

    ``n_written`` < nx·ny writes an incomplete grid, as an aborted measurement would.
    """
    arrays = list(channels.values())
    ny, nx, npts = arrays[0].shape
    dx = float(x_m[1] - x_m[0]) if len(x_m) > 1 else 1e-9
    dy = float(y_m[1] - y_m[0]) if len(y_m) > 1 else 1e-9
    w, h = dx * nx, dy * ny
    cx, cy = float(x_m[0]) - dx / 2 + w / 2, float(y_m[0]) - dy / 2 + h / 2
    extra = extra_params or {}
    exp_names = ["X (m)", "Y (m)", "Z (m)"] + list(extra)
    header = [
        f'Grid dim="{nx} x {ny}"',
        f"Grid settings={cx:E};{cy:E};{w:E};{h:E};0.000000E+0",
        'Sweep Signal="Bias (V)"',
        'Fixed parameters="Sweep Start;Sweep End"',
        'Experiment parameters="' + ";".join(exp_names) + '"',
        f"# Parameters (4 byte)={2 + len(exp_names)}",
        f"Experiment size (bytes)={npts * len(channels) * 4}",
        f"Points={npts}",
        'Channels="' + ";".join(channels) + '"',
        "Delay before measuring (s)=0.000000E+0",
        "Experiment=Grid Spectroscopy",
        'Start time=""',
        'End time=""',
        "User=",
        "Comment=",
        ":HEADER_END:",
    ]
    yy, xx = np.meshgrid(y_m, x_m, indexing="ij")
    cols = [np.full((ny, nx), bias[0]), np.full((ny, nx), bias[-1]), xx, yy, np.zeros((ny, nx))]
    cols += [np.broadcast_to(v, (ny, nx)) for v in extra.values()]
    params = np.stack(cols, axis=-1)
    data = np.concatenate([params] + [a for a in arrays], axis=-1).reshape(ny * nx, -1)
    n = ny * nx if n_written is None else int(n_written)
    with atomic_open(path, "wb") as fh:
        fh.write(("\r\n".join(header) + "\r\n").encode("latin-1"))
        fh.write(data[:n].astype(">f4").tobytes())


class ThreeDSReader(Reader):
    """Reader of Nanonis ``.3ds`` grids."""

    name = "3ds"
    description = "Nanonis grid spectroscopy (.3ds)"
    extensions = (".3ds",)

    def can_read(self, head: bytes) -> bool | None:
        """True when the file starts with ``Grid dim=``."""
        return head.startswith(b"Grid dim=")

    def read(self, path: Path) -> xr.Dataset:
        """Read the grid."""
        return read_3ds(path)


register(ThreeDSReader())
