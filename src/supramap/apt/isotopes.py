"""Isotope patterns of elements and simple molecular ions, from the ``periodictable``
package's natural abundances and masses (not a hand-typed table)."""

from __future__ import annotations

import re
from functools import cache

import numpy as np
import periodictable

from supramap.errors import AnalysisError


@cache
def element_isotopes(symbol: str) -> tuple[tuple[float, float], ...]:
    """(mass in Da, abundance fraction) of the naturally occurring isotopes of *symbol*."""
    try:
        el = getattr(periodictable, symbol)
    except AttributeError:
        raise AnalysisError(f"unknown element {symbol!r}") from None
    out = [(float(iso.mass), float(iso.abundance) / 100) for iso in el
           if getattr(iso, "abundance", 0) and iso.abundance > 0]
    if not out:
        raise AnalysisError(f"{symbol} has no stable isotope")
    total = sum(a for _, a in out)
    return tuple((m, a / total) for m, a in out)


def parse_formula(formula: str | dict[str, int]) -> dict[str, int]:
    """``"FeO"`` → ``{"Fe": 1, "O": 1}``; dicts pass through."""
    if isinstance(formula, dict):
        return dict(formula)
    out: dict[str, int] = {}
    for el, n in re.findall(r"([A-Z][a-z]?)(\d*)", formula):
        out[el] = out.get(el, 0) + (int(n) if n else 1)
    if not out:
        raise AnalysisError(f"cannot parse the formula {formula!r}")
    return out


def isotope_pattern(formula: str | dict[str, int], charge: int = 1, *, merge_da: float = 0.01,
                    min_abundance: float = 1e-5) -> list[tuple[float, float]]:
    """(m/q, relative abundance) peaks of an ion, abundances summing to 1.

    The pattern of a molecule is the convolution of its atoms' isotope distributions; peaks
    closer than *merge_da* (in Da, before dividing by the charge) are merged.
    """
    if charge < 1:
        raise AnalysisError("charge must be a positive integer")
    # key (mass bin) -> [abundance, abundance-weighted mass]; peaks within a bin merge at
    # their abundance-weighted mean mass.
    peaks: dict[int, list[float]] = {0: [1.0, 0.0]}
    for el, n in parse_formula(formula).items():
        for _ in range(n):
            new: dict[int, list[float]] = {}
            for a0, wm0 in peaks.values():
                m0 = wm0 / a0
                for m1, a1 in element_isotopes(el):
                    mass = m0 + m1
                    entry = new.setdefault(round(mass / merge_da), [0.0, 0.0])
                    entry[0] += a0 * a1
                    entry[1] += a0 * a1 * mass
            peaks = {k: v for k, v in new.items() if v[0] >= min_abundance * 1e-3}
    total = sum(a for a, _ in peaks.values())
    return sorted((wm / a / charge, a / total) for a, wm in peaks.values()
                  if a / total >= min_abundance)


_SUP = str.maketrans("0123456789+", "⁰¹²³⁴⁵⁶⁷⁸⁹⁺")


def ion_label(formula: str | dict[str, int], low: float, high: float, *,
              max_charge: int = 4) -> str | None:
    """The charge state (and, for a single atom, the isotope) that puts a peak of *formula*
    inside the range [low, high] Da: ``⁵⁶Fe²⁺``, ``¹³⁰Te²⁺``, ``FeO⁺``.  Range files name only the
    ion, so the charge is read off the isotope pattern; the most abundant peak in the range
    wins (lowest charge on a tie).  None when no charge up to *max_charge* has a peak there."""
    comp = parse_formula(formula)
    best: tuple[float, int, float] | None = None
    for z in range(1, max_charge + 1):
        for mq, ab in isotope_pattern(comp, z, min_abundance=1e-4):
            if low <= mq <= high and (best is None or ab > best[0] + 1e-12):
                best = (ab, z, mq * z)
    if best is None:
        return None
    _, z, mass = best
    charge = ("" if z == 1 else str(z)) + "+"
    name = "".join(el + (str(n) if n > 1 else "") for el, n in comp.items())
    iso = str(round(mass)).translate(_SUP) if sum(comp.values()) == 1 else ""
    return iso + name + charge.translate(_SUP)


def decompose(counts: np.ndarray, centres: np.ndarray, species: list[tuple[str, int]], *,
              tolerance: float = 0.05) -> dict[str, tuple[float, float]]:
    """Split counts in overlapping peaks among candidate ions by their isotope patterns.

    Parameters
    ----------
    counts : (P,) array
        Counts in P peak windows centred on *centres* (m/q in Da).
    species : list of (formula, charge)
        Candidate ions, e.g. ``[("Te", 3), ("Se", 2)]``.

    Returns
    -------
    dict
        ``"Te3+"`` → (number of ions over all isotopes, standard error), by least squares on
        the abundance matrix with Poisson weights.
    """
    c = np.asarray(counts, dtype=float)
    m = np.asarray(centres, dtype=float)
    a = np.zeros((m.size, len(species)))
    for j, (formula, z) in enumerate(species):
        for mz, ab in isotope_pattern(formula, z):
            hit = np.abs(m - mz) <= tolerance
            a[hit, j] += ab
    if np.linalg.matrix_rank(a) < len(species):
        raise AnalysisError("the peaks do not separate these species (rank-deficient pattern)")
    w = 1 / np.sqrt(np.maximum(c, 1.0))
    sol, *_ = np.linalg.lstsq(a * w[:, None], c * w, rcond=None)
    cov = np.linalg.inv((a * w[:, None]).T @ (a * w[:, None]))
    return {f"{f}{z}+": (float(sol[j]), float(np.sqrt(cov[j, j])))
            for j, (f, z) in enumerate(species)}
