"""Quantum Design MultiVu ``.dat`` files (PPMS resistivity/ETO/heat capacity, MPMS, MPMS3).

Layout: ``[Header]`` lines (``TITLE``, ``BYAPP``, ``INFO`` in either value/key order,
``FIELDGROUP`` …), then ``[Data]``, one comma-separated row of column names with units in
parentheses, then data rows.  Encodings seen: cp1252 (µ as byte 0xB5) and UTF-8; CRLF or LF;
comment rows (only the ``Comment`` column filled) mark the start of a new measurement; trailing
empty columns may be omitted.

Columns become variables along dimension ``row`` named without their unit
(``"Temperature"``) and converted to SI (K, T for µ0H from Oe, A·m² from emu, Ω·m, J/K …);
``attrs`` keep the original column name, unit and conversion factor.  Comment rows are dropped
from the data and listed, with the row they precede, in ``ds.attrs["comments"]``.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.errors import FormatError
from supramap.fileutil import atomic_write_bytes
from supramap.io.base import Reader, check_last_row, decode_text, register

#: Instrument unit → (SI unit, factor to SI).  Oe fields become µ0H in tesla.
QD_UNITS: dict[str, tuple[str, float]] = {
    "K": ("K", 1.0), "Kelvin": ("K", 1.0), "Oe": ("T", 1e-4), "T": ("T", 1.0),
    "emu": ("A m2", 1e-3), "emu/Oe": ("m3", 4 * math.pi * 1e-6 * 1e-3 / 1e-3),
    "Ohm": ("ohm", 1.0), "ohm": ("ohm", 1.0), "Ohms": ("ohm", 1.0), "Ohm-m": ("ohm m", 1.0),
    "Ohm-cm": ("ohm m", 1e-2), "ohm-cm": ("ohm m", 1e-2), "uA": ("A", 1e-6), "µA": ("A", 1e-6),
    "mA": ("A", 1e-3), "A": ("A", 1.0), "amps": ("A", 1.0), "V": ("V", 1.0), "mV": ("V", 1e-3),
    "sec": ("s", 1.0), "s": ("s", 1.0), "mm": ("m", 1e-3), "deg": ("deg", 1.0),
    "µJ/K": ("J/K", 1e-6), "uJ/K": ("J/K", 1e-6), "J/K": ("J/K", 1.0),
    "µJ/mole-K": ("J/(mol K)", 1e-6), "µJ/g-K": ("J/(kg K)", 1e-3), "mJ/mole-K": ("J/(mol K)",
                                                                               1e-3),
    "J/mole-K": ("J/(mol K)", 1.0), "Torr": ("Pa", 133.322), "C": ("degC", 1.0),
    "code": ("", 1.0), "Hz": ("Hz", 1.0), "%": ("percent", 1.0), "mW": ("W", 1e-3),
    "g": ("kg", 1e-3), "mg": ("kg", 1e-6), "cm": ("m", 1e-2),
    # Spelled out by the PPMS heat-capacity and some MPMS exports.
    "Oersted": ("T", 1e-4), "Seconds": ("s", 1.0), "seconds": ("s", 1.0), "Percent": ("percent",
                                                                                     1.0),
    "W/K": ("W/K", 1.0), "µJ/K/K": ("J/K2", 1e-6), "uJ/K/K": ("J/K2", 1e-6),
    "µJ/K2": ("J/K2", 1e-6), "Chi^2": ("", 1.0), "K/W": ("K/W", 1.0),
}
# emu/Oe is a moment per field: (1e-3 A m²)/(1e-4 T / µ0) = 4π·1e-6 m³ (SI χ·V).
QD_UNITS["emu/Oe"] = ("m3", 4 * math.pi * 1e-6)


KEY_FIRST = {"APPNAME"}


def _column_name(raw: str) -> tuple[str, str]:
    m = re.fullmatch(r"\s*(.*?)\s*\(([^()]*)\)\s*", raw)
    if m:
        return m.group(1), m.group(2).strip()
    return raw.strip(), ""


def _key_value(fields: list[str]) -> tuple[str, str]:
    """INFO lines come as ``INFO, value, KEY`` or ``INFO, KEY, value…``: pick the key."""
    parts = [f.strip() for f in fields]
    if not parts:
        return "", ""
    # MPMS3 writes ``value, KEY``; PPMS writes ``APPNAME, value…`` and ``value, Sample1 Name``.
    if parts[0] in KEY_FIRST:
        return parts[0], ", ".join(parts[1:])
    return parts[-1], ", ".join(parts[:-1])


def _decode(raw: bytes) -> str:
    return decode_text(raw, fallback="cp1252")


def _delimiter(column_row: str) -> str:
    """MultiVu writes commas; MPMS3 exports (and hand-edited files) may use tabs."""
    return "\t" if column_row.count("\t") > column_row.count(",") else ","


def sample_properties(ds: xr.Dataset) -> dict[str, dict[str, Any]]:
    """Sample mass, molar mass and atoms per formula unit stated in a file's header.

    PPMS heat capacity writes ``INFO,<mg>,MASS:Sample Mass (mg)``, ``INFO,<g/mol>,MOLWGHT:...``
    and ``INFO,<n>,ATOMS:...``; MPMS3 writes ``SAMPLE_MASS`` (mg) and
    ``SAMPLE_MOLECULAR_WEIGHT`` (g/mol).  Returns ``{"mass_kg": {"value": v, "source":
    "header INFO MASS:..."}, ...}`` for the ones present with a positive finite number.
    """
    out: dict[str, dict[str, Any]] = {}
    wanted = {
        "mass_kg": (("MASS", "SAMPLE_MASS"), 1e-6),
        "molar_mass_kg_per_mol": (("MOLWGHT", "SAMPLE_MOLECULAR_WEIGHT", "MOLECULAR_WEIGHT"),
                                  1e-3),
        "atoms_per_formula_unit": (("ATOMS", "SAMPLE_ATOMS"), 1.0),
    }
    for key, value in ds.attrs.get("info", {}).items():
        tag = key.split(":", 1)[0].strip().upper()
        for out_key, (tags, factor) in wanted.items():
            if tag in tags and out_key not in out:
                m = re.match(r"\s*([-+0-9.eE]+)", str(value))
                try:
                    v = float(m.group(1)) if m else float("nan")
                except ValueError:
                    v = float("nan")
                if math.isfinite(v) and v > 0:
                    out[out_key] = {"value": v * factor, "source": f"file header (INFO {key})"}
    return out


class QDReader(Reader):
    """Reader of Quantum Design MultiVu ``.dat`` files."""

    name = "qd"
    description = "Quantum Design MultiVu data (.dat)"
    extensions = (".dat",)

    def can_read(self, head: bytes) -> bool | None:
        """True when the file starts with ``[Header]``."""
        return head.lstrip(b" \r\n").startswith(b"[Header]")

    def read(self, path: Path) -> xr.Dataset:
        """Read header and data."""
        return read_qd(path)


def read_qd(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read a MultiVu ``.dat`` file into a Dataset along ``row`` (SI units)."""
    p = Path(path)
    text = _decode(p.read_bytes())
    if not text.strip():
        raise FormatError(p, "file is empty")
    if not text.lstrip().startswith("[Header]"):
        raise FormatError(p, "not a Quantum Design file: it does not start with [Header]")
    pos = text.find("[Data]")
    if pos < 0:
        raise FormatError(p, "no [Data] section: truncated file")
    header_text = text[: pos]
    lines = text[pos + len("[Data]"):].splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    if not lines:
        raise FormatError(p, "[Data] section has no column-name row")
    delim = _delimiter(lines[0])
    names = next(csv.reader([lines[0]], delimiter=delim))
    while len(names) > 1 and not names[-1].strip():  # tab exports pad rows with empty fields
        names.pop()
    if len(names) < 2:
        raise FormatError(p, f"column-name row {lines[0][:60]!r} has fewer than 2 columns")
    info: dict[str, str] = {}
    meta: dict[str, Any] = {}
    # A header line may be long (a 5 MB TITLE): the csv module's default field limit (128 kB)
    # would raise; no field can be longer than the text itself.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    for row in csv.reader(io.StringIO(header_text), delimiter=delim):
        while row and not row[-1].strip():
            row.pop()
        if not row or row[0].startswith(";") or row[0].startswith("["):
            continue
        tag = row[0].strip().upper()
        if tag == "INFO":
            k, v = _key_value(row[1:])
            if k:
                info[k] = v
        elif tag in ("TITLE", "BYAPP", "FILEOPENTIME"):
            meta[tag.lower()] = ", ".join(x.strip() for x in row[1:])
    ncol = len(names)
    # The Comment column is found by its name, wherever it stands (PPMS heat capacity puts it
    # second, after the time stamp).
    comment_cols = [j for j, n in enumerate(names) if _column_name(n)[0].lower() == "comment"]
    ccol = comment_cols[0] if comment_cols else None
    values = []
    comments: list[dict[str, Any]] = []
    last_line = len(lines) - 1
    prev_len = 0
    recent: list[list[str]] = []
    for lineno, row in enumerate(csv.reader(lines[1:], delimiter=delim), start=1):
        while len(row) > ncol and not row[-1].strip():
            row.pop()
        if not row or not any(c.strip() for c in row):
            continue
        if len(row) > ncol:
            raise FormatError(p, f"data row {lineno} has {len(row)} fields but the header "
                                 f"names {ncol} columns")
        if ccol is not None and ccol < len(row) and row[ccol].strip():
            text_ = row[ccol].strip()
            others = [c.strip() for j, c in enumerate(row) if j != ccol and c.strip()]
            comments.append({"row": len(values), "text": text_})
            # MultiVu writes comments as rows of their own (with at most a time stamp); a
            # comment beside a full row of numbers annotates that row, which is kept.
            if len(others) <= 1:
                continue
        vals = []
        for j, c in enumerate(row):
            c = c.strip()
            if j == ccol:
                vals.append(np.nan)
                continue
            try:
                vals.append(float(c) if c else np.nan)
            except ValueError:
                raise FormatError(p, f"data row {lineno}, column {names[j]!r}: {c!r} is not a "
                                     "number") from None
        vals += [np.nan] * (ncol - len(vals))
        values.append(vals)
        if lineno == last_line and not text.endswith(("\n", "\r")):
            # Cut inside the last number: the value is written shorter than its column's.
            col = max((k for k, c in enumerate(row) if c.strip()), default=None)
            if col is not None:
                check_last_row(p, [r[:col + 1] for r in recent] + [row[:col + 1]])
        if (lineno == last_line and prev_len and len(row) < prev_len
                and not text.endswith(("\n", "\r"))):
            raise FormatError(p, f"the last data row ({lineno}) is cut short: {len(row)} "
                                 f"fields where the row before has {prev_len}, and no line "
                                 "end (truncated file)")
        prev_len = len(row)
        recent = (recent + [row])[-6:]
    if not values:
        raise FormatError(p, "[Data] section holds no data row")
    table = np.asarray(values, dtype=float)
    variables = {}
    for j, raw_name in enumerate(names):
        if j == ccol:
            continue
        label, unit = _column_name(raw_name)
        label = label or f"column {j}"
        si, factor = QD_UNITS.get(unit, (unit, 1.0))
        name = label
        k = 2
        while name in variables:
            name = f"{label} {k}"
            k += 1
        variables[name] = xr.DataArray(
            table[:, j] * factor, dims=("row",),
            attrs={"units": si, "column": raw_name, "raw_unit": unit, "factor_to_si": factor},
        )
    attrs = {"format": "qd", "source_file": str(p), "info": info, "comments": comments,
             "n_columns": ncol, **meta}
    return xr.Dataset(variables, coords={"row": np.arange(len(values))}, attrs=attrs)


