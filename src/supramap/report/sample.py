"""The sample report: verdict first, then bulk, cAFM, four-probe, STS, APT and correlation."""

from __future__ import annotations

import html
from functools import partial
from pathlib import Path

import numpy as np

from supramap.fileutil import atomic_write_json
from supramap.report.html import Report


def preload() -> None:
    """Import what writing the sample report needs (matplotlib, the figure modules, Bokeh for
    the grid explorer, ~1 s cold): run it while the analyses work in other processes
    (``run_sample(sample, meanwhile=preload)``)."""
    import bokeh.document  # noqa: F401
    import bokeh.embed  # noqa: F401
    import bokeh.models  # noqa: F401
    import bokeh.plotting  # noqa: F401
    import bokeh.resources  # noqa: F401

    import supramap.report.apt  # noqa: F401
    import supramap.report.bulk  # noqa: F401
    import supramap.report.explorer  # noqa: F401
    import supramap.report.figures  # noqa: F401
    import supramap.report.network  # noqa: F401
    import supramap.report.sts  # noqa: F401


def _fmt_interval(value, interval, scale: float, unit: str, fmt: str) -> tuple[str, str] | None:
    """(value, "lo … hi") in *unit* after × *scale*, or None when either is missing.  *fmt*
    is the least precision; more significant digits are shown where the interval is
    narrower than that resolves (two digits of its width)."""
    import math

    if value is None or not interval or any(v is None for v in interval):
        return None
    v, lo, hi = (scale * x for x in (value, *interval))
    width, top = abs(hi - lo), max(abs(v), abs(lo), abs(hi))
    if fmt.endswith("g") and width > 0 and top > 0:
        digits = min(12, max(int(fmt[1:-1]), math.ceil(math.log10(top / width)) + 2))
        fmt = f".{digits}g"
    elif fmt.endswith("f") and width > 0:
        fmt = f".{min(12, max(int(fmt[1:-1]), 1 - math.floor(math.log10(width))))}f"
    return f"{v:{fmt}} {unit}", f"{lo:{fmt}} … {hi:{fmt}} {unit}"


def interval_rows(results: dict) -> list[tuple[str, str, str, str]]:
    """(item, quantity, value, 90 % interval) for every number of the sample's results that
    carries one — the calibrated intervals of tests/test_calibration.py, in one table."""
    from supramap.quality import interval_90

    rows: list[tuple[str, str, str, str]] = []

    def add(item, what, value, interval, scale=1.0, unit="", fmt=".4g"):
        cell = _fmt_interval(value, interval, scale, unit, fmt)
        if cell is not None:
            rows.append((item, what, *cell))

    for item, d in results.items():
        if not isinstance(d, dict):
            continue
        kind = d.get("kind")
        if kind == "transport":
            add(item, "Tc mid (50 %)", d.get("Tc_mid_K"), d.get("Tc_mid_interval_90_K"),
                unit="K", fmt=".3f")
        elif kind == "susceptibility":
            add(item, "Tc onset", d.get("Tc_onset_K"), d.get("Tc_onset_interval_90_K"),
                unit="K", fmt=".3f")
        elif kind == "heat":
            add(item, "γ", d.get("gamma_J_per_mol_K2"), d.get("gamma_interval_90"), 1e3,
                "mJ/mol K²")
            add(item, "β", d.get("beta_J_per_mol_K4"), d.get("beta_interval_90"), 1e3,
                "mJ/mol K⁴")
        elif kind == "loop":
            add(item, "self-field Jc", d.get("Jc_self_field_A_per_m2"),
                d.get("Jc_self_field_interval_90_A_per_m2"), 1e-4, "A/cm²")
        elif kind == "cafm":
            add(item, "conducting fraction (interval: of the true area)",
                d.get("conducting_fraction"), d.get("conducting_fraction_interval_90"), 100,
                "%", ".2f")
            for i, (lv, iv) in enumerate(zip(d.get("levels_A") or [],
                                             d.get("level_intervals_90_A") or [])):
                add(item, f"current level {i + 1}", lv, iv, 1e6, "µA", ".4g")
            fp = d.get("fourprobe") or {}
            add(item, "four-probe R (van der Pauw)", fp.get("R_apparent_ohm"),
                fp.get("R_apparent_interval_90_ohm"), unit="Ω")
        elif kind == "sts-grid":
            add(item, "median gap", d.get("median_gap_eV"), d.get("median_gap_interval_90_eV"),
                1e3, "meV")
        elif kind == "sts-ingap":
            for f in d.get("fits") or []:
                at = f" at {f['field_T']:g} T" if f.get("field_T") is not None else ""
                for j, (w, e) in enumerate(zip(f.get("fwhm_eV") or [],
                                               f.get("fwhm_err_eV") or [])):
                    add(item, f"intrinsic FWHM{at}" + (f" (peak {j + 1})" if j else ""), w,
                        interval_90(w, e), 1e6, "µeV", ".3g")
    return rows


