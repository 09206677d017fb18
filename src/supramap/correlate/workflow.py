"""Run every analysis a sample description calls for; collect results, figures and errors.

Each measurement is analysed on its own: a missing or corrupt file, or an analysis that
fails, becomes an error for that item and the rest goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from supramap.correlate.sample import Measurement, Sample
from supramap.errors import AnalysisError, SupramapError


@dataclass
class SampleResult:
    """Results per measurement id, errors per id, derived correlations and the verdict."""

    sample: Sample
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    objects: dict[str, Any] = field(default_factory=dict)  # analysis objects for figures
    errors: dict[str, str] = field(default_factory=dict)
    correlation: dict[str, Any] = field(default_factory=dict)
    verdict: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No item failed and the description had no problem."""
        return not self.errors and not self.sample.problems

    def summary(self) -> dict[str, Any]:
        """JSON-ready summary (``summary.json``)."""
        return {"sample": self.sample.name, "info": self.sample.info,
                "description_problems": self.sample.problems, "results": self.results,
                "errors": self.errors, "correlation": self.correlation,
                "verdict": self.verdict}


def _geometry_m(sample: Sample) -> tuple[float, float, float] | None:
    g = sample.info.get("geometry", {})
    try:
        return tuple(float(g[f"{k}_mm"]) * 1e-3 for k in ("length", "width", "thickness"))
    except KeyError:
        return None


def _bulk(m: Measurement, sample: Sample, res: SampleResult) -> None:
    from supramap import bulk
    from supramap.io import read
    from supramap.io.qd import MOMENT_COLUMNS, pick_column

    ds = read(m.path("file", sample.base))
    geo = _geometry_m(sample)
    if m.kind == "transport":
        t = ds["Temperature"].values
        r = ds["Bridge 1 Resistivity"].values if "Bridge 1 Resistivity" in ds else \
            ds[m.spec.get("column", "Resistance")].values
        units = "ohm"
        if geo:
            r = bulk.resistivity(r, length=geo[0], width=geo[1], thickness=geo[2])
            units = "ohm m"
        out = bulk.analyze_transport(t, r, units=units)
        res.objects[m.id] = (t, r, out, units)
    elif m.kind == "susceptibility":
        if not geo:
            raise SupramapError("susceptibility needs [sample.geometry] length/width/"
                                "thickness_mm")
        vol = float(np.prod(geo))
        n = bulk.demag_prism(*geo)
        t = ds["Temperature"].values
        mom = ds[pick_column(ds, MOMENT_COLUMNS, ("A m2",)) or "Moment"].values
        chi = bulk.volume_susceptibility(mom, ds["Magnetic Field"].values, vol)
        br = bulk.identify_branches(t, ds["Magnetic Field"].values, ds.attrs.get("comments"))
        zfc = br.zfc if br.zfc is not None else br.fc
        tf, cf = (t[br.fc], chi[br.fc]) if br.fc is not None and br.zfc is not None \
            else (None, None)
        out = bulk.analyze_susceptibility(
            None if br.zfc is None else t[br.zfc], None if br.zfc is None else chi[br.zfc],
            None if br.fc is None else t[br.fc], None if br.fc is None else chi[br.fc],
            demag_factor=n, notes=br.warnings)
        res.objects[m.id] = (t[zfc], chi[zfc], tf, cf, n, out)
    elif m.kind == "heat":
        mass = float(sample.info["mass_mg"]) * 1e-6
        molar = float(sample.info["molar_mass_g_per_mol"]) * 1e-3
        t = ds["Sample Temp"].values
        c = ds["Samp HC"].values / (mass / molar)
        out = bulk.analyze_heat(t, c, atoms_per_formula_unit=float(
            sample.info.get("atoms_per_formula_unit", 2)))
        res.objects[m.id] = (t, c, out)
    else:  # loop
        if not geo:
            raise SupramapError("a loop needs [sample.geometry]")
        out = bulk.analyze_loop(ds["Magnetic Field"].values, ds["Moment"].values,
                                volume=float(np.prod(geo)), a=geo[0], b=geo[1])
        res.objects[m.id] = (ds["Magnetic Field"].values, ds["Moment"].values,
                             float(np.prod(geo)), out)
    res.results[m.id] = {"kind": m.kind, **out.to_dict()}


