"""Image Metrology BCR / BCRF files (SPIP exchange format, written by attocube AFM software).

Layout (Image Metrology, "BCR-STM file format"): a text header of ``headersize`` characters with
one ``key = value`` per line, then ``xpixels × ypixels`` values row by row: ``int16`` scaled by
``bit2nm`` for ``bcrstm``, ``float32`` for ``bcrf``.  The ``*_unicode`` variants write the header
in UTF-16LE, so it takes ``2 × headersize`` bytes.  ``intelmode = 1`` means little-endian.
Lengths are in ``xunit``/``yunit`` (default nm) and values in ``zunit`` (default nm); void
pixels are 32767 (int16) or values ≥ 3.4e38 (float32, FLT_MAX).

Quirks tolerated (seen in real files): keys with leading spaces, lines without ``=`` (``%``),
``voidpixels`` holding the marker value instead of a count, trailing padding in the header.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.fileutil import atomic_write_bytes
from supramap.io.base import Reader, check_memory, register
from supramap.units import parse_unit

FORMATS = {
    "bcrstm": (np.dtype("i2"), False),
    "bcrf": (np.dtype("f4"), False),
    "bcrstm_unicode": (np.dtype("i2"), True),
    "bcrf_unicode": (np.dtype("f4"), True),
}
INT16_VOID = 32767
FLOAT_VOID = 3.4e38
DEFAULT_HEADERSIZE = 2048

_UNIT_TO_NAME = {"m": "height", "A": "current", "V": "voltage", "N": "force", "Hz": "frequency"}


def _decode_header(head: bytes) -> tuple[str, bool] | None:
    """Return (header text, unicode?) if *head* starts like a BCR header, else None."""
    if head[:2] in (b"\xff\xfe",):
        head = head[2:]
    if head.lstrip(b" \r\n\t").startswith(b"fileformat"):
        return head.decode("latin-1"), False
    if head[:20].decode("utf-16-le", errors="ignore").lstrip().startswith("fileformat"):
        return head[: len(head) // 2 * 2].decode("utf-16-le", errors="replace"), True
    return None


def parse_header(text: str) -> dict[str, str]:
    """Parse ``key = value`` lines; keys are stripped and lower-cased, other lines ignored."""
    out: dict[str, str] = {}
    for line in re.split(r"[\r\n]+", text):
        if "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().lower()
        if key and key not in out:
            out[key] = value.strip().rstrip("\x00").strip()
    return out


class BCRReader(Reader):
    """Reader of Image Metrology BCR/BCRF files (ASCII and UTF-16 headers)."""

    name = "bcr"
    description = "Image Metrology BCR/BCRF (attocube, SPIP)"
    extensions = (".bcr", ".bcrf")

    def can_read(self, head: bytes) -> bool | None:
        """True when the first bytes are a BCR ``fileformat = bcr...`` header."""
        decoded = _decode_header(head)
        if decoded is None:
            return False
        return "bcr" in decoded[0][:64].lower()

    def read(self, path: Path) -> xr.Dataset:
        """Read the single channel of a BCR/BCRF file."""
        return read_bcr(path)


def _field(path: Path, header: dict[str, str], key: str, kind: type, default: Any = None) -> Any:
    if key not in header:
        if default is None:
            raise FormatError(path, f"header has no '{key}' field")
        return default
    raw = header[key]
    try:
        value = kind(float(raw)) if kind is int else kind(raw)
    except ValueError:
        raise FormatError(path, f"header field '{key}' = {raw!r} is not a valid {kind.__name__}")\
            from None
    if kind is int and float(raw) != int(float(raw)):
        raise FormatError(path, f"header field '{key}' = {raw!r} is not an integer")
    return value


def _speed_m_per_s(text: str) -> float | None:
    """``'2000 nm/s'`` → 2e-6; None when the value or its unit is not understood."""
    from supramap.units import parse_unit

    parts = text.strip().split()
    try:
        value = float(parts[0])
    except (ValueError, IndexError):
        return None
    unit = parts[1] if len(parts) > 1 else "nm/s"  # the BCR default unit of scanspeed
    length = unit.split("/")[0]
    base, factor = parse_unit(length)
    if base != "m" or not unit.endswith("/s") or not np.isfinite(value):
        return None
    return value * factor


def read_bcr(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a BCR/BCRF file into a Dataset with one image variable in SI units.

    The variable is named from ``zlabel`` when present, else from the unit (``height`` for
    lengths, ``current`` for currents).  Raises :class:`FormatError` on any inconsistency.
    """
    p = Path(path)
    # The header only: the data are read at their offset once the header has said how many
    # there are (a 14 GB file is refused with its size, not read whole into memory).
    size = p.stat().st_size
    with open(p, "rb") as fh:
        raw = fh.read(min(size, 1 << 20))
    if not raw:
        raise FormatError(p, "file is empty")
    decoded = _decode_header(raw[:8192])
    if decoded is None:
        raise FormatError(p, "not a BCR file: it does not start with 'fileformat ='")
    probe_text, unicode = decoded
    probe = parse_header(probe_text)
    fmt = probe.get("fileformat", "").strip().lower()
    if fmt not in FORMATS:
        raise FormatError(p, f"header field 'fileformat' = {fmt!r} is not one of {sorted(FORMATS)}")
    dtype, fmt_unicode = FORMATS[fmt]
    if fmt_unicode != unicode:
        raise FormatError(p, f"fileformat {fmt!r} does not match the header's text encoding")
    headersize = _field(p, probe, "headersize", int, DEFAULT_HEADERSIZE)
    header_bytes = headersize * (2 if unicode else 1)
    if headersize <= 0 or header_bytes > min(size, len(raw)):
        raise FormatError(p, f"header field 'headersize' = {headersize} does not fit a file of "
                             f"{size} bytes")
    text = raw[:header_bytes].decode("utf-16-le" if unicode else "latin-1", errors="replace")
    header = parse_header(text)

    nx = _field(p, header, "xpixels", int)
    ny = _field(p, header, "ypixels", int)
    if nx <= 0 or ny <= 0 or nx * ny > 2**31:
        raise FormatError(p, f"header gives an impossible image size xpixels={nx}, ypixels={ny}")
    intel = _field(p, header, "intelmode", int, 1)
    if intel not in (0, 1):
        raise FormatError(p, f"header field 'intelmode' = {intel} must be 0 or 1")
    dtype = dtype.newbyteorder("<" if intel else ">")
    need = nx * ny * dtype.itemsize
    have = size - header_bytes
    if have < need:
        raise FormatError(
            p,
            f"header promises {nx} × {ny} {dtype.name} values ({need} bytes) after the "
            f"{header_bytes}-byte header, but the file holds only {have} bytes of data",
        )
    check_memory(p, nx * ny * 8 * 2, f"a {nx} × {ny} image")
    data = np.fromfile(p, dtype=dtype, count=nx * ny, offset=header_bytes).reshape(ny, nx)

    xunit, xscale = parse_unit(header.get("xunit", "nm"))
    yunit, yscale = parse_unit(header.get("yunit", header.get("xunit", "nm")))
    zunit, zscale = parse_unit(header.get("zunit", "nm"))
    for name, unit in (("xunit", xunit), ("yunit", yunit)):
        if unit != "m":
            raise FormatError(p, f"header field '{name}' = {header.get(name)!r} is not a length")
    xlength = _field(p, header, "xlength", float, float(nx))
    ylength = _field(p, header, "ylength", float, float(ny))
    if not (math.isfinite(xlength) and math.isfinite(ylength) and xlength > 0 and ylength > 0):
        raise FormatError(p, f"header gives a non-positive scan size xlength={xlength}, "
                             f"ylength={ylength}")
    xoffset = _field(p, header, "xoffset", float, 0.0)
    yoffset = _field(p, header, "yoffset", float, 0.0)

    if dtype.kind == "i":
        bit2nm = _field(p, header, "bit2nm", float, 1.0)
        values = data.astype(np.float64)
        full = abs(bit2nm * zscale * 32767) if np.isfinite(bit2nm) else np.inf
        limit = 1.0 if zunit in ("m", "A") else 1e6  # an SPM full scale of 1 m or 1 A is absurd
        if not (0 < full < limit):
            raise FormatError(p, f"header field 'bit2nm' = {bit2nm} gives a full scale of "
                                 f"{full:.3g} {zunit}: not a plausible instrument range")
        void = data == INT16_VOID
        values *= bit2nm * zscale
    else:
        with np.errstate(invalid="ignore"):  # signalling NaNs become ordinary voids
            values = data.astype(np.float64)
            void = ~np.isfinite(values) | (np.abs(values) >= FLOAT_VOID)
        values *= zscale
    n_void = int(void.sum())
    if n_void:
        values[void] = np.nan

    attrs: dict[str, Any] = {
        "instrument": "Image Metrology BCR",
        "bcr_fileformat": fmt,
        "source_file": str(p),
        "void_pixels": n_void,
    }
    if "bias" in header:
        attrs["bias_V"] = _field(p, header, "bias", float)
    if "scanspeed" in header:
        attrs["scan_speed"] = header["scanspeed"]
        speed = _speed_m_per_s(header["scanspeed"])
        if speed is not None:
            attrs["scan_speed_m_per_s"] = speed
    for key in ("xlabel", "ylabel", "zlabel", "starttime", "forcecurve", "direction",
                "temperature"):
        if key in header:
            attrs[f"bcr_{key}"] = header[key]
    # Numbers as numbers in SI, under the names every reader uses.
    if "direction" in header and header["direction"].strip():
        attrs["direction"] = header["direction"].strip()
    if "temperature" in header:
        try:
            t = float(header["temperature"].split()[0])
            if np.isfinite(t) and t >= 0:
                attrs["temperature_K"] = t
        except (ValueError, IndexError):
            pass
    label = header.get("zlabel", "").strip()
    var = re.sub(r"\W+", "_", label).strip("_").lower() or _UNIT_TO_NAME.get(zunit, "data")
    image = make_image(
        values,
        dx=xlength * xscale / nx,
        dy=ylength * yscale / ny,
        x0=xoffset * xscale,
        y0=yoffset * yscale,
        units=zunit,
        name=var,
        attrs=attrs,
    )
    image.attrs["provenance"] = [f"read {p.name} ({fmt})"]
    return xr.Dataset({var: image}, attrs={"format": "bcr", "source_file": str(p),
                                           "bcr_header": dict(header)})


