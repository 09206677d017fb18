"""WSxM ``.stp`` / ``.top`` / ``.cur`` image files (Nanotec / UAM).

Own reader (a text header and one block of numbers; SurfaceTopography reads it as a height
only, while WSxM writes current and other channels in the same layout).

Layout (WSxM's documented format, and SurfaceTopography's ``WSXM.py``): ``WSxM file copyright``,
``SxM Image file``, ``Image header size: N``, then ``[Section]`` blocks of ``key: value`` lines
up to byte N, then ``Number of rows`` × ``Number of columns`` values of ``Image Data Type``
(double, float, short/integer as little-endian int16).  Lateral size from ``[Control] X/Y
Amplitude``; the values span ``[General Info] Z Amplitude`` (with its unit), so the scale is
Z Amplitude / (max − min) of the stored values — 1 for doubles already in that unit, as in the
real example checked in the tests.  Rows are kept in the order stored.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.io.base import Reader, header_number, register
from supramap.units import parse_unit

DTYPES = {"double": "<f8", "float": "<f4", "short": "<i2", "integer": "<i2", "int": "<i4"}


def _quantity(p: Path, text: str | None, what: str) -> tuple[float, str]:
    return header_number(p, text, what)


class WSxMReader(Reader):
    """Reader of WSxM image files."""

    name = "wsxm"
    description = "WSxM image (.stp, .top, .cur, .ch1 …)"
    extensions = (".stp", ".top", ".cur")

    def can_read(self, head: bytes) -> bool | None:
        """True for ``WSxM file copyright`` followed by ``SxM Image file``."""
        return head.startswith(b"WSxM file copyright") and b"SxM Image file" in head[:200]

    def read(self, path: Path) -> xr.Dataset:
        """Read the image."""
        return read_wsxm(path)


def read_wsxm(path: str | Path) -> xr.Dataset:
    """Read a WSxM image (SI units)."""
    p = Path(path)
    raw = p.read_bytes()
    m = re.search(rb"Image header size:\s*(\d+)", raw[:400])
    if not m:
        raise FormatError(p, "no 'Image header size' line")
    hsize = int(m.group(1))
    if not 0 < hsize <= len(raw):
        raise FormatError(p, f"header size {hsize} does not fit a file of {len(raw)} bytes")
    sections: dict[str, dict[str, str]] = {}
    cur: dict[str, str] = {}
    for line in raw[:hsize].decode("latin-1").splitlines():
        s = line.strip()
        sec = re.fullmatch(r"\[(.+)\]", s)
        if sec:
            cur = sections.setdefault(sec.group(1), {})
        elif ":" in s:
            k, _, v = s.partition(":")
            cur[k.strip()] = v.strip()
    info = sections.get("General Info", {})
    control = sections.get("Control", {})
    try:
        nx, ny = int(info["Number of columns"]), int(info["Number of rows"])
    except (KeyError, ValueError):
        raise FormatError(p, "header lacks a valid 'Number of columns/rows'") from None
    kind = info.get("Image Data Type", "short").lower()
    if kind not in DTYPES:
        raise FormatError(p, f"Image Data Type {kind!r} is not supported")
    dtype = np.dtype(DTYPES[kind])
    if not (0 < nx <= 65536 and 0 < ny <= 65536) or hsize + nx * ny * dtype.itemsize > len(raw):
        raise FormatError(p, f"{nx} × {ny} values of {kind} do not fit after the header "
                             "(truncated file?)")
    counts = np.frombuffer(raw, dtype=dtype, count=nx * ny, offset=hsize).astype(float)
    lx, ux = _quantity(p, control.get("X Amplitude"), "X Amplitude")
    ly, uy = _quantity(p, control.get("Y Amplitude"), "Y Amplitude")
    zamp, uz = _quantity(p, info.get("Z Amplitude"), "Z Amplitude")
    xu, xf = parse_unit(ux.replace("Å", "angstrom"))
    yu, yf = parse_unit(uy.replace("Å", "angstrom"))
    zu, zf = parse_unit(uz.replace("Å", "angstrom"))
    if xu != "m" or yu != "m" or not (lx > 0 and ly > 0):
        raise FormatError(p, f"X/Y Amplitude {lx} {ux} × {ly} {uy} are not positive lengths")
    finite = counts[np.isfinite(counts)]
    span = float(np.ptp(finite)) if finite.size else 0.0
    scale = zamp / span if span > 0 and zamp > 0 else 1.0
    values = (counts - (finite.min() if kind in ("short", "integer", "int") and finite.size
                        else 0.0)) * scale * zf
    channel = info.get("Acquisition channel", "data") or "data"
    meta: dict[str, Any] = {"instrument": "WSxM", "source_file": str(p),
                            "direction": info.get("X scanning direction", "").lower()}
    bias = control.get("Topography Bias")
    if bias:
        bv, bu = _quantity(p, bias, "Topography Bias")
        unit, f = parse_unit(bu)
        if unit == "V":
            meta["bias_V"] = bv * f
    img = make_image(values.reshape(ny, nx), dx=lx * xf / nx, dy=ly * yf / ny, units=zu,
                     name=channel, attrs={**meta, "provenance": [f"read {p.name}"]})
    return xr.Dataset({channel: img}, attrs={"format": "wsxm", **meta})


register(WSxMReader())
