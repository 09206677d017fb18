"""Simulated transport measurements on a map: in-line four-probe, van der Pauw, two-probe."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.network.homogeneous import homogeneous_resistances
from supramap.network.model import Contact, Network, build_network
from supramap.network.solve import TARGET_RESIDUAL, make_solver

GEOMETRIES = ("vdp", "inline", "twoprobe")
#: Test current (A); results are linear in it.
CURRENT = 1.0


@dataclass(frozen=True)
class Configuration:
    """Current from ``source`` to ``sink``; voltage ``V(plus) − V(minus)`` (contact indices)."""

    name: str
    source: int
    sink: int
    plus: int
    minus: int


def configurations(geometry: str) -> list[Configuration]:
    """Measurement configurations of a geometry (contacts in the order of
    :func:`default_contacts`)."""
    if geometry == "vdp":
        # Contacts A, B, C, D around the perimeter; R_AB,CD = (V_D − V_C) / I_AB.
        return [Configuration("R_AB,CD", 0, 1, 3, 2), Configuration("R_BC,DA", 1, 2, 0, 3)]
    if geometry == "inline":
        return [Configuration("R_14,23", 0, 3, 1, 2)]
    if geometry == "twoprobe":
        return [Configuration("R_12,12", 0, 1, 0, 1)]
    raise AnalysisError(f"unknown geometry {geometry!r}; choose from {GEOMETRIES}")


def default_contacts(shape: tuple[int, int], geometry: str, size: int = 1) -> list[Contact]:
    """Contacts placed as an experimentalist would by default.

    ``vdp``: square pads of ``size`` px in the four corners, A top-left then clockwise;
    ``inline``: four equally spaced contacts on the middle row at 1/5 … 4/5 of the width;
    ``twoprobe``: two contacts on the middle row at 1/4 and 3/4 of the width.
    """
    ny, nx = shape
    s = max(int(size), 1)
    if s * 2 > min(ny, nx):
        raise AnalysisError(f"contact size {s} px does not fit a {ny} × {nx} map")
    if geometry == "vdp":
        return [Contact(0, s, 0, s, "A"), Contact(0, s, nx - s, nx, "B"),
                Contact(ny - s, ny, nx - s, nx, "C"), Contact(ny - s, ny, 0, s, "D")]
    row = ny // 2
    if geometry == "inline":
        cols = [round(nx * k / 5) for k in (1, 2, 3, 4)]
        return [Contact.point(row, c, s, n) for c, n in zip(cols, ("I+", "V+", "V-", "I-"))]
    if geometry == "twoprobe":
        return [Contact.point(row, nx // 4, s, "1"), Contact.point(row, 3 * nx // 4, s, "2")]
    raise AnalysisError(f"unknown geometry {geometry!r}; choose from {GEOMETRIES}")


def van_der_pauw_sheet_resistance(r1: float, r2: float) -> float:
    """Solve ``exp(−π R1/Rs) + exp(−π R2/Rs) = 1`` for Rs (van der Pauw 1958).

    Zero when either resistance is zero (a superconducting short); NaN when one is negative
    (the formula assumes a homogeneous, simply connected lamella).
    """
    if r1 < 0 or r2 < 0 or not (np.isfinite(r1) and np.isfinite(r2)):
        return float("nan")
    if r1 == 0 or r2 == 0:
        return 0.0

    def f(rs: float) -> float:
        return np.exp(-np.pi * r1 / rs) + np.exp(-np.pi * r2 / rs) - 1.0

    guess = np.pi * (r1 + r2) / (2 * np.log(2))
    lo, hi = guess / 10, guess * 10
    while f(lo) > 0:
        lo /= 10
    while f(hi) < 0:
        hi *= 10
    from scipy.optimize import brentq  # here: scipy.optimize costs 0.4 s to import

    return float(brentq(f, lo, hi, xtol=1e-14 * guess, rtol=1e-14))


@dataclass
class Measurement:
    """Resistances of every configuration, plus potentials and bond currents of the first."""

    resistances: dict[str, float]
    residual: float
    node_potential: np.ndarray
    contact_nodes: list[int]
    network: Network


def measure(network: Network, geometry: str, *, current: float = CURRENT,
            tol: float = TARGET_RESIDUAL) -> Measurement:
    """Solve every configuration of *geometry* on a built network (contacts in order), each
    to the relative residual *tol*."""
    confs = configurations(geometry)
    nodes = network.contact_nodes
    need = max(max(c.source, c.sink, c.plus, c.minus) for c in confs) + 1
    if len(nodes) < need:
        raise AnalysisError(f"geometry {geometry!r} needs {need} contacts, got {len(nodes)}")
    solver = make_solver(network, nodes[confs[0].source], tol=tol)
    names = [f"#{i + 1}" for i in range(len(nodes))]
    for i in {c.sink for c in confs} | {c.source for c in confs}:
        if not solver.component[nodes[i]]:
            raise AnalysisError("no conducting path between the current contacts "
                                f"({names[confs[0].source]} and {names[i]}): the map does not "
                                "conduct between them")
    for i in {c.plus for c in confs} | {c.minus for c in confs}:
        if not solver.component[nodes[i]]:
            raise AnalysisError(f"voltage contact {names[i]} is not connected to the current "
                                "path: its potential is undefined")
    def one(k: int):
        conf = confs[k]
        src, snk = nodes[conf.source], nodes[conf.sink]
        if src == snk:
            v = np.where(solver.component, 0.0, np.nan)  # shorted by a superconductor
            res = 0.0
        else:
            v, res = solver.solve({src: current, snk: -current})
        r = float((v[nodes[conf.plus]] - v[nodes[conf.minus]]) / current)
        return r, res, (v if k == 0 else None)  # only the first's potentials are kept

    # The configurations share the solver; a forked child solves every other one (pyamg's
    # cycles hold the GIL, so threads would take turns): 2048² van der Pauw, 8.5 -> ~4.5 s.
    from supramap.parallel import fork_map

    # (A direct factorisation solves in milliseconds: not worth a process.)
    solved = fork_map(one, range(len(confs)), processes=2 if solver.amg is not None else 1)
    out = {conf.name: r for conf, (r, _, _) in zip(confs, solved)}
    residual = max(res for _, res, _ in solved)
    return Measurement(out, residual, solved[0][2], list(nodes), network)


@displayable
@dataclass
class FourProbeResult:
    """A simulated transport measurement on a map and its homogeneous reference.

    ``R_apparent_ohm`` is the first configuration's resistance (R_AB,CD for van der Pauw);
    ``sheet_resistance_apparent_ohm`` comes from the van der Pauw equation for ``vdp`` and from
    the geometry factor of the homogeneous reference otherwise.  ``zero_resistance`` is True when
    every configuration reads exactly zero.  ``current_fraction_in_sc`` is the share of the
    current that crosses the cut midway between the current contacts inside superconductors.
    ``potential_V`` and ``current_density_A_per_m`` are maps for the first configuration at
    1 A; inside superconductors the current distribution is not fixed by a resistor model
    (every distribution dissipates nothing), so the current density is NaN there.
    """

    geometry: str
    contacts: list[Contact]
    sc_fraction: float
    sc_percolates: bool
    sc_percolates_voltage: bool
    resistances_ohm: dict[str, float]
    homogeneous_resistances_ohm: dict[str, float]
    R_apparent_ohm: float
    R_homogeneous_ohm: float
    sheet_resistance_apparent_ohm: float
    sheet_resistance_homogeneous_ohm: float
    reference_sheet_resistance_ohm: float
    zero_resistance: bool
    current_fraction_in_sc: float
    residual: float
    sc_cluster_role: dict[int, str] = field(repr=False, default_factory=dict)
    potential_V: np.ndarray | None = field(repr=False, default=None)
    current_density_A_per_m: np.ndarray | None = field(repr=False, default=None)
    current_x: np.ndarray | None = field(repr=False, default=None)
    current_y: np.ndarray | None = field(repr=False, default=None)
    sc_clusters: np.ndarray | None = field(repr=False, default=None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (keys of ``supramap network fourprobe --json``)."""
        roles = list(self.sc_cluster_role.values())
        return {
            "geometry": self.geometry,
            "contacts_px": [[c.r0, c.r1, c.c0, c.c1] for c in self.contacts],
            "sc_fraction": self.sc_fraction,
            "sc_percolates": self.sc_percolates,
            "sc_percolates_voltage": self.sc_percolates_voltage,
            "R_apparent_ohm": self.R_apparent_ohm,
            "R_homogeneous_ohm": self.R_homogeneous_ohm,
            "resistances_ohm": self.resistances_ohm,
            "homogeneous_resistances_ohm": self.homogeneous_resistances_ohm,
            "sheet_resistance_apparent_ohm": self.sheet_resistance_apparent_ohm,
            "sheet_resistance_homogeneous_ohm": self.sheet_resistance_homogeneous_ohm,
            "reference_sheet_resistance_ohm": self.reference_sheet_resistance_ohm,
            "resistance_ratio": (self.R_apparent_ohm / self.R_homogeneous_ohm
                                 if self.R_homogeneous_ohm else None),
            "zero_resistance": self.zero_resistance,
            "current_fraction_in_sc": self.current_fraction_in_sc,
            "residual": self.residual,
            "n_sc_clusters": len(roles),
            "sc_clusters_by_role": {r: roles.count(r) for r in sorted(set(roles))},
        }