def _cafm(m: Measurement, sample: Sample, res: SampleResult) -> None:
    from supramap.conduction import analyze
    from supramap.io import read_image
    from supramap.network import fourprobe, from_current_map, percolation_stats
    from supramap.network.measure import INTERVAL_MAX_PIXELS, resistance_interval

    cur = read_image(m.path("current", sample.base), prefer_units="A")
    topo = read_image(m.path("topography", sample.base), prefer_units="m") \
        if "topography" in m.spec else None
    defl = read_image(m.path("deflection", sample.base)) if "deflection" in m.spec else None
    r = analyze(cur, topography=topo, deflection=defl)
    d = {"kind": "cafm", "temperature_K": m.spec.get("temperature_K"), **r.to_dict()}
    d.pop("islands", None)
    net = from_current_map(cur.copy(data=r.oriented_current), threshold=r.threshold_A,
                           normal_sheet_resistance=float(m.spec.get(
                               "normal_sheet_resistance_ohm", 1e3)))
    four = None
    if r.mask.any():
        four = fourprobe(net.conductance, r.mask, geometry="vdp", dx=net.dx, dy=net.dy,
                         reference_sheet_resistance=net.normal_sheet_resistance, maps=True)
        d["fourprobe"] = {**four.to_dict(), "percolation": percolation_stats(r.mask).to_dict()}
        if r.mask.size <= INTERVAL_MAX_PIXELS:
            # Its 90 % interval under the map's uncertainty (threshold, tip, noise).
            d["fourprobe"].update(resistance_interval(
                net.conductance, r.mask, r.conducting_fraction_interval_90, r.oriented_current,
                r.threshold_A, r.noise.sigma_A, geometry="vdp", dx=net.dx, dy=net.dy,
                reference_sheet_resistance=net.normal_sheet_resistance,
                measured=(four.R_apparent_ohm, four.sheet_resistance_apparent_ohm)))
    res.results[m.id] = d
    res.objects[m.id] = {"current": cur, "topography": topo, "deflection": defl, "result": r,
                         "fourprobe": four}


def _series(m: Measurement, sample: Sample, res: SampleResult) -> None:
    from supramap.conduction import temperature_series
    from supramap.io import read_image

    cur = [read_image((sample.base / f).resolve(), prefer_units="A") for f in m.spec["currents"]]
    topo = [read_image((sample.base / f).resolve(), prefer_units="m")
            for f in m.spec.get("topographies", [])] or None
    s = temperature_series(cur, m.spec["temperatures_K"], topographies=topo)
    res.results[m.id] = {"kind": "cafm-series", **s.to_dict()}
    res.objects[m.id] = (s, cur[0])


