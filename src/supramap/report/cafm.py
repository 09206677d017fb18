"""Report sections for cAFM analyses (used by the CLI and the demo)."""

from __future__ import annotations

from functools import partial

from supramap.report import figures
from supramap.report.html import Report
from supramap.spm import align_rows, plane_level, remove_scars
from supramap.units import si_prefix


def _fmt_m(v: float) -> str:
    return si_prefix(v, "m") if v == v else "n/a"


def analysis_section(report: Report, title: str, current, result, *, topography=None,
                     deflection=None, prefix: str = "") -> None:
    """Maps, histogram, islands, edges and the key numbers of one analysis."""
    report.heading(title)
    d = result.to_dict()
    rows = [
        ("Noise floor (offset + 3σ)", si_prefix(d["noise_floor_A"], "A")),
        ("Threshold", f"{si_prefix(d['threshold_A'], 'A')} ({d['threshold_source']})"),
        ("Conducting fraction", f"{100 * d['conducting_fraction']:.2f} % (90 % interval of "
                                f"the area {100 * d['conducting_fraction_interval_90'][0]:.2f}–"
                                f"{100 * d['conducting_fraction_interval_90'][1]:.2f} %; "
                                f"cut × ½ and × 1.5: "
                                f"{100 * d['conducting_fraction_interval'][0]:.2f}–"
                                f"{100 * d['conducting_fraction_interval'][1]:.2f} %)"),
        ("Islands (stripes)", f"{d['n_islands']} ({d['n_stripes']})"),
        ("Current levels", ", ".join(f"{si_prefix(v, 'A')} ({100 * f:.0f} %)" for v, f in
                                     zip(d["levels_A"], d["level_fractions"])) or "none"),
        ("Edge width 10–90 % (median)", _fmt_m(d["edge_width_m"])),
        ("Dynamic range", f"{d['dynamic_range_decades']:.1f} decades"),
        ("Pixel size", f"{_fmt_m(d['pixel_size_m'][1])} × {_fmt_m(d['pixel_size_m'][0])}"),
        ("Shape", f"{d['shape'][0]} × {d['shape'][1]} px"),
    ]
    report.table(rows, header=["quantity", "value"])
    if result.artefacts is not None:
        report.paragraph(result.artefacts.verdict, css="verdict")
    topo = None
    if topography is not None:
        topo = remove_scars(align_rows(plane_level(topography), "median"))
    report.figure(partial(figures.maps_figure, current, result, topo, deflection),
                  "Topography, deflection and current maps with physical scale bars",
                  name=f"{prefix}maps.png")
    report.figure(partial(figures.histogram_figure, result),
                  "log-current histogram: noise floor, threshold and current levels",
                  name=f"{prefix}histogram.png")
    report.figure(partial(figures.islands_figure, current, result),
                  "Islands (lime) and stripes (cyan)", name=f"{prefix}islands.png")
    report.figure(partial(figures.edges_figure, result), "Current across island boundaries",
                  name=f"{prefix}edges.png")
    if result.islands:
        report.figure(partial(figures.island_sizes_figure, result),
                      "Island sizes and shapes (the per-island table: --islands FILE.csv)",
                      name=f"{prefix}island_sizes.png")


def comparison_section(report: Report, title: str, comparison, image_a,
                       labels: tuple[str, str] = ("A", "B"), prefix: str = "") -> None:
    """Overlay and numbers of a two-map comparison."""
    report.heading(title)
    d = comparison.to_dict()
    report.table([
        ("Registration shift (y, x)", f"{_fmt_m(d['shift_m'][0])}, {_fmt_m(d['shift_m'][1])} "
                                      f"(on {d['registered_on']})"),
        ("IoU of conducting masks", f"{d['iou']:.3f}" if d["iou"] == d["iou"] else "n/a"),
        ("Persistent / vanished / appeared (of A's area)",
         " / ".join(f"{v:.3f}" if v == v else "n/a" for v in
                    (d["persistent_fraction"], d["vanished_fraction"], d["appeared_fraction"]))),
        ("Small spots in A / B (only in A / only in B)",
         f"{d['n_spots_a']} / {d['n_spots_b']} ({d['n_spots_only_a']} / {d['n_spots_only_b']})"),
        ("Median spot diameter", _fmt_m(d["spot_diameter_m"])),
        ("Islands of A found again in B", f"{len(d['islands_returned'])} of {d['n_islands_a']}"),
    ], header=["quantity", "value"])
    report.figure(partial(figures.comparison_figure, comparison, image_a, labels),
                  f"{labels[0]} vs {labels[1]} (B registered onto A): conducting in both, "
                  "only in A, only in B; small spots are ringed (markers, not to scale)",
                  name=f"{prefix}overlay.png")


def series_section(report: Report, series, first_image, prefix: str = "series_") -> None:
    """Fraction versus temperature and the return after re-cooling."""
    report.heading("Temperature series")
    d = series.to_dict()
    rows = [[f"#{i + 1}", f"{t:g} K", f"{100 * f:.2f} %", n]
            for i, (t, f, n) in enumerate(zip(d["temperatures_K"], d["conducting_fraction"],
                                              d["n_islands"]))]
    report.table(rows, header=["map", "temperature", "conducting fraction", "islands"])
    vt = d["vanishing_temperature_K"]
    text = (f"Conduction vanishes at {vt:g} K." if vt is not None
            else "Conduction does not vanish in this series.")
    if series.return_comparison is not None:
        c = series.return_comparison
        text += (f" After re-cooling, {len(c.islands_returned)} of {c.n_islands_a} islands of "
                 f"the first map return ({100 * c.persistent_fraction:.0f} % of its "
                 "conducting area).")
    report.paragraph(text, css="verdict")
    report.figure(partial(figures.series_figure, series),
                  "Conducting fraction against temperature; arrows follow the acquisition order "
                  "(#1, #2 ...)",
                  name=f"{prefix}fraction.png")
    if series.return_comparison is not None:
        report.figure(partial(figures.comparison_figure, series.return_comparison, first_image,
                                                ("first", "re-cooled")),
                      "First map vs re-cooled map", name=f"{prefix}return.png")
