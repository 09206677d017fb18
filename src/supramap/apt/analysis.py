"""Streaming atom-probe analysis: ranging, mass spectra, compositions, depth profiles, maps.

Ion data come memory-mapped from :mod:`supramap.io.apt`; every function reads them in chunks
(``CHUNK`` ions at a time) so a 100-million-ion needle is handled in bounded memory.  Positions
are in nm as stored; depth is measured along z from the apex, depth = z − min(z).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.io.apt import RangeTable
from supramap.quality import QualityWarning, warn, warnings_to_list

CHUNK = 1_000_000  # ions per streamed chunk: ~50 MB of temporaries


def _f64(a) -> np.ndarray:
    """A chunk as float64; signalling NaNs of a corrupt file become NaN without a warning."""
    with np.errstate(invalid="ignore"):
        return np.asarray(a, dtype=np.float64)


def _chunks(n: int, size: int = CHUNK):
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def assign(m: np.ndarray, table: RangeTable) -> np.ndarray:
    """Range index of each m/q (−1: unranged)."""
    lo = np.array([r.low for r in table.ranges])
    hi = np.array([r.high for r in table.ranges])
    idx = np.searchsorted(lo, m, side="right") - 1
    ok = idx >= 0
    ok[ok] &= m[ok] < hi[idx[ok]]
    return np.where(ok, idx, -1)


def _columns(ions: xr.Dataset) -> tuple[np.ndarray, np.ndarray]:
    if "mass_to_charge" not in ions or "z" not in ions:
        raise AnalysisError("ion data need mass_to_charge and z")
    return ions["mass_to_charge"].data, ions["z"].data


def z_range(ions: xr.Dataset) -> tuple[float, float]:
    """Min and max of z (nm), streamed."""
    _, z = _columns(ions)
    lo, hi = np.inf, -np.inf
    for s in _chunks(z.size):
        c = _f64(z[s])
        lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
    return lo, hi


#: m/q beyond this (Da) is not binned (no ion of the periodic table at charge ≥ 1 is heavier
#: in an atom probe); such values are corrupt.
MAX_DA = 1000.0
#: The most bins a spectrum may have (8 bytes each).
MAX_BINS = 20_000_000


@dataclass(frozen=True)
class Spectrum:
    """Mass spectrum: bin edges (Da) and counts; ``unranged_peaks`` (Da) are peaks that no
    range covers."""

    edges: np.ndarray
    counts: np.ndarray
    unranged_peaks: list[float] = field(default_factory=list)
    n_outside: int = 0  # ions with non-finite, negative or > MAX_DA m/q, not binned

    @property
    def centres(self) -> np.ndarray:
        """Bin centres."""
        return 0.5 * (self.edges[1:] + self.edges[:-1])


def mass_spectrum(ions: xr.Dataset, *, bin_width: float = 0.01, max_da: float | None = None,
                  table: RangeTable | None = None, min_depth_nm: float = 0.0,
                  z0: float | None = None) -> Spectrum:
    """Histogram of m/q (streamed), optionally only deeper than *min_depth_nm* below the apex
    at *z0* (found when not given); flags peaks
    (≥ 10 × the median count of occupied bins) outside every range."""
    from scipy.signal import find_peaks

    m, z = _columns(ions)
    if not (np.isfinite(bin_width) and bin_width > 0):
        raise AnalysisError(f"bin width must be a positive finite number of Da, got {bin_width}")
    if min_depth_nm > 0 and z0 is None:
        z0 = z_range(ions)[0]
    top = max_da
    if top is None:
        top = 0.0
        for s in _chunks(m.size):
            mc = _f64(m[s])
            ok = np.isfinite(mc) & (mc <= MAX_DA)
            if ok.any():
                top = max(top, float(np.max(mc[ok])))
        top = float(np.ceil(top + 1))
    nb = int(np.ceil(top / bin_width))
    if nb > MAX_BINS:
        raise AnalysisError(f"a spectrum to {top:g} Da in {bin_width:g} Da bins needs {nb} bins "
                            f"({nb * 8 / 1e9:.2g} GB); use a bin of at least "
                            f"{top / MAX_BINS:.2g} Da")
    counts = np.zeros(nb, dtype=np.int64)
    outside = 0
    for s in _chunks(m.size):
        mc = _f64(m[s])
        if min_depth_nm > 0:
            mc = mc[_f64(z[s]) - z0 >= min_depth_nm]
        good = np.isfinite(mc) & (mc >= 0) & (mc < nb * bin_width)
        outside += int(mc.size - good.sum())
        b = (mc[good] / bin_width).astype(np.int64)
        counts += np.bincount(b, minlength=nb)[:nb]
    edges = np.arange(nb + 1) * bin_width
    flagged: list[float] = []
    if table is not None and counts.any():
        level = 10 * max(float(np.median(counts[counts > 0])), 1.0)
        pk, _ = find_peaks(counts, height=level, distance=max(int(0.3 / bin_width), 1))
        centres = 0.5 * (edges[1:] + edges[:-1])
        ranged = assign(centres[pk], table)
        flagged = [float(c) for c in centres[pk][ranged < 0]]
    return Spectrum(edges, counts, flagged, outside)


@displayable
@dataclass(frozen=True)
class Composition:
    """Ionic and atomic compositions with counting-statistics standard errors."""

    n_ions: int
    n_ranged: int
    ionic: dict[str, tuple[float, float]]
    atomic: dict[str, tuple[float, float]]
    atom_counts: dict[str, float]
    ion_counts: dict[str, float]
    background_subtracted: bool
    excluded_depth_nm: float
    overlaps_split: tuple[str, ...] = ()
    warnings: tuple[QualityWarning, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """Keys of ``supramap apt composition --json``."""
        return {
            "overlaps_split": list(self.overlaps_split),
            "warnings": warnings_to_list(self.warnings),
            "n_ions": self.n_ions, "n_ranged": self.n_ranged,
            "composition": {k: {"fraction": v, "sigma": s} for k, (v, s) in self.atomic.items()},
            "ionic_composition": {k: {"fraction": v, "sigma": s}
                                  for k, (v, s) in self.ionic.items()},
            "atom_counts": self.atom_counts, "ion_counts": self.ion_counts,
            "background_subtracted": self.background_subtracted,
            "excluded_depth_m": self.excluded_depth_nm * 1e-9,
        }


def _fractions(counts: dict[str, float]) -> dict[str, tuple[float, float]]:
    total = sum(counts.values())
    if total <= 0:
        return {k: (float("nan"), float("nan")) for k in counts}
    return {k: (v / total, float(np.sqrt(max(v / total * (1 - v / total), 0) / total)))
            for k, v in counts.items()}


def range_counts(ions: xr.Dataset, table: RangeTable, *, min_depth_nm: float = 0.0,
                 z0: float | None = None) -> tuple[np.ndarray, int, int]:
    """Counts per range (streamed) of the ions deeper than *min_depth_nm* below the apex at
    *z0* (found when not given); also the numbers of ions considered and ranged."""
    m, z = _columns(ions)
    if min_depth_nm > 0 and z0 is None:
        z0 = z_range(ions)[0]
    counts = np.zeros(len(table.ranges), dtype=np.int64)
    n_total = 0
    for s in _chunks(m.size):
        mc = _f64(m[s])
        if min_depth_nm > 0:
            mc = mc[_f64(z[s]) - z0 >= min_depth_nm]
        n_total += mc.size
        idx = assign(mc, table)
        counts += np.bincount(idx[idx >= 0], minlength=len(table.ranges))
    return counts, n_total, int(counts.sum())


def local_background(spectrum: Spectrum, table: RangeTable, *, window: float = 1.0,
                     ) -> np.ndarray:
    """Background counts under each range: the mean count per Da in *window* Da on either side
    that no range covers, times the range width."""
    c = spectrum.centres
    covered = assign(c, table) >= 0
    bw = float(spectrum.edges[1] - spectrum.edges[0])
    out = np.zeros(len(table.ranges))
    for k, r in enumerate(table.ranges):  # one vectorised window per range
        side = ((c >= r.low - window) & (c < r.low)) | ((c >= r.high) & (c < r.high + window))
        side &= ~covered
        density = spectrum.counts[side].sum() / (side.sum() * bw) if side.any() else 0.0
        out[k] = density * (r.high - r.low)
    return out


def composition(ions: xr.Dataset, table: RangeTable, *, min_depth_nm: float = 0.0,
                background: bool = False) -> Composition:
    """Ionic and atomic (molecular ions decomposed) compositions of the ranged ions."""
    z0 = z_range(ions)[0] if min_depth_nm > 0 else None  # one pass, shared below
    counts, n_total, n_ranged = range_counts(ions, table, min_depth_nm=min_depth_nm, z0=z0)
    counts = counts.astype(float)
    if background:
        spec = mass_spectrum(ions, table=None, min_depth_nm=min_depth_nm, z0=z0,
                             max_da=max(r.high for r in table.ranges) + 2)
        counts = np.clip(counts - local_background(spec, table), 0, None)
    if n_ranged == 0:
        raise AnalysisError("no ion falls into any range")
    split, notes, ws = split_overlaps(table, counts)
    ion_counts: dict[str, float] = {}
    atom_counts: dict[str, float] = {}
    for r, c in zip(table.ranges, counts):
        if r.ion in split:
            continue  # counted from the decomposition below
        ion_counts[r.ion] = ion_counts.get(r.ion, 0.0) + float(c)
        for el, n in r.composition.items():
            atom_counts[el] = atom_counts.get(el, 0.0) + float(c) * n
    for ion, (comp, c) in split.items():
        ion_counts[ion] = ion_counts.get(ion, 0.0) + c
        for el, n in comp.items():
            atom_counts[el] = atom_counts.get(el, 0.0) + c * n
    return Composition(n_total, n_ranged, _fractions(ion_counts), _fractions(atom_counts),
                       atom_counts, ion_counts, background, float(min_depth_nm),
                       tuple(notes), tuple(ws))


def _species(table: RangeTable) -> dict[str, tuple[dict[str, int], int]]:
    """Each ranged ion with its charge state, inferred from where its isotope peaks fall:
    the charge z for which most of the ion's ranges hold one of its isotope peaks at m/z."""
    from supramap.apt.isotopes import isotope_pattern

    out: dict[str, tuple[dict[str, int], int]] = {}
    for ion in table.ions:
        comp = next(r.composition for r in table.ranges if r.ion == ion)
        if not comp:
            continue
        ranges = [r for r in table.ranges if r.ion == ion]
        best, best_hits = 0, 0
        for z in range(1, 5):
            pat = isotope_pattern(comp, z)
            hits = sum(any(r.low <= mz <= r.high for mz, _ in pat) for r in ranges)
            if hits > best_hits:
                best, best_hits = z, hits
        if best:
            out[ion] = (comp, best)
    return out


