"""Park Systems TIFF: the data live in private TIFF tags, not in the visible 8-bit page.

Own reader on top of :mod:`tifffile` (BSD) for the container: SurfaceTopography reads Park TIFFs
but reports every channel as a height in µm, while a Park file may hold current or phase.

Tags (Park's specification, as in Gwyddion's ``psia.c``): 50432 magic ``0x0E031301``, 50433
version (``0x1000001``/``0x1000002``), 50434 the data (little-endian int16 in version 1;
int16/int32/float32 by ``data_type`` in version 2), 50435 a little-endian binary header (image
type, source name and mode as 32 and 8 UTF-16 characters, x/y resolution, scan size in µm,
``data_gain``, ``data_scale_factor``, ``data_offset``, ``data_unit`` ...).  The value is
``data_gain × (data_scale_factor × raw + data_offset)`` in ``data_unit`` (µm when empty).  The
first stored line is the bottom of the image; it is flipped so that row 0 is the top.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.units import parse_unit

MAGIC = 0x0E031301
TAG_MAGIC, TAG_VERSION, TAG_DATA, TAG_HEADER = 50432, 50433, 50434, 50435

# (name, struct code) of the header fields in order; "U<n>" is n UTF-16 characters.
FIELDS_V1 = [
    ("image_type", "I"), ("source_name", "U32"), ("image_mode", "U8"), ("lpf_strength", "d"),
    ("auto_flatten", "I"), ("ac_track", "I"), ("nx", "I"), ("ny", "I"), ("angle", "d"),
    ("sine_scan", "I"), ("overscan_rate", "d"), ("forward", "I"), ("scan_up", "I"),
    ("swap_xy", "I"), ("size_x", "d"), ("size_y", "d"), ("xoff", "d"), ("yoff", "d"),
    ("scan_rate", "d"), ("set_point", "d"), ("set_point_unit", "U8"), ("tip_bias", "d"),
    ("sample_bias", "d"), ("data_gain", "d"), ("data_scale_factor", "d"), ("data_offset", "d"),
    ("data_unit", "U8"), ("data_min", "i"), ("data_max", "i"), ("data_avg", "i"),
    ("compression", "I"), ("logscale", "I"), ("square", "I"),
]
FIELDS_V2 = [
    ("servo_gain", "d"), ("scanner_range", "d"), ("xy_voltage_mode", "U8"),
    ("z_voltage_mode", "U8"), ("xy_servo_mode", "U8"), ("data_type", "I"),
]


def _unpack(p: Path, buf: bytes, fields: list[tuple[str, str]], pos: int
            ) -> tuple[dict[str, Any], int]:
    out: dict[str, Any] = {}
    for name, code in fields:
        if code.startswith("U"):
            n = 2 * int(code[1:])
            if pos + n > len(buf):
                raise FormatError(p, f"Park header is cut short at {name}")
            out[name] = buf[pos:pos + n].decode("utf-16-le", errors="replace").split("\x00")[0]
            pos += n
        else:
            size = struct.calcsize("<" + code)
            if pos + size > len(buf):
                raise FormatError(p, f"Park header is cut short at {name}")
            out[name] = struct.unpack_from("<" + code, buf, pos)[0]
            pos += size
    return out, pos


def park_tags(tiff: Any) -> dict[int, Any] | None:
    """The Park private tags of the first page of an open :class:`tifffile.TiffFile`, or None
    when the file is not a Park TIFF."""
    page = tiff.pages[0]
    tags = {t.code: t.value for t in page.tags.values() if t.code in
            (TAG_MAGIC, TAG_VERSION, TAG_DATA, TAG_HEADER)}
    return tags if tags.get(TAG_MAGIC) == MAGIC else None


def read_park(path: str | Path, tags: dict[int, Any]) -> xr.Dataset:
    """Read the data channel of a Park TIFF whose private *tags* were found by
    :func:`park_tags`."""
    p = Path(path)
    version = tags.get(TAG_VERSION)
    header = tags.get(TAG_HEADER)
    data = tags.get(TAG_DATA)
    if version not in (0x1000001, 0x1000002) or not isinstance(header, bytes) or \
            not isinstance(data, bytes):
        raise FormatError(p, "Park TIFF without a readable version, header or data tag")
    h, pos = _unpack(p, header, FIELDS_V1, 0)
    if version == 0x1000002:
        h2, _ = _unpack(p, header, FIELDS_V2, pos)
        h.update(h2)
    if h["image_type"] != 0:
        raise FormatError(p, f"Park image type {h['image_type']} (line profile or "
                             "spectroscopy) is not an image")
    dtype = {0: "<i2", 1: "<i4", 2: "<f4"}.get(h.get("data_type", 0))
    if dtype is None:
        raise FormatError(p, f"Park data type {h.get('data_type')} is not supported")
    nx, ny = int(h["nx"]), int(h["ny"])
    if not (0 < nx <= 65536 and 0 < ny <= 65536) or len(data) < nx * ny * np.dtype(dtype).itemsize:
        raise FormatError(p, f"Park data tag holds {len(data)} bytes, not {nx} × {ny} values")
    scale = h["data_scale_factor"] or 1.0
    raw = np.frombuffer(data, dtype=dtype, count=nx * ny).astype(float)
    unit, fac = parse_unit(h["data_unit"] or "um")
    values = h["data_gain"] * (scale * raw + h["data_offset"]) * fac
    sx, sy = h["size_x"] * 1e-6, h["size_y"] * 1e-6
    if not (sx > 0 and sy > 0 and np.isfinite(sx) and np.isfinite(sy)):
        raise FormatError(p, f"Park scan size {h['size_x']} × {h['size_y']} µm is not valid")
    name = h["source_name"] or "data"
    meta = {"instrument": "Park Systems", "source_file": str(p), "mode": h["image_mode"],
            "sample_bias_V": h["sample_bias"], "tip_bias_V": h["tip_bias"],
            "scan_rate_Hz": h["scan_rate"], "direction": "forward" if h["forward"] else
            "backward"}
    img = make_image(values.reshape(ny, nx)[::-1], dx=sx / nx, dy=sy / ny, units=unit,
                     name=name, attrs={**meta, "provenance": [f"read {p.name} channel {name}"]})
    return xr.Dataset({name: img}, attrs={"format": "park", **meta})