def _fmt(v: float) -> str:
    return repr(float(v))


def write_bcr(
    path: str | os.PathLike[str],
    image: xr.DataArray,
    *,
    fileformat: str = "bcrf",
    intelmode: int = 1,
    zunit: str | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Write a 2-D image as BCR/BCRF (atomically).

    Parameters
    ----------
    path : path-like
        Output file.
    image : DataArray (y, x)
        Image with coordinates in metres and ``attrs["units"]``.
    fileformat : {"bcrf", "bcrstm", "bcrf_unicode", "bcrstm_unicode"}
        ``bcrf`` stores float32 (exact for float32 data); ``bcrstm`` stores int16 scaled by
        ``bit2nm`` (lossy: rounding to 1/32766 of the maximum).
    intelmode : {0, 1}
        1 little-endian, 0 big-endian.
    zunit : str, optional
        Unit to write values in (e.g. ``"nA"``); default the image's SI unit.
    extra : dict, optional
        More header fields (``bias``, ``scanspeed``, ``zlabel`` ...).
    """
    if fileformat not in FORMATS:
        raise ValueError(f"fileformat must be one of {sorted(FORMATS)}")
    dtype, unicode = FORMATS[fileformat]
    dtype = dtype.newbyteorder("<" if intelmode else ">")
    values = np.asarray(image.values, dtype=np.float64)
    ny, nx = values.shape
    si_unit = image.attrs.get("units", "")
    zunit = zunit or si_unit or "nm"
    unit, zscale = parse_unit(zunit)
    if si_unit and unit != si_unit:
        raise ValueError(f"zunit {zunit!r} does not express {si_unit!r}")
    xs = np.asarray(image["x"].values, dtype=float)
    ys = np.asarray(image["y"].values, dtype=float)
    dx = float(xs[1] - xs[0])
    dy = float(ys[1] - ys[0])
    scaled = values / zscale
    void = ~np.isfinite(scaled)
    header = {
        "fileformat": fileformat,
        "headersize": DEFAULT_HEADERSIZE,
        "xpixels": nx,
        "ypixels": ny,
        "xlength": _fmt(dx * nx / 1e-9),
        "ylength": _fmt(dy * ny / 1e-9),
        "xoffset": _fmt((xs[0] - dx / 2) / 1e-9),
        "yoffset": _fmt((ys[0] - dy / 2) / 1e-9),
        "xunit": "nm",
        "yunit": "nm",
        "zunit": zunit,
        "intelmode": intelmode,
        "voidpixels": int(void.sum()),
    }
    if dtype.kind == "i":
        peak = float(np.nanmax(np.abs(scaled))) if (~void).any() else 1.0
        bit2nm = peak / 32766 if peak > 0 else 1.0
        header["bit2nm"] = _fmt(bit2nm)
        body = np.where(void, INT16_VOID, np.rint(np.where(void, 0, scaled) / bit2nm))
    else:
        body = np.where(void, np.float32(3.402823e38), scaled)
    if "bias_V" in image.attrs and "bias" not in (extra or {}):
        header["bias"] = _fmt(image.attrs["bias_V"])
    header.update(extra or {})
    text = "".join(f"{k} = {v}\n" for k, v in header.items())
    if len(text) > DEFAULT_HEADERSIZE:
        raise ValueError("BCR header too long for 2048 characters")
    text = text.ljust(DEFAULT_HEADERSIZE, " ")
    head = text.encode("utf-16-le" if unicode else "latin-1")
    atomic_write_bytes(path, head + body.astype(dtype).tobytes())


register(BCRReader())