def split_overlaps(table: RangeTable, counts: np.ndarray
                   ) -> tuple[dict[str, tuple[dict[str, int], float]], list[str],
                              list[QualityWarning]]:
    """Isotope-overlap decomposition where one range holds isotope peaks of several ions
    (Te³⁺/Se²⁺ near 40–41 Da, ⁵⁸Fe¹⁶O⁺/⁷⁴Se⁺ at 74 Da).

    For the ions involved, the abundance matrix A[range, ion] (share of the ion's isotope
    pattern inside each of the ranges) is built and the counts of those ranges are fitted by
    weighted least squares (:func:`supramap.apt.isotopes.decompose`'s approach); each ion is then
    credited with its fitted number times the share of its pattern that the ranges cover,
    instead of the counts of the ranges carrying its name.  Returns the credited counts by
    ion, a note per split range, and warnings.
    """
    from supramap.apt.isotopes import isotope_pattern

    species = _species(table)
    names = list(species)
    nr = len(table.ranges)
    a = np.zeros((nr, len(names)))
    for j, ion in enumerate(names):
        comp, z = species[ion]
        for mz, ab in isotope_pattern(comp, z):
            for i, r in enumerate(table.ranges):
                if r.low <= mz <= r.high:
                    a[i, j] += ab
    shared = (a > 0).sum(axis=1) > 1
    if not shared.any():
        return {}, [], []
    # The ions that share a range, and every range any of them occupies.
    involved = np.nonzero(a[shared].sum(axis=0) > 0)[0]
    rows = np.nonzero(a[:, involved].sum(axis=1) > 0)[0]
    sub = a[np.ix_(rows, involved)]
    c = np.asarray(counts, dtype=float)[rows]
    notes = []
    for i in np.nonzero(shared)[0]:
        r = table.ranges[i]
        ions = [f"{names[j]}{species[names[j]][1]}+" for j in np.nonzero(a[i] > 0)[0]]
        notes.append(f"{r.low:g}–{r.high:g} Da ({r.ion}): {' / '.join(ions)}")
    ws: list[QualityWarning] = []
    if np.linalg.matrix_rank(sub) < sub.shape[1]:
        ws.append(warn("apt.overlap_unresolved",
                       "ranges are shared by ions whose isotope patterns the ranged peaks "
                       "cannot separate: the shared counts stay with the ion named in the range "
                       "file, and the composition is biased: " + "; ".join(notes)))
        return {}, notes, ws
    w = 1 / np.sqrt(np.maximum(c, 1.0))
    sol, *_ = np.linalg.lstsq(sub * w[:, None], c * w, rcond=None)
    sol = np.clip(sol, 0, None)
    credited = {names[j]: (species[names[j]][0], float(sol[k] * sub[:, k].sum()))
                for k, j in enumerate(involved)}
    return credited, notes, ws