def _sts(m: Measurement, sample: Sample, res: SampleResult) -> None:
    from supramap.sts import TipModel, calibrate_tip, coherence_peaks, zero_bias_peak
    from supramap.sts.deconvolve import deconvolve

    if m.kind == "sts-grid":
        from supramap.io import read
        from supramap.sts.gapmap import gap_map

        ds = read(m.path("file", sample.base))
        name = next((n for n in ds.data_vars if ds[n].dims == ("y", "x", "bias")), None)
        if name is None:
            raise SupramapError(f"{m.spec['file']}: not a spectroscopy grid (a "
                                f"{ds.attrs.get('format', 'different')} file)")
        gm = gap_map(ds[name], temperature=float(m.spec.get("temperature_K", 1.0)))
        res.results[m.id] = {"kind": m.kind, **gm.to_dict()}
        res.objects[m.id] = gm
        res.objects[f"{m.id}:bias"] = np.asarray(ds["bias"].values)
        res.objects[f"{m.id}:grid"] = ds[name]  # for the report's grid explorer page
        try:  # k-means clusters of the spectra, compared with the fitted gaps
            from supramap.sts.decompose import compare_clusters, decompose_grid

            dec = decompose_grid(ds[name], method="kmeans")
            conv = gm.data["converged"].values.astype(bool)
            cmp = compare_clusters(dec.labels, gm.data["delta"].where(conv), name="gap",
                                   units="eV")
            res.results[m.id]["clusters"] = {**dec.to_dict(), "gap_comparison": cmp}
            res.objects[f"{m.id}:clusters"] = (dec, cmp)
        except AnalysisError as exc:  # scikit-learn absent, or too few spectra
            res.results[m.id]["clusters"] = {"skipped": str(exc)}
        return
    from supramap.sts.spectra import load_spectrum

    b, g, _ = load_spectrum(m.path("file", sample.base))
    if m.kind == "sts-tip":
        tip, fit = calibrate_tip(b, g, temperature=float(m.spec.get("temperature_K", 1.0)))
        res.results[m.id] = {"kind": m.kind, "tip_delta_eV": tip.delta_eV,
                             "tip_gamma_eV": tip.gamma_eV, "T_eff_K": tip.temperature_K,
                             "redchi": fit.redchi}
        res.objects[m.id] = tip
        res.objects[f"{m.id}:fit"] = fit
        res.objects[f"{m.id}:bias"] = np.asarray(b)
        return
    d: dict[str, Any] = {"kind": m.kind}
    tip_id = m.spec.get("tip")
    if tip_id and isinstance(res.objects.get(tip_id), TipModel):
        dec = deconvolve(b, g, res.objects[tip_id])
        d["deconvolved_gaps_eV"] = dec.gaps_eV
        res.objects[m.id] = dec
    cp = coherence_peaks(b, g)
    d["coherence_peaks_eV"] = cp.positions_eV
    d["zbcp"] = zero_bias_peak(b, g).to_dict()
    res.results[m.id] = d


def _apt(m: Measurement, sample: Sample, res: SampleResult) -> None:
    from supramap.apt import composition, detect_cap, mass_spectrum
    from supramap.io import read
    from supramap.io.apt import read_ranges

    ranges = m.spec.get("ranges") or sample.apt.get("ranges")
    if not ranges:
        raise SupramapError("an apt measurement needs 'ranges' (or [apt] ranges)")
    from supramap.correlate.sample import file_problem

    problem = file_problem(sample.path, "ranges", ranges, sample.info)
    if problem:
        raise SupramapError(problem)
    table = read_ranges((sample.base / ranges).resolve())
    ions = read(m.path("file", sample.base))
    cap = sample.apt.get("exclude_cap", "O:0.2")
    el, _, thr = str(cap).partition(":")
    depth = detect_cap(ions, table, element=el, threshold=float(thr))
    c = composition(ions, table, min_depth_nm=depth)
    res.results[m.id] = {"kind": "apt", **c.to_dict()}
    res.objects[m.id] = c
    res.objects[f"{m.id}:spectrum"] = (mass_spectrum(ions, table=table, min_depth_nm=depth),
                                       table)  # for the report's labelled mass spectrum


