"""Declarations of analyses and the one parameter grammar built from them.

Each analysis declares (the pattern Gwyddion uses for its processing functions) its name — the
CLI path with a dash, ``cafm-analyze`` —, what it reads, its parameters (name, physical kind
and unit, default, bounds, help), the library function that *is* the analysis and its result
type.  The command line, ``sample.toml``, ``supramap batch`` and the library read parameter
values through :func:`convert`, so ``4.2K``, ``300mK`` and ``4.2`` mean the same everywhere.

This module is pure (no xarray, no analysis imported): the CLI builds its ``--help`` from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from supramap.errors import SupramapError

#: The physical kind of each SI base unit a parameter may have.
KINDS: dict[str, str] = {
    "K": "temperature", "eV": "energy", "V": "voltage", "m": "length", "A": "current",
    "g": "mass", "S": "conductance", "Ohm": "resistance", "T": "magnetic field", "s": "time",
    "deg": "angle", "Da": "mass-to-charge ratio", "g/mol": "molar mass",
    "mJ/molK2": "Sommerfeld coefficient",
}


class ParameterError(SupramapError, ValueError):
    """A parameter value that does not fit its declaration (names the option and the kind)."""


@dataclass(frozen=True)
class Parameter:
    """One parameter of an analysis.

    ``unit`` is what a bare number means (and what the library receives); a value may carry
    any unit of the same kind (``4.2K``, ``300mK``).  ``count``: values expected in a comma
    list (``None``: one value; ``0``: any number ≥ 1).  ``auto``: the word ``auto`` is also
    accepted (and passed on as ``"auto"``).  ``kind`` for non-physical parameters: ``number``
    (dimensionless), ``integer``, ``choice``, ``flag``, ``text``, ``file``.
    """

    name: str
    kind: str
    help: str
    default: Any = None
    unit: str = ""
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False
    count: int | None = None
    choices: tuple[str, ...] = ()
    auto: bool = False
    flags: tuple[str, ...] = ()
    output: bool = False  # a file the analysis writes (not part of the result)
    suffix: str = ""  # for a required output: what batch names it (beside each JSON)

    @property
    def flag(self) -> str:
        return self.flags[0] if self.flags else "--" + self.name.replace("_", "-")

    @property
    def physical(self) -> bool:
        return bool(self.unit) and self.kind not in ("number", "integer", "text", "file")

    def help_text(self) -> str:
        """The ``--help`` line: the declared help, then the unit rule and the bounds."""
        extra = []
        if self.physical:
            from supramap.units import parse_unit

            base, _ = parse_unit(self.unit)
            kind = KINDS.get(base, KINDS.get(self.unit, self.kind))
            extra.append(f"{self.unit} unless a unit is written ({kind})")
        if self.lo is not None or self.hi is not None:
            lo = "-∞" if self.lo is None else f"{self.lo:g}"
            hi = "∞" if self.hi is None else f"{self.hi:g}"
            left, right = "(" if self.lo_open else "[", ")" if self.hi_open else "]"
            extra.append(f"in {left}{lo}, {hi}{right}" + (f" {self.unit}" if self.unit else ""))
        if self.choices:
            extra.append("one of " + ", ".join(self.choices))
        if self.default is not None and self.kind != "flag":
            extra.append(f"default {self.default}")
        return self.help.rstrip(".") + (" — " + "; ".join(extra) if extra else "") + "."


@dataclass(frozen=True)
class Input:
    """A file an analysis reads: its role and the file kinds accepted."""

    name: str
    kinds: str
    help: str
    many: bool = False
    optional: bool = False
    flag: str | None = None  # None: a positional argument


@dataclass(frozen=True)
class Analysis:
    """The declaration of one analysis."""

    name: str
    summary: str
    inputs: tuple[Input, ...]
    parameters: tuple[Parameter, ...]
    result: str
    function: str | None = None  # "module:function" of the file-level library call
    headline: tuple[str, ...] = ()  # keys of to_dict() shown first in the repr
    batch: bool = True  # whether `supramap batch --analysis` runs it (one file per run)
    report: bool = True  # whether the command takes --report (every one takes --json)

    @property
    def command(self) -> tuple[str, ...]:
        group, _, cmd = self.name.partition("-")
        return (group, cmd)

    def parameter(self, name: str) -> Parameter:
        for p in self.parameters:
            if p.name == name or name in (p.flag, *p.flags):
                return p
        raise ParameterError(f"{self.name} has no parameter {name!r}; it has "
                             + ", ".join(p.name for p in self.parameters))

    def load(self) -> Callable[..., Any]:
        """The library function (imported on demand)."""
        if self.function is None:
            raise ParameterError(f"{self.name} has no library function yet: run it with "
                                 f"`supramap {' '.join(self.command)}`")
        import importlib

        mod, _, fn = self.function.partition(":")
        return getattr(importlib.import_module(mod), fn)


def _number(text: Any, p: Parameter) -> float:
    from supramap.units import parse_quantity

    if isinstance(text, bool):
        raise ParameterError(f"{p.flag}: expected a number, got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
        if not math.isfinite(value):
            raise ParameterError(f"{p.flag}: {text!r} is not a finite number")
        return value
    try:
        return parse_quantity(str(text), p.unit if p.physical else "")
    except ValueError as exc:
        from supramap.units import parse_unit

        base, _ = parse_unit(p.unit)
        kind = KINDS.get(base, KINDS.get(p.unit, "number"))
        want = (f"a {kind} ({p.unit}, or with a unit of that kind)" if p.physical
                else "a plain number")
        raise ParameterError(f"{p.flag}: expected {want}, got {text!r}") from exc


def _check_bounds(value: float, p: Parameter) -> float:
    low_bad = p.lo is not None and (value <= p.lo if p.lo_open else value < p.lo)
    high_bad = p.hi is not None and (value >= p.hi if p.hi_open else value > p.hi)
    if low_bad or high_bad:
        lo = "-∞" if p.lo is None else f"{p.lo:g}"
        hi = "∞" if p.hi is None else f"{p.hi:g}"
        span = f"{'(' if p.lo_open else '['}{lo}, {hi}{')' if p.hi_open else ']'}"
        raise ParameterError(f"{p.flag} must be in {span}{' ' + p.unit if p.unit else ''}, "
                             f"got {value:g}")
    return value


def convert(p: Parameter, value: Any) -> Any:
    """*value* (a number in the declared unit, text with a unit of the same kind, a comma list,
    or a list) as the library receives it: floats in ``p.unit``; ``None`` stays None.

    Raises
    ------
    ParameterError
        Naming the option and the kind expected.
    """
    if value is None:
        return None
    if p.kind == "flag":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "yes", "1", "on"):
            return True
        if text in ("false", "no", "0", "off"):
            return False
        raise ParameterError(f"{p.flag}: expected true or false, got {value!r}")
    if p.kind == "choice":
        text = str(value).strip()
        if text not in p.choices:
            raise ParameterError(f"{p.flag} must be one of {', '.join(p.choices)}, got {value!r}")
        return text
    if p.kind in ("text", "file"):
        if isinstance(value, (list, tuple)):
            return [str(v) for v in value]
        return str(value)
    if p.auto and isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if p.kind == "integer":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        try:
            n = int(str(value).strip()) if not isinstance(value, int) else value
        except ValueError:
            raise ParameterError(f"{p.flag}: expected a whole number, got {value!r}") from None
        if isinstance(n, bool):
            raise ParameterError(f"{p.flag}: expected a whole number, got {value!r}")
        return int(_check_bounds(n, p))
    # numbers (physical or not)
    if p.count is None:
        if isinstance(value, (list, tuple)):
            if len(value) != 1:
                raise ParameterError(f"{p.flag} takes one value, got {len(value)}")
            value = value[0]
        if isinstance(value, str) and "," in value:
            raise ParameterError(f"{p.flag} takes one value, got the list {value!r}")
        return _check_bounds(_number(value, p), p)
    items = value if isinstance(value, (list, tuple)) else [value]
    parts: list[Any] = []
    for item in items:
        if isinstance(item, str):
            parts += [s for s in item.replace(";", ",").split(",") if s.strip()]
        else:
            parts.append(item)
    if not parts or (p.count and len(parts) != p.count):
        want = f"{p.count} values" if p.count else "at least one value"
        raise ParameterError(f"{p.flag} needs {want}"
                             f"{' in ' + p.unit if p.unit else ''}, got {value!r}")
    return [_check_bounds(_number(x, p), p) for x in parts]


def resolve(analysis: Analysis, given: dict[str, Any]) -> dict[str, Any]:
    """Every declared parameter's value as the library receives it: *given* (by name or flag)
    converted, the rest at their declared defaults; an unknown name is refused."""
    out: dict[str, Any] = {}
    for key, value in given.items():
        out[analysis.parameter(key).name] = value
    return {p.name: convert(p, out.get(p.name, p.default)) for p in analysis.parameters
            if not p.output}


def described(analysis: Analysis, values: dict[str, Any]) -> dict[str, Any]:
    """Parameters for a provenance block: ``{"value", "unit"}`` for physical ones."""
    out: dict[str, Any] = {}
    for p in analysis.parameters:
        if p.name not in values:
            continue
        v = values[p.name]
        out[p.name] = {"value": v, "unit": p.unit} if p.physical else v
    return out


@dataclass
class Registry:
    """Every declared analysis by name."""

    analyses: dict[str, Analysis] = field(default_factory=dict)

    def add(self, analysis: Analysis) -> Analysis:
        if analysis.name in self.analyses:
            raise ValueError(f"analysis {analysis.name!r} declared twice")
        self.analyses[analysis.name] = analysis
        return analysis

    def __getitem__(self, name: str) -> Analysis:
        try:
            return self.analyses[name]
        except KeyError:
            raise ParameterError(f"no analysis {name!r}; there are "
                                 + ", ".join(sorted(self.analyses))) from None

    def __iter__(self):
        return iter(self.analyses.values())

    def __len__(self) -> int:
        return len(self.analyses)

    def names(self) -> list[str]:
        return list(self.analyses)