def write_sample_report(res, out_dir: str | Path, *, extra=None,
                        extra_summary: dict | None = None,
                        provenance: dict | None = None, workers: int = 2) -> Path:
    """Write ``index.html`` and ``summary.json`` for a :class:`SampleResult`.

    ``extra(report)`` may add sections after the verdict (the demo adds its truth table);
    ``extra_summary`` is merged into ``summary.json``; *provenance* (the block of
    :mod:`supramap.provenance`) goes into ``summary.json``, ``provenance.json`` and the page.
    The figures are made and saved in *workers* processes (1: all in this one).
    """
    from supramap.report import apt as afig
    from supramap.report import bulk as bfig
    from supramap.report.cafm import analysis_section, series_section
    from supramap.report.network import network_section

    out = Path(out_dir)
    rep = Report(f"supramap — {res.sample.name}", out, prov=provenance, processes=workers)
    rep.heading("Homogeneity verdict")
    for line in res.verdict or ["No analysis succeeded; see the problems below."]:
        rep.paragraph(line, css="verdict")
    # Every quality warning of every item, named by item, right under the verdict.
    flagged = []
    for item, d in res.results.items():
        for w in (d.get("warnings") or []) if isinstance(d, dict) else []:
            flagged.append({**w, "message": f"{item}: {w.get('message', '')}"})
    rep.warning_box(flagged, title="Quality warnings (numbers below that cannot be trusted)")
    intervals = interval_rows(res.results)
    if intervals:
        rep.heading("Numbers and their 90 % intervals")
        rep.paragraph("Each interval holds the truth 85–95 % of the time on data with known "
                      "truth and realistic noise (tests/test_calibration.py; the README's "
                      "calibration table says how each is made).")
        rep.table(intervals, header=["item", "quantity", "value", "90 % interval"])
    if res.errors or res.sample.problems:
        rep.heading("Problems")
        rows = [("description", p) for p in res.sample.problems]
        rows += [(k, v) for k, v in res.errors.items()]
        rep.table(rows, header=["item", "problem"])
    if extra is not None:
        extra(rep)
    bulk_done = False
    for m in res.sample.measurements:
        obj = res.objects.get(m.id)
        if obj is None:
            continue
        try:
            if m.kind in ("transport", "susceptibility", "heat", "loop") and not bulk_done:
                rep.heading("Bulk")
                bulk_done = True
            item = res.results.get(m.id)
            if isinstance(item, dict) and item.get("warnings"):
                rep.warning_box(item["warnings"], title=f"{m.id}: warnings")
            if m.kind == "transport":
                t, r, result, units = obj
                rep.figure(partial(bfig.transport_figure, t, r, result, units), f"{m.id}: ρ(T)",
                           name=f"{m.id}.png")
            elif m.kind == "susceptibility":
                tz, cz, tf, cf, n, _ = obj
                rep.figure(partial(bfig.susceptibility_figure, tz, cz, tf, cf, n), f"{m.id}: χ(T)",
                           name=f"{m.id}.png")
            elif m.kind == "heat":
                t, c, result = obj
                f1, f2 = bfig.heat_figures(t, c, result)
                rep.figure(f1, f"{m.id}: C/T vs T²", name=f"{m.id}_fit.png")
                rep.figure(f2, f"{m.id}: electronic specific heat C_e/T", name=f"{m.id}_jump.png")
            elif m.kind == "loop":
                h, mom, vol, result = obj
                rep.figure(partial(bfig.loop_figure, h, mom, vol, result), f"{m.id}: M(H) and Jc",
                           name=f"{m.id}.png")
            elif m.kind == "cafm":
                analysis_section(rep, f"cAFM {m.id} ({m.spec.get('temperature_K')} K)",
                                 obj["current"], obj["result"], topography=obj["topography"],
                                 deflection=obj["deflection"], prefix=f"{m.id}_")
                if obj["fourprobe"] is not None:
                    from supramap.network import percolation_stats

                    network_section(rep, obj["fourprobe"], obj["current"],
                                    percolation=percolation_stats(obj["result"].mask),
                                    interval=res.results[m.id].get("fourprobe"),
                                    prefix=f"{m.id}_net_")
            elif m.kind == "cafm-series":
                series, first = obj
                series_section(rep, series, first, prefix=f"{m.id}_")
            elif m.kind == "sts-grid":
                from supramap.report.sts import gap_map_figure

                rep.heading(f"STS grid {m.id}")
                rep.table([(k, v) for k, v in obj.to_dict().items()],
                          header=["quantity", "value"])
                rep.figure(partial(gap_map_figure, obj.data), f"{m.id}: gap and broadening maps",
                           name=f"{m.id}_gap.png")
                clusters = res.objects.get(f"{m.id}:clusters")
                if clusters is not None:
                    from supramap.report.sts import clusters_vs_gap_figure

                    dec, cmp = clusters
                    rep.table([[r["cluster"], f"{r['mean'] * 1e3:.4g} ± {r['std'] * 1e3:.2g}",
                                r["n_pixels"]] for r in cmp["clusters"]],
                              header=["k-means cluster", "fitted gap (meV)", "fitted pixels"])
                    rep.paragraph(
                        f"{dec.n_components} clusters of spectra ({dec.criterion}); "
                        f"η² = {cmp['eta_squared']:.2f} of the gap map's variance lies "
                        "between them (1: the clusters are the gap regions, 0: unrelated).")
                    rep.figure(partial(clusters_vs_gap_figure, dec, obj.data),
                               f"{m.id}: k-means clusters of the spectra beside the gap map",
                               name=f"{m.id}_clusters.png")
                grid = res.objects.get(f"{m.id}:grid")
                if grid is not None:
                    from supramap.report.explorer import write_explorer

                    conv = obj.data["converged"].values.astype(bool)
                    layers = {"Γ (fitted)": (np.where(conv, obj.data["gamma"].values * 1e3,
                                                      np.nan), "meV")}
                    if clusters is not None:
                        layers["k-means cluster"] = (
                            np.where(clusters[0].labels.values >= 0,
                                     clusters[0].labels.values, np.nan), "")
                    # Written with the figures, shared over the cores (0.4–1.3 s: ~3 figures).
                    rep.defer(partial(
                        write_explorer, grid, rep.path(f"{m.id}_explorer"),
                        gap_eV=np.where(conv, obj.data["delta"].values, np.nan),
                        maps=layers, fit=obj.data, title=f"Grid explorer — {m.id}"), cost=3)
                    rep.link(f"{m.id}_explorer/index.html",
                             "Explore the grid: dI/dV map at any energy, click a pixel for "
                             "its spectrum and fitted gap")
            elif m.kind == "sts-qpi":
                from supramap.report.sts import dispersion_figure, linecut_figure

                d, fit, cut = obj
                rep.heading(f"QPI {m.id}")
                rows = [("energies", f"{len(d['energies_eV'])} maps, "
                                     f"{d['energies_eV'][0] * 1e3:.3g} … "
                                     f"{d['energies_eV'][-1] * 1e3:.3g} meV"),
                        ("points on the tracked branch",
                         str(sum(bool(p.get("on_branch", p["q_per_nm"] is not None))
                                 for p in d["dispersion"])))]
                if fit and fit["model"] == "parabolic":
                    rows.append(("E(q) fit", f"parabolic: m* = {fit['effective_mass_me']:.3g} ± "
                                             f"{fit['effective_mass_err_me']:.2g} mₑ, E0 = "
                                             f"{fit['E0_eV'] * 1e3:.3g} ± "
                                             f"{fit['E0_err_eV'] * 1e3:.2g} meV"))
                elif fit:
                    rows.append(("E(q) fit", f"linear: v = {fit['velocity_m_per_s']:.3g} ± "
                                             f"{fit['velocity_err_m_per_s']:.2g} m/s"))
                rep.table(rows, header=["quantity", "value"])
                if fit:
                    rep.figure(partial(dispersion_figure, d["dispersion"], fit),
                               f"{m.id}: E(q) of the tracked branch", name=f"{m.id}_eq.png")
                rep.figure(partial(linecut_figure, [cut], d["dispersion"]),
                           f"{m.id}: E–q line cut at {d['linecut_deg']:.0f}° from qx",
                           name=f"{m.id}_linecut.png")
            elif m.kind == "sts-ingap":
                from supramap.report.sts import ingap_figure

                rep.heading(f"In-gap peak {m.id} against field")
                rep.table([[f"{v:g} T", f"{r.n_peaks}",
                            "; ".join(f"{e * 1e6:.3g} ± {de * 1e6:.2g}" for e, de in
                                      zip(r.energies_eV, r.energies_err_eV)),
                            "; ".join(f"{w * 1e6:.3g} ± {dw * 1e6:.2g}" for w, dw in
                                      zip(r.fwhm_eV, r.fwhm_err_eV)),
                            f"{r.apparent_fwhm_eV * 1e6:.3g}"] for v, _, r in obj],
                          header=["field", "peaks (BIC)", "energy (µeV)",
                                  "intrinsic FWHM (µeV)", "apparent FWHM (µeV)"])
                rep.figure(partial(ingap_figure, obj, "field_T"), f"{m.id}: intrinsic and apparent "
                           "FWHM and peak energy against field", name=f"{m.id}.png")
            elif m.kind == "sts-tip":
                from supramap.report.sts import fit_figure

                rep.heading(f"Tip calibration {m.id}")
                rep.table([("tip gap Δ", f"{obj.delta_eV * 1e3:.4g} ± "
                                         f"{obj.delta_err_eV * 1e3:.2g} meV"),
                           ("tip broadening Γ", f"{obj.gamma_eV * 1e6:.4g} ± "
                                                f"{obj.gamma_err_eV * 1e6:.2g} µeV"),
                           ("effective temperature", f"{obj.temperature_K:.3g} ± "
                                                     f"{obj.temperature_err_K:.2g} K")],
                          header=["quantity", "value"])
                fit = res.objects.get(f"{m.id}:fit")
                if fit is not None:
                    rep.figure(partial(fit_figure, fit), f"{m.id}: SIS fit on the reference",
                               name=f"{m.id}_fit.png")
            elif m.kind == "sts-spectrum" and hasattr(obj, "dos"):
                from supramap.report.sts import deconvolution_figure

                rep.heading(f"STS spectrum {m.id}")
                rep.figure(partial(deconvolution_figure, obj), f"{m.id}: deconvolved DOS",
                           name=f"{m.id}.png")
        except Exception as exc:  # a figure must not sink the report
            rep.paragraph(f"{m.id}: figure failed ({html.escape(str(exc))})")
    apt_rows = [(k, v) for k, v in res.results.items() if v.get("kind") == "apt"]
    if apt_rows:
        rep.heading("Atom probe")
        els = sorted({e for _, v in apt_rows for e in v["composition"]})
        rep.table([[k] + [f"{100 * v['composition'][e]['fraction']:.2f} ± "
                          f"{100 * v['composition'][e]['sigma']:.2f}" for e in els]
                   for k, v in apt_rows], header=["needle"] + [f"{e} (at.%)" for e in els])
        first = next((k for k, _ in apt_rows if f"{k}:spectrum" in res.objects), None)
        if first is not None:
            spec, table = res.objects[f"{first}:spectrum"]
            rep.figure(partial(afig.spectrum_figure, spec, table),
                       f"Mass spectrum of {first} with its ranges (ion, isotope and charge "
                       "state read off the range's m/q)",
                       name="apt_spectrum.png")
    cor = res.correlation
    if cor.get("sites"):
        rep.heading("Lift-out sites on the cAFM map")
        reg = cor["registration"]
        rep.paragraph(f"Map registered onto the micrograph by {len(reg['residuals_m'])} "
                      f"control points; rms residual {reg['rms_residual_m'] * 1e9:.1f} nm.")
        rep.table([[s["site"], s["class"], s["needle"] or "-",
                    f"{s['map_xy_m'][0] * 1e6:.3f}, {s['map_xy_m'][1] * 1e6:.3f}"]
                   for s in cor["sites"]],
                  header=["site", "cAFM class", "needle", "map x, y (µm)"])
        sem = next((m for m in res.sample.measurements if m.kind == "sem"), None)
        if sem is not None:
            try:
                # Made here, not with the others: its failure is caught and reported here.
                rep.figure(_sem_sites_figure(res, sem), "SEM image with the lift-out sites "
                           "(colour: cAFM class at the site)", name="sem_sites.png")
            except Exception as exc:  # noqa: BLE001 — a figure must not sink the report
                rep.paragraph(f"SEM figure failed ({html.escape(str(exc))})")
        if cor.get("needle_comparison"):
            rep.figure(partial(afig.comparison_figure, cor["needle_comparison"],
                                              ("conducting", "insulating")),
                       "Needle ratios: conducting vs insulating region", name="apt_ratios.png")
    atomic_write_json(rep.path("summary.json"), {**res.summary(), **(extra_summary or {}),
                                                 **({"provenance": provenance}
                                                    if provenance else {})})
    return rep.write()