def _qpi(m: Measurement, sample: Sample, res: SampleResult) -> None:
    """A QPI grid: q per energy, the tracked branch and its E(q) fit, and the E–q line cut
    along the branch (or along ``linecut_deg``)."""
    from supramap.io import read
    from supramap.sts.grid import maps_at
    from supramap.sts.qpi import calibrate_maps, dispersion, fourier, linecut_map

    ds = read(m.path("file", sample.base))
    name = next((n for n in ds.data_vars if ds[n].dims == ("y", "x", "bias")), None)
    if name is None:
        raise SupramapError(f"{m.spec['file']}: not a spectroscopy grid")
    grid = ds[name]
    energies = [float(v) for v in m.spec.get("energies_eV", grid["bias"].values)]
    ffts = [fourier(mp) for mp in maps_at(grid, energies).transpose("energy", "y", "x")]
    lattice = m.spec.get("lattice_m")
    cal = None
    if lattice:
        try:
            ffts, cal = calibrate_maps(ffts, float(lattice))
        except AnalysisError:
            cal = None  # the lattice is not resolved: q as the scan calibration gives it
    points, fit, qpi_warnings = dispersion(energies, ffts)
    d: dict[str, Any] = {"kind": m.kind, "energies_eV": energies, "bragg_calibration": cal,
                         "dispersion": points, "dispersion_fit": fit,
                         "warnings": [w.to_dict() for w in qpi_warnings]}
    angles = [p["angle_deg"] for p in points if p["angle_deg"] is not None]
    direction = float(m.spec.get("linecut_deg", np.median(angles) if angles else 0.0))
    cut = linecut_map(ffts, energies, direction)
    d["linecut_deg"] = direction
    res.results[m.id] = d
    res.objects[m.id] = (d, fit, cut)


def _ingap(m: Measurement, sample: Sample, res: SampleResult) -> None:
    """A zero-bias / in-gap peak against field: intrinsic FWHM and energy per spectrum."""
    from supramap.sts.ingap import in_gap_series
    from supramap.sts.spectra import load_spectrum

    files = [(sample.base / f).resolve() for f in m.spec["files"]]
    fields = [float(v) for v in m.spec.get("fields_T", range(len(files)))]
    spectra = [load_spectrum(f, m.spec.get("column"), None)[:2] for f in files]
    results = in_gap_series(spectra, fields,
                            temperature=float(m.spec.get("temperature_K", 1.0)),
                            lockin_rms=float(m.spec.get("lockin_rms_V", 0.0)),
                            shape=str(m.spec.get("shape", "lorentzian")),
                            peaks=m.spec.get("peaks", "auto"))
    order = np.argsort(fields)  # in_gap_series returns the fits in this order
    fits = [(fields[i], files[i], r) for i, r in zip(order, results)]
    res.results[m.id] = {"kind": m.kind, "fits": [{"field_T": v, "file": f.name,
                                                   **r.to_dict()} for v, f, r in fits]}
    res.objects[m.id] = fits


HANDLERS: dict[str, Callable] = {"transport": _bulk, "susceptibility": _bulk, "heat": _bulk,
                                 "loop": _bulk, "cafm": _cafm, "cafm-series": _series,
                                 "sts-tip": _sts, "sts-spectrum": _sts, "sts-grid": _sts,
                                 "sts-qpi": _qpi, "sts-ingap": _ingap, "apt": _apt}


def _correlate(sample: Sample, res: SampleResult) -> None:
    from supramap.apt import compare_compositions
    from supramap.correlate.registration import affine_from_points
    from supramap.correlate.sites import classify_sites

    reg = sample.registration
    if not reg:
        return
    cafm = res.objects.get(reg.get("map"))
    if cafm is None:
        res.errors["registration"] = f"map {reg.get('map')!r} was not analysed"
        return
    try:
        src = np.asarray(reg["control_points_map_m"], dtype=float)
        dst = np.asarray(reg["control_points_image_m"], dtype=float)
        t = affine_from_points(src, dst)
    except (KeyError, ValueError, SupramapError) as exc:
        res.errors["registration"] = f"control points: {exc}"
        return
    sites = classify_sites(sample.sites, cafm["result"].mask, cafm["current"], t.inverse())
    res.correlation["registration"] = t.to_dict()
    res.correlation["sites"] = sites
    rows = []
    comps = {}
    for s in sites:
        mid = next((m.id for m in sample.by_kind("apt") if s["needle"] and
                    m.spec["file"] == s["needle"]), None)
        comp = res.objects.get(mid) if mid else None
        row = {"site": s["site"], "class": s["class"], "needle": s["needle"]}
        if comp is not None:
            row.update({el: v for el, (v, _) in comp.atomic.items()})
            comps[s["class"]] = comp
        rows.append(row)
    res.correlation["composition_vs_conduction"] = rows
    if "conducting" in comps and "insulating" in comps:
        res.correlation["needle_comparison"] = compare_compositions(comps["conducting"],
                                                                    comps["insulating"])


