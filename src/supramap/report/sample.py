"""The sample report: verdict first, then bulk, cAFM, four-probe, STS, APT and correlation."""

from __future__ import annotations

import html
from pathlib import Path

from supramap.fileutil import atomic_write_json
from supramap.report.html import Report


def write_sample_report(res, out_dir: str | Path, *, extra=None,
                        extra_summary: dict | None = None) -> Path:
    """Write ``index.html`` and ``summary.json`` for a :class:`SampleResult`.

    ``extra(report)`` may add sections after the verdict (the demo adds its truth table);
    ``extra_summary`` is merged into ``summary.json``.
    """
    from supramap.report import apt as afig
    from supramap.report import bulk as bfig
    from supramap.report.cafm import analysis_section, series_section
    from supramap.report.network import network_section

    out = Path(out_dir)
    rep = Report(f"supramap — {res.sample.name}", out)
    rep.heading("Homogeneity verdict")
    for line in res.verdict or ["No analysis succeeded; see the problems below."]:
        rep.paragraph(line, css="verdict")
    # Every quality warning of every item, named by item, right under the verdict.
    flagged = []
    for item, d in res.results.items():
        for w in (d.get("warnings") or []) if isinstance(d, dict) else []:
            flagged.append({**w, "message": f"{item}: {w.get('message', '')}"})
    rep.warning_box(flagged, title="Quality warnings (numbers below that cannot be trusted)")
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
                rep.figure(bfig.transport_figure(t, r, result, units), f"{m.id}: ρ(T)",
                           name=f"{m.id}.png")
            elif m.kind == "susceptibility":
                tz, cz, tf, cf, n, _ = obj
                rep.figure(bfig.susceptibility_figure(tz, cz, tf, cf, n), f"{m.id}: χ(T)",
                           name=f"{m.id}.png")
            elif m.kind == "heat":
                t, c, result = obj
                f1, f2 = bfig.heat_figures(t, c, result)
                rep.figure(f1, f"{m.id}: C/T vs T²", name=f"{m.id}_fit.png")
                rep.figure(f2, f"{m.id}: C_e/T", name=f"{m.id}_jump.png")
            elif m.kind == "loop":
                h, mom, vol, result = obj
                rep.figure(bfig.loop_figure(h, mom, vol, result), f"{m.id}: M(H) and Jc",
                           name=f"{m.id}.png")
            elif m.kind == "cafm":
                analysis_section(rep, f"cAFM {m.id} ({m.spec.get('temperature_K')} K)",
                                 obj["current"], obj["result"], topography=obj["topography"],
                                 deflection=obj["deflection"], prefix=f"{m.id}_")
                if obj["fourprobe"] is not None:
                    from supramap.network import percolation_stats

                    network_section(rep, obj["fourprobe"], obj["current"],
                                    percolation=percolation_stats(obj["result"].mask),
                                    prefix=f"{m.id}_net_")
            elif m.kind == "cafm-series":
                series, first = obj
                series_section(rep, series, first, prefix=f"{m.id}_")
            elif m.kind == "sts-grid":
                from supramap.report.sts import maps_figure  # noqa: F401

                rep.heading(f"STS grid {m.id}")
                rep.table([(k, v) for k, v in obj.to_dict().items()],
                          header=["quantity", "value"])
                import matplotlib.pyplot as plt

                fig, ax = plt.subplots(figsize=(4.5, 4), constrained_layout=True)
                im = ax.imshow(obj.data["delta"].values * 1e3, cmap="viridis")
                fig.colorbar(im, ax=ax).set_label("Δ (meV)")
                ax.set_title("gap map", fontsize=9)
                rep.figure(fig, f"{m.id}: gap map", name=f"{m.id}_gap.png")
            elif m.kind == "sts-spectrum" and hasattr(obj, "dos"):
                from supramap.report.sts import deconvolution_figure

                rep.heading(f"STS spectrum {m.id}")
                rep.figure(deconvolution_figure(obj), f"{m.id}: deconvolved DOS",
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
        if cor.get("needle_comparison"):
            rep.figure(afig.comparison_figure(cor["needle_comparison"],
                                              ("conducting", "insulating")),
                       "Needle ratios: conducting vs insulating region", name="apt_ratios.png")
    atomic_write_json(rep.path("summary.json"), {**res.summary(), **(extra_summary or {})})
    return rep.write()
