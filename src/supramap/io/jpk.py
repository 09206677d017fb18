"""JPK Instruments (now Bruker) image scans (``.jpk``): a TIFF whose first page is a preview and
whose other pages are the channels, calibrated by private tags.

Own reader on top of :mod:`tifffile` (BSD) for the container: SurfaceTopography's JPK reader keeps
only channels whose unit is a length, so a current or deflection channel (V, A, N) is dropped.

Tags (JPK's definitions as published in Gwyddion's ``jpk.h``): on the first page 0x8040/0x8041
the grid origin, 0x8042/0x8043 the scan lengths u, v in metres, 0x8045 "reflect"; on each channel
page 0x8050 the channel, 0x8051 retrace, 0x8052 the channel's display name, 0x8080 the number of
calibration slots, 0x8081 the default slot, and per slot ``n`` (base 0x8090 + 0x30·n) the slot
name (+0), the unit (+0x12), the scaling type (+0x13), its multiplier (+0x14) and offset (+0x15).
The value is ``raw × multiplier + offset`` of the default slot, in that slot's unit (only
``LinearScaling`` exists in the files we know; another type is refused, never guessed).  Unless
"reflect" is set the first stored row is the bottom of the image; it is flipped so that row 0 is
the top.  Force-curve archives (``.jpk-force``, ZIP) are not images and are not read here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.units import parse_unit

GRID_U, GRID_V, GRID_X0, GRID_Y0, GRID_REFLECT = 0x8042, 0x8043, 0x8040, 0x8041, 0x8045
CHANNEL, RETRACE, FANCY_NAME = 0x8050, 0x8051, 0x8052
N_SLOTS, DEFAULT_SLOT = 0x8080, 0x8081
SLOT_BASE, SLOT_STRIDE = 0x8090, 0x30
SLOT_NAME, SLOT_UNIT, SLOT_SCALING, SLOT_MULTIPLY, SLOT_OFFSET = 0x0, 0x12, 0x13, 0x14, 0x15


def is_jpk(first_page_codes: set[int]) -> bool:
    """True when the first page carries JPK's grid-length tags."""
    return GRID_U in first_page_codes and GRID_V in first_page_codes


def _tag(page, code: int, default: Any = None) -> Any:
    t = page.tags.get(code)
    if t is None:
        return default
    v = t.value
    if isinstance(v, bytes):
        v = v.decode("latin-1")
    if isinstance(v, tuple) and len(v) == 1:
        v = v[0]
    return v


def _flag(page, code: int) -> bool:
    """A JPK boolean tag (a BYTE or SHORT; tifffile may hand a BYTE over as bytes)."""
    t = page.tags.get(code)
    if t is None:
        return False
    v = t.value
    if isinstance(v, (bytes, bytearray)):
        return any(v)
    if isinstance(v, tuple):
        return any(bool(x) for x in v)
    return bool(v)


def _number(p: Path, value: Any, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise FormatError(p, f"JPK tag {what} is not a number ({value!r})") from None
    if not np.isfinite(x):
        raise FormatError(p, f"JPK tag {what} is not finite ({x})")
    return x


def read_jpk(p: Path, tif) -> xr.Dataset:
    """Read every grey-level channel page of an open JPK TIFF (``tifffile.TiffFile``)."""
    first = tif.pages[0]
    u = abs(_number(p, _tag(first, GRID_U), "grid u-length"))
    v = abs(_number(p, _tag(first, GRID_V), "grid v-length"))
    if not (0 < u < 1 and 0 < v < 1):
        raise FormatError(p, f"JPK scan size {u:g} m × {v:g} m is not a plausible scan")
    reflect = _flag(first, GRID_REFLECT)
    variables: dict[str, xr.DataArray] = {}
    for index, page in enumerate(tif.pages):
        name = _tag(page, FANCY_NAME) or _tag(page, CHANNEL)
        if not name or page.samplesperpixel != 1 or page.bitspersample not in (16, 32):
            continue  # the preview (RGB or 8-bit) or a page without channel tags
        label = str(name).strip() + (" (retrace)" if _flag(page, RETRACE) else "")
        n_slots = int(_number(p, _tag(page, N_SLOTS, 0), f"number of slots of {label!r}"))
        default = _tag(page, DEFAULT_SLOT)
        if not (0 < n_slots <= 64) or not default:
            raise FormatError(p, f"JPK channel {label!r} has no calibration slots")
        for n in range(n_slots):
            base = SLOT_BASE + SLOT_STRIDE * n
            if _tag(page, base + SLOT_NAME) == default:
                break
        else:
            raise FormatError(p, f"JPK channel {label!r}: default slot {default!r} is missing")
        scaling = _tag(page, base + SLOT_SCALING)
        if scaling != "LinearScaling":
            raise FormatError(p, f"JPK channel {label!r}: scaling {scaling!r} is not "
                                 "LinearScaling (not read rather than guessed)")
        mult = _number(p, _tag(page, base + SLOT_MULTIPLY, 1.0), f"{label!r} multiplier")
        offset = _number(p, _tag(page, base + SLOT_OFFSET, 0.0), f"{label!r} offset")
        unit, factor = parse_unit(_tag(page, base + SLOT_UNIT, ""))
        try:
            raw = page.asarray()
        except Exception as exc:  # tifffile raises many types on a cut strip
            raise FormatError(p, f"JPK channel {label!r}: data unreadable (truncated?): "
                                 f"{exc}") from None
        values = (raw.astype(float) * mult + offset) * factor
        if not reflect:
            values = values[::-1]
        ny, nx = values.shape
        key, k = label, 2
        while key in variables:
            key, k = f"{label} {k}", k + 1
        variables[key] = make_image(
            values, dx=u / nx, dy=v / ny, units=unit, name=key,
            attrs={"instrument": "JPK Instruments", "source_file": str(p), "page": index,
                   "slot": default, "provenance": [f"read {p.name} page {index} "
                                                   f"(JPK slot {default})"]})
    if not variables:
        raise FormatError(p, "JPK TIFF without any 16/32-bit channel page (only a preview)")
    return xr.Dataset(variables, attrs={"format": "jpk", "source_file": str(p)})
