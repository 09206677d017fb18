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
is flipped so that row 0 is the top.  Spectroscopy, text and MDA frames are skipped (listed in
``attrs["skipped_frames"]``).
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import xarray as xr

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.io.base import Reader, register

MAGIC = b"\x01\xb0\x93\xff"
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
        label = SIGNALS.get(adc, f"ADC {adc}")
        key, k = label, 2
        while key in variables:
            key = f"{label} {k}"
            k += 1
        variables[key] = make_image(
            values.reshape(ny, nx)[::-1], dx=dx, dy=dy, units=zunit, name=key,
            attrs={"instrument": "NT-MDT", "source_file": str(p), "frame": index,
                   "date": f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:"
                           f"{second:02d}", "provenance": [f"read {p.name} frame {index}"]})
    if not variables:
        raise FormatError(p, f"no scanned-data image frame (frame types {sorted(set(skipped))}"
                             " are spectroscopy/text/MDA frames, not read)")
    return xr.Dataset(variables, attrs={"format": "mdt", "source_file": str(p),
                                        "skipped_frames": skipped})


register(MDTReader())
