"""Createc STM files: images (``.dat``, header ``[Paramco32]``/``[Parameter]``) and point
spectra (``.VERT``, header ``[ParVERT30]``/``[ParVERT32]``).

Own reader: no maintained, permissively licensed Python reader of Createc files with physical
units exists (``createc`` on PyPI is an instrument-control client).

Layout: ``key=value`` header lines (``Titel / Titel=lHe``: the key after the slash), a line
``DATA``, then for images a zlib stream of little-endian float32 DAC values, channel after
channel, each ``Num.Y × Num.X`` (a few padding values may follow); for spectra a text table.

Scaling, derived from the header's own numbers and checked on a real file: the lateral size is
``Length x[A] = Num.X × Delta X × Dacto[A]xy × GainX`` (Å), so ``Dacto[A]*`` are Å per DAC count
at unit amplifier gain; the topography therefore is ``raw × Dacto[A]z × GainZ`` Å.  A current is
``raw × (20 V / 2^bits) / 10^GainPre`` A (``DAC-Type=20bit``; the preamplifier gain
``GainPre 10^``, in V/A).  The current keeps the sign of the raw counts (its polarity relative to
the bias is not fixed by the header).  Image channels alternate topography and current
(``Channels=4``: Z forward, I forward, Z backward, I backward).  The first value of each
channel is the DAC initialisation value 0 and is set to NaN.
"""

from __future__ import annotations

import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.io.base import Reader, header_number, register

MAX_PIXELS = 1 << 26


def _header(p: Path, raw: bytes) -> tuple[dict[str, str], int]:
    pos = raw.find(b"DATA")
    if pos < 0:
        raise FormatError(p, "no DATA marker: truncated or not a Createc file")
    hdr: dict[str, str] = {}
    for line in raw[:pos].decode("latin-1").splitlines():
        if "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.split(" / ")[-1].strip()
        hdr.setdefault(key, value.strip())
    return hdr, pos + 4


def _num(p: Path, hdr: dict[str, str], *keys: str, default: float | None = None) -> float:
    for k in keys:
        if k in hdr:
            return header_number(p, hdr[k], k)[0]
    if default is None:
        raise FormatError(p, f"header has no {keys[0]!r} field")
    return default


def _volts_per_dac(p: Path, hdr: dict[str, str]) -> float:
    m = re.match(r"\s*(\d+)", hdr.get("DAC-Type", "20bit"))
    bits = int(m.group(1)) if m else 20
    if not 8 <= bits <= 32:
        raise FormatError(p, f"DAC-Type {hdr.get('DAC-Type')!r} is not plausible")
    return 20.0 / 2**bits


def _amps_per_dac(p: Path, hdr: dict[str, str]) -> float:
    gain = _num(p, hdr, "GainPre 10^", "Gainpreamp", default=9.0)
    if not 3 <= gain <= 13:
        raise FormatError(p, f"preamplifier gain 10^{gain} V/A is not plausible")
    return _volts_per_dac(p, hdr) / 10.0**gain


