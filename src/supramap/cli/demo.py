"""``supramap demo``: the virtual sample from files on disk to an HTML report."""

from __future__ import annotations

from pathlib import Path

from rich.progress import Progress

from supramap.cli.common import console
from supramap.conduction import analyze, compare, temperature_series
from supramap.fileutil import atomic_write_json
from supramap.io import read_image
from supramap.network import fourprobe, from_current_map, percolation_stats
from supramap.report.cafm import analysis_section, comparison_section, series_section
from supramap.report.html import Report
from supramap.report.network import network_section
from supramap.synth.cafm import PROTOCOL, write_virtual_sample


def run_demo(out: Path, *, seed: int = 0) -> Path:
    """Write the virtual sample under ``out/virtual_sample``, analyse it through the readers
    and write ``out/report/index.html`` and ``out/report/summary.json``; returns the page."""
    out = Path(out)
    data = out / "virtual_sample"
    with Progress(console=console) as progress:
        steps = progress.add_task("demo", total=8)
        progress.update(steps, description="simulating the virtual sample")
        truth = write_virtual_sample(data, seed=seed)
        progress.advance(steps)

        def f(label: str, direction: str, channel: str) -> Path:
            return data / f"{label}_{direction}_{channel}.bcrf"

        def img(label: str, direction: str, channel: str, units: str):
            return read_image(f(label, direction, channel), prefer_units=units)

        first, warm, hot, recool = (p[0] for p in PROTOCOL)
        progress.update(steps, description="analysing the 8 K map")
        cur = img(first, "for", "current", "A")
        topo = img(first, "for", "topography", "m")
        defl = img(first, "for", "deflection", "V")
        result = analyze(cur, topography=topo, deflection=defl)
        progress.advance(steps)

        progress.update(steps, description="forward vs backward at 20 K")
        fb = compare(img(warm, "for", "current", "A"), img(warm, "bac", "current", "A"),
                     topography_a=img(warm, "for", "topography", "m"),
                     topography_b=img(warm, "bac", "topography", "m"))
        progress.advance(steps)

        progress.update(steps, description="8 K before and after warming to 30 K")
        rc = compare(cur, img(recool, "for", "current", "A"), topography_a=topo,
                     topography_b=img(recool, "for", "topography", "m"))
        progress.advance(steps)

        progress.update(steps, description="temperature series")
        labels = [p[0] for p in PROTOCOL]
        series = temperature_series([img(lb, "for", "current", "A") for lb in labels],
                                    [p[1] for p in PROTOCOL],
                                    topographies=[img(lb, "for", "topography", "m")
                                                  for lb in labels])
        progress.advance(steps)

        progress.update(steps, description="four-probe simulation on the 8 K texture")
        net_in = from_current_map(cur.copy(data=result.oriented_current), rule="threshold",
                                  threshold=result.threshold_A, normal_sheet_resistance=1e3)
        four = fourprobe(net_in.conductance, result.mask, geometry="vdp", dx=net_in.dx,
                         dy=net_in.dy, reference_sheet_resistance=1e3)
        perc = percolation_stats(result.mask)
        progress.advance(steps)

        progress.update(steps, description="bulk transport, susceptibility, heat, loop")
        bulk, bulk_figs = _bulk(data / "bulk")
        progress.advance(steps)

        progress.update(steps, description="writing the report")
        report = Report("supramap demo — a virtual heterogeneous superconductor",
                        out / "report")
        a = result.to_dict()
        t8 = next(s for s in truth["scans"] if s["label"] == first)
        report.paragraph(
            "A virtual Fe(Se,Te)-like crystal: superconducting islands and stripes (two current "
            "levels) in an insulating matrix, imaged by conductive AFM at 100 mV at 8 K, 20 K, "
            "30 K and 8 K again, forward and backward, written as attocube BCRF files and read "
            "back.  The table compares what the analysis recovers with the simulation's truth.")
        fb_truth = truth["comparisons"]["forward_backward_20K"]
        rc_truth = truth["comparisons"]["recooling_8K"]
        rows = [
            ("conducting fraction at 8 K", f"{t8['conducting_fraction']:.4f}",
             f"{a['conducting_fraction']:.4f}"),
            ("islands at 8 K", t8["n_regions"], a["n_islands"]),
            ("current levels (µA)", ", ".join(f"{v * 1e6:.2f}" for v in truth["levels_A"]),
             ", ".join(f"{v * 1e6:.2f}" for v in a["levels_A"])),
            ("edge width 10–90 % (nm)", f"{truth['edge_width_m'] * 1e9:.1f}",
             f"{a['edge_width_m'] * 1e9:.1f}"),
            ("re-cooling shift (px, y x)", " ".join(f"{v:.2f}" for v in rc_truth["shift_px"]),
             " ".join(f"{v:.2f}" for v in rc.shift_px)),
            ("area persisting after re-cooling", f"{rc_truth['persistent_fraction']:.3f}",
             f"{rc.persistent_fraction:.3f}"),
            ("20 K dots common to both traces", f"{fb_truth['persistent_fraction']:.3f}",
             f"{fb.persistent_fraction:.3f}"),
            ("vanishing temperature (K)", truth["t_vanish_K"], series.vanishing_temperature_K),
        ]
        report.heading("What the bulk says")
        report.paragraph(
            f"Transport: Tc onset {bulk['transport']['Tc_onset_K']:.2f} K, zero resistance below "
            f"{bulk['transport']['Tc_zero_K']:.2f} K. Susceptibility: shielding fraction "
            f"{bulk['susceptibility']['shielding_fraction']:.2f} after the demagnetisation "
            f"correction. Specific heat: superconducting volume fraction "
            f"{100 * bulk['heat']['sc_volume_fraction']:.1f} %. A homogeneous superconductor, "
            "by every bulk test — the maps below say otherwise.", css="verdict")
        for fig_, caption, name in bulk_figs:
            report.figure(fig_, caption, name=name)
        report.heading("Truth versus measurement")
        report.table(rows, header=["quantity", "truth", "measured"])
        analysis_section(report, "8 K, forward trace", cur, result, topography=topo,
                         deflection=defl, prefix="8K_")
        comparison_section(report, "20 K: forward vs backward trace (metastable dots)", fb,
                           img(warm, "for", "current", "A"), ("forward", "backward"),
                           prefix="20K_fb_")
        comparison_section(report, "8 K before vs after warming to 30 K", rc, cur,
                           ("first 8 K", "re-cooled 8 K"), prefix="8K_recool_")
        series_section(report, series, cur)
        network_section(report, four, cur, percolation=perc)
        page = report.write()
        atomic_write_json(out / "report" / "summary.json", {
            "analysis_8K": a, "forward_backward_20K": fb.to_dict(),
            "recooling_8K": rc.to_dict(), "series": series.to_dict(),
            "fourprobe_8K": {**four.to_dict(), "percolation": perc.to_dict()},
            "bulk": bulk, "truth": truth,
        })
        progress.advance(steps)
    del hot
    return page


