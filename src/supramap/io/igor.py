"""Asylum Research / Igor Pro binary waves (``.ibw``), read with :mod:`igor2`.

igor2 (LGPL-3.0+, a small numpy-only library, loaded only when an .ibw is read; it is in the
``vendor`` extra) parses the container.  What it does not do is name the layers' units: an
Asylum image stores its channels as layers of one wave with a single data unit, the layer names
in the dimension labels (``HeightRetrace``, ``CurrentTrace``, ``UserIn0Retrace`` ...).  Units
follow the channel name as Asylum writes them (and Gwyddion's ``igor.c`` infers them):
height/Z-sensor/amplitude/deflection in m, phase in degrees, current in A, user inputs, bias and
potential in V.  Pixel size from the wave scaling ``sfA``; Igor's y grows upwards, so the image
is flipped to put row 0 at the top.  The wave note (``key: value`` lines) goes to attrs.
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

UNIT_BY_NAME = (
    (re.compile(r"^(height|zsensor|z sensor|amplitude|amp|deflection|defl|nap height)", re.I),
     "m"),
    (re.compile(r"^(phase|nap ?phase)", re.I), "deg"),
    (re.compile(r"^(current|cur|orca|cafm)", re.I), "A"),
    (re.compile(r"^(userin|user in|bias|potential|surface ?potential|voltage|lateral|friction"
                r"|backpack)", re.I), "V"),
)


def _label(raw: bytes | str) -> str:
    text = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
    text = text.split("\x00")[0].strip()
    m = re.match(r"^(.*?(?:Retrace|Trace))", text)
    return m.group(1) if m else text


def _unit_for(name: str, wave_unit: str) -> str:
    for pattern, unit in UNIT_BY_NAME:
        if pattern.match(name):
            return unit
    return wave_unit


#: Size fields of the binary header after the version (Igor Technical Note 003): the byte
#: counts of the sections that follow the header, whose sum cannot exceed the file (version 5:
#: the two reserved option sizes are left out).
_BIN_HEADERS = {2: (16, "<iii", 2), 3: (20, "<iiii", 2), 5: (64, "<2x13i", 2)}


def _check_ibw_sizes(p: Path) -> None:
    """Refuse a wave whose header promises more bytes than the file holds, before igor2
    allocates what the header says (a lying ``wfmSize`` made it take 4 GB and 20 s)."""
    with open(p, "rb") as fh:
        raw = fh.read(160)
    if len(raw) < 16:
        raise FormatError(p, "too short for an Igor binary wave header (truncated)")
    order = "<" if raw[0] != 0 else ">"
    version = int.from_bytes(raw[:2], "little" if order == "<" else "big")
    if version not in _BIN_HEADERS:
        raise FormatError(p, f"Igor binary wave version {version} is not 2, 3 or 5")
    size, fmt, skip = _BIN_HEADERS[version]
    if len(raw) < size:
        raise FormatError(p, "Igor binary header is cut short (truncated)")
    import struct

    sizes = struct.unpack_from(order + fmt[1:], raw, skip)
    total = size + sum(int(v) for v in sizes)
    have = p.stat().st_size
    if any(v < 0 for v in sizes) or total > have:
        raise FormatError(p, f"Igor header promises {total} bytes of sections but the file "
                             f"holds {have} (truncated or corrupt)")
    if version == 5 and len(raw) >= 148:
        # WaveHeader5 (after the 64-byte BinHeader5): npnts at byte 76, nDim[4] at 132.  The
        # dimension sizes must multiply to the point count, or the layers are misread.
        npnts = struct.unpack_from(order + "i", raw, 76)[0]
        dims = struct.unpack_from(order + "4i", raw, 132)
        used = [d for d in dims if d != 0]
        if any(d < 0 for d in dims) or dims[0] <= 0 or \
                int(np.prod(used, dtype=np.int64)) != npnts:
            raise FormatError(p, f"Igor wave dimensions {list(dims)} do not multiply to its "
                                 f"{npnts} points (corrupt header)")


class IgorReader(Reader):
    """Reader of Igor binary waves (version 2, 3 and 5)."""

    name = "ibw"
    description = "Asylum Research / Igor binary wave (.ibw)"
    extensions = (".ibw",)

    def can_read(self, head: bytes) -> bool | None:
        """IBW has no magic string: version 2/3/5 as a little- or big-endian int16 at byte 0
        is a hint only (the suffix decides)."""
        if len(head) >= 2 and (head[:2] in (b"\x02\x00", b"\x03\x00", b"\x05\x00")
                               or head[:2] in (b"\x00\x02", b"\x00\x03", b"\x00\x05")):
            return None
        return False

    def read(self, path: Path) -> xr.Dataset:
        """Read every layer of the wave."""
        return read_ibw(path)


def read_ibw(path: str | Path) -> xr.Dataset:
    """Read an Asylum image wave: one channel per layer, SI units, row 0 at the top."""
    p = Path(path)
    try:
        from igor2 import binarywave
    except ImportError:
        raise FormatError(p, "reading .ibw needs the optional package igor2: "
                             "pip install 'supramap[vendor]'") from None
    _check_ibw_sizes(p)
    try:
        wave = binarywave.load(str(p))["wave"]
    except Exception as exc:  # igor2 raises struct/value/index errors on corrupt files
        raise FormatError(p, f"not a readable Igor binary wave ({type(exc).__name__}: "
                             f"{exc})") from None
    data = np.asarray(wave["wData"])
    header = wave["wave_header"]
    if data.ndim not in (2, 3) or min(data.shape[:2]) < 2:
        raise FormatError(p, f"wave of shape {data.shape} is not an image stack")
    sfa = np.asarray(header.get("sfA", [1.0, 1.0]), dtype=float)
    dim_units = header.get("dimUnits")
    xunit = b"".join(dim_units[0]).decode("latin-1") if dim_units is not None else ""
    dx, dy = float(abs(sfa[0])), float(abs(sfa[1]))
    if xunit not in ("m", "") or not (dx > 0 and dy > 0 and np.isfinite(dx * dy)):
        raise FormatError(p, f"wave scaling {sfa[:2]} {xunit!r} is not a pixel size in metres")
    # Axes without a unit are not metres (a 10-point wave scaled 1 would be a 10 m image):
    # the image is then in pixels, and says so (pixel_size_known False, coordinates in px).
    known = xunit == "m"
    if not known:
        dx = dy = 1.0
    wave_unit = b"".join(header.get("dataUnits", [b""])).decode("latin-1")
    note = wave.get("note", b"")
    note_text = note.decode("latin-1") if isinstance(note, bytes) else str(note)
    meta: dict[str, Any] = {"instrument": "Asylum Research (Igor)", "source_file": str(p),
                            "pixel_size_known": known}
    if not known:
        meta["wave_scaling"] = [float(sfa[0]), float(sfa[1])]
    for line in note_text.replace("\r", "\n").splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() in ("ImagingMode", "ScanRate", "ScanAngle", "SurfaceVoltage",
                                   "TipVoltage", "ScanSpeed"):
            meta[key.strip()] = value.strip()
    labels = wave.get("labels") or []
    layer_names = [_label(x) for x in (labels[2] if len(labels) > 2 else [])][1:]
    stack = data if data.ndim == 3 else data[:, :, None]
    variables: dict[str, xr.DataArray] = {}
    for k in range(stack.shape[2]):
        name = layer_names[k] if k < len(layer_names) and layer_names[k] else f"layer {k}"
        unit = _unit_for(name, wave_unit)
        direction = "backward" if name.lower().endswith("retrace") else "forward"
        key, n = name, 2
        while key in variables:
            key = f"{name} {n}"
            n += 1
        img = np.asarray(stack[:, :, k], dtype=float).T[::-1]
        variables[key] = make_image(img, dx=dx, dy=dy, units=unit, name=key,
                                    attrs={**meta, "direction": direction,
                                           "provenance": [f"read {p.name} layer {k}"]})
    ds = xr.Dataset(variables, attrs={"format": "ibw", **meta})
    if not known:
        for dim in ("x", "y"):
            ds[dim].attrs["units"] = "px"
    return ds


register(IgorReader())