def _verdict(res: SampleResult) -> list[str]:
    out = []
    r = res.results
    bulk_bits = []
    tr = next((v for v in r.values() if v.get("kind") == "transport"), None)
    if tr:
        bulk_bits.append(f"ρ drops to zero below {tr['Tc_zero_K']:.1f} K "
                         f"(onset {tr['Tc_onset_K']:.1f} K)")
    su = next((v for v in r.values() if v.get("kind") == "susceptibility"), None)
    if su:
        bulk_bits.append(f"ZFC shielding {100 * su['shielding_fraction']:.0f} %")
    he = next((v for v in r.values() if v.get("kind") == "heat"), None)
    if he and he.get("sc_volume_fraction") is not None and \
            np.isfinite(he["sc_volume_fraction"]):
        bulk_bits.append(f"specific heat gives {100 * he['sc_volume_fraction']:.0f} % "
                         "superconducting volume")
    if bulk_bits:
        out.append("The bulk says homogeneous superconductor: " + "; ".join(bulk_bits) + ".")
    cafm = [v for v in r.values() if v.get("kind") == "cafm"]
    if cafm:
        c = min(cafm, key=lambda v: v.get("temperature_K") or 0)
        out.append(f"The local probe says otherwise: at {c.get('temperature_K')} K only "
                   f"{100 * c['conducting_fraction']:.1f} % of the surface conducts, in "
                   f"{c['n_islands']} islands at {len(c['levels_A'])} current level(s), "
                   f"edges {c['edge_width_m'] * 1e9:.0f} nm wide, over a "
                   f"{c['dynamic_range_decades']:.1f}-decade contrast.")
        fp = c.get("fourprobe")
        if fp:
            if fp["zero_resistance"]:
                out.append("A four-probe measurement on this texture would read exactly zero.")
            else:
                out.append(f"A van der Pauw measurement on this texture alone would read "
                           f"{100 * fp['resistance_ratio']:.0f} % of a homogeneous normal "
                           "film: the zero seen in bulk transport needs a superconducting "
                           "path elsewhere in the crystal — a filament suffices.")
    cmp = res.correlation.get("needle_comparison")
    if cmp:
        fe = cmp["ratios"]["Fe/Te"]
        out.append(f"Atom probe: Fe/Te = {fe['a']:.2f} ± {fe['a_sigma']:.2f} in the "
                   f"conducting region against {fe['b']:.2f} ± {fe['b_sigma']:.2f} in the "
                   f"insulating one (z = {fe['z']:.0f}).")
    return out


#: What a forked analysis worker inherits: the analysis of one item, the shared result, the
#: items (a worker is given an index).
_FORKED: tuple[Callable[[Measurement], None], SampleResult, list[Measurement]] | None = None


def _forked_one(index: int) -> tuple[dict, dict, dict]:
    """In a forked worker: analyse one item; return what it added to the results."""
    assert _FORKED is not None
    one, res, items = _FORKED
    before = (set(res.results), set(res.objects), set(res.errors))
    one(items[index])
    return tuple({k: v for k, v in d.items() if k not in seen}  # type: ignore[return-value]
                 for d, seen in zip((res.results, res.objects, res.errors), before))