@displayable
@dataclass(frozen=True)
class Profile:
    """Atomic concentration per depth bin (nm) with counting errors, per element."""

    depth_nm: np.ndarray  # bin centres
    edges_nm: np.ndarray
    fractions: dict[str, np.ndarray]
    sigmas: dict[str, np.ndarray]
    atoms: np.ndarray  # atoms per bin

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready profile."""
        return {"depth_m": (self.depth_nm * 1e-9).tolist(),
                "atoms_per_bin": self.atoms.tolist(),
                "fractions": {k: v.tolist() for k, v in self.fractions.items()},
                "sigmas": {k: v.tolist() for k, v in self.sigmas.items()}}


def _element_matrix(table: RangeTable) -> tuple[list[str], np.ndarray]:
    els = table.elements
    mat = np.zeros((len(table.ranges), len(els)))
    for i, r in enumerate(table.ranges):
        for el, n in r.composition.items():
            mat[i, els.index(el)] = n
    return els, mat


def depth_profile(ions: xr.Dataset, table: RangeTable, *, bin_nm: float | None = 1.0,
                  ions_per_bin: int | None = None, cylinder: dict[str, Any] | None = None,
                  ) -> Profile:
    """1-D concentration profile along the needle axis (z) or along a user cylinder.

    Fixed bin width (*bin_nm*) or fixed number of ranged ions per bin (*ions_per_bin*).
    *cylinder*: ``{"centre": (x, y, z), "axis": (ux, uy, uz), "radius": r, "length": L}`` in
    nm; depth is then the position along the axis from the centre − L/2.
    """
    m, z = _columns(ions)
    els, mat = _element_matrix(table)
    if cylinder is not None:
        c0 = _f64(cylinder["centre"])
        ax = _f64(cylinder["axis"])
        ax = ax / np.linalg.norm(ax)
        radius, length = float(cylinder["radius"]), float(cylinder["length"])
        x, y = ions["x"].data, ions["y"].data
    z0, z1 = z_range(ions)
    fine_step = 0.05
    # Pass 1: fine histogram of (depth, range) -> counts; then rebin as asked.
    depth_max = (z1 - z0) if cylinder is None else length
    nf = int(np.ceil(depth_max / fine_step)) + 1
    fine = np.zeros((nf, len(table.ranges)), dtype=np.int64)
    for s in _chunks(m.size):
        mc = _f64(m[s])
        if cylinder is None:
            d = _f64(z[s]) - z0
            keep = np.ones(mc.size, bool)
        else:
            rel = np.stack([_f64(a[s]) for a in (x, y, z)], 1) - c0
            t = rel @ ax
            radial = np.linalg.norm(rel - t[:, None] * ax, axis=1)
            keep = (radial <= radius) & (np.abs(t) <= length / 2)
            d = t + length / 2
        idx = assign(mc, table)
        keep &= idx >= 0
        b = np.clip((d[keep] / fine_step).astype(np.int64), 0, nf - 1)
        fine += np.bincount(b * len(table.ranges) + idx[keep],
                            minlength=nf * len(table.ranges)).reshape(nf, -1)
    atoms_fine = fine @ mat  # (nf, n_elements)
    if ions_per_bin:
        cum = np.cumsum(fine.sum(axis=1))
        cuts = np.searchsorted(cum, np.arange(ions_per_bin, cum[-1] + 1, ions_per_bin))
        edges_i = np.unique(np.concatenate([[0], cuts + 1, [nf]]))
    else:
        if not bin_nm or bin_nm <= 0:
            raise AnalysisError("give a positive bin width or a number of ions per bin")
        per = max(int(round(bin_nm / fine_step)), 1)
        edges_i = np.unique(np.concatenate([np.arange(0, nf, per), [nf]]))
    sums = np.add.reduceat(atoms_fine, edges_i[:-1], axis=0)
    total = sums.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = sums / total[:, None]
        sig = np.sqrt(frac * (1 - frac) / total[:, None])
    edges = edges_i * fine_step
    return Profile(0.5 * (edges[1:] + edges[:-1]), edges,
                   {e: frac[:, k] for k, e in enumerate(els)},
                   {e: sig[:, k] for k, e in enumerate(els)}, total)


def detect_cap(ions: xr.Dataset, table: RangeTable, *, element: str = "O",
               threshold: float = 0.1, bin_nm: float = 1.0) -> float:
    """Depth (nm) where the *element* concentration first falls below *threshold* for good,
    scanning from the apex (the oxide cap's lower boundary, linearly interpolated)."""
    prof = depth_profile(ions, table, bin_nm=bin_nm)
    if element not in prof.fractions:
        raise AnalysisError(f"no range contains {element}; ranged elements are "
                            f"{', '.join(prof.fractions)}")
    f = np.nan_to_num(prof.fractions[element])
    above = np.nonzero(f >= threshold)[0]
    if above.size == 0:
        return 0.0
    k = int(above[-1])
    if k + 1 >= f.size:
        raise AnalysisError(f"{element} stays above {threshold} down to the bottom of the needle")
    d0, d1 = prof.depth_nm[k], prof.depth_nm[k + 1]
    f0, f1 = f[k], f[k + 1]
    return float(d0 + (f0 - threshold) / (f0 - f1) * (d1 - d0)) if f0 != f1 else float(d1)


def concentration_map(ions: xr.Dataset, table: RangeTable, element: str, *, bin_nm: float = 2.0,
                      min_depth_nm: float = 0.0) -> xr.DataArray:
    """2-D map (x–y projection) of the atomic fraction of *element* (m coordinates)."""
    m, z = _columns(ions)
    x, y = ions["x"].data, ions["y"].data
    els, mat = _element_matrix(table)
    if element not in els:
        raise AnalysisError(f"no range contains {element}")
    col = mat[:, els.index(element)]
    tot = mat.sum(axis=1)
    xr_, yr_ = [np.inf, -np.inf], [np.inf, -np.inf]
    for s in _chunks(m.size):
        xs, ys = _f64(x[s]), _f64(y[s])
        xr_ = [min(xr_[0], xs.min()), max(xr_[1], xs.max())]
        yr_ = [min(yr_[0], ys.min()), max(yr_[1], ys.max())]
    nx = int(np.ceil((xr_[1] - xr_[0]) / bin_nm)) + 1
    ny = int(np.ceil((yr_[1] - yr_[0]) / bin_nm)) + 1
    num = np.zeros(ny * nx)
    den = np.zeros(ny * nx)
    z0 = z_range(ions)[0]
    for s in _chunks(m.size):
        idx = assign(_f64(m[s]), table)
        keep = idx >= 0
        if min_depth_nm > 0:
            keep &= _f64(z[s]) - z0 >= min_depth_nm
        ix = ((_f64(x[s])[keep] - xr_[0]) / bin_nm).astype(int)
        iy = ((_f64(y[s])[keep] - yr_[0]) / bin_nm).astype(int)
        flat = iy * nx + ix
        num += np.bincount(flat, weights=col[idx[keep]], minlength=ny * nx)
        den += np.bincount(flat, weights=tot[idx[keep]], minlength=ny * nx)
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (num / den).reshape(ny, nx)
    return xr.DataArray(frac, dims=("y", "x"),
                        coords={"y": ("y", (yr_[0] + (np.arange(ny) + 0.5) * bin_nm) * 1e-9,
                                      {"units": "m"}),
                                "x": ("x", (xr_[0] + (np.arange(nx) + 0.5) * bin_nm) * 1e-9,
                                      {"units": "m"})},
                        name=f"{element} fraction", attrs={"units": "", "provenance": []})


RATIOS = {"Fe/Te": ({"Fe": 1}, {"Te": 1}), "Se/Te": ({"Se": 1}, {"Te": 1}),
          "Fe/(Se+Te)": ({"Fe": 1}, {"Se": 1, "Te": 1})}


def ratio(atoms: dict[str, float], num: dict[str, int], den: dict[str, int],
          ) -> tuple[float, float]:
    """Atom-count ratio and its Poisson standard error σ = r √(1/N_num + 1/N_den)."""
    a = sum(atoms.get(e, 0.0) * k for e, k in num.items())
    b = sum(atoms.get(e, 0.0) * k for e, k in den.items())
    if a <= 0 or b <= 0:
        return float("nan"), float("nan")
    r = a / b
    return r, r * float(np.sqrt(1 / a + 1 / b))


def compare_compositions(a: Composition, b: Composition,
                         ratios: dict[str, tuple[dict[str, int], dict[str, int]]] | None = None,
                         ) -> dict[str, Any]:
    """Ratios of two needles with errors and the significance z = (a − b)/√(σa² + σb²)."""
    out: dict[str, Any] = {"ratios": {}, "composition_difference": {}}
    for name, (num, den) in (ratios or RATIOS).items():
        ra, sa = ratio(a.atom_counts, num, den)
        rb, sb = ratio(b.atom_counts, num, den)
        z = (ra - rb) / np.hypot(sa, sb) if np.isfinite(sa * sb) and np.hypot(sa, sb) > 0 \
            else float("nan")
        out["ratios"][name] = {"a": ra, "a_sigma": sa, "b": rb, "b_sigma": sb, "z": float(z)}
    for el in sorted(set(a.atomic) | set(b.atomic)):
        fa, sa = a.atomic.get(el, (0.0, 0.0))
        fb, sb = b.atomic.get(el, (0.0, 0.0))
        den = np.hypot(sa, sb)
        out["composition_difference"][el] = {"a": fa, "a_sigma": sa, "b": fb, "b_sigma": sb,
                                             "z": float((fa - fb) / den) if den > 0 else None}
    return out
