"""Gwyddion native ``.gwy`` files, read through the well-kept ``gwyfile`` package.

``gwyfile`` parses the GWYP serialisation (Gwyddion 2.x).  The older GWYO serialisation of
Gwyddion 1.x is refused with a clear message: it is a different binary layout, rare today, and
Gwyddion 2 converts it on opening.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.errors import FormatError
from supramap.io.base import Reader, register
from supramap.units import parse_unit


class GwyReader(Reader):
    """Reader of Gwyddion ``.gwy`` files (every data channel with its title and units)."""

    name = "gwy"
    description = "Gwyddion native (.gwy)"
    extensions = (".gwy",)

    def can_read(self, head: bytes) -> bool | None:
        """True for the GWYP and GWYO magics (GWYO then gets a clear refusal)."""
        return head[:4] in (b"GWYP", b"GWYO")

    def read(self, path: Path) -> xr.Dataset:
        """Read every data channel."""
        return read_gwy(path)


def _unit(obj: Any) -> str:
    if obj is None:
        return ""
    try:
        return str(obj.get("unitstr", "") or "")
    except AttributeError:
        return ""


_ITEM = {"b": 1, "c": 1, "i": 4, "q": 8, "d": 8}
_ARRAY = {"C": 1, "I": 4, "Q": 8, "D": 8}


def validate_gwyp(buf: bytes, path: Any = None) -> None:
    """Walk a GWYP serialisation and check every name, string and size against the bytes
    present, before gwyfile parses it.

    Why our own walk: gwyfile's parser loops forever on a string that lost its NUL terminator
    and allocates whatever an array count claims; a truncated or lying file must give a clear
    FormatError instead.  Layout (Gwyddion's file-format documentation): an object is a
    NUL-terminated type name, a uint32 size and that many bytes of components; a component is
    a NUL-terminated name, a one-letter type (b c i q d s o, arrays C I Q D S O with a uint32
    count first) and its data.
    """
    import struct

    def cstr(pos: int, end: int, what: str) -> int:
        nul = buf.find(b"\0", pos, end)
        if nul < 0:
            raise FormatError(path, f"corrupt Gwyddion file: {what} at byte {pos} has no NUL "
                                    "terminator (truncated?)")
        return nul + 1

    def obj(pos: int, end: int, depth: int) -> int:
        if depth > 64:
            raise FormatError(path, "corrupt Gwyddion file: objects nested too deeply")
        pos = cstr(pos, end, "object name")
        if pos + 4 > end:
            raise FormatError(path, f"corrupt Gwyddion file: object size at byte {pos} is cut")
        size = struct.unpack_from("<I", buf, pos)[0]
        pos += 4
        stop = pos + size
        if stop > end:
            raise FormatError(path, f"corrupt Gwyddion file: an object claims {size} bytes at "
                                    f"byte {pos}, the file holds {end - pos} (truncated?)")
        while pos < stop:
            pos = cstr(pos, stop, "component name")
            if pos >= stop:
                raise FormatError(path, f"corrupt Gwyddion file: component at byte {pos} has "
                                        "no type")
            t = chr(buf[pos])
            pos += 1
            if t in _ITEM:
                pos += _ITEM[t]
            elif t == "s":
                pos = cstr(pos, stop, "string")
            elif t == "o":
                pos = obj(pos, stop, depth + 1)
            elif t in _ARRAY or t in ("S", "O"):
                if pos + 4 > stop:
                    raise FormatError(path, f"corrupt Gwyddion file: array count at byte {pos} "
                                            "is cut")
                n = struct.unpack_from("<I", buf, pos)[0]
                pos += 4
                if t in _ARRAY:
                    if n * _ARRAY[t] > stop - pos:
                        raise FormatError(path, f"corrupt Gwyddion file: an array claims {n} "
                                                f"items at byte {pos}, more than the bytes "
                                                "present")
                    pos += n * _ARRAY[t]
                else:
                    if n > stop - pos:
                        raise FormatError(path, f"corrupt Gwyddion file: an array claims {n} "
                                                f"items at byte {pos}, more than the bytes "
                                                "present")
                    for _ in range(n):
                        pos = cstr(pos, stop, "string") if t == "S" else obj(pos, stop,
                                                                             depth + 1)
            else:
                raise FormatError(path, f"corrupt Gwyddion file: unknown component type {t!r} "
                                        f"at byte {pos - 1}")
            if pos > stop:
                raise FormatError(path, f"corrupt Gwyddion file: a component runs past its "
                                        f"object at byte {stop}")
        return stop

    if not buf.startswith(b"GWYP"):
        raise FormatError(path, "not a GWYP Gwyddion file")
    obj(4, len(buf), 0)


def read_gwy(path: str | Path) -> xr.Dataset:
    """Read every ``/N/data`` channel of a Gwyddion file into a Dataset (SI units)."""
    import gwyfile
    import gwyfile.objects

    p = Path(path)
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic == b"GWYO":
        raise FormatError(p, "GWYO (Gwyddion 1.x) serialisation is not supported; open the file "
                             "in Gwyddion 2 and save it again")
    if magic != b"GWYP":
        raise FormatError(p, f"not a Gwyddion file: magic {magic!r}, expected b'GWYP'")
    raw = p.read_bytes()
    validate_gwyp(raw, p)  # gwyfile hangs or over-allocates on lying files: check first
    try:
        # The bytes already read, as a file object: no second read from disk, and nothing
        # left open when gwyfile fails (it leaves its own files open then).
        container = gwyfile.load(io.BytesIO(raw))
    except Exception as exc:  # gwyfile raises bare AssertionError/ValueError/struct.error
        raise FormatError(p, f"corrupt Gwyddion file ({type(exc).__name__}: {exc})") from None
    variables: dict[str, tuple[np.ndarray, dict[str, Any], dict[str, Any]]] = {}
    keys = sorted(
        (k for k in container if re.fullmatch(r"/\d+/data", str(k))),
        key=lambda k: int(str(k).split("/")[1]),
    )
    if not keys:
        raise FormatError(p, "Gwyddion file holds no data channel")
    for key in keys:
        field = container[key]
        if not isinstance(field, gwyfile.objects.GwyDataField):
            continue
        index = str(key).split("/")[1]
        title = str(container.get(f"/{index}/data/title", f"channel {index}"))
        data = np.asarray(field.data, dtype=np.float64)
        if data.ndim != 2 or data.shape != (int(field["yres"]), int(field["xres"])):
            raise FormatError(p, f"channel {title!r}: data shape {data.shape} does not match "
                                 f"xres/yres")
        xy_unit_text = _unit(field.get("si_unit_xy"))
        z_unit_text = _unit(field.get("si_unit_z"))
        xy_unit, xy_scale = parse_unit(xy_unit_text)
        z_unit, z_scale = parse_unit(z_unit_text)
        xreal = float(field["xreal"]) * xy_scale
        yreal = float(field["yreal"]) * xy_scale
        if not (0 < xreal < np.inf and 0 < yreal < np.inf):
            raise FormatError(p, f"channel {title!r}: physical size {xreal} × {yreal} is not "
                                 "positive and finite")
        ny, nx = data.shape
        name = re.sub(r"\W+", "_", title).strip("_") or f"channel_{index}"
        while name in variables:
            name += f"_{index}"
        x0 = float(field.get("xoff", 0.0)) * xy_scale
        y0 = float(field.get("yoff", 0.0)) * xy_scale
        x = x0 + (np.arange(nx) + 0.5) * (xreal / nx)   # pixel centres, as make_image
        y = y0 + (np.arange(ny) + 0.5) * (yreal / ny)
        attrs = {"units": z_unit, "provenance": [f"read {p.name} channel {title}"],
                 "title": title, "instrument": "Gwyddion", "channel": title}
        if xy_unit != "m":
            # No lateral unit (or not a length): the size is no size in metres; say so.
            attrs["pixel_size_known"] = False
        variables[name] = (data * z_scale if z_scale != 1.0 else data, attrs,
                           {"y": ("y", y, {"units": xy_unit}), "x": ("x", x, {"units": xy_unit})})
    if not variables:
        raise FormatError(p, "Gwyddion file holds no data field (its /N/data entries are "
                             "not GwyDataField objects)")
    ds_attrs = {"format": "gwy", "source_file": str(p)}
    first = next(iter(variables.values()))[2]
    if all(_same_grid(c, first) for _, _, c in variables.values()):
        # One grid (the usual case): (dims, data, attrs) tuples on shared coordinates, nothing
        # for the Dataset to align (3× faster on a one-channel file, #27).
        return xr.Dataset({k: (("y", "x"), v, a) for k, (v, a, _) in variables.items()},
                          coords=first, attrs=ds_attrs)
    # Channels of different sizes or offsets: xarray aligns them (outer join, NaN-padded).
    return xr.Dataset({k: xr.DataArray(v, dims=("y", "x"), coords=c, attrs=a)
                       for k, (v, a, c) in variables.items()}, attrs=ds_attrs)


def _same_grid(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(a[d][2] == b[d][2] and np.array_equal(a[d][1], b[d][1]) for d in ("y", "x"))


register(GwyReader())
