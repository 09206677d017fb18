"""Nanosurf ``.nid`` files.

Own reader: SurfaceTopography reads .nid for heights only; we need every channel (deflection in
N, current in A, ...) with its unit.

Layout: an INI-style text header (``[DataSet]`` with ``GrN-ChM=DataSet-N:M`` entries naming the
stored channels in order; one ``[DataSet-N:M]`` section per channel giving ``Points``, ``Lines``,
``Dim0Range``/``Dim1Range`` (x, y in ``Dim0Unit``), ``Dim2Name``/``Dim2Unit``/``Dim2Range``/
``Dim2Min`` and ``SaveBits``/``SaveSign``/``SaveOrder``), a ``#!`` marker, then the channels'
integers one after the other.  A signed n-bit integer r maps linearly onto
[Dim2Min, Dim2Min + Dim2Range): ``value = Dim2Min + (r + 2^(n−1)) · Dim2Range / 2^n``
(Gwyddion's ``nanosurf.c`` does the same).  The first stored line is the bottom of the image
(y grows upwards); it is flipped so that row 0 is the top.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.io.base import Reader, register
from supramap.units import parse_unit


def _sections(text: str) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    cur: dict[str, str] | None = None
    for line in text.splitlines():
        line = line.strip()
        m = re.fullmatch(r"\[(.+)\]", line)
        if m:
            cur = out.setdefault(m.group(1), {})
        elif cur is not None and "=" in line:
            k, _, v = line.partition("=")
            cur[k.strip()] = v.strip()
    return out


def _f(p: Path, sec: dict[str, str], key: str, name: str) -> float:
    try:
        v = float(sec[key])
    except KeyError:
        raise FormatError(p, f"{name}: header has no {key!r}") from None
    except ValueError:
        raise FormatError(p, f"{name}: {key} = {sec[key]!r} is not a number") from None
    if not np.isfinite(v):
        raise FormatError(p, f"{name}: {key} is not finite")
    return v


class NanosurfReader(Reader):
    """Reader of Nanosurf ``.nid`` files."""

    name = "nanosurf"
    description = "Nanosurf (.nid)"
    extensions = (".nid",)

    def can_read(self, head: bytes) -> bool | None:
        """True for a first line ``[DataSet]``."""
        return head.startswith(b"[DataSet]")

    def read(self, path: Path) -> xr.Dataset:
        """Read every channel."""
        return read_nid(path)


def read_nid(path: str | Path) -> xr.Dataset:
    """Read every channel of a .nid file (SI units, row 0 at the top)."""
    p = Path(path)
    raw = p.read_bytes()
    pos = raw.find(b"#!")
    if pos < 0:
        raise FormatError(p, "no '#!' data marker: truncated or not a .nid file")
    secs = _sections(raw[:pos].decode("latin-1"))
    top = secs.get("DataSet")
    if top is None:
        raise FormatError(p, "no [DataSet] section")
    order = []
    for k, v in top.items():
        m = re.fullmatch(r"Gr(\d+)-Ch(\d+)", k)
        if m:
            order.append((int(m.group(1)), int(m.group(2)), v))
    order.sort()
    info = secs.get("DataSet-Info", {})
    meta: dict[str, Any] = {"instrument": "Nanosurf", "source_file": str(p)}
    for key, attr in (("Op. mode", "mode"), ("Scan direction", "scan_direction"),
                      ("Date", "date"), ("Time", "time")):
        if key in info:
            meta[attr] = info[key]
    if "Tip voltage" in info:
        unit, fac = parse_unit(re.sub(r"^[-+0-9.eE]+\s*", "", info["Tip voltage"]))
        m = re.match(r"\s*([-+0-9.eE]+)", info["Tip voltage"])
        if m and unit == "V":
            meta["bias_V"] = float(m.group(1)) * fac
    offset = pos + 2
    variables: dict[str, xr.DataArray] = {}
    for group, _, sec_name in order:
        sec = secs.get(sec_name)
        if sec is None:
            raise FormatError(p, f"channel section [{sec_name}] is missing")
        nx = int(_f(p, sec, "Points", sec_name))
        ny = int(_f(p, sec, "Lines", sec_name))
        bits = int(_f(p, sec, "SaveBits", sec_name))
        if bits not in (16, 32) or not (0 < nx <= 65536 and 0 < ny <= 65536):
            raise FormatError(p, f"{sec_name}: {nx} × {ny} points of {bits} bits is not "
                                 "supported")
        nbytes = nx * ny * bits // 8
        if offset + nbytes > len(raw):
            raise FormatError(p, f"{sec_name}: data runs past the end of the file (truncated)")
        signed = sec.get("SaveSign", "Signed").lower().startswith("s")
        endian = ">" if sec.get("SaveOrder", "Intel").lower().startswith("m") else "<"
        dtype = np.dtype(f"{endian}{'i' if signed else 'u'}{bits // 8}")
        counts = np.frombuffer(raw, dtype=dtype, count=nx * ny, offset=offset).astype(float)
        offset += nbytes
        rng = _f(p, sec, "Dim2Range", sec_name)
        vmin = _f(p, sec, "Dim2Min", sec_name)
        shift = 2.0 ** (bits - 1) if signed else 0.0
        unit, fac = parse_unit(sec.get("Dim2Unit", ""))
        values = (vmin + (counts + shift) * rng / 2.0**bits) * fac
        xu, xf = parse_unit(sec.get("Dim0Unit", "m"))
        yu, yf = parse_unit(sec.get("Dim1Unit", "m"))
        lx = _f(p, sec, "Dim0Range", sec_name) * xf
        ly = _f(p, sec, "Dim1Range", sec_name) * yf
        if xu != "m" or yu != "m" or not (lx > 0 and ly > 0):
            raise FormatError(p, f"{sec_name}: lateral ranges are not positive lengths")
        frame = sec.get("Frame", top.get(f"Gr{group}-Name", f"group {group}"))
        direction = "backward" if "backward" in frame.lower() else "forward"
        label = f"{sec.get('Dim2Name', sec_name)} [{frame}]"
        variables[label] = make_image(
            values.reshape(ny, nx)[::-1], dx=lx / nx, dy=ly / ny, units=unit, name=label,
            attrs={**meta, "direction": direction,
                   "provenance": [f"read {p.name} channel {label}"]})
    if not variables:
        raise FormatError(p, "the [DataSet] section lists no channel")
    return xr.Dataset(variables, attrs={"format": "nanosurf", **meta})


register(NanosurfReader())