def _meta(p: Path, hdr: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {"instrument": "Createc", "source_file": str(p)}
    if "BiasVolt.[mV]" in hdr or "Biasvolt[mV]" in hdr:
        out["bias_V"] = _num(p, hdr, "BiasVolt.[mV]", "Biasvolt[mV]") * 1e-3
    if "FBLogIset" in hdr:
        out["setpoint_A"] = _num(p, hdr, "FBLogIset") * 1e-12  # pA in Createc headers
        # FBOff = 0: the current feedback ran (a constant-current image).
        if hdr.get("FBOff", "").strip() in ("0", "1"):
            out["z_controller"] = "Createc current feedback" + (
                " (log)" if hdr.get("FBLog", "").strip() == "1" else "")
            out["z_controller_on"] = int(hdr["FBOff"].strip() == "0")
            out["z_setpoint"] = out["setpoint_A"]
            out["z_setpoint_unit"] = "A"
    if "Titel" in hdr:
        out["title"] = hdr["Titel"]
    return out


class CreatecImageReader(Reader):
    """Reader of Createc image ``.dat`` files."""

    name = "createc"
    description = "Createc STM image (.dat)"
    extensions = (".dat",)

    def can_read(self, head: bytes) -> bool | None:
        """True for a first line ``[Paramco32]`` or ``[Parameter]``."""
        return head.startswith((b"[Paramco32]", b"[Parameter]", b"[Paramet32]"))

    def read(self, path: Path) -> xr.Dataset:
        """Read every channel."""
        return read_createc_image(path)


def read_createc_image(path: str | Path) -> xr.Dataset:
    """Read a Createc image: topography in m and current in A, forward and backward."""
    p = Path(path)
    raw = p.read_bytes()
    hdr, start = _header(p, raw)
    nx = int(_num(p, hdr, "Num.X"))
    ny = int(_num(p, hdr, "Num.Y"))
    nch = int(_num(p, hdr, "Channels", default=2))
    if not (0 < nx <= 16384 and 0 < ny <= 16384 and 1 <= nch <= 16):
        raise FormatError(p, f"image size {nx} × {ny} × {nch} channels is not plausible")
    if nx * ny * nch > MAX_PIXELS:
        raise FormatError(p, f"image of {nx} × {ny} × {nch} values exceeds the reader's limit")
    body = raw[start:].lstrip(b"\r\n")
    if raw[:11] == b"[Parameter]":
        data = np.frombuffer(body, dtype="<i2") if len(body) >= 2 * nx * ny * nch else None
        if data is None:
            raise FormatError(p, "uncompressed data block is shorter than the header says")
        data = data[: nx * ny * nch].astype(float)
    else:
        try:
            dec = zlib.decompressobj()
            payload = dec.decompress(body, 4 * nx * ny * nch + 4096)
        except zlib.error as exc:
            raise FormatError(p, f"compressed data block is corrupt ({exc})") from None
        if len(payload) < 4 * nx * ny * nch:
            raise FormatError(p, f"data block holds {len(payload) // 4} values, the header "
                                 f"promises {nx * ny * nch}: truncated file")
        data = np.frombuffer(payload, dtype="<f4", count=nx * ny * nch).astype(float)
    stack = data.reshape(nch, ny, nx).copy()
    stack[:, 0, 0] = np.nan  # DAC initialisation value, not a measurement
    dx = _num(p, hdr, "Length x[A]") * 1e-10 / nx
    dy = _num(p, hdr, "Length y[A]") * 1e-10 / ny
    if not (dx > 0 and dy > 0):
        raise FormatError(p, "Length x[A]/Length y[A] must be positive")
    z_per_dac = _num(p, hdr, "Dacto[A]z") * _num(p, hdr, "GainZ", default=1.0) * 1e-10
    a_per_dac = _amps_per_dac(p, hdr)
    meta = _meta(p, hdr)
    # A partial scan (stopped early) stores the rows never scanned as exact zeros in every
    # channel: they are no measurement, so NaN (a zero current would count as insulating).
    unscanned = np.all(stack == 0, axis=(0, 2))
    if unscanned.any() and not unscanned.all():
        stack[:, unscanned, :] = np.nan
        meta["rows_unscanned"] = int(unscanned.sum())
    variables = {}
    for k, (kind, direction, name) in enumerate(_channels(p, hdr, nch)):
        scale, unit = {"Z": (z_per_dac, "m"), "Current": (a_per_dac, "A")}.get(
            kind, (_volts_per_dac(p, hdr), "V"))
        variables[name] = make_image(
            stack[k] * scale, dx=dx, dy=dy, units=unit, name=name,
            attrs={**meta, "direction": direction, "signal": kind,
                   "provenance": [f"read {p.name} channel {name}"]})
    return xr.Dataset(variables, attrs={"format": "createc", **meta})


def _channels(p: Path, hdr: dict[str, str], nch: int) -> list[tuple[str, str, str]]:
    """(signal, direction, name) of each stored plane.

    ``Channelselectval`` is a bit mask of the recorded signals (bit 0 topography, bit 1
    current, bit k ≥ 2 the ADC input k − 1, e.g. a qPlus frequency shift or amplitude); the
    planes are every selected signal forward, in bit order, then every one backward.  An ADC
    plane is the ADC's input voltage (counts × 20 V / 2^bits); what it measures is not in the
    header.  Without a usable mask the planes alternate topography and current (Z, I forward;
    Z, I backward), as Createc STM files are written."""
    try:
        select = int(float(hdr.get("Channelselectval", "0")))
    except ValueError:
        select = 0
    bits = [b for b in range(32) if select > 0 and select & (1 << b)]
    out = []
    if bits and 2 * len(bits) == nch:
        for k in range(nch):
            bit = bits[k % len(bits)]
            kind = "Z" if bit == 0 else "Current" if bit == 1 else f"ADC{bit - 1}"
            direction = "forward" if k < len(bits) else "backward"
            out.append((kind, direction, f"{kind}_{direction}"))
        return out
    for k in range(nch):
        kind = "Z" if k % 2 == 0 else "Current"
        direction = "forward" if (k // 2) % 2 == 0 else "backward"
        name = f"{kind}_{direction}" if k < 4 else f"{kind}_{direction}_{k // 4 + 1}"
        out.append((kind, direction, name))
    return out


class CreatecVertReader(Reader):
    """Reader of Createc point spectra (``.VERT``)."""

    name = "createc-vert"
    description = "Createc point spectrum (.VERT)"
    extensions = (".vert",)

    def can_read(self, head: bytes) -> bool | None:
        """True for a first line ``[ParVERT..]``."""
        return head.startswith(b"[ParVERT")

    def read(self, path: Path) -> xr.Dataset:
        """Read the spectrum table."""
        return read_createc_vert(path)


def read_createc_vert(path: str | Path) -> xr.Dataset:
    """Read a Createc ``.VERT`` spectrum along ``point``: bias (V), Z (m), current (A) and
    further ADC columns in V; ``time`` (s) from the sampling frequency as a coordinate."""
    p = Path(path)
    raw = p.read_bytes()
    hdr, start = _header(p, raw)
    lines = raw[start:].decode("latin-1").splitlines()
    lines = [ln for ln in lines if ln.strip()]
    if len(lines) < 2:
        raise FormatError(p, "DATA section holds no spectrum")
    try:
        npts = int(lines[0].split()[0])
    except (ValueError, IndexError):
        raise FormatError(p, f"first DATA line {lines[0][:40]!r} does not give the number of "
                             "points") from None
    rows = []
    for i, ln in enumerate(lines[1:], start=1):
        try:
            rows.append([float(v) for v in ln.split()])
        except ValueError:
            raise FormatError(p, f"spectrum row {i} holds a non-number") from None
    width = len(rows[0])
    if width < 4 or any(len(r) != width for r in rows):
        raise FormatError(p, "spectrum rows have unequal numbers of columns (truncated file?)")
    if len(rows) != npts:
        raise FormatError(p, f"DATA promises {npts} points but holds {len(rows)} (truncated "
                             "file?)")
    table = np.asarray(rows, dtype=float)
    vpd = _volts_per_dac(p, hdr)
    z_per_dac = _num(p, hdr, "Dacto[A]z", default=0.0) * _num(p, hdr, "GainZ", default=1.0) \
        * 1e-10
    freq = _num(p, hdr, "SpecFreq", default=0.0)
    coords: dict[str, Any] = {"bias": ("point", table[:, 1] * 1e-3, {"units": "V"})}
    if freq > 0:
        coords["time"] = ("point", table[:, 0] / freq, {"units": "s"})
    meta = _meta(p, hdr)
    variables = {
        "Z": xr.DataArray(table[:, 2] * z_per_dac, dims=("point",), attrs={"units": "m"}),
        "Current": xr.DataArray(table[:, 3] * _amps_per_dac(p, hdr), dims=("point",),
                                attrs={"units": "A"}),
    }
    for j in range(4, width):
        variables[f"ADC{j - 3}"] = xr.DataArray(table[:, j] * vpd, dims=("point",),
                                                attrs={"units": "V"})
    return xr.Dataset(variables, coords=coords, attrs={"format": "createc-vert", **meta})


register(CreatecImageReader())
register(CreatecVertReader())