def write_qd(path: str | os.PathLike[str], columns: dict[str, tuple[str, np.ndarray]], *,
             info: dict[str, str] | None = None, title: str = "",
             byapp: str = "supramap, 1.0, 1.0", comments: dict[int, str] | None = None,
             encoding: str = "cp1252", newline: str = "\r\n") -> None:
    """Write a MultiVu-style ``.dat`` (for tests and the virtual sample), atomically.

    ``columns`` maps a column label to (instrument unit, values in that unit), e.g.
    ``{"Temperature": ("K", T), "Moment": ("emu", m)}``; ``comments`` maps a data-row index to a
    comment row written before it.
    """
    n = {len(v) for _, v in columns.values()}
    if len(n) != 1:
        raise ValueError("all columns must have the same length")
    rows = n.pop()
    out = ["[Header]", "; written by supramap", f"TITLE,{title}", f"BYAPP,{byapp}"]
    for k, v in (info or {}).items():
        out.append(f"INFO,{v},{k}")
    out.append("[Data]")
    names = ["Comment"] + [f"{k} ({u})" if u else k for k, (u, _) in columns.items()]
    out.append(",".join(names))
    arrays = [np.asarray(v, dtype=float) for _, v in columns.values()]
    for i in range(rows):
        if comments and i in comments:
            out.append(comments[i] + "," * (len(names) - 1))
        out.append("," + ",".join("" if not np.isfinite(a[i]) else repr(float(a[i]))
                                  for a in arrays))
    text = newline.join(out) + newline
    atomic_write_bytes(path, text.encode(encoding))


