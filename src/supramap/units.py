"""Unit strings of instrument files turned into SI base units and a scale factor.

Instrument files write ``nm``, ``um``, ``µm``, ``nA``, ``pA``, ``mV`` ...; supramap stores every
quantity in SI (``m``, ``A``, ``V``) with ``attrs["units"]`` set to the SI unit, so downstream code
never guesses.  Only prefixes and the handful of base units SPM files use are handled; an unknown
unit is kept as written with scale 1.
"""

from __future__ import annotations

PREFIXES: dict[str, float] = {
    "Y": 1e24, "Z": 1e21, "E": 1e18, "P": 1e15, "T": 1e12, "G": 1e9, "M": 1e6, "k": 1e3,
    "": 1.0, "m": 1e-3, "u": 1e-6, "µ": 1e-6, "μ": 1e-6, "n": 1e-9, "p": 1e-12,
    "f": 1e-15, "a": 1e-18,
}
BASE_UNITS = ("m", "A", "V", "eV", "N", "Hz", "s", "K", "T", "deg", "Ohm", "S", "W", "F", "C", "g")
ALIASES = {
    "angstrom": ("m", 1e-10), "Å": ("m", 1e-10), "A°": ("m", 1e-10),
    "micron": ("m", 1e-6), "microns": ("m", 1e-6), "ohm": ("Ohm", 1.0), "Ω": ("Ohm", 1.0),
    "degree": ("deg", 1.0), "°": ("deg", 1.0), "º": ("deg", 1.0), "deg": ("deg", 1.0),
}


def parse_unit(text: str | None) -> tuple[str, float]:
    """Split a unit string into (SI unit, factor to SI).

    Parameters
    ----------
    text : str or None
        A unit as written by an instrument, e.g. ``"nm"``, ``"um"``, ``"nA"``, ``"V"``.

    Returns
    -------
    unit : str
        The SI unit (``"m"``, ``"A"``, ...); ``""`` for dimensionless; the input itself when it
        is not recognised.
    factor : float
        Multiply values by this to express them in ``unit``.

    Examples
    --------
    >>> parse_unit("nm")
    ('m', 1e-09)
    >>> parse_unit("uA")
    ('A', 1e-06)
    """
    if text is None:
        return "", 1.0
    s = text.strip()
    if s in ("", "1", "-", "a.u.", "arb"):
        return "", 1.0
    if s in ALIASES:
        return ALIASES[s]
    # Longest base unit first so "mV" is milli-volt and "m" alone is metre.
    for base in sorted(BASE_UNITS, key=len, reverse=True):
        if s.endswith(base):
            prefix = s[: -len(base)]
            if prefix in PREFIXES:
                return base, PREFIXES[prefix]
    return s, 1.0


def si_prefix(value: float, unit: str) -> str:
    """Format *value* in *unit* with an engineering prefix, e.g. ``3.5e-6, "A" -> "3.50 µA"``."""
    if value == 0 or not abs(value) < float("inf"):
        return f"{value:g} {unit}"
    for prefix, factor in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0),
                           ("m", 1e-3), ("µ", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15)):
        if abs(value) >= factor * 0.9995:
            return f"{value / factor:.3g} {prefix}{unit}"
    return f"{value:.3g} {unit}"


def parse_quantity(text: str, unit: str) -> float:
    """A number in *unit*, written bare (``"2e-3"``: already in *unit*) or with a unit of the
    same kind (``"2meV"``, ``"0.5 um"``, ``"20nm"``, ``"2uA"``); returns the value in *unit*.

    Raises ValueError naming what was expected when the text is not such a number.

    Examples
    --------
    >>> parse_quantity("2meV", "eV")
    0.002
    >>> parse_quantity("0.5", "m")
    0.5
    """
    import math
    import re

    s = str(text).strip()
    m = re.fullmatch(r"([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?inf|nan)\s*(.*)", s,
                     flags=re.IGNORECASE)
    if not m:
        raise ValueError(f"{text!r} is not a number" + (
            f" (in {unit}, or with a unit such as m{unit} / µ{unit})" if unit else ""))
    value, written = float(m.group(1)), m.group(2).strip()
    if written:
        base, factor = parse_unit(written)
        want, want_factor = parse_unit(unit)
        if base != want:
            raise ValueError(f"{text!r}: the unit {written!r} is not a {unit} unit")
        value = value * factor / want_factor
    if not math.isfinite(value):
        raise ValueError(f"{text!r} is not a finite number")
    return value


def parse_quantities(values, unit: str) -> list[float]:
    """Comma lists and repeated values alike: ``["8,20", "30K"]`` → ``[8, 20, 30]``."""
    if isinstance(values, str):
        values = [values]
    out = []
    for v in values:
        out += [parse_quantity(part, unit) for part in str(v).split(",") if part.strip()]
    return out