def _bulk(folder: Path):
    """Write the virtual bulk files, analyse them through the reader, make the figures."""
    import numpy as np

    from supramap.bulk import (
        analyze_heat,
        analyze_loop,
        analyze_susceptibility,
        analyze_transport,
        demag_prism,
        resistivity,
        volume_susceptibility,
    )
    from supramap.io import read
    from supramap.report import bulk as fig
    from supramap.synth.bulk import write_bulk_files

    truth = write_bulk_files(folder)
    dims = truth["length_m"], truth["width_m"], truth["thickness_m"]
    vol = float(np.prod(dims))
    tr = read(folder / "transport.dat")
    t = tr["Temperature"].values
    rho = resistivity(tr["Bridge 1 Resistivity"].values, length=dims[0], width=dims[1],
                      thickness=dims[2])
    rt = analyze_transport(t, rho)
    su = read(folder / "susceptibility.dat")
    ts = su["Temperature"].values
    chi = volume_susceptibility(su["Moment"].values, su["Magnetic Field"].values, vol)
    fc0 = next(c["row"] for c in su.attrs["comments"] if c["text"] == "FC")
    n = demag_prism(*dims)
    rs = analyze_susceptibility(ts[:fc0], chi[:fc0], ts[fc0:], chi[fc0:], demag_factor=n)
    he = read(folder / "heat.dat")
    moles = truth["mass_kg"] / truth["molar_mass_kg_per_mol"]
    th, c = he["Sample Temp"].values, he["Samp HC"].values / moles
    rh = analyze_heat(th, c, window=(3, 5), atoms_per_formula_unit=truth["atoms"])
    lp = read(folder / "loop.dat")
    rl = analyze_loop(lp["Magnetic Field"].values, lp["Moment"].values, volume=vol,
                      a=dims[0], b=dims[1])
    f_heat = fig.heat_figures(th, c, rh)
    figs = [
        (fig.transport_figure(t, rho, rt, "ohm m"), "Resistivity and its transition",
         "bulk_transport.png"),
        (fig.susceptibility_figure(ts[:fc0], chi[:fc0], ts[fc0:], chi[fc0:], n),
         "ZFC / FC susceptibility (demagnetisation-corrected)", "bulk_susceptibility.png"),
        (f_heat[0], "C/T vs T² with the 3–5 K fit", "bulk_heat_fit.png"),
        (f_heat[1], "Electronic specific heat and the entropy-conserving jump",
         "bulk_heat_jump.png"),
        (fig.loop_figure(lp["Magnetic Field"].values, lp["Moment"].values, vol, rl),
         "M(H) loop at 2 K and the Bean critical current", "bulk_loop.png"),
    ]
    results = {"transport": rt.to_dict(), "susceptibility": rs.to_dict(),
               "heat": rh.to_dict(), "loop": rl.to_dict(), "truth": truth}
    return results, figs
