"""Quality warnings: how an analysis says that a number cannot be trusted.

Every analysis result carries ``warnings``, a tuple of :class:`QualityWarning`.  A warning has a
stable machine-readable ``code`` (``"susceptibility.paramagnetic"``), a plain-language
``message`` that says what is wrong and what to do, and the ``values`` (numbers) behind it, so a
user can judge for themselves.  The CLI prints them after the result table, ``--json`` writes
them under ``"warnings"``, the HTML report shows them beside the result, and ``supramap --strict``
turns any warning into exit code 3.

Why not Python's :mod:`warnings`: those are process-global, filtered by default, lost once
printed and invisible in a result object; a physicist's result has to travel with its caveats
(into JSON, into a report, into a notebook).

>>> w = warn("loop.reversible", "no hysteresis above the noise", delta_m_over_noise=0.4)
>>> w.code, w.values["delta_m_over_noise"]
('loop.reversible', 0.4)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["QualityWarning", "warn", "as_warnings", "warnings_to_list", "codes", "Z90",
           "interval_90"]

#: A 90 % two-sided interval of a normal estimate is ±Z90 standard errors.
Z90 = 1.6448536269514722


def interval_90(value: float, err: float) -> list[float] | None:
    """[value − Z90·err, value + Z90·err], or None when either is not a finite number (for
    the JSON: no interval rather than NaN bounds)."""
    if not (math.isfinite(value) and math.isfinite(err)):
        return None
    return [float(value - Z90 * err), float(value + Z90 * err)]


def _plain(v: Any) -> Any:
    """Numbers as plain Python floats/ints (NaN → None), everything else as text."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return v
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return f if math.isfinite(f) else None


@dataclass(frozen=True)
class QualityWarning:
    """Why a result (or part of it) cannot be trusted.

    Attributes
    ----------
    code : str
        Stable identifier ``"<analysis>.<reason>"``; the README lists every code.
    message : str
        One sentence for a physicist: what is wrong and what to do.
    values : mapping
        The numbers behind the verdict (plain floats/ints/strings).
    """

    code: str
    message: str
    values: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """``{"code", "message", "values"}`` with JSON-safe values."""
        return {"code": self.code, "message": self.message,
                "values": {k: _plain(v) for k, v in self.values.items()}}

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


def warn(code: str, message: str, **values: Any) -> QualityWarning:
    """Shorthand: ``warn("fit.failed", "no covariance", redchi=12.0)``."""
    return QualityWarning(code, message, {k: _plain(v) for k, v in values.items()})


def as_warnings(items: Iterable[QualityWarning | None] | None) -> tuple[QualityWarning, ...]:
    """A tuple of the warnings in *items* (``None`` entries dropped, duplicates of the same code
    and message kept once, order kept)."""
    out: list[QualityWarning] = []
    seen: set[tuple[str, str]] = set()
    for w in items or ():
        if w is None:
            continue
        key = (w.code, w.message)
        if key not in seen:
            seen.add(key)
            out.append(w)
    return tuple(out)


def warnings_to_list(items: Iterable[QualityWarning] | None) -> list[dict[str, Any]]:
    """JSON form of a sequence of warnings."""
    return [w.to_dict() for w in items or ()]


def codes(items: Iterable[QualityWarning] | None) -> list[str]:
    """The codes of *items* (handy in tests: ``assert "loop.reversible" in codes(r.warnings)``)."""
    return [w.code for w in items or ()]
