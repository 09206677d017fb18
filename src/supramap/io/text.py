"""Plain CSV/TXT tables (spectra exported from other software), columns chosen by the user."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import xarray as xr

from supramap.errors import FormatError
from supramap.io.base import check_last_row
from supramap.io.qd import QD_UNITS
from supramap.units import parse_unit


def read_table(path: str | Path) -> xr.Dataset:
    """Read a delimited numeric table (comma, semicolon, tab or spaces; ``#`` comments; an
    optional header row ``name (unit)``) into a Dataset along ``row``."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise FormatError(p, f"cannot be read: {exc.strerror or exc}") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise FormatError(p, "no data lines")
    sample = "\n".join(lines[:5])
    delim = next((d for d in (",", ";", "\t") if d in sample), None)

    def split(line: str) -> list[str]:
        if delim is None:
            return line.split()
        return next(csv.reader(io.StringIO(line), delimiter=delim))

    first = split(lines[0])
    try:
        [float(v) for v in first]
        names = [f"column {i + 1}" for i in range(len(first))]
        body = lines
    except ValueError:
        names = [v.strip() for v in first]
        body = lines[1:]
    rows = []
    if not text.endswith(("\n", "\r")):  # a complete file ends its last line
        check_last_row(p, [split(ln) for ln in body[-7:]])
    for i, ln in enumerate(body, start=1):
        parts = split(ln)
        if len(parts) != len(names):
            raise FormatError(p, f"line {i} has {len(parts)} fields, expected {len(names)}")
        try:
            rows.append([float(v) for v in parts])
        except ValueError:
            raise FormatError(p, f"line {i} holds a non-number") from None
    if not rows:
        raise FormatError(p, "no data rows")
    table = np.asarray(rows)
    out = {}
    for j, raw in enumerate(names):
        name, unit = raw, ""
        if raw.endswith(")") and "(" in raw:
            name, _, unit = raw[:-1].rpartition("(")
            name = name.strip()
        si, factor = parse_unit(unit)
        if si == unit.strip() and unit.strip() in QD_UNITS:
            # Instrument units SPM parsing does not know (Oe, emu, µJ/K, Ohm-cm ...).
            si, factor = QD_UNITS[unit.strip()]
        out[name or f"column {j + 1}"] = xr.DataArray(table[:, j] * factor, dims=("row",),
                                                     attrs={"units": si, "column": raw})
    return xr.Dataset(out, attrs={"format": "text", "source_file": str(p)})
