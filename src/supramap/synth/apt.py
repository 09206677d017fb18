"""Virtual atom-probe needles cut from the conducting and the insulating regions.

A needle is a truncated cone (apex radius, shank half-angle) of reconstructed ions with a
given atomic composition, an O-rich oxide cap over its top ``cap_nm``, detection efficiency
folded into the ion count, charge states per element, isotopes drawn from natural abundances
(``periodictable``), Gaussian peak widths growing with m/q, and a flat background.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from supramap.apt.isotopes import isotope_pattern
from supramap.io.apt import Range, RangeTable, validate_ranges, write_apt, write_pos, write_rrng

#: Charge-state fractions per element (no ion overlaps another element's in this set).
CHARGES = {"Fe": {2: 0.85, 1: 0.15}, "Se": {1: 0.7, 2: 0.3}, "Te": {2: 1.0}, "O": {1: 1.0}}

NOMINAL = {"Fe": 0.5, "Se": 0.2, "Te": 0.3}  # Fe(Se0.4Te0.6)
DEPLETED = {"Fe": 0.40, "Se": 0.24, "Te": 0.36}  # Fe-poor: superconducting region
CAP = {"O": 0.45, "Fe": 0.30, "Se": 0.10, "Te": 0.15}


@dataclass(frozen=True)
class Needle:
    """Truth of a virtual needle (compositions are atomic fractions)."""

    name: str
    composition: dict[str, float]
    n_atoms: int = 300_000
    cap_nm: float = 20.0
    cap_composition: dict[str, float] = field(default_factory=lambda: dict(CAP))
    length_nm: float = 120.0
    apex_radius_nm: float = 25.0
    half_angle_deg: float = 8.0
    background_fraction: float = 0.003
    seed: int = 0


def _species(composition: dict[str, float]) -> list[tuple[str, int, float]]:
    out = []
    for el, f in composition.items():
        for z, fz in CHARGES[el].items():
            out.append((el, z, f * fz))
    return out


def simulate(needle: Needle) -> dict[str, Any]:
    """Ions of a needle: x, y, z (nm, z = depth from the apex), m/q (Da), and the truth.

    Returns arrays and ``truth`` with the atom counts generated below the cap.
    """
    rng = np.random.default_rng(needle.seed)
    n = needle.n_atoms
    depth = needle.length_nm * np.sqrt(rng.random(n))  # the cone widens: more ions deeper
    radius = needle.apex_radius_nm + depth * np.tan(np.radians(needle.half_angle_deg))
    r = radius * np.sqrt(rng.random(n))
    phi = rng.uniform(0, 2 * np.pi, n)
    x, y, z = r * np.cos(phi), r * np.sin(phi), depth
    in_cap = depth < needle.cap_nm
    elements = np.empty(n, dtype=object)
    truth_counts: dict[str, int] = {}
    for mask, comp in ((in_cap, needle.cap_composition), (~in_cap, needle.composition)):
        names = list(comp)
        p = np.array([comp[k] for k in names])
        pick = rng.choice(len(names), size=int(mask.sum()), p=p / p.sum())
        elements[mask] = np.asarray(names, dtype=object)[pick]
        if comp is needle.composition:
            truth_counts = {k: int((pick == i).sum()) for i, k in enumerate(names)}
    m = np.empty(n)
    for el in set(elements.tolist()):
        sel = np.nonzero(elements == el)[0]
        charges = list(CHARGES[el])
        pz = np.array([CHARGES[el][q] for q in charges])
        zs = np.asarray(charges)[rng.choice(len(charges), size=sel.size, p=pz)]
        for q in charges:
            sub = sel[zs == q]
            pat = isotope_pattern(el, q)
            mz = np.array([a for a, _ in pat])
            ab = np.array([b for _, b in pat])
            m[sub] = mz[rng.choice(mz.size, size=sub.size, p=ab / ab.sum())]
    m += rng.normal(0, 1, n) * 0.0005 * m  # peak width: Δm/m ≈ 1/850 FWHM
    nb = int(needle.background_fraction * n)
    bx = rng.integers(0, n, nb)
    m[bx] = rng.uniform(1, 100, nb)  # background: those ions lose their identity
    return {"x": x, "y": y, "z": z, "m": m, "truth": {
        "name": needle.name, "composition": needle.composition, "cap_nm": needle.cap_nm,
        "atom_counts_below_cap": truth_counts, "n_ions": n}}


def range_table(elements=("Fe", "Se", "Te", "O"), *, half_width: float = 0.25,
                min_abundance: float = 5e-4) -> RangeTable:
    """Ranges around every isotope peak (abundance ≥ *min_abundance*) of each ion in
    :data:`CHARGES`, ±*half_width*/charge Da."""
    ranges = []
    colours = {"Fe": "FF00FF", "Se": "00AA00", "Te": "0000FF", "O": "FF0000"}
    for el in elements:
        for q in CHARGES[el]:
            for mz, ab in isotope_pattern(el, q):
                if ab >= min_abundance:
                    w = half_width / q
                    ranges.append(Range(mz - w, mz + w, el, {el: 1}, colours.get(el, "")))
    return validate_ranges(ranges, "virtual sample")


def write_needles(folder: str | Path, *, n_atoms: int = 300_000) -> dict[str, Any]:
    """Write two needles (conducting: Fe-depleted; insulating: nominal) as ``.pos`` and
    ``.apt`` plus ``ranges.rrng``; returns the truth."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    table = range_table()
    write_rrng(out / "ranges.rrng", table)
    truth = {}
    for name, comp, seed in (("conducting", DEPLETED, 1), ("insulating", NOMINAL, 2)):
        needle = Needle(name, comp, n_atoms=n_atoms, seed=seed)
        sim = simulate(needle)
        write_pos(out / f"needle_{name}.pos", sim["x"], sim["y"], sim["z"], sim["m"])
        write_apt(out / f"needle_{name}.apt", sim["x"], sim["y"], sim["z"], sim["m"])
        truth[name] = {**sim["truth"], **{k: v for k, v in asdict(needle).items()
                                          if k not in ("composition",)}}
    return truth
