"""Nanonis spectroscopy ``.dat`` files (bias spectroscopy, and any sweep Nanonis writes).

Layout: ``key<TAB>value`` header lines (``Experiment  bias spectroscopy``, ``Bias Spectroscopy>
Sweep Start (V)``, ``Lock-in>Amplitude`` …), a ``[DATA]`` line, one tab-separated row of column
names ``Name (unit)`` with ``[bwd]``, ``[AVG]``, ``[filt]`` markers, then the table.

Every column becomes a variable along the sweep dimension (``bias`` when the first column is a
bias), named without its unit (``"Current [bwd]"``, ``"Current [filt]"``) and converted to SI.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.errors import FormatError
from supramap.io.base import Reader, check_last_row, decode_text, register, strip_bom
from supramap.units import parse_unit


def _column(raw: str) -> tuple[str, str]:
    """``"Current (A) [bwd] [filt]"`` → (``"Current [bwd] [filt]"``, ``"A"``)."""
    m = re.search(r"\(([^()]*)\)", raw)
    unit = m.group(1).strip() if m else ""
    name = re.sub(r"\s*\([^()]*\)", "", raw).strip()
    name = re.sub(r"\s+", " ", name)
    return name, unit


class NanonisDatReader(Reader):
    """Reader of Nanonis spectroscopy ``.dat`` files."""

    name = "nanonis-dat"
    description = "Nanonis spectroscopy (.dat)"
    extensions = (".dat",)

    def can_read(self, head: bytes) -> bool | None:
        """True for a first header line ``Experiment<TAB>…``."""
        return head.startswith(b"Experiment\t")

    def read(self, path: Path) -> xr.Dataset:
        """Read header and table."""
        return read_nanonis_dat(path)


def read_nanonis_dat(path: str | Path) -> xr.Dataset:
    """Read a Nanonis ``.dat`` into a Dataset along ``bias`` (or ``sweep``)."""
    p = Path(path)
    raw = p.read_bytes()
    text = decode_text(raw) if strip_bom(raw)[1] else raw.decode("latin-1")
    pos = text.find("[DATA]")
    if pos < 0:
        raise FormatError(p, "no [DATA] section: not a Nanonis .dat file or truncated header")
    header: dict[str, str] = {}
    for line in text[:pos].splitlines():
        if "\t" in line:
            k, _, v = line.partition("\t")
            if k.strip():
                header[k.strip()] = v.strip().rstrip("\t").strip()
    lines = [ln for ln in text[pos + len("[DATA]"):].splitlines() if ln.strip()]
    if not lines:
        raise FormatError(p, "[DATA] section has no column-name row")
    names = lines[0].rstrip("\t").split("\t")
    rows = []
    if not text.endswith(("\n", "\r")):  # a complete file ends its last line
        check_last_row(p, [ln.rstrip("\t").split("\t") for ln in lines[-7:]])
    for i, ln in enumerate(lines[1:], start=1):
        parts = ln.rstrip("\t").split("\t")
        if len(parts) != len(names):
            raise FormatError(p, f"data row {i} has {len(parts)} fields, the header names "
                                 f"{len(names)} columns (truncated file?)")
        try:
            rows.append([float(v) if v.strip() else np.nan for v in parts])
        except ValueError:
            raise FormatError(p, f"data row {i} holds a non-number") from None
    if not rows:
        raise FormatError(p, "[DATA] section holds no data row")
    table = np.asarray(rows, dtype=float)
    first_name, first_unit = _column(names[0])
    dim = "bias" if first_name.lower().startswith("bias") else "sweep"
    unit0, f0 = parse_unit(first_unit)
    coords = {dim: (dim, table[:, 0] * f0, {"units": unit0, "long_name": names[0]})}
    variables = {}
    for j, raw in enumerate(names[1:], start=1):
        name, unit = _column(raw)
        si, factor = parse_unit(unit)
        key = name
        n = 2
        while key in variables:
            key = f"{name} {n}"
            n += 1
        variables[key] = xr.DataArray(table[:, j] * factor, dims=(dim,),
                                      attrs={"units": si, "column": raw})
    attrs: dict[str, Any] = {"format": "nanonis-dat", "source_file": str(p),
                             "experiment": header.get("Experiment", ""), "header": header}
    for key in ("Lock-in>Amplitude", "Lockin>Amplitude"):
        if key in header:
            try:
                attrs["lockin_amplitude"] = float(header[key])
            except ValueError:
                pass
    for key, attr in (("X (m)", "x_m"), ("Y (m)", "y_m"), ("Z (m)", "z_m"),
                      ("Bias>Bias (V)", "setpoint_bias_V")):
        if key in header:
            try:
                attrs[attr] = float(header[key])
            except ValueError:
                pass
    return xr.Dataset(variables, coords=coords, attrs=attrs)


register(NanonisDatReader())
