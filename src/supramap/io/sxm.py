"""Nanonis ``.sxm`` scan files.

Layout (Nanonis "SXM file format"): a text header of ``:KEY:`` lines each followed by value
lines, ending at ``:SCANIT_END:``; then the bytes ``\\x1a\\x04`` and the data as 32-bit floats
(``SCANIT_TYPE`` says ``MSBFIRST`` = big-endian).  ``DATA_INFO`` lists the channels; a channel
with ``Direction = both`` is stored as a forward image followed by a backward image, each
``SCAN_PIXELS`` = (pixels per line, lines), lines in the order scanned.

Orientation: supramap puts the top line of the frame in row 0.  Lines of a ``SCAN_DIR = up``
scan are stored bottom first, so they are flipped; backward lines are stored right to left, so
they are mirrored — after which forward and backward images overlay pixel for pixel.
Unscanned lines (an aborted scan) are NaN in the file and stay NaN.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.data import make_images
from supramap.errors import FormatError
from supramap.io.base import Reader, read_into, register
from supramap.units import parse_unit

END_TAG = b":SCANIT_END:"
DATA_TAG = b"\x1a\x04"


def parse_sxm_header(text: str) -> dict[str, str]:
    """Split a Nanonis header into ``{KEY: value text}`` (value lines joined by newlines)."""
    out: dict[str, str] = {}
    key = None
    lines: list[str] = []
    for line in text.splitlines():
        m = re.fullmatch(r":(.+):", line.strip()) if line.startswith(":") else None
        if m:
            if key is not None:
                out[key] = "\n".join(lines).strip("\n")
            key, lines = m.group(1), []
        elif key is not None:
            lines.append(line)
    if key is not None:
        out[key] = "\n".join(lines).strip("\n")
    return out


def _floats(path: Path, header: dict[str, str], key: str, n: int) -> list[float]:
    if key not in header:
        raise FormatError(path, f"header has no ':{key}:' field")
    parts = header[key].split()
    try:
        values = [float(v) for v in parts]
    except ValueError:
        raise FormatError(path, f"header field ':{key}:' = {header[key]!r} is not numeric")\
            from None
    if len(values) < n:
        raise FormatError(path, f"header field ':{key}:' needs {n} numbers, got {header[key]!r}")
    return values[:n]


def z_controller_attrs(block: str) -> dict[str, Any]:
    """The Z controller's state from the ``:Z-CONTROLLER:`` table (header row, then
    ``Name on Setpoint ...``): ``z_controller`` (its name), ``z_controller_on`` (1/0),
    ``z_setpoint`` and ``z_setpoint_unit`` — what tells a constant-current image (current
    feedback on) from a conduction map.  Empty when the block is absent or unreadable."""
    rows = [r.strip("\t ").split("\t") for r in block.splitlines() if r.strip()]
    if len(rows) < 2:
        return {}
    head = [h.strip().lower() for h in rows[0]]
    vals = [v.strip() for v in rows[1]]
    row = dict(zip(head, vals))
    out: dict[str, Any] = {}
    if "name" in row:
        out["z_controller"] = row["name"]
    if row.get("on", "") in ("0", "1"):
        out["z_controller_on"] = int(row["on"])
    sp = row.get("setpoint", "").split()
    if sp:
        try:
            out["z_setpoint"] = float(sp[0])
            if len(sp) > 1:
                out["z_setpoint_unit"] = sp[1]
        except ValueError:
            pass
    return out


def parse_data_info(path: Path, text: str) -> list[dict[str, str]]:
    """Rows of the ``DATA_INFO`` table as dicts (Channel, Name, Unit, Direction, ...)."""
    rows = [r.strip().split("\t") for r in text.strip().splitlines() if r.strip()]
    if len(rows) < 2:
        raise FormatError(path, "header field ':DATA_INFO:' lists no channel")
    names = rows[0]
    out = []
    for row in rows[1:]:
        if len(row) < 4:
            raise FormatError(path, f"':DATA_INFO:' row {row!r} has too few columns")
        out.append(dict(zip(names, row)))
    return out


class SXMReader(Reader):
    """Reader of Nanonis ``.sxm`` scans."""

    name = "sxm"
    description = "Nanonis scan (.sxm)"
    extensions = (".sxm",)

    def can_read(self, head: bytes) -> bool | None:
        """True when the file starts with ``:NANONIS_VERSION:``."""
        return head.startswith(b":NANONIS_VERSION:")

    def read(self, path: Path) -> xr.Dataset:
        """Read all channels, forward and backward."""
        return read_sxm(path)


def read_sxm(path: str | Path) -> xr.Dataset:
    """Read a Nanonis ``.sxm`` file into a Dataset of ``<Name>_forward``/``_backward`` images."""
    p = Path(path)
    size = p.stat().st_size
    # Only the header is read as bytes (it grows in steps until the data marker is found);
    # the images are read straight into their array below.
    raw, end, start, step = b"", -1, -1, 1 << 16
    with open(p, "rb") as fh:
        while True:
            more = fh.read(step)
            raw += more
            end = raw.find(END_TAG)
            start = raw.find(DATA_TAG, end) if end >= 0 else -1
            if start >= 0 or not more:
                break
            step *= 2
    if end < 0:
        raise FormatError(p, "no ':SCANIT_END:' tag: not a Nanonis .sxm file or truncated header")
    if start < 0:
        raise FormatError(p, "no data marker (0x1A 0x04) after the header: truncated file")
    start += len(DATA_TAG)
    header = parse_sxm_header(raw[:end].decode("latin-1"))
    nx_f, ny_f = _floats(p, header, "SCAN_PIXELS", 2)
    nx, ny = int(nx_f), int(ny_f)
    if nx <= 0 or ny <= 0 or nx != nx_f or ny != ny_f:
        raise FormatError(p, f"header field ':SCAN_PIXELS:' = {header['SCAN_PIXELS']!r} is not "
                             "two positive integers")
    rx, ry = _floats(p, header, "SCAN_RANGE", 2)
    if not (rx > 0 and ry > 0):
        raise FormatError(p, f"header field ':SCAN_RANGE:' = {header['SCAN_RANGE']!r} is not "
                             "positive")
    ox, oy = (_floats(p, header, "SCAN_OFFSET", 2) if "SCAN_OFFSET" in header else (0.0, 0.0))
    angle = _floats(p, header, "SCAN_ANGLE", 1)[0] if "SCAN_ANGLE" in header else 0.0
    if not np.isfinite(angle):
        raise FormatError(p, f"SCAN_ANGLE = {angle} is not a finite angle")
    scan_dir = header.get("SCAN_DIR", "down").strip().lower()
    if scan_dir not in ("up", "down"):
        raise FormatError(p, f"header field ':SCAN_DIR:' = {scan_dir!r} must be 'up' or 'down'")
    kind = header.get("SCANIT_TYPE", "FLOAT MSBFIRST").upper()
    if "FLOAT" not in kind:
        raise FormatError(p, f"header field ':SCANIT_TYPE:' = {kind!r}: only FLOAT is defined")
    dtype = np.dtype(">f4" if "MSBFIRST" in kind else "<f4")
    if "DATA_INFO" not in header:
        raise FormatError(p, "header has no ':DATA_INFO:' field")
    channels = parse_data_info(p, header["DATA_INFO"])

    images: list[tuple[str, str, str]] = []
    for ch in channels:
        direction = ch.get("Direction", "both").strip().lower()
        dirs = ["forward", "backward"] if direction == "both" else [direction]
        for d in dirs:
            images.append((ch.get("Name", f"ch{ch.get('Channel', '')}"), ch.get("Unit", ""), d))
    per_image = nx * ny * dtype.itemsize
    need = per_image * len(images)
    have = size - start
    if have < need:
        raise FormatError(p, f"header promises {len(images)} images of {nx} × {ny} float32 "
                             f"({need} bytes) but the file holds only {have} bytes of data")

    attrs: dict[str, Any] = {
        "instrument": "Nanonis",
        "scan_dir": scan_dir,
        "scan_angle_deg": angle,
        "scan_offset_x_m": ox,
        "scan_offset_y_m": oy,
        "scan_range_x_m": rx,
        "scan_range_y_m": ry,
    }
    if "BIAS" in header:
        attrs["bias_V"] = _floats(p, header, "BIAS", 1)[0]
    if "REC_TEMP" in header:
        attrs["temperature_K"] = _floats(p, header, "REC_TEMP", 1)[0]
    for key in ("REC_DATE", "REC_TIME", "COMMENT", "SCAN_FILE"):
        if key in header:
            attrs[key.lower()] = header[key].strip()
    attrs.update(z_controller_attrs(header.get("Z-CONTROLLER", "")))

    # Every image read at once into native float32 (the file's precision: half the memory
    # of float64; analyses convert where they need to), byte-swapped in place.  Keeping the
    # file's big-endian arrays would save the swap (nanonispy2 does, 2× faster on a 128 MB
    # scan) but hands users arrays that pandas refuses ("Big-endian buffer not supported"
    # in value_counts/groupby after to_dataframe) and that every later operation converts.
    data = np.empty((len(images), ny, nx), dtype=np.float32)
    read_into(p, start, data, byteorder=">" if "MSBFIRST" in kind else "<")
    variables = {}
    for k, (name, unit_text, direction) in enumerate(images):
        img = data[k]
        unit, factor = parse_unit(unit_text)
        if factor != 1.0:
            with np.errstate(invalid="ignore"):
                img *= np.float32(factor)
        if scan_dir == "up":
            img = img[::-1]
        if direction == "backward":
            img = img[:, ::-1]
        var = f"{re.sub(r'[^0-9A-Za-z]+', '_', name).strip('_')}_{direction}"
        variables[var] = (img, {**attrs, "units": unit, "channel": name,
                                "direction": direction,
                                "provenance": [f"read {p.name} channel {name} {direction}"]})
    return make_images(variables, dx=rx / nx, dy=ry / ny, x0=ox - rx / 2, y0=oy - ry / 2,
                       attrs={"format": "sxm", "source_file": str(p), "sxm_header": header,
                              **attrs})


register(SXMReader())


def write_sxm(path: str | Path, images: dict[str, tuple[xr.DataArray, xr.DataArray | None]], *,
              scan_dir: str = "down", angle_deg: float = 0.0, bias_V: float = 0.0,
              line_time_s: float = 1.0) -> None:
    """Write a minimal Nanonis ``.sxm`` (for tests and synthetic data), atomically.

    Parameters
    ----------
    path : path-like
    images : dict
        Channel name → (forward image, backward image or None), all of one shape, with
        coordinates in metres and ``attrs["units"]``; row 0 at the top, as :func:`read_sxm`
        returns them.  The file stores them in scan order (inverse of the reader's flips).
    scan_dir : {"up", "down"}
    line_time_s : float
        Time per line (forward and backward each), written as ``:SCAN_TIME:`` with
        ``:ACQ_TIME:`` = 2 × lines × it, as the instrument does (other readers require them).
    """
    from supramap.fileutil import atomic_write_bytes

    first = next(iter(images.values()))[0]
    ny, nx = first.shape
    dx = float(first.x[1] - first.x[0])
    dy = float(first.y[1] - first.y[0])
    rx, ry = dx * nx, dy * ny
    ox = float(first.x[0]) - dx / 2 + rx / 2
    oy = float(first.y[0]) - dy / 2 + ry / 2
    rows = ["\tChannel\tName\tUnit\tDirection\tCalibration\tOffset"]
    blocks: list[bytes] = []
    for k, (name, (fwd, bwd)) in enumerate(images.items()):
        direction = "both" if bwd is not None else "forward"
        rows.append(f"\t{k}\t{name}\t{fwd.attrs.get('units', '')}\t{direction}\t1.000E+0\t"
                    "0.000E+0")
        for img, d in ((fwd, "forward"), (bwd, "backward")):
            if img is None:
                continue
            z = np.asarray(img.values, dtype=np.float64)
            if d == "backward":
                z = z[:, ::-1]
            if scan_dir == "up":
                z = z[::-1]
            blocks.append(z.astype(">f4").tobytes())
    header = (
        ":NANONIS_VERSION:\n2\n:SCANIT_TYPE:\n              FLOAT            MSBFIRST\n"
        f":SCAN_PIXELS:\n       {nx}       {ny}\n"
        f":SCAN_RANGE:\n           {rx!r}           {ry!r}\n"
        f":SCAN_OFFSET:\n             {ox!r}         {oy!r}\n"
        f":SCAN_ANGLE:\n            {angle_deg!r}\n:SCAN_DIR:\n{scan_dir}\n"
        f":SCAN_TIME:\n             {line_time_s!r}             {line_time_s!r}\n"
        f":ACQ_TIME:\n       {2 * ny * line_time_s!r}\n"
        f":BIAS:\n            {bias_V!r}\n"
        ":DATA_INFO:\n" + "\n".join(rows) + "\n\n:SCANIT_END:\n\n\n"
    )
    atomic_write_bytes(path, header.encode("latin-1") + DATA_TAG + b"".join(blocks))
