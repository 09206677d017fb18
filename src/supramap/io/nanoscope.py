"""Bruker / Veeco / Digital Instruments NanoScope files (``.spm``, ``.001``…, ``.di``).

Own reader, because the field's Python readers keep only height channels (SurfaceTopography
reports only channels whose soft scale is a length) or are GPL (AFMReader): a cAFM user needs the
current channel in amperes.

Layout (NanoScope manuals; SurfaceTopography's ``DI.py`` and Gwyddion's ``nanoscope.c`` agree):
a text header of ``\\key: value`` lines in sections ``\\*File list``, ``\\*Scanner list``/
``\\*Ciao scan list`` (sensitivities ``\\@Sens. Zsens: V 20.8 nm/V``) and one ``\\*Ciao image
list`` per channel, ending at ``\\*File list end``; then little-endian integer images at each
channel's ``\\Data offset``.  A channel's value is::

    raw × (hard value of "@2:Z scale" in V) / 65536 × (soft scale of its [Sens. X] in unit/V)

(with a further 1/65536 for 4-byte data).  The first stored line is the bottom of the image:
it is flipped so that row 0 is the top, as in Gwyddion.  Old (v4) headers write ``\\Image data``
and ``\\Z scale`` without the ``@2:`` prefix; both are accepted.
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

MAX_HEADER = 1 << 20


def _parse_header(p: Path, raw: bytes) -> list[tuple[str, dict[str, str]]]:
    end = raw.lower().find(b"\\*file list end")
    if end < 0:
        raise FormatError(p, "no '\\*File list end' in the first MiB: truncated or not a "
                             "NanoScope file")
    sections: list[tuple[str, dict[str, str]]] = []
    for line in raw[:end].decode("latin-1").splitlines():
        line = line.strip()
        if line.startswith("\\*"):
            sections.append((line[2:].strip().lower(), {}))
        elif line.startswith("\\") and sections:
            key, sep, value = line[1:].partition(": ")  # keys such as "@2:Z scale" hold ':'
            if not sep:
                key, value = line[1:].rstrip(":"), ""
            sections[-1][1][key.strip().lower()] = value.strip()
    if not sections or sections[0][0] != "file list":
        raise FormatError(p, "header does not start with '\\*File list'")
    return sections


def _number(p: Path, text: str, what: str) -> float:
    return header_number(p, text, what)[0]


class NanoscopeReader(Reader):
    """Reader of Bruker NanoScope files."""

    name = "nanoscope"
    description = "Bruker/Veeco/DI NanoScope (.spm, .001, .di)"
    extensions = (".spm", ".di", ".000", ".001", ".002", ".003", ".004", ".005")

    def can_read(self, head: bytes) -> bool | None:
        """True for a first line ``\\*File list`` (or the old ``?*File list``)."""
        h = head.lstrip()[:12].lower()
        return h[:11] in (b"\\*file list", b"?*file list") or h.startswith(b"\\*force file")

    def read(self, path: Path) -> xr.Dataset:
        """Read every image channel."""
        return read_nanoscope(path)


def read_nanoscope(path: str | Path) -> xr.Dataset:
    """Read every image of a NanoScope file (SI units, row 0 at the top)."""
    p = Path(path)
    size = p.stat().st_size
    with open(p, "rb") as fh:
        head = fh.read(MAX_HEADER)
    if head.lstrip()[:12].lower().startswith(b"\\*force file"):
        raise FormatError(p, "a NanoScope force-curve file (\\*Force file): force curves are "
                             "not read, only images")
    sections = _parse_header(p, head)
    scales: dict[str, str] = {}
    info: dict[str, Any] = {}
    for name, d in sections:
        if name != "ciao image list":
            for k, v in d.items():
                if k.startswith("@"):
                    scales.setdefault(k, v)
        if name in ("equipment list", "file list"):
            for k in ("description", "microscope", "version", "date"):
                if k in d:
                    info.setdefault(f"nanoscope_{k}", d[k])
        if name in ("ciao scan list", "scan list"):
            for k in ("scan rate", "bias", "sample bias", "operating mode"):
                if k in d:
                    info.setdefault(f"nanoscope_{k.replace(' ', '_')}", d[k])
    variables: dict[str, xr.DataArray] = {}
    for name, d in sections:
        if name != "ciao image list":
            continue
        data_key = d.get("@2:image data") or d.get("image data") or ""
        m = re.match(r'\s*S\s*\[(.*?)\]\s*"?(.*?)"?\s*$', data_key)
        label = (m.group(2) or m.group(1)) if m else (data_key.strip('" ') or "channel")
        label = label.strip() or "channel"
        nx = int(_number(p, d.get("samps/line", ""), "Samps/line"))
        ny = int(_number(p, d.get("number of lines", ""), "Number of lines"))
        bpp = int(_number(p, d.get("bytes/pixel", "2"), "Bytes/pixel"))
        offset = int(_number(p, d.get("data offset", ""), "Data offset"))
        if bpp not in (2, 4):
            raise FormatError(p, f"{label}: {bpp} bytes per pixel is not supported")
        if not (0 < nx <= 65536 and 0 < ny <= 65536):
            raise FormatError(p, f"{label}: image size {nx} × {ny} is not plausible")
        if offset < 0 or offset + nx * ny * bpp > size:
            raise FormatError(p, f"{label}: data at offset {offset} ({nx} × {ny} × {bpp} bytes)"
                                 f" runs past the end of the file ({size} bytes): truncated")
        scan = (d.get("scan size", "") or "").split()
        if len(scan) < 2:
            raise FormatError(p, f"{label}: no 'Scan Size' in the image header")
        sx = _number(p, scan[0], "Scan Size")
        sy = _number(p, scan[1], "Scan Size") if len(scan) > 2 else sx * ny / nx
        xy_unit, xy_factor = parse_unit(scan[-1].replace("~m", "um"))
        if xy_unit != "m" or not (sx > 0 and sy > 0):
            raise FormatError(p, f"{label}: scan size {d.get('scan size')!r} is not a length")
        zkey = d.get("@2:z scale") or d.get("z scale") or ""
        zm = re.match(r"\s*V\s*(?:\[(.*?)\])?\s*(?:\(([-+0-9.eE]+)\s*(\S*)/LSB\))?\s*"
                      r"([-+0-9.eE]+)\s*(\S*)", zkey)
        if not zm:
            raise FormatError(p, f"{label}: cannot read its Z scale {zkey!r}")
        sens_name, hard = zm.group(1), float(zm.group(4))
        factor = hard / 65536.0 * (1 / 65536.0 if bpp == 4 else 1.0)
        unit_text = zm.group(5) or "V"
        if sens_name:
            sens = scales.get("@" + sens_name.lower(), "")
            sm = re.match(r"\s*V\s+([-+0-9.eE]+)\s*(\S*)", sens)
            if sm:
                factor *= float(sm.group(1))
                # A soft scale with a unit (nm/V, nA/V) gives the channel's unit; one without
                # (phase, errors: "V 1.000000") keeps the hard scale's unit (V, or º for phase).
                # The soft scale is per volt, so a hard value in mV is first made volts (the
                # prefix would otherwise be lost: di-4's Amplitude Error 1000× too large).
                if sm.group(2):
                    hard_unit, hard_factor = parse_unit(unit_text)
                    if hard_unit == "V":
                        factor *= hard_factor
                    unit_text = sm.group(2).split("/")[0] or unit_text
        unit, unit_factor = parse_unit(unit_text)
        raw = np.fromfile(p, dtype="<i2" if bpp == 2 else "<i4", count=nx * ny, offset=offset)
        values = raw.reshape(ny, nx)[::-1].astype(float) * (factor * unit_factor)
        direction = d.get("line direction", "").lower()
        key = label + (" [retrace]" if direction == "retrace" else "")
        k = 2
        base_key = key
        while key in variables:
            key = f"{base_key} {k}"
            k += 1
        variables[key] = make_image(
            values, dx=sx * xy_factor / nx, dy=sy * xy_factor / ny, units=unit, name=key,
            attrs={"instrument": "Bruker NanoScope", "direction": direction or "trace",
                   "scan_line": d.get("scan line", ""), "source_file": str(p),
                   "provenance": [f"read {p.name} channel {key}"]})
    if not variables:
        raise FormatError(p, "NanoScope header lists no image ('\\*Ciao image list')")
    return xr.Dataset(variables, attrs={"format": "nanoscope", "source_file": str(p), **info})


register(NanoscopeReader())
