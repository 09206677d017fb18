"""The sample description (TOML): material, geometry, measurements, registration, sites.

Every length, mass or temperature key carries its unit in its name (``length_mm``,
``mass_mg``, ``pixel_m``, ``temperature_K``); a key without one is refused, so a description
cannot silently mix units.  Problems are collected and reported together, each naming the
item; a measurement whose file is missing is kept and marked, so a report can still render
the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from supramap.errors import SupramapError

KINDS = {
    "transport": ("file",), "susceptibility": ("file",), "heat": ("file",), "loop": ("file",),
    "cafm": ("current",), "cafm-series": ("currents", "temperatures_K"),
    "sem": ("file", "pixel_m"), "apt": ("file",), "sts-spectrum": ("file",),
    "sts-tip": ("file",), "sts-grid": ("file",), "sts-qpi": ("file",),
    "sts-ingap": ("files",),
}
FILE_KEYS = ("file", "current", "topography", "deflection", "currents", "topographies",
             "ranges", "files")
UNIT_SUFFIXES = ("_mm", "_m", "_mg", "_kg", "_K", "_V", "_A", "_T", "_g_per_mol", "_eV",
                 "_deg")
#: Keys each table may hold; anything else (a typo such as ``topograpy``) is reported.
FREE_TEXT = {"comment", "comments", "notes", "description", "date", "operator"}
KNOWN = {
    "": {"sample", "measurement", "site", "registration", "apt"},
    "sample": {"name", "material", "formula", "mass_mg", "molar_mass_g_per_mol",
               "atoms_per_formula_unit", "geometry", "allow_files_outside", "is_simulation"},
    "geometry": {"length_mm", "width_mm", "thickness_mm"},
    "measurement": {"id", "kind", *FILE_KEYS, "temperature_K", "temperatures_K", "field_T",
                    "bias_V", "pixel_m", "tip", "column", "normal_sheet_resistance_ohm",
                    "workers", "groups", "fields_T", "energies_eV", "lattice_m",
                    "lockin_rms_V", "linecut_deg", "shape", "peaks"},
    "site": {"name", "x_m", "y_m", "needle"},
    "registration": {"map", "image", "control_points_map_m", "control_points_image_m"},
    "apt": {"ranges", "exclude_cap"},
}
#: File keys that hold one file (the others hold a list; one name given as text is accepted).
SINGLE_FILE_KEYS = ("file", "current", "topography", "deflection", "ranges")
LIST_KEYS = ("currents", "topographies", "temperatures_K", "control_points_map_m",
             "control_points_image_m", "files", "fields_T", "energies_eV")


#: Keys of the description that are parameters of a declared analysis
#: (:mod:`supramap.analyses.catalog`): their values follow the same grammar as the command
#: line — a number in the unit the key's name ends with, or text with any unit of the kind
#: (``temperature = "300mK"`` is ``temperature_K = 0.3``) — and the same bounds.
DECLARED: dict[str, tuple[str, str]] = {
    "temperature_K": ("sts-fit", "temperature"),
    "temperatures_K": ("cafm-series", "temperatures"),
    "lockin_rms_V": ("sts-fit", "lockin_rms"),
    "energies_eV": ("sts-grid", "energies"),
    "lattice_m": ("sts-qpi", "lattice"),
    "linecut_deg": ("sts-qpi", "linecut"),
    "normal_sheet_resistance_ohm": ("network-fourprobe", "normal_sheet_resistance"),
    "mass_mg": ("bulk-heat", "mass"),
    "molar_mass_g_per_mol": ("bulk-heat", "molar_mass"),
    "length_mm": ("bulk-transport", "length"),
    "width_mm": ("bulk-transport", "width"),
    "thickness_mm": ("bulk-transport", "thickness"),
    "workers": ("sts-gapmap", "workers"),
    "groups": ("sts-defects", "groups"),
}


def _declared(where: str, table: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """*table* with declared parameters converted by the analyses' grammar: a unit-free key
    with a unit-bearing value (``temperature = "4.2K"``) becomes its unit-suffixed key; values
    out of bounds or of the wrong kind are problems naming the key."""
    from supramap.analyses.catalog import REGISTRY
    from supramap.analyses.registry import ParameterError, convert

    out: dict[str, Any] = {}
    problems: list[str] = []
    plain = {k.rsplit("_", 1)[0] if not k.endswith(("_per_mol", "_ohm")) else
             k.removesuffix("_g_per_mol").removesuffix("_ohm"): k for k in DECLARED}
    for k, v in table.items():
        key = plain.get(k, k) if k not in DECLARED and isinstance(v, (str, list)) else k
        if key not in DECLARED:
            out[k] = v
            continue
        analysis, name = DECLARED[key]
        p = REGISTRY[analysis].parameter(name)
        if isinstance(v, bool) or (isinstance(v, list) and p.count is None):
            problems.append(f"{where}: '{k}' must be a number (one {p.kind} in {p.unit}), "
                            f"got {v!r}")
            out[key] = v
            continue
        try:
            value = convert(p, v)
        except ParameterError as exc:
            detail = str(exc).split(": ", 1)[-1] if str(exc).startswith(p.flag + ":") \
                else str(exc).replace(p.flag, "").strip()
            problems.append(f"{where}: '{k}' {detail}")
            out[key] = v
            continue
        out[key] = value
    return out, problems


def locate(text: str, problem: str) -> int | None:
    """The line of the description a problem is about: the quoted key inside the named
    measurement's (or table's) block, else the block itself."""
    lines = text.splitlines()
    m = re.match(r"(?:measurement (\S+?)|\[([\w.]+)\]|site (\d+))\s*:", problem)
    start, end = 0, len(lines)
    if m and m.group(1):
        ids = [i for i, ln in enumerate(lines)
               if re.match(rf"""\s*id\s*=\s*["']{re.escape(m.group(1))}["']""", ln)]
        if ids:
            start = max((i for i in range(ids[0], -1, -1) if lines[i].strip().startswith(
                "[[measurement]]")), default=ids[0])
    elif m and m.group(2):
        hits = [i for i, ln in enumerate(lines) if ln.strip() == f"[{m.group(2)}]"]
        start = hits[0] if hits else 0
    if start:
        end = next((i for i in range(start + 1, len(lines))
                    if lines[i].strip().startswith("[")), len(lines))
    key = re.search(r"'([^']+)'", problem)
    if key:
        for i in range(start, end):
            if re.match(rf"\s*{re.escape(key.group(1))}\s*=", lines[i]):
                return i + 1
        if "needs" not in problem:
            for i in range(len(lines)):  # outside the block (a file named twice ...)
                if re.match(rf"\s*{re.escape(key.group(1))}\s*=", lines[i]) and not start:
                    return i + 1
    return start + 1 if (m and start) else None


def _unknown_keys(where: str, table: dict[str, Any], known: set[str]) -> list[str]:
    import difflib

    out = []
    for k in table:
        if k in known or k in FREE_TEXT:
            continue
        near = difflib.get_close_matches(k, sorted(known), n=1)
        out.append(f"{where}: unknown key '{k}'" + (f" (did you mean '{near[0]}'?)" if near
                                                    else "") + "; it is ignored")
    return out


def _type_problems(where: str, table: dict[str, Any]) -> list[str]:
    """Numbers where numbers belong, one file where one file belongs, lists where lists do."""
    out = []
    for k, v in table.items():
        if k in LIST_KEYS or k in DECLARED:  # declared ones: checked by the grammar
            continue
        if k.endswith(UNIT_SUFFIXES) and (isinstance(v, bool) or not isinstance(v, (int,
                                                                                      float))):
            out.append(f"{where}: '{k}' must be a number, got {v!r}")
        elif k in SINGLE_FILE_KEYS and not isinstance(v, str):
            out.append(f"{where}: '{k}' must be one file name (text), got {v!r}")
    return out


class SampleError(SupramapError):
    """The sample description itself is unusable (not TOML, no measurements ...)."""


@dataclass
class Measurement:
    """One measurement of the description; ``problems`` lists what is wrong with it."""

    id: str
    kind: str
    spec: dict[str, Any]
    problems: list[str] = field(default_factory=list)

    def path(self, key: str, base: Path) -> Path:
        """A file of the measurement, relative to the description's folder."""
        return (base / self.spec[key]).resolve()

    def input_files(self, base: Path) -> list[Path]:
        """Every file this measurement reads (resolved)."""
        out = []
        for key in FILE_KEYS:
            vals = self.spec.get(key)
            for v in vals if isinstance(vals, list) else [vals]:
                if isinstance(v, str):
                    out.append((base / v).resolve())
        return out


@dataclass
class Site:
    """A lift-out site (coordinates in the registered image's frame, metres)."""

    name: str
    x_m: float
    y_m: float
    needle: str | None = None


@dataclass
class Sample:
    """A parsed, validated description."""

    path: Path
    name: str
    info: dict[str, Any]
    measurements: list[Measurement]
    sites: list[Site]
    registration: dict[str, Any]
    apt: dict[str, Any]
    problems: list[str]

    @property
    def base(self) -> Path:
        """Folder of the description (relative files start here)."""
        return self.path.parent

    def by_kind(self, kind: str) -> list[Measurement]:
        """Measurements of one kind."""
        return [m for m in self.measurements if m.kind == kind]

    def get(self, mid: str) -> Measurement | None:
        """Measurement by id."""
        return next((m for m in self.measurements if m.id == mid), None)


def _unit_problems(where: str, table: dict[str, Any], allowed: set[str]) -> list[str]:
    out = []
    for k, v in table.items():
        if isinstance(v, (int, float)) and not isinstance(v, bool) and k not in allowed \
                and not k.endswith(UNIT_SUFFIXES):
            out.append(f"{where}: number '{k}' has no unit in its name (e.g. '{k}_mm', "
                       f"'{k}_K')")
    return out


def file_problem(toml: Path, key: str, f: Any, info: dict) -> str | None:
    """Why a file named in the sample description cannot be used (not text, outside the
    sample folder without ``allow_files_outside``, missing), or None."""
    if not isinstance(f, str):
        return f"{key} must be a file name (text), got {f!r}"
    target = (toml.parent / f).resolve()
    inside = toml.parent.resolve() in (target, *target.parents)
    if not inside and not info.get("allow_files_outside", False):
        return (f"{key} = {f!r} lies outside the sample folder; set allow_files_outside = "
                "true in [sample] to use it")
    if not target.is_file():
        return f"file not found: {f}"
    return None


def load_sample(path: str | Path) -> Sample:
    """Parse and validate a sample description."""
    p = Path(path)
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SampleError(f"{p}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise SampleError(f"{p}: not valid TOML ({exc})") from None
    except RecursionError:
        raise SampleError(f"{p}: not a usable sample description (arrays or tables nested "
                          "too deep)") from None
    info = doc.get("sample", {})
    if not isinstance(info, dict):
        raise SampleError(f"{p}: [sample] must be a table")
    problems: list[str] = []
    info, found = _declared("[sample]", info)
    problems += found
    if isinstance(info.get("geometry"), dict):
        geometry, found = _declared("[sample.geometry]", info["geometry"])
        info = {**info, "geometry": geometry}
        problems += found
    problems += _unknown_keys("top level", doc, KNOWN[""])
    problems += _unknown_keys("[sample]", info, KNOWN["sample"])
    problems += _unit_problems("[sample]", info, {"atoms_per_formula_unit", "geometry"})
    problems += _type_problems("[sample]", {k: v for k, v in info.items() if k != "geometry"})
    geo = info.get("geometry", {})
    if not isinstance(geo, dict):
        problems.append(f"[sample.geometry] must be a table of length_mm, width_mm, "
                        f"thickness_mm, got {geo!r}")
        info = {k: v for k, v in info.items() if k != "geometry"}
        geo = {}
    problems += _unknown_keys("[sample.geometry]", geo, KNOWN["geometry"])
    problems += _unit_problems("[sample.geometry]", geo, set())
    problems += _type_problems("[sample.geometry]", geo)
    for table in ("registration", "apt"):
        if not isinstance(doc.get(table, {}), dict):
            raise SampleError(f"{p}: [{table}] must be a table")
        problems += _unknown_keys(f"[{table}]", doc.get(table, {}), KNOWN[table])
    apt_ranges = doc.get("apt", {}).get("ranges")
    if apt_ranges is not None:
        problem = file_problem(p, "[apt] ranges", apt_ranges, info)
        if problem:
            problems.append(problem)
    raw = doc.get("measurement", [])
    if not isinstance(raw, list) or not raw or not all(isinstance(m, dict) for m in raw):
        raise SampleError(f"{p}: no [[measurement]] entries")
    measurements = []
    seen: set[str] = set()
    for i, m in enumerate(raw):
        m, declared_problems = _declared(f"measurement {m.get('id', i + 1)}", m)
        kind = str(m.get("kind", ""))
        mid = str(m.get("id", f"{kind or 'measurement'}_{i + 1}"))
        id_problem = None
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", mid):
            # Ids name figure files: nothing that could leave --out ("../x") or be hidden.
            id_problem = (f"id {mid!r} must be letters, digits, '_', '.', '-' (up to 64, not "
                          "starting with '.')")
            mid = f"measurement_{i + 1}"
        meas = Measurement(mid, kind, dict(m))
        meas.problems += [pr.split(": ", 1)[1] for pr in declared_problems]
        if id_problem:
            meas.problems.append(id_problem)
        if mid in seen:
            meas.problems.append(f"duplicate id {mid!r}")
        seen.add(mid)
        if kind not in KINDS:
            meas.problems.append(f"unknown kind {kind!r}; kinds are {', '.join(sorted(KINDS))}")
        else:
            for key in KINDS[kind]:
                if key not in m:
                    meas.problems.append(f"kind {kind!r} needs '{key}'")
        meas.problems += _unit_problems(f"measurement {mid}", m, {"workers", "groups", "peaks"})
        meas.problems += _type_problems(f"measurement {mid}", m)
        problems += _unknown_keys(f"measurement {mid}", m, KNOWN["measurement"])
        for key in LIST_KEYS:
            # One file or one number given without brackets is understood as a list of one.
            if key in meas.spec and not isinstance(meas.spec[key], list):
                meas.spec[key] = [meas.spec[key]]
        if kind == "cafm-series" and "currents" in m and "temperatures_K" in m and \
                len(meas.spec["currents"]) != len(meas.spec["temperatures_K"]):
            meas.problems.append(f"{len(meas.spec['currents'])} currents but "
                                 f"{len(meas.spec['temperatures_K'])} temperatures_K")
        if kind == "sts-ingap" and "fields_T" in m and \
                len(meas.spec.get("files", [])) != len(meas.spec["fields_T"]):
            meas.problems.append(f"{len(meas.spec.get('files', []))} files but "
                                 f"{len(meas.spec['fields_T'])} fields_T")
        if kind == "sts-spectrum" and "tip" in m and not any(
                x.get("id") == m["tip"] and x.get("kind") == "sts-tip" for x in raw):
            meas.problems.append(f"tip {m['tip']!r} names no sts-tip measurement")
        for key in FILE_KEYS:
            if key in m:
                files = m[key] if isinstance(m[key], list) else [m[key]]
                for f in files:
                    problem = file_problem(p, f"'{key}'", f, info)
                    if problem:
                        meas.problems.append(problem)
        measurements.append(meas)
    sites = []
    site_tables = doc.get("site", [])
    if not isinstance(site_tables, list) or not all(isinstance(t, dict) for t in site_tables):
        problems.append("[[site]] entries must be tables with name, x_m, y_m")
        site_tables = []
    for j, s in enumerate(site_tables):
        problems += _unknown_keys(f"site {j + 1}", s, KNOWN["site"])
        try:
            sites.append(Site(str(s.get("name", f"site {j + 1}")), float(s["x_m"]),
                              float(s["y_m"]), s.get("needle")))
        except (KeyError, TypeError, ValueError):
            problems.append(f"site {j + 1}: needs numeric x_m and y_m")
    reg = doc.get("registration", {})
    for key in ("map", "image"):
        if reg and key in reg and not any(m.id == reg[key] for m in measurements):
            problems.append(f"[registration] {key} = {reg[key]!r} names no measurement")
    return Sample(p, str(info.get("name", p.stem)), info, measurements, sites, reg,
                  doc.get("apt", {}), problems)
