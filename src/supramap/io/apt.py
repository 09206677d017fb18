"""Atom-probe files: CAMECA ``.pos``, ``.epos``, AP Suite 6 ``.apt``; range files ``.rrng``
(IVAS) and ``.rng`` (Oak Ridge).

Layouts
-------
``.pos``: per ion four big-endian float32 — x, y, z (nm), mass-to-charge (Da).
``.epos``: per ion 44 bytes, big-endian — x, y, z (nm), m/q (Da), time of flight (ns),
DC voltage (V), pulse voltage (V), detector x, y (mm) as float32, then ΔPulse and
ions-per-pulse as int32.
``.apt`` (AP Suite 6, little-endian): a 540-byte file header (``APT\\0``, header size and
version, UTF-16 file name of 256 characters, creation time, ion count), then sections, each a
148-byte section header (``SEC\\0``, header size, version, UTF-16 type name of 32 characters,
section version, relationship, record type, record data type (1 int, 2 uint, 3 float), data type
size in bits, record size in bytes, UTF-16 unit of 16 characters, record count, byte count),
any further header bytes up to its ``iHeaderSize`` (``Position`` carries six float32 of bounding
box there), then the data.  Unknown sections are skipped by their byte count.

Ion data are memory-mapped (``numpy.memmap``): a 100-million-ion file is not read into memory.
Positions stay in nm as stored (``attrs["units"] == "nm"``) so that no copy is made; analyses
convert as they stream chunks.  We read the formats ourselves rather than through
``ifes-apt-tc-data-modeling`` because that package pulls in ase, pandas and pytables and reads
whole arrays; it serves as an independent cross-check in the tests when installed.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.errors import FormatError
from supramap.fileutil import atomic_open
from supramap.io.base import Reader, register

POS_DTYPE = np.dtype(">f4")
EPOS_DTYPE = np.dtype([("x", ">f4"), ("y", ">f4"), ("z", ">f4"), ("m", ">f4"),
                       ("tof", ">f4"), ("vdc", ">f4"), ("vpulse", ">f4"), ("det_x", ">f4"),
                       ("det_y", ">f4"), ("delta_pulse", ">i4"), ("ions_per_pulse", ">i4")])
APT_FILE_HEADER = np.dtype([("cSignature", "u1", (4,)), ("iHeaderSize", "<i4"),
                            ("iHeaderVersion", "<i4"), ("wcFilename", "<u2", (256,)),
                            ("ftCreationTime", "<u8"), ("llIonCount", "<u8")])
APT_SECTION_HEADER = np.dtype([("cSignature", "u1", (4,)), ("iHeaderSize", "<i4"),
                               ("iHeaderVersion", "<i4"), ("wcSectionType", "<u2", (32,)),
                               ("iSectionVersion", "<i4"), ("eRelationshipType", "<u4"),
                               ("eRecordType", "<u4"), ("eRecordDataType", "<u4"),
                               ("iDataTypeSize", "<i4"), ("iRecordSize", "<i4"),
                               ("wcDataUnit", "<u2", (16,)), ("llRecordCount", "<u8"),
                               ("llByteCount", "<u8")])


def _ion_dataset(path: Path, columns: dict[str, tuple[np.ndarray, str]], fmt: str,
                 extra: dict[str, Any] | None = None) -> xr.Dataset:
    data = {k: xr.DataArray(v, dims=("ion",), attrs={"units": u}) for k, (v, u) in
            columns.items()}
    return xr.Dataset(data, attrs={"format": fmt, "source_file": str(path), **(extra or {})})


def read_pos(path: str | os.PathLike[str]) -> xr.Dataset:
    """Memory-map a ``.pos`` file: x, y, z (nm) and mass_to_charge (Da) along ``ion``."""
    p = Path(path)
    size = p.stat().st_size
    if size == 0:
        raise FormatError(p, "file is empty")
    if size % 16:
        raise FormatError(p, f"size {size} B is not a multiple of the 16-byte .pos record "
                             "(truncated or not a .pos file)")
    mm = np.memmap(p, dtype=POS_DTYPE, mode="r").reshape(-1, 4)
    return _ion_dataset(p, {"x": (mm[:, 0], "nm"), "y": (mm[:, 1], "nm"),
                            "z": (mm[:, 2], "nm"), "mass_to_charge": (mm[:, 3], "Da")}, "pos")


def read_epos(path: str | os.PathLike[str]) -> xr.Dataset:
    """Memory-map an ``.epos`` file (all eleven fields)."""
    p = Path(path)
    size = p.stat().st_size
    if size == 0:
        raise FormatError(p, "file is empty")
    if size % EPOS_DTYPE.itemsize:
        raise FormatError(p, f"size {size} B is not a multiple of the 44-byte .epos record")
    mm = np.memmap(p, dtype=EPOS_DTYPE, mode="r")
    units = {"x": "nm", "y": "nm", "z": "nm", "m": "Da", "tof": "ns", "vdc": "V",
             "vpulse": "V", "det_x": "mm", "det_y": "mm", "delta_pulse": "",
             "ions_per_pulse": ""}
    names = {"m": "mass_to_charge"}
    return _ion_dataset(p, {names.get(k, k): (mm[k], u) for k, u in units.items()}, "epos")


def _wstr(a: np.ndarray) -> str:
    a = np.asarray(a)
    end = np.nonzero(a == 0)[0]
    return a[: end[0] if end.size else a.size].astype("<u2").tobytes().decode("utf-16-le",
                                                                               "replace")


_APT_TYPES = {(1, 8): "i1", (1, 16): "<i2", (1, 32): "<i4", (1, 64): "<i8", (2, 8): "u1",
              (2, 16): "<u2", (2, 32): "<u4", (2, 64): "<u8", (3, 32): "<f4", (3, 64): "<f8"}


def read_apt(path: str | os.PathLike[str]) -> xr.Dataset:
    """Read an AP Suite 6 ``.apt`` file: every fixed-size section, memory-mapped.

    ``Position`` becomes x, y, z; ``Mass`` becomes mass_to_charge; other sections keep their
    names (one variable per column).  Sections whose record type is not a fixed-size array are
    skipped and listed in ``attrs["skipped_sections"]``.
    """
    p = Path(path)
    size = p.stat().st_size
    if size < APT_FILE_HEADER.itemsize:
        raise FormatError(p, f"file of {size} B is shorter than the APT file header")
    head = np.fromfile(p, dtype=APT_FILE_HEADER, count=1)[0]
    if bytes(head["cSignature"]) != b"APT\x00":
        raise FormatError(p, f"not an APT file: signature {bytes(head['cSignature'])!r}")
    n_ions = int(head["llIonCount"])
    offset = int(head["iHeaderSize"])
    if offset < APT_FILE_HEADER.itemsize or offset > size:
        raise FormatError(p, f"header field iHeaderSize = {offset} is impossible")
    columns: dict[str, tuple[np.ndarray, str]] = {}
    skipped: list[str] = []
    sections: list[str] = []
    while offset < size:
        if offset + APT_SECTION_HEADER.itemsize > size:
            raise FormatError(p, f"truncated section header at byte {offset}")
        sec = np.fromfile(p, dtype=APT_SECTION_HEADER, count=1, offset=offset)[0]
        if bytes(sec["cSignature"]) != b"SEC\x00":
            raise FormatError(p, f"no section signature at byte {offset}")
        name = _wstr(sec["wcSectionType"])
        hsize = int(sec["iHeaderSize"])
        nbytes = int(sec["llByteCount"])
        count = int(sec["llRecordCount"])
        start = offset + hsize
        if hsize < APT_SECTION_HEADER.itemsize or start + nbytes > size:
            raise FormatError(p, f"section {name!r} promises {nbytes} B at byte {start} but the "
                                 f"file holds {size} B")
        sections.append(name)
        key = (int(sec["eRecordDataType"]), int(sec["iDataTypeSize"]))
        rec = int(sec["iRecordSize"])
        if key in _APT_TYPES and rec > 0 and count * rec == nbytes:
            dt = np.dtype(_APT_TYPES[key])
            per = rec // dt.itemsize
            if count != n_ions:
                skipped.append(name)
            else:
                mm = np.memmap(p, dtype=dt, mode="r", offset=start, shape=(count, per))
                unit = _wstr(sec["wcDataUnit"])
                if name == "Position" and per == 3:
                    for i, axis in enumerate("xyz"):
                        columns[axis] = (mm[:, i], unit or "nm")
                elif name == "Mass":
                    columns["mass_to_charge"] = (mm[:, 0], unit or "Da")
                else:
                    for i in range(per):
                        columns[name if per == 1 else f"{name}_{i}"] = (mm[:, i], unit)
        else:
            skipped.append(name)
        offset = start + nbytes
    if "mass_to_charge" not in columns:
        raise FormatError(p, "APT file has no Mass section")
    return _ion_dataset(p, columns, "apt", {"sections": sections, "skipped_sections": skipped,
                                            "apt_filename": _wstr(head["wcFilename"])})


def write_pos(path: str | os.PathLike[str], x, y, z, m) -> None:
    """Write a ``.pos`` file (nm, Da) atomically."""
    # np.stack returns native byte order: convert after stacking.
    arr = np.stack([np.asarray(a, dtype=np.float32) for a in (x, y, z, m)], axis=1)
    arr = arr.astype(">f4")
    with atomic_open(path, "wb") as fh:
        fh.write(arr.tobytes())


def write_epos(path: str | os.PathLike[str], fields: dict[str, np.ndarray]) -> None:
    """Write an ``.epos`` file from the eleven fields (missing ones are zero), atomically."""
    n = len(next(iter(fields.values())))
    arr = np.zeros(n, dtype=EPOS_DTYPE)
    for k in EPOS_DTYPE.names:
        src = "mass_to_charge" if k == "m" else k
        if src in fields:
            arr[k] = fields[src]
    with atomic_open(path, "wb") as fh:
        fh.write(arr.tobytes())


def _wchars(text: str, n: int) -> np.ndarray:
    raw = np.frombuffer(text.encode("utf-16-le"), dtype="<u2")[: n - 1]
    out = np.zeros(n, dtype="<u2")
    out[: raw.size] = raw
    return out


def write_apt(path: str | os.PathLike[str], x, y, z, m, *,
              extra_sections: dict[str, tuple[np.ndarray, str]] | None = None) -> None:
    """Write an AP Suite 6-style ``.apt`` with Position, Mass and optional 1-column sections."""
    n = len(m)
    head = np.zeros(1, dtype=APT_FILE_HEADER)
    head["cSignature"] = np.frombuffer(b"APT\x00", "u1")
    head["iHeaderSize"] = APT_FILE_HEADER.itemsize
    head["iHeaderVersion"] = 2
    head["wcFilename"] = _wchars(Path(path).name, 256)
    head["llIonCount"] = n
    parts = [head.tobytes()]

    def section(name: str, data: np.ndarray, unit: str, extra: bytes = b"") -> bytes:
        d = np.ascontiguousarray(data, dtype="<f4")
        per = 1 if d.ndim == 1 else d.shape[1]
        sec = np.zeros(1, dtype=APT_SECTION_HEADER)
        sec["cSignature"] = np.frombuffer(b"SEC\x00", "u1")
        sec["iHeaderSize"] = APT_SECTION_HEADER.itemsize + len(extra)
        sec["iHeaderVersion"] = 2
        sec["wcSectionType"] = _wchars(name, 32)
        sec["iSectionVersion"] = 1
        sec["eRelationshipType"] = 1
        sec["eRecordType"] = 1
        sec["eRecordDataType"] = 3
        sec["iDataTypeSize"] = 32
        sec["iRecordSize"] = 4 * per
        sec["wcDataUnit"] = _wchars(unit, 16)
        sec["llRecordCount"] = n
        sec["llByteCount"] = d.nbytes
        return sec.tobytes() + extra + d.tobytes()

    pos = np.stack([np.asarray(a, dtype="<f4") for a in (x, y, z)], axis=1)
    bbox = np.array([pos[:, 0].min(), pos[:, 1].min(), pos[:, 2].min(), pos[:, 0].max(),
                     pos[:, 1].max(), pos[:, 2].max()], dtype="<f4") if n else np.zeros(6,
                                                                                        "<f4")
    parts.append(section("Position", pos, "nm", bbox.tobytes()))
    parts.append(section("Mass", np.asarray(m), "Da"))
    for name, (data, unit) in (extra_sections or {}).items():
        parts.append(section(name, np.asarray(data), unit))
    with atomic_open(path, "wb") as fh:
        for part in parts:
            fh.write(part)


# ---- range files --------------------------------------------------------------------------

@dataclass(frozen=True)
class Range:
    """One mass-to-charge range and the ion it is assigned to."""

    low: float
    high: float
    ion: str
    composition: dict[str, int] = field(default_factory=dict)
    colour: str = ""


@dataclass(frozen=True)
class RangeTable:
    """Non-overlapping ranges sorted by their low edge."""

    ranges: tuple[Range, ...]
    source: str = ""
    #: What validation changed or set aside (merged duplicates, a catch-all range), in words.
    notes: tuple[str, ...] = ()

    @property
    def ions(self) -> list[str]:
        """Distinct ion names in order of first appearance."""
        seen: dict[str, None] = {}
        for r in self.ranges:
            seen.setdefault(r.ion, None)
        return list(seen)

    @property
    def elements(self) -> list[str]:
        """Distinct elements."""
        seen: dict[str, None] = {}
        for r in self.ranges:
            for e in r.composition:
                seen.setdefault(e, None)
        return list(seen)


#: Name of ranges whose ion is not identified (kept as unranged/unknown, never an element).
UNKNOWN = "unknown"
MAX_ATOMS_PER_ION = 64


def _known_element(symbol: str) -> bool:
    import periodictable

    el = getattr(periodictable, symbol, None)
    return isinstance(el, periodictable.core.Element) and el.number > 0


def validate_ranges(ranges: list[Range], path: Any = None) -> RangeTable:
    """Sort and check ranges: positive width, known elements, sane counts, no ambiguous
    overlap.

    Real IVAS files hold things a strict reader refuses, read here the way
    ifes-apt-tc-data-modeling reads them: ranges of an unidentified peak (no composition,
    ``"unknown"`` or a name only) are kept as *unknown*, never given an invented element;
    overlapping ranges of the same ion are merged; a catch-all range that contains two or more
    other ranges is set aside (inner ranges win).  Overlapping ranges of different ions are
    truly ambiguous and refused with both named.
    """
    if not ranges:
        raise FormatError(path, "range file defines no range")
    notes: list[str] = []
    rs = sorted(ranges, key=lambda r: (r.low, r.high))
    for r in rs:
        if not (np.isfinite(r.low) and np.isfinite(r.high)) or r.high <= r.low:
            raise FormatError(path, f"empty or inverted range {r.low}–{r.high} Da ({r.ion})")
        if r.low < 0 or r.high > 1e4:
            raise FormatError(path, f"range {r.low}–{r.high} Da lies outside 0–10000 Da")
        for el, n in r.composition.items():
            if not _known_element(el):
                raise FormatError(path, f"range {r.low}–{r.high} Da names an unknown element "
                                        f"{el!r}")
            if not 0 < n <= MAX_ATOMS_PER_ION:
                raise FormatError(path, f"range {r.low}–{r.high} Da: {n} atoms of {el} per ion"
                                        f" is not plausible (1–{MAX_ATOMS_PER_ION})")
    # Catch-all ranges: contain at least two other ranges entirely.
    keep = []
    for r in rs:
        inner = [o for o in rs if o is not r and o.low >= r.low and o.high <= r.high]
        if len(inner) >= 2:
            notes.append(f"catch-all range {r.low:g}–{r.high:g} Da ({r.ion}) set aside: it "
                         f"contains {len(inner)} other ranges, which take precedence")
        else:
            keep.append(r)
    merged: list[Range] = []
    for r in keep:
        if merged and r.low < merged[-1].high:
            a = merged[-1]
            if a.composition == r.composition and a.ion == r.ion:
                merged[-1] = Range(a.low, max(a.high, r.high), a.ion, a.composition, a.colour)
                notes.append(f"overlapping ranges of {a.ion} ({a.low:g}–{a.high:g} and "
                             f"{r.low:g}–{r.high:g} Da) merged")
                continue
            raise FormatError(path, f"ranges overlap: {a.ion} {a.low}–{a.high} Da and "
                                    f"{r.ion} {r.low}–{r.high} Da (ambiguous: which ion does an "
                                    "ion in the overlap belong to?)")
        merged.append(r)
    return RangeTable(tuple(merged), str(path) if path else "", tuple(notes))


def _num(text: str) -> float:
    return float(text.strip().replace(",", "."))


def _ion_name(comp: dict[str, int]) -> str:
    return "".join(f"{e}{n if n > 1 else ''}" for e, n in comp.items())


def read_rrng(path: str | os.PathLike[str]) -> RangeTable:
    """Read an IVAS ``.rrng`` range file (decimal commas tolerated)."""
    p = Path(path)
    text = p.read_text(encoding="utf-8-sig", errors="replace")
    if "[Ranges]" not in text and "[ranges]" not in text.lower():
        raise FormatError(p, "no [Ranges] section: not an .rrng file")
    ranges = []
    section = ""
    for line in text.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith("["):
            section = s.strip("[]").lower()
            continue
        if section != "ranges" or not s.lower().startswith("range") or "=" not in s:
            continue
        _, _, body = s.partition("=")
        parts = body.split()
        if len(parts) < 3:
            raise FormatError(p, f"range line {s!r} lacks low, high and an ion")
        try:
            lo, hi = _num(parts[0]), _num(parts[1])
        except ValueError:
            raise FormatError(p, f"range line {s!r}: bounds are not numbers") from None
        comp: dict[str, int] = {}
        colour = ""
        name = ""
        for tok in parts[2:]:
            k, _, v = tok.partition(":")
            if k.lower() == "vol":
                continue
            if k.lower() == "color":
                colour = v
                continue
            if k.lower() == "name":
                name = v
                continue
            try:
                n = int(_num(v))
            except ValueError:
                raise FormatError(p, f"range line {s!r}: bad count {tok!r}") from None
            if k.lower() in ("unknown", "unranged"):
                continue
            if n > 0:
                comp[k] = comp.get(k, 0) + n
        ion = _ion_name(comp) if comp else (f"{UNKNOWN} ({name})" if name else UNKNOWN)
        ranges.append(Range(lo, hi, ion, comp, colour))
    promised = re.search(r"\[Ranges\][^\[]*?Number\s*=\s*(\d+)", text, re.I)
    if promised and int(promised.group(1)) != len(ranges):
        raise FormatError(p, f"[Ranges] promises Number={promised.group(1)} ranges but the file "
                             f"holds {len(ranges)} (truncated or edited file)")
    ions_promised = re.search(r"\[Ions\][^\[]*?Number\s*=\s*(-?\d+)", text, re.I)
    if ions_promised:
        block = text[ions_promised.start():].split("[", 2)[1]
        listed = len(re.findall(r"^\s*Ion\d+\s*=", block, re.I | re.M))
        if int(ions_promised.group(1)) != listed:
            raise FormatError(p, f"[Ions] promises Number={ions_promised.group(1)} ions but the "
                                 f"file lists {listed} (truncated or edited file)")
    return validate_ranges(ranges, p)


def read_rng(path: str | os.PathLike[str]) -> RangeTable:
    """Read an Oak Ridge ``.rng`` range file."""
    p = Path(path)
    lines = [ln.strip() for ln in p.read_text(encoding="utf-8-sig", errors="replace")
             .splitlines() if ln.strip()]
    try:
        n_ions, n_ranges = (int(v) for v in lines[0].split()[:2])
    except (ValueError, IndexError):
        raise FormatError(p, "first line must give the numbers of ions and ranges") from None
    dash = next((i for i, ln in enumerate(lines) if ln.startswith("-")), None)
    if dash is None:
        raise FormatError(p, "no '-----' line naming the composition columns")
    names = lines[dash].lstrip("-").split()
    if len(names) != n_ions:
        raise FormatError(p, f"header promises {n_ions} ions, the columns line names "
                             f"{len(names)}")
    body = lines[dash + 1: dash + 1 + n_ranges]
    if len(body) < n_ranges:
        raise FormatError(p, f"header promises {n_ranges} ranges, the file holds {len(body)}")
    ranges = []
    for ln in body:
        parts = ln.split()
        if len(parts) < 3 + n_ions:
            raise FormatError(p, f"range line {ln!r} has too few columns")
        try:
            lo, hi = _num(parts[1]), _num(parts[2])
            counts = [int(_num(v)) for v in parts[3:3 + n_ions]]
        except ValueError:
            raise FormatError(p, f"range line {ln!r} holds a non-number") from None
        comp: dict[str, int] = {}
        unknown = []
        for nm, c in zip(names, counts):
            if c <= 0:
                continue
            parts_ = re.findall(r"([A-Z][a-z]?)(\d*)", nm)
            if nm.lower() in (UNKNOWN, "unranged") or "".join(e + k for e, k in parts_) != nm:
                unknown.append(nm)  # not a formula: an unidentified peak, never an element
                continue
            for e, k in parts_:
                comp[e] = comp.get(e, 0) + c * (int(k) if k else 1)
        ion = _ion_name(comp) if comp else UNKNOWN if not unknown or unknown == [UNKNOWN] \
            else f"{UNKNOWN} ({', '.join(unknown)})"
        ranges.append(Range(lo, hi, ion, comp))
    return validate_ranges(ranges, p)


def read_ranges(path: str | os.PathLike[str]) -> RangeTable:
    """Read ``.rrng`` or ``.rng`` by content."""
    p = Path(path)
    try:
        head = p.read_bytes()[:4096].decode("utf-8", "replace")
    except OSError as exc:
        raise FormatError(p, f"cannot be read: {exc.strerror or exc}") from None
    if not head.strip():
        raise FormatError(p, "range file is empty")
    if "[Ions]" in head or "[Ranges]" in head:
        return read_rrng(p)
    return read_rng(p)


def write_rrng(path: str | os.PathLike[str], table: RangeTable) -> None:
    """Write an ``.rrng`` file atomically."""
    ions = table.ions
    out = ["[Ions]", f"Number={len(ions)}"] + [f"Ion{i}={n}" for i, n in enumerate(ions, 1)]
    out += ["[Ranges]", f"Number={len(table.ranges)}"]
    for i, r in enumerate(table.ranges, 1):
        comp = " ".join(f"{e}:{n}" for e, n in r.composition.items())
        colour = r.colour or "FF0000"
        out.append(f"Range{i}={r.low:.4f} {r.high:.4f} Vol:0.01 {comp} Color:{colour}")
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(out) + "\n")


class _IonReader(Reader):
    extensions: tuple[str, ...] = ()

    def can_read(self, head: bytes) -> bool | None:
        return None  # raw binary: only the suffix can tell


class PosReader(_IonReader):
    """``.pos`` (by suffix: the format has no magic)."""

    name = "pos"
    description = "CAMECA .pos"
    extensions = (".pos",)

    def read(self, path: Path) -> xr.Dataset:
        """Memory-map the ions."""
        return read_pos(path)


class EposReader(_IonReader):
    """``.epos`` (by suffix)."""

    name = "epos"
    description = "CAMECA .epos"
    extensions = (".epos",)

    def read(self, path: Path) -> xr.Dataset:
        """Memory-map the ions."""
        return read_epos(path)


class AptReader(Reader):
    """AP Suite 6 ``.apt`` (signature ``APT\\0``)."""

    name = "apt"
    description = "AP Suite .apt"
    extensions = (".apt",)

    def can_read(self, head: bytes) -> bool | None:
        """True for the ``APT\\0`` signature."""
        return head[:4] == b"APT\x00"

    def read(self, path: Path) -> xr.Dataset:
        """Memory-map the sections."""
        return read_apt(path)


class RangeFileReader(Reader):
    """IVAS ``.rrng`` and Oak Ridge ``.rng`` range files (as a table, for ``read``/``info``)."""

    name = "range"
    description = "atom-probe range file (.rrng, .rng)"
    extensions = (".rrng", ".rng")

    def can_read(self, head: bytes) -> bool | None:
        """True for ``[Ions]``/``[Ranges]`` sections or an .rng's ``n m`` line followed by a
        dashes line naming the columns."""
        text = head.decode("latin-1")
        if re.match(r"\s*\[(Ions|Ranges)\]", text, re.I):
            return True
        if re.match(r"\s*\d+\s+\d+\s*\r?\n", text) and re.search(r"\n-{3,}", text):
            return True
        return False

    def read(self, path: Path) -> xr.Dataset:
        """The ranges along dimension ``range`` (Da), ion names as a coordinate."""
        t = read_ranges(path)
        comp = [" ".join(f"{e}:{n}" for e, n in r.composition.items()) for r in t.ranges]
        return xr.Dataset(
            {"low": ("range", [r.low for r in t.ranges], {"units": "Da"}),
             "high": ("range", [r.high for r in t.ranges], {"units": "Da"})},
            coords={"ion": ("range", [r.ion for r in t.ranges]),
                    "composition": ("range", comp)},
            attrs={"format": "range", "source_file": str(path), "n_ranges": len(t.ranges),
                   "ions": ", ".join(t.ions), "notes": "; ".join(t.notes)})


register(AptReader())
register(EposReader())
register(PosReader())
register(RangeFileReader())