def _sheet(geometry: str, res: dict[str, float], hom: dict[str, float], rs_ref: float) -> float:
    if geometry == "vdp":
        return van_der_pauw_sheet_resistance(res["R_AB,CD"], res["R_BC,DA"])
    first = next(iter(res))
    return rs_ref * res[first] / hom[first] if hom[first] else float("nan")


def _bond_currents(net: Network, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Currents (A) through horizontal bonds (r,c)->(r,c+1) and vertical (r,c)->(r+1,c); NaN
    inside zero-resistance nodes, 0 for open bonds."""
    ny, nx = net.shape
    node = net.node_of_pixel.reshape(ny, nx)
    cur = v[net.bond_a]
    cur -= v[net.bond_b]
    cur *= net.bond_g
    cur = np.nan_to_num(cur, copy=False)

    if cur.size == 0:
        cur = np.zeros(1)  # no resistive bond at all (everything superconducting)

    def fill(bond, left, right):
        out = np.where(bond >= 0, cur[np.maximum(bond, 0)], 0.0)
        out[(bond < 0) & (left == right)] = np.nan
        return out

    ih = fill(net.h_bond, node[:, :-1], node[:, 1:])
    iv = fill(net.v_bond, node[:-1, :], node[1:, :])
    return ih, iv


def _fraction_in_sc(net: Network, ih: np.ndarray, iv: np.ndarray, contacts: list[Contact],
                    conf: Configuration, current: float) -> float:
    (rs, cs), (rk, ck) = contacts[conf.source].centre, contacts[conf.sink].centre
    if rs == rk and cs == ck:
        return float("nan")
    if abs(ck - cs) >= abs(rk - rs):
        c = int(np.floor((cs + ck) / 2))
        flow = ih[:, c] * (1 if ck > cs else -1)
    else:
        r = int(np.floor((rs + rk) / 2))
        flow = iv[r, :] * (1 if rk > rs else -1)
    normal = float(np.nansum(flow))
    return float(np.clip(1.0 - normal / current, 0.0, 1.0))


def _density(ih: np.ndarray, iv: np.ndarray, dx: float, dy: float,
             ) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = ih.shape[0], iv.shape[1]
    jx = np.full((ny, nx), np.nan)
    jy = np.full((ny, nx), np.nan)
    hx = np.pad(ih, ((0, 0), (1, 1)), constant_values=0.0)
    jx[:] = (hx[:, :-1] + hx[:, 1:]) / 2 / dy
    vy = np.pad(iv, ((1, 1), (0, 0)), constant_values=0.0)
    jy[:] = (vy[:-1, :] + vy[1:, :]) / 2 / dx
    return jx, jy


def cluster_roles(net: Network, contacts: list[Contact], geometry: str) -> dict[int, str]:
    """Role of each superconducting cluster: ``joins current contacts``, ``joins voltage
    contacts``, ``touches a contact`` or ``isolated``."""
    conf = configurations(geometry)[0]
    lab = net.sc_cluster_of_pixel
    sel = np.flatnonzero(lab)
    labels, first = np.unique(lab[sel], return_index=True)  # one pixel of each cluster
    node_of_cluster = dict(zip(labels.tolist(), net.node_of_pixel[sel[first]].tolist()))
    nodes = net.contact_nodes
    roles = {}
    for cl, nd in node_of_cluster.items():
        touching = {i for i, n in enumerate(nodes) if n == nd}
        if {conf.source, conf.sink} <= touching:
            roles[cl] = "joins current contacts"
        elif {conf.plus, conf.minus} <= touching and conf.plus != conf.minus:
            roles[cl] = "joins voltage contacts"
        elif touching:
            roles[cl] = "touches a contact"
        else:
            roles[cl] = "isolated"
    return roles


def fourprobe(conductance: np.ndarray, sc_mask: np.ndarray, *, geometry: str = "vdp",
              contacts: list[Contact] | None = None, contact_size: int = 1, dx: float = 1.0,
              dy: float = 1.0, reference_sheet_resistance: float | None = None,
              maps: bool = True, tol: float = TARGET_RESIDUAL) -> FourProbeResult:
    """Simulate a transport measurement on a sheet-conductance map with superconductors.

    Parameters
    ----------
    conductance : (M, N) ndarray
        Sheet conductance of the normal phase (S per square); NaN = insulating.
    sc_mask : (M, N) bool ndarray
        Superconducting pixels (contracted exactly).
    geometry : {"vdp", "inline", "twoprobe"}
    contacts : list of Contact, optional
        Default :func:`default_contacts`.
    reference_sheet_resistance : float, optional
        Sheet resistance of the homogeneous reference; default the median normal-pixel value.
    maps : bool
        Also compute potential and current-density maps.
    tol : float
        Relative residual of every solve (:data:`supramap.network.solve.TARGET_RESIDUAL`).
    """
    g = np.asarray(conductance, dtype=float)
    sc = np.asarray(sc_mask, dtype=bool)
    if geometry not in GEOMETRIES:
        raise AnalysisError(f"unknown geometry {geometry!r}; choose from {GEOMETRIES}")
    contacts = contacts if contacts is not None else default_contacts(g.shape, geometry,
                                                                      contact_size)
    if reference_sheet_resistance is None:
        normal = g[~sc & np.isfinite(g) & (g > 0)]
        if normal.size == 0:
            raise AnalysisError("the map has no normal conducting pixel: give the reference "
                                "sheet resistance of the homogeneous comparison")
        reference_sheet_resistance = float(1.0 / np.median(normal))
        del normal  # a map-sized copy; not to be held through the solve
    if not (reference_sheet_resistance > 0 and np.isfinite(reference_sheet_resistance)):
        raise AnalysisError("reference sheet resistance must be positive and finite")
    net = build_network(g, sc, contacts, dx=dx, dy=dy)
    m = measure(net, geometry, tol=tol)
    hom_r = homogeneous_resistances(g.shape, contacts, configurations(geometry),
                                    reference_sheet_resistance, dx=dx, dy=dy, current=CURRENT)
    if hom_r is not None:  # single-pixel contacts: the lattice Green's function, exact
        hom = Measurement(hom_r, 0.0, None, [], None)
    else:  # contact pads: solve the homogeneous network
        hom_net = build_network(np.full(g.shape, 1.0 / reference_sheet_resistance),
                                np.zeros(g.shape, bool), contacts, dx=dx, dy=dy)
        hom = measure(hom_net, geometry)
    conf = configurations(geometry)[0]
    nodes = net.contact_nodes
    res = m.resistances
    first = conf.name
    sheet = _sheet(geometry, res, hom.resistances, reference_sheet_resistance)
    sheet_h = _sheet(geometry, hom.resistances, hom.resistances, reference_sheet_resistance)
    ih, iv = _bond_currents(net, m.node_potential)
    frac = _fraction_in_sc(net, ih, iv, contacts, conf, CURRENT)
    result = FourProbeResult(
        geometry=geometry, contacts=list(contacts), sc_fraction=float(sc.mean()),
        sc_percolates=nodes[conf.source] == nodes[conf.sink],
        sc_percolates_voltage=(nodes[conf.plus] == nodes[conf.minus]
                               and conf.plus != conf.minus),
        resistances_ohm=res, homogeneous_resistances_ohm=hom.resistances,
        R_apparent_ohm=res[first], R_homogeneous_ohm=hom.resistances[first],
        sheet_resistance_apparent_ohm=sheet, sheet_resistance_homogeneous_ohm=sheet_h,
        reference_sheet_resistance_ohm=reference_sheet_resistance,
        zero_resistance=all(r == 0.0 for r in res.values()),
        current_fraction_in_sc=frac, residual=max(m.residual, hom.residual),
        sc_cluster_role=cluster_roles(net, contacts, geometry),
        sc_clusters=net.sc_cluster_of_pixel.reshape(g.shape),
    )
    if maps:
        pot = m.node_potential[net.node_of_pixel].reshape(g.shape)
        jx, jy = _density(ih, iv, dx, dy)
        jx[net.perfect] = np.nan
        jy[net.perfect] = np.nan
        result.potential_V = pot
        result.current_x = jx
        result.current_y = jy
        result.current_density_A_per_m = np.hypot(jx, jy)
    return result


def random_contacts(shape: tuple[int, int], geometry: str, rng: np.random.Generator,
                    size: int = 1) -> list[Contact]:
    """Random placements: van der Pauw contacts at random points of the perimeter (in order
    around it), in-line probes on a random segment, two probes anywhere."""
    ny, nx = shape
    s = max(int(size), 1)
    if geometry == "vdp":
        per = 2 * (nx - s) + 2 * (ny - s)
        pos = np.sort(rng.choice(per, 4, replace=False))

        def at(p: int) -> tuple[int, int]:
            if p < nx - s:
                return 0, p
            p -= nx - s
            if p < ny - s:
                return p, nx - s
            p -= ny - s
            if p < nx - s:
                return ny - s, nx - s - p
            return ny - s - (p - (nx - s)), 0

        return [Contact(r, r + s, c, c + s, n) for (r, c), n in zip(map(at, pos), "ABCD")]
    if geometry == "inline":
        spacing = min(ny, nx) / 6
        for _ in range(1000):
            ang = rng.uniform(0, np.pi)
            r0, c0 = rng.uniform(s, ny - s), rng.uniform(s, nx - s)
            pts = [(round(r0 + k * spacing * np.sin(ang)), round(c0 + k * spacing * np.cos(ang)))
                   for k in range(4)]
            if all(s <= r < ny - s and s <= c < nx - s for r, c in pts):
                return [Contact.point(r, c, s, n) for (r, c), n in
                        zip(pts, ("I+", "V+", "V-", "I-"))]
        raise AnalysisError("map too small for random in-line contacts")
    if geometry == "twoprobe":
        while True:
            pts = [(int(rng.integers(s, ny - s)), int(rng.integers(s, nx - s))) for _ in "12"]
            if max(abs(pts[0][0] - pts[1][0]), abs(pts[0][1] - pts[1][1])) > 2 * s:
                return [Contact.point(r, c, s, n) for (r, c), n in zip(pts, "12")]
    raise AnalysisError(f"unknown geometry {geometry!r}; choose from {GEOMETRIES}")


@displayable
@dataclass(frozen=True)
class MonteCarloResult:
    """Distribution of the apparent sheet resistance over random contact placements."""

    sheet_resistance_ohm: np.ndarray  # NaN for open placements
    zero: np.ndarray
    open: np.ndarray
    threshold_factor: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        ok = ~self.open
        rs = self.sheet_resistance_ohm[ok & np.isfinite(self.sheet_resistance_ohm)]
        return {
            "n": int(self.zero.size),
            "fraction_zero": float(self.zero[ok].mean()) if ok.any() else None,
            "fraction_open": float(self.open.mean()),
            "sheet_resistance_median_ohm": float(np.median(rs)) if rs.size else None,
            "sheet_resistance_quartiles_ohm": ([float(np.percentile(rs, q)) for q in (25, 75)]
                                               if rs.size else [None, None]),
            # Where a placement drawn the same way reads, 90 % of the time (a prediction
            # interval over the contacts, and the thresholds when they vary).
            "sheet_resistance_interval_90_ohm": ([float(np.percentile(rs, q)) for q in (5, 95)]
                                                 if rs.size else None),
            "sheet_resistance_ohm": self.sheet_resistance_ohm.tolist(),
        }


def monte_carlo(conductance: np.ndarray, sc_mask: np.ndarray | Callable[[float], np.ndarray],
                *, geometry: str = "vdp", n: int = 100, contact_size: int = 1,
                dx: float = 1.0, dy: float = 1.0, seed: int = 0,
                reference_sheet_resistance: float | None = None,
                threshold_range: tuple[float, float] | None = None,
                progress: Callable[[int], None] | None = None) -> MonteCarloResult:
    """Repeat :func:`fourprobe` over random contact placements (and optionally thresholds).

    *sc_mask* may be a function of a threshold factor returning the mask; with
    ``threshold_range = (lo, hi)`` each draw uses a factor log-uniform in that range.
    Placements with no conducting path are counted as open.
    """
    rng = np.random.default_rng(seed)
    g = np.asarray(conductance, dtype=float)
    rs = np.full(n, np.nan)
    zero = np.zeros(n, bool)
    opened = np.zeros(n, bool)
    factors = np.ones(n)
    for i in range(n):  # each draw is a different network: one solve per draw
        if threshold_range is not None:
            factors[i] = float(np.exp(rng.uniform(*np.log(threshold_range))))
        mask = sc_mask(factors[i]) if callable(sc_mask) else sc_mask
        contacts = random_contacts(g.shape, geometry, rng, contact_size)
        try:
            r = fourprobe(g, mask, geometry=geometry, contacts=contacts, dx=dx, dy=dy,
                          reference_sheet_resistance=reference_sheet_resistance, maps=False)
        except AnalysisError:
            opened[i] = True
        else:
            rs[i] = r.sheet_resistance_apparent_ohm
            zero[i] = r.zero_resistance
        if progress is not None:
            progress(i + 1)
    return MonteCarloResult(rs, zero, opened, factors)


def verdict(result) -> str:
    """Plain-words reading of a four-probe simulation."""
    d = result.to_dict()
    f = 100 * d["sc_fraction"]
    if d["zero_resistance"]:
        why = ("a superconducting path joins the voltage contacts" if d["sc_percolates_voltage"]
               else "a superconducting path joins the current contacts"
               if d["sc_percolates"] else "superconducting paths short every configuration")
        return (f"A {result.geometry} measurement on this texture reads exactly zero: {why}, "
                f"although only {f:.1f} % of the area superconducts.")
    ratio = d["resistance_ratio"]
    return (f"A {result.geometry} measurement on this texture reads "
            f"{d['R_apparent_ohm']:.4g} Ω — {100 * ratio:.0f} % of the homogeneous sample's "
            f"{d['R_homogeneous_ohm']:.4g} Ω; apparent sheet resistance "
            f"{d['sheet_resistance_apparent_ohm']:.4g} Ω/sq against "
            f"{d['reference_sheet_resistance_ohm']:.4g} Ω/sq of the normal phase. "
            f"{f:.1f} % of the area superconducts; the superconductor carries "
            f"{100 * d['current_fraction_in_sc']:.0f} % of the current at the mid cut.")


def mask_with_fraction(mask: np.ndarray, fraction: float) -> np.ndarray:
    """*mask* grown or shrunk evenly along its boundary until it covers *fraction* of the map:
    the pixels of largest signed distance to the boundary (inside +, outside −).  The
    boundary moves, the shapes stay: what an uncertain threshold or tip rounding does."""
    from scipy import ndimage

    m = np.asarray(mask, dtype=bool)
    k = int(round(fraction * m.size))
    if k <= 0:
        return np.zeros_like(m)
    if k >= m.size:
        return np.ones_like(m)
    d = np.where(m, ndimage.distance_transform_edt(m) - 0.5,
                 0.5 - ndimage.distance_transform_edt(~m))
    return d >= np.partition(d.ravel(), m.size - k)[m.size - k]


#: Noise re-draws of the cut in :func:`resistance_interval`: on the 120 calibration maps the
#: interval held the truth 94 % of the time with 5, 6 or 8 re-draws and 95 % with 10 or 20
#: (88 % with none), so 6 — a third of the solves of 20.
INTERVAL_DRAWS = 6
#: Maps up to this many pixels get the interval by default (512²: 1.9 s → 4.0 s for a noisy
#: map, 1.6 s → 2.3 s for the demo's; 1024²: 4.7 s → 15.5 s, so on request only).
INTERVAL_MAX_PIXELS = 512 * 512
#: Relative residual of the interval's solves: the resistances move by ~1e-5 of themselves
#: from the 1e-6 solves (512² demo map), far inside any interval; 7 multigrid-CG iterations
#: instead of 10.
INTERVAL_TOL = 1e-4


def resistance_interval(conductance: np.ndarray, mask: np.ndarray,
                        fraction_interval: tuple[float, float], current: np.ndarray,
                        threshold: float, noise_sigma: float, *, draws: int = INTERVAL_DRAWS,
                        seed: int = 0, measured: tuple[float, float] | None = None,
                        **kw) -> dict[str, list[float] | int]:
    """90 % intervals of the simulated resistance and sheet resistance under the map's
    uncertainty: the range over (a) the measured mask and the masks whose area bounds the
    conducting fraction's 90 % interval (the boundary's position: threshold and the tip's
    rounding) and (b) the middle half (25–75 %) of *draws* masks re-cut after adding the
    map's noise again (flips at the cut, which open or close thin links).  *measured*: (R,
    sheet R) of *mask* when the caller has them.  *kw*: :func:`fourprobe`'s geometry,
    contacts, dx, dy, reference_sheet_resistance.

    On generated maps (islands 15–45 % of the area seen through a 1-px tip with 5 % noise;
    the truth the network on the real geometry) the interval held the truth 94 % of the time
    over 120 maps with 6 re-draws (92.5, 95, 95 % at 15, 30, 45 %; 95 % with 20); (a) alone
    88 % (85 % at 15 and 30 %), (b) with its 5–95 % range alone 55–78 %: the measured mask is
    more resistive than the truth (blur and noise cut thin links), which the noise re-draws do
    not see, and the middle half of those suffices once (a) is there (their 5–95 % range made
    the union 98 %).

    Cost: one network solve per distinct mask (identical re-draws, as on a map whose noise
    is far below its contrast, are solved once), shared between two processes, each to
    :data:`INTERVAL_TOL`."""
    from supramap.parallel import fork_map

    rng = np.random.default_rng(seed)

    def solve(m: np.ndarray) -> tuple[float, float]:
        try:
            r = fourprobe(conductance, m, maps=False, tol=INTERVAL_TOL, **kw)
        except AnalysisError:
            return float("nan"), float("nan")
        return r.R_apparent_ohm, r.sheet_resistance_apparent_ohm

    cur = np.asarray(current, dtype=float)
    masks = [mask_with_fraction(mask, f) for f in fraction_interval]
    masks += [np.isfinite(cur) & (cur + noise_sigma * rng.standard_normal(cur.shape) > threshold)
              for _ in range(draws)]
    if measured is None:
        masks.append(np.asarray(mask, dtype=bool))
    # Solve each distinct mask once (keyed by its packed bits: 32 kB at 512²).
    keys = [np.packbits(m).tobytes() for m in masks]
    distinct = list(dict.fromkeys(keys))
    solved = dict(zip(distinct, fork_map(solve, [masks[keys.index(k)] for k in distinct])))
    values = [solved[k] for k in keys]
    ends = values[:2]
    boot = np.array(values[2:2 + draws], dtype=float).reshape(-1, 2)
    base = measured if measured is not None else values[-1]
    out: dict[str, list[float] | int] = {"draws": int(draws)}
    for j, name in enumerate(("R_apparent_interval_90_ohm",
                              "sheet_resistance_apparent_interval_90_ohm")):
        vals = [v[j] for v in (*ends, base)]
        good = boot[np.isfinite(boot[:, j]), j]
        if good.size:
            vals += list(np.percentile(good, [25, 75]))
        vals = [v for v in vals if np.isfinite(v)]
        out[name] = [float(min(vals)), float(max(vals))] if vals else None
    return out
