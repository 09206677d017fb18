"""Short text and HTML representations of analysis results (for the terminal and Jupyter).

A result dataclass's default ``repr`` lists every array (10 000 characters of
``np.float64(...)`` for a cAFM analysis).  :func:`displayable` replaces it by the scalar
quantities of the result's ``to_dict()`` with their units (read from the key's suffix, the
project's naming rule: ``threshold_A``, ``edge_width_m``, ``gap_eV`` ...) and the codes of its
quality warnings; ``_repr_html_`` shows the same as a table with the warnings spelled out.
"""

from __future__ import annotations

import html
import math
from typing import Any

#: Key suffix → unit, longest first.
SUFFIXES = (("_ohm_m", "Ω·m"), ("_ohm", "Ω"), ("_A_per_m", "A/m"), ("_m_per_s", "m/s"),
            ("_eV", "eV"), ("_A", "A"), ("_V", "V"), ("_K", "K"), ("_T", "T"), ("_m", "m"),
            ("_s", "s"), ("_Da", "Da"))
MAX_REPR = 480


def _unit(key: str) -> str:
    for suffix, unit in SUFFIXES:
        if key.endswith(suffix):
            return unit
    return ""


def format_value(key: str, value: Any) -> str | None:
    """A short text for one value; None for what does not fit a summary (long arrays)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return str(value) if not isinstance(value, str) or len(value) <= 80 else value[:77] + "…"
    scalar = hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0
    if isinstance(value, (int, float)) or scalar:
        v = float(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if not math.isfinite(v):
            return str(v)
        unit = _unit(key)
        if unit in ("m", "A", "V", "s", "eV", "Ω", "T"):
            from supramap.units import si_prefix

            return si_prefix(v, unit)
        return f"{v:.4g}" + (f" {unit}" if unit else "")
    if isinstance(value, (list, tuple)) and len(value) <= 4 and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        parts = [format_value(key, v) for v in value]
        return "[" + ", ".join(p for p in parts if p) + "]"
    return None


def summary_items(result) -> tuple[list[tuple[str, str]], list[dict]]:
    """(key, text) of the scalar quantities of ``result.to_dict()`` and its warnings."""
    try:
        d = result.to_dict()
    except Exception:  # noqa: BLE001 — a repr must never raise
        return [], []
    warnings = d.get("warnings") or []
    items = []
    for k, v in d.items():
        if k == "warnings":
            continue
        text = format_value(k, v)
        if text is not None:
            items.append((k, text))
    return items, warnings


def _repr(self) -> str:
    items, warnings = summary_items(self)
    body = ", ".join(f"{k}={v}" for k, v in items)
    if warnings:
        body += ", warnings=[" + ", ".join(str(w.get("code", "?")) for w in warnings) + "]"
    text = f"{type(self).__name__}({body})"
    return text if len(text) <= MAX_REPR else text[:MAX_REPR - 2] + "…)"


def _repr_html(self) -> str:
    from supramap.report.html import warnings_html

    items, warnings = summary_items(self)
    rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                   for k, v in items)
    return (f"<div><strong>{html.escape(type(self).__name__)}</strong>"
            f"<table><thead><tr><th>quantity</th><th>value</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>{warnings_html(warnings)}</div>")


def displayable(cls):
    """Class decorator (applied above ``@dataclass``): short ``repr`` and ``_repr_html_``."""
    cls.__repr__ = _repr
    cls._repr_html_ = _repr_html
    return cls