def split_segments(values: np.ndarray, *, min_points: int = 3, tolerance: float = 0.0,
                   ) -> list[np.ndarray]:
    """Split a swept quantity into monotonic runs (e.g. ZFC then FC warming, or the branches
    of an M(H) loop).

    Parameters
    ----------
    values : 1-D array
        The swept column (temperature or field), NaN rows ignored.
    min_points : int
        Runs shorter than this are merged into their neighbour.
    tolerance : float
        Steps smaller than this (in the column's units) do not change the direction.

    Returns
    -------
    list of int arrays
        Row indices of each segment, in order.
    """
    v = np.asarray(values, dtype=float)
    idx = np.nonzero(np.isfinite(v))[0]
    if idx.size < 2:
        return [idx] if idx.size else []
    d = np.diff(v[idx])
    sign = np.where(d > tolerance, 1, np.where(d < -tolerance, -1, 0))
    # Flat steps keep the direction of the step before (forward fill of the last non-zero).
    nz = np.nonzero(sign)[0]
    if nz.size == 0:
        return [idx]
    last = np.maximum.accumulate(np.where(sign != 0, np.arange(sign.size), -1))
    sign = np.where(last >= 0, sign[np.maximum(last, 0)], sign[nz[0]])
    # Runs of equal direction: steps a..b-1 cover points a..b.
    change = np.nonzero(np.diff(sign))[0] + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [sign.size]])
    # Runs with too few points (a reset jump between two warmings, turning-point noise) are
    # dropped; turning points are shared by the runs on either side.
    return [idx[a:b + 1] for a, b in zip(starts, ends) if b - a + 1 >= min_points]


#: Moment columns of MPMS/MPMS3 files, in order of preference.
MOMENT_COLUMNS = ("Moment", "DC Moment Free Ctr", "DC Moment Fixed Ctr")


def pick_column(ds: xr.Dataset, names: tuple[str, ...], units: tuple[str, ...] = (),
                ) -> str | None:
    """The first of *names* present with data, else the first column in one of *units*."""
    for n in names:
        if n in ds and np.isfinite(ds[n].values).any():
            return n
    for n, v in ds.data_vars.items():
        if v.attrs.get("units") in units and np.isfinite(v.values).any():
            return str(n)
    return None


register(QDReader())