def _in_processes(items: list[Measurement], one, res: SampleResult, workers: int,
                  progress, meanwhile: Callable[[], None] | None = None) -> None:
    """Analyse *items* in *workers* forked processes, merging what each adds into *res*.

    The analyses are Python-heavy (EM, fits, labelling), so threads share one core under the
    GIL: the demo's analyses took 9.0 s on one thread and 7.4 s on two, 3.5 s in two
    processes.  Forked workers inherit the sample, the calibrated tips and the imported
    modules; their results come back pickled (the largest, a cAFM series, 24 MB in 20 ms).
    An item whose worker died is analysed here.  *meanwhile* runs here while they work
    (once all workers are forked: what it imports or builds stays in this process)."""
    global _FORKED
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    _FORKED = (lambda m: one(m, report=False), res, items)
    done: set[int] = set()
    try:
        with ProcessPoolExecutor(min(workers, len(items)),
                                 mp_context=multiprocessing.get_context("fork")) as pool:
            futures = {pool.submit(_forked_one, i): i for i in range(len(items))}
            if meanwhile is not None:  # the workers are forked by now: this stays here
                meanwhile()
            for fut in as_completed(futures):
                i = futures[fut]
                results, objects, errors = fut.result()
                res.results.update(results)
                res.objects.update(objects)
                res.errors.update(errors)
                done.add(i)
                if progress:
                    progress(f"{items[i].kind} {items[i].id}")
    except BrokenProcessPool:
        pass
    finally:
        _FORKED = None
    for i, m in enumerate(items):
        if i not in done:
            one(m)


def run_sample(sample: Sample, *, progress: Callable[[str], None] | None = None,
               workers: int = 2, meanwhile: Callable[[], None] | None = None) -> SampleResult:
    """Analyse every measurement (tips before the spectra that use them), then correlate.

    Measurements are independent except spectra that use a calibrated tip, so they run on a
    pool of *workers* threads (numpy and scipy release the GIL in their heavy loops): tips
    first, then everything else.  BLAS is limited to one thread inside, so the two levels of
    parallelism do not oversubscribe the cores.  Where ``fork`` exists the items after the
    tips run in *workers* processes instead (:func:`_in_processes`), and *meanwhile* (e.g.
    importing what the report will need) runs in this process while they work.
    """
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_limits

    from supramap.parallel import can_fork

    res = SampleResult(sample)

    def one(m: Measurement, report: bool = True) -> None:
        if progress and report:
            progress(f"{m.kind} {m.id}")
        if m.problems:
            res.errors[m.id] = "; ".join(m.problems)
            return
        handler = HANDLERS.get(m.kind)
        if handler is None:
            if m.kind != "sem":
                res.errors[m.id] = f"no analysis for kind {m.kind!r}"
            return
        try:
            handler(m, sample, res)
        except Exception as exc:  # noqa: BLE001 — one item's failure never stops the report
            res.errors[m.id] = f"{type(exc).__name__}: {exc}" if not isinstance(
                exc, SupramapError) else str(exc)

    tips = [m for m in sample.measurements if m.kind == "sts-tip"]
    rest = [m for m in sample.measurements if m.kind != "sts-tip"]
    # Longest first, so the pool is not left waiting on one big item at the end.
    weight = {"cafm-series": 0, "cafm": 1, "sts-ingap": 2, "sts-grid": 3, "heat": 4}
    rest.sort(key=lambda m: weight.get(m.kind, 9))
    with threadpool_limits(1):
        with ThreadPoolExecutor(max(1, workers)) as pool:
            list(pool.map(one, tips))
        if workers > 1 and len(rest) > 1 and can_fork():
            _in_processes(rest, one, res, workers, progress, meanwhile)
        else:
            with ThreadPoolExecutor(max(1, workers)) as pool:
                list(pool.map(one, rest))
    if progress:
        progress("correlation")
    _correlate(sample, res)
    res.verdict = _verdict(res)
    return res