def _sem_sites_figure(res, sem):
    """The SEM micrograph in µm with each lift-out site marked and labelled by its class."""
    import matplotlib.pyplot as plt

    from supramap.io import read_image

    img = read_image(sem.path("file", res.sample.base))
    px = float(sem.spec["pixel_m"])
    ny, nx = img.shape
    fig, ax = plt.subplots(figsize=(5.5, 5.5 * ny / nx + 0.4), constrained_layout=True)
    ax.imshow(img.values, cmap="gray", extent=[0, nx * px * 1e6, ny * px * 1e6, 0])
    colours = {"conducting": "tab:orange", "insulating": "tab:cyan"}
    by_name = {s["site"]: s for s in res.correlation.get("sites", [])}
    for site in res.sample.sites:
        cls = by_name.get(site.name, {}).get("class", "?")
        c = colours.get(cls, "tab:red")
        ax.plot(site.x_m * 1e6, site.y_m * 1e6, "o", ms=12, mfc="none", mec=c, mew=2)
        ax.annotate(f"{site.name} ({cls})", (site.x_m * 1e6, site.y_m * 1e6),
                    xytext=(8, 8), textcoords="offset points", color=c, fontsize=9,
                    bbox={"facecolor": "black", "alpha": 0.5, "pad": 1, "lw": 0})
    ax.set_xlabel("x (µm)")
    ax.set_ylabel("y (µm)")
    return fig
