"""NT-MDT ``.mdt`` files: the classic scanned-data frames (raster images) of every channel.

Own reader: SurfaceTopography's MDT reader emits only channels whose axes carry length units,
dropping current (nA) and voltage channels a cAFM user needs.

Layout (Gwyddion's ``nt-mdt.c``, SurfaceTopography's ``MDT.py``): a 33-byte file header (magic
``01 B0 93 FF``, data size, last frame index at byte 12), then frames.  A frame header is
22 bytes (size including the header, type, version, date and time, ``var_size``); a scanned
frame (type 0) starts with three axis scales (offset float32, step float32, unit code int16 for
x, y, z), the ADC channel index and the resolution, ``var_size`` bytes in all; then a frame-mode
block (mode, nx, ny, number of dots), an optional dot section, and the int16 image.  The value is
``raw × z_step + z_offset`` in the z unit.  The first stored line is the bottom of the image; it
is flipped so that row 0 is the top.

MDA frames (type 106, "multi-dimensional array", what newer Nova software writes): a head of
``head_size`` bytes (head size, total size, two GUIDs, status, then the sizes of name, comment,
view info, frame spec, source info and variables, data offset, data size), the name (cp1251),
an UTF-16 XML comment, the spec/view/source blocks, a 4-byte size and an array header
(``struct_len``, cell count u64, cell size u32, number of dimensions and of measurands), then
one calibration per dimension and per measurand (name, comment, unit string, SI code, bias,
scale, index range, data type) and the cells.  A frame with two dimensions is an image: its
measurands are interleaved in each cell and each becomes a channel; value = bias + scale × raw
in the measurand's unit, pixel step = the dimension's scale.  Spectra (one dimension), Raman
cubes (three) and other frame types are skipped (listed in ``attrs["skipped_frames"]``).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import xarray as xr

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.io.base import Reader, register
from supramap.units import parse_unit

MAGIC = b"\x01\xb0\x93\xff"
#: MDA data-type codes → numpy dtype (float codes are -(bytes + mantissa bits × 256)).
MDA_TYPES = {
    -1: "i1", 1: "u1", -2: "<i2", 2: "<u2", -4: "<i4", 4: "<u4", -8: "<i8", 8: "<u8",
    -(4 + 23 * 256): "<f4", -(8 + 52 * 256): "<f8",
}
#: NT-MDT unit codes (``MDTUnit``) → (SI unit, factor).
UNITS = {
    -5: ("m", 1.0), -4: ("m", 1e-2), -3: ("m", 1e-3), -2: ("m", 1e-6), -1: ("m", 1e-9),
    0: ("m", 1e-10), 1: ("A", 1e-9), 2: ("V", 1.0), 3: ("", 1.0), 4: ("Hz", 1e3),
    5: ("deg", 1.0), 6: ("percent", 1.0), 7: ("degC", 1.0), 8: ("V", 1.0), 9: ("s", 1.0),
    10: ("s", 1e-3), 11: ("s", 1e-6), 12: ("s", 1e-9), 13: ("counts", 1.0),
}
#: Signal names by ADC channel index (``MDTADCMode``).
SIGNALS = {
    0: "Height", 1: "DFL", 2: "Lateral F", 3: "Bias V", 4: "Current", 5: "FB-Out", 6: "MAG",
    7: "MAG*Sin", 8: "MAG*Cos", 9: "RMS", 10: "CalcMag", 11: "Phase1", 12: "Phase2",
    13: "CalcPhase", 14: "Ex1", 15: "Ex2", 16: "HvX", 17: "HvY", 18: "Snap Back",
}


class MDTReader(Reader):
    """Reader of NT-MDT ``.mdt`` files."""

    name = "mdt"
    description = "NT-MDT (.mdt)"
    extensions = (".mdt",)

    def can_read(self, head: bytes) -> bool | None:
        """True for the magic ``01 B0 93 FF``."""
        return head.startswith(MAGIC)

    def read(self, path: Path) -> xr.Dataset:
        """Read every scanned-data frame."""
        return read_mdt(path)


def read_mdt(path: str | Path) -> xr.Dataset:
    """Read the raster images of an .mdt file (SI units, row 0 at the top)."""
    p = Path(path)
    raw = p.read_bytes()
    if len(raw) < 33 or not raw.startswith(MAGIC):
        raise FormatError(p, "not an NT-MDT file (magic or header missing)")
    last = struct.unpack_from("<H", raw, 12)[0]
    pos = 33
    variables: dict[str, xr.DataArray] = {}
    skipped = []
    for index in range(last + 1):
        if pos + 22 > len(raw):
            raise FormatError(p, f"frame {index} starts past the end of the file (truncated)")
        size, ftype = struct.unpack_from("<IH", raw, pos)
        var_size = struct.unpack_from("<H", raw, pos + 20)[0]
        year, month, day, hour, minute, second = struct.unpack_from("<6H", raw, pos + 8)
        if size < 22 or pos + size > len(raw):
            raise FormatError(p, f"frame {index} claims {size} bytes; the file holds "
                                 f"{len(raw) - pos} from there (truncated or corrupt)")
        body = pos + 22
        end = pos + size
        pos = end
        if ftype == 106:
            try:
                channels = _mda_image(raw, body, end, index)
            except struct.error:
                raise FormatError(p, f"frame {index}: MDA header runs past the frame "
                                     "(truncated or corrupt)") from None
            except _MDAError as exc:
                raise FormatError(p, f"frame {index}: {exc}") from None
            if not channels:
                skipped.append(int(ftype))
            for label, values, dx, dy, unit in channels:
                key = _unique(label, variables)
                variables[key] = make_image(
                    values, dx=dx, dy=dy, units=unit, name=key,
                    attrs={"instrument": "NT-MDT", "source_file": str(p), "frame": index,
                           "frame_type": "MDA", "date": _date(year, month, day, hour, minute,
                                                             second),
                           "provenance": [f"read {p.name} frame {index} (MDA)"]})
            continue
        if ftype != 0:
            skipped.append(int(ftype))
            continue
        if var_size < 36 or body + var_size + 8 > end:
            raise FormatError(p, f"frame {index}: scanned-data variables are cut short")
        (x0, dxs, xu, y0, dys, yu, z0, dzs, zu) = struct.unpack_from("<ffhffhffh", raw, body)
        adc = raw[body + 30]
        m = body + var_size
        _, nx, ny, ndots = struct.unpack_from("<4H", raw, m)
        m += 8
        if ndots:
            m += 14 + 16 * ndots
        if nx == 0 or ny == 0:
            skipped.append(0)
            continue
        if m + 2 * nx * ny > end:
            raise FormatError(p, f"frame {index}: image of {nx} × {ny} runs past the frame")
        xunit, xf = UNITS.get(xu, ("", 1.0))
        yunit, yf = UNITS.get(yu, ("", 1.0))
        zunit, zf = UNITS.get(zu, (f"mdt-unit-{zu}", 1.0))
        dx, dy = abs(dxs) * xf, abs(dys) * yf
        if xunit != "m" or yunit != "m" or not (dx > 0 and dy > 0 and np.isfinite(dx * dy)):
            raise FormatError(p, f"frame {index}: lateral steps {dxs}, {dys} (unit codes {xu}, "
                                 f"{yu}) are not lengths")
        counts = np.frombuffer(raw, dtype="<i2", count=nx * ny, offset=m).astype(float)
        zstep = dzs if np.isfinite(dzs) and dzs != 0 else 1.0
        zoff = z0 if np.isfinite(z0) else 0.0
        values = (counts * zstep + zoff) * zf
        key = _unique(SIGNALS.get(adc, f"ADC {adc}"), variables)
        variables[key] = make_image(
            values.reshape(ny, nx)[::-1], dx=dx, dy=dy, units=zunit, name=key,
            attrs={"instrument": "NT-MDT", "source_file": str(p), "frame": index,
                   "date": _date(year, month, day, hour, minute, second),
                   "provenance": [f"read {p.name} frame {index}"]})
    if not variables:
        raise FormatError(p, f"no image frame (frame types {sorted(set(skipped))} are "
                             "spectroscopy, text, palette or non-image MDA frames, not read)")
    return xr.Dataset(variables, attrs={"format": "mdt", "source_file": str(p),
                                        "skipped_frames": skipped})


def _unique(label: str, taken) -> str:
    key, k = label, 2
    while key in taken:
        key = f"{label} {k}"
        k += 1
    return key


def _date(year, month, day, hour, minute, second) -> str:
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"


class _MDAError(ValueError):
    """An MDA frame whose numbers contradict each other."""


def _mda_calibration(raw: bytes, q: int, end: int) -> tuple[dict, int]:
    """One dimension/measurand calibration at ``q``; returns it and the next offset."""
    total, struct_len = struct.unpack_from("<II", raw, q)
    if total < 8 + struct_len or q + total > end:
        raise _MDAError(f"a calibration claims {total} bytes beyond the frame")
    h = q + 8
    name_len, comment_len, unit_len = struct.unpack_from("<3I", raw, h)
    bias, scale, lo, hi, dtype, author_len = struct.unpack_from("<ddQQiI", raw, h + 36)
    s = h + struct_len
    if s + name_len + comment_len + unit_len > q + total:
        raise _MDAError("calibration strings run past the calibration")
    name = raw[s:s + name_len].decode("cp1251", "replace")
    s += name_len + comment_len
    unit = raw[s:s + unit_len].decode("cp1251", "replace")
    return ({"name": name, "unit": unit, "bias": bias, "scale": scale, "n": hi - lo + 1,
             "dtype": dtype}, q + total)


def _mda_image(raw: bytes, body: int, end: int, index: int) -> list:
    """Channels (label, values, dx, dy, unit) of an MDA frame holding an image, else []."""
    head_size = struct.unpack_from("<I", raw, body)[0]
    name_size, comment_size, view_size, spec_size, source_size = struct.unpack_from(
        "<5I", raw, body + 44)
    p = body + head_size
    title = raw[p:p + name_size].decode("cp1251", "replace").strip("\x00 ")
    p += name_size + comment_size + spec_size + view_size + source_size
    struct_len = struct.unpack_from("<I", raw, p + 4)[0]
    _, cell, n_dim, n_meas = struct.unpack_from("<QIII", raw, p + 8)
    if p + 8 + struct_len > end or n_dim > 16 or n_meas > 64:
        raise _MDAError(f"array header is implausible ({n_dim} dimensions, {n_meas} "
                        "measurands)")
    q = p + 8 + struct_len
    dims, meas = [], []
    for _ in range(n_dim):
        c, q = _mda_calibration(raw, q, end)
        dims.append(c)
    for _ in range(n_meas):
        c, q = _mda_calibration(raw, q, end)
        meas.append(c)
    if n_dim != 2 or not meas:
        return []  # a spectrum, a curve set or a Raman cube: not an image
    nx, ny = dims[0]["n"], dims[1]["n"]
    fields = []
    for m in meas:
        if m["dtype"] not in MDA_TYPES:
            raise _MDAError(f"measurand {m['name']!r} has unknown data type {m['dtype']}")
        fields.append(np.dtype(MDA_TYPES[m["dtype"]]))
    if sum(f.itemsize for f in fields) != cell:
        raise _MDAError(f"cell size {cell} does not match the measurands' types")
    if not (0 < nx < 2**16 and 0 < ny < 2**16) or q + nx * ny * cell > end:
        raise _MDAError(f"image of {nx} × {ny} cells of {cell} bytes runs past the frame "
                        "(truncated or corrupt)")
    xunit, xf = parse_unit(dims[0]["unit"])
    yunit, yf = parse_unit(dims[1]["unit"])
    dx, dy = abs(dims[0]["scale"]) * xf, abs(dims[1]["scale"]) * yf
    if xunit != "m" or yunit != "m" or not (dx > 0 and dy > 0 and np.isfinite(dx * dy)):
        raise _MDAError(f"lateral steps {dims[0]['scale']} {dims[0]['unit']!r}, "
                        f"{dims[1]['scale']} {dims[1]['unit']!r} are not lengths")
    record = np.dtype([(f"m{k}", f) for k, f in enumerate(fields)])
    cells = np.frombuffer(raw, dtype=record, count=nx * ny, offset=q)
    out = []
    for k, m in enumerate(meas):
        unit, f = parse_unit(m["unit"])
        scale = m["scale"] if np.isfinite(m["scale"]) and m["scale"] != 0 else 1.0
        bias = m["bias"] if np.isfinite(m["bias"]) else 0.0
        values = (cells[f"m{k}"].astype(float) * scale + bias) * f
        label = title or m["name"] or f"MDA {index}"
        if len(meas) > 1:
            label = f"{label} {m['name'] or k}"
        out.append((label, values.reshape(ny, nx)[::-1], dx, dy, unit))
    return out


register(MDTReader())
