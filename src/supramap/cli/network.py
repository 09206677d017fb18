"""``supramap network fourprobe``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from supramap.cli.common import (
    JSON_OPT,
    REPORT_OPT,
    UsageError,
    busy,
    console,
    emit_warnings,
    load,
    new_report,
    option,
    print_table,
    progress_bar,
    write_json,
)
from supramap.quality import warn

app = typer.Typer(
    help="Would a four-probe measurement see the heterogeneity?", no_args_is_help=True
)


def _parse_contacts(text: str, image, size: int):
    from supramap.network import Contact

    pts = []
    if len(text) % 2:
        raise UsageError(f"--contacts needs x,y pairs ('x,y;x,y;...'), got {len(text)} numbers")
    for x, y in zip(text[::2], text[1::2]):
        part = f"{x:g},{y:g}"
        dx = float(image.x[1] - image.x[0])
        dy = float(image.y[1] - image.y[0])
        if not (np.isfinite(x) and np.isfinite(y)):
            raise UsageError(f"--contacts must be finite coordinates in metres, got {part!r}")
        col = int(round((x - float(image.x[0])) / dx))
        row = int(round((y - float(image.y[0])) / dy))
        if not (0 <= row < image.shape[0] and 0 <= col < image.shape[1]):
            raise UsageError(f"--contacts point ({x:.4g}, {y:.4g}) m lies outside the map "
                             f"(x {float(image.x.min()):.4g}…{float(image.x.max()):.4g} m, "
                             f"y {float(image.y.min()):.4g}…{float(image.y.max()):.4g} m)")
        pts.append(Contact.point(row, col, size, name=str(len(pts) + 1)))
    return pts


def _uniform(image) -> bool:
    v = np.asarray(image.values, dtype=float)
    v = v[np.isfinite(v)]
    return v.size > 0 and float(v.max()) == float(v.min())


N = "network-fourprobe"


@app.command()
def fourprobe(
    map_file: Path = typer.Argument(
        ..., metavar="MAP", help="Current map (A) or sheet-conductance map (S)."
    ),
    channel: str = typer.Option(
        None, "--channel", help="Current (A) or sheet-conductance (S) channel (default: first)."),
    threshold: str = option(N, "threshold"),
    rule: str = option(N, "rule"),
    normal_sheet_resistance: str = option(N, "normal_sheet_resistance"),
    geometry: str = option(N, "geometry"),
    contacts: str = option(N, "contacts"),
    contact_size: int = option(N, "contact_size"),
    monte_carlo: int = option(N, "monte_carlo"),
    vary_threshold: bool = option(N, "vary_threshold"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Simulate a four-probe / van der Pauw / two-probe measurement on a measured map."""
    from supramap.network import (
        fourprobe as run,
    )
    from supramap.network import (
        from_conductance_map,
        from_current_map,
        percolation_stats,
    )
    from supramap.network import (
        monte_carlo as run_mc,
    )

    if geometry not in ("vdp", "inline", "twoprobe"):
        raise UsageError(f"--geometry must be vdp, inline or twoprobe, got {geometry!r}")
    if contact_size < 1:
        raise UsageError("--contact-size must be at least 1 pixel")
    if monte_carlo < 0:
        raise UsageError("--monte-carlo must be ≥ 0")
    image = load(map_file, channel, "A")
    unit = image.attrs.get("units")
    if unit == "S":
        net_in = from_conductance_map(image)
        mask_for = None
    elif unit == "A" and _uniform(image):
        # A homogeneous sample, the reference case of van der Pauw: every pixel one phase —
        # superconducting when above a given threshold, otherwise the normal sheet.
        thr = threshold
        level = float(np.nanmax(image.values))
        net_in = from_current_map(image, rule="threshold",
                                  threshold=level if thr == "auto" else float(thr),
                                  normal_sheet_resistance=normal_sheet_resistance)
        emit_warnings([warn(
            "network.uniform_map",
            f"the map is uniform ({level:.3g} A at every pixel): analysed as a homogeneous "
            + ("superconductor" if net_in.sc_mask.any() else
               f"normal sheet of {normal_sheet_resistance:g} Ω/sq")
            + ("" if thr != "auto" else " (give --threshold to call it superconducting)"),
            current_A=level)])
        mask_for = None
    elif unit == "A":
        thr = threshold
        from supramap.conduction import analyze

        if thr == "auto":
            cafm = analyze(image, threshold=thr)
            oriented, thr_a = cafm.oriented_current, cafm.threshold_A
        else:
            # A given threshold needs only the conducting sign, not the whole analysis (its
            # noise, levels, islands and edges took 4.7 s of a 2048² four-probe run).
            from supramap.conduction.analysis import orient

            oriented, polarity_warning = orient(image)
            emit_warnings([polarity_warning] if polarity_warning else [])
            thr_a = float(thr)
        current = image.copy(data=oriented)
        net_in = from_current_map(
            current,
            rule=rule,
            threshold=thr_a,
            normal_sheet_resistance=normal_sheet_resistance,
        )
        if rule == "threshold" and thr == "auto":
            # The analysis' own mask: each island cut at half of its level.
            net_in = type(net_in)(
                net_in.conductance,
                cafm.mask.copy(),
                net_in.dx,
                net_in.dy,
                net_in.rule,
                net_in.normal_sheet_resistance,
                cafm.threshold_A,
            )

        def mask_for(factor: float, _c=oriented, _t=thr_a):
            return np.isfinite(_c) & (_c > factor * _t)
    else:
        raise UsageError(
            f"{map_file}: channel {image.name!r} is in {unit!r}; a network needs "
            "a current (A) or sheet-conductance (S) map"
        )
    cts = _parse_contacts(contacts, image, contact_size) if contacts else None
    reference = net_in.normal_sheet_resistance if net_in.sc_mask.any() or unit == "A" else None
    shared = {"geometry": geometry, "contact_size": contact_size, "dx": net_in.dx,
              "dy": net_in.dy, "reference_sheet_resistance": reference}
    with busy(f"solving the {geometry} network of {net_in.conductance.size:,} pixels"):
        result = run(net_in.conductance, net_in.sc_mask, contacts=cts, **shared)
    perc = percolation_stats(net_in.sc_mask)
    d = result.to_dict()
    d["file"] = str(map_file)
    d["rule"] = net_in.rule
    d["threshold_A"] = net_in.threshold_A
    d["percolation"] = perc.to_dict()
    mc = None
    if monte_carlo:
        with progress_bar(f"Monte Carlo over {monte_carlo} contact placements") as progress:
            task = progress.add_task("Monte Carlo over contact placements", total=monte_carlo)
            vary = vary_threshold and mask_for is not None and rule == "threshold"
            mc = run_mc(
                net_in.conductance,
                mask_for if vary else net_in.sc_mask,
                n=monte_carlo,
                **shared,
                threshold_range=(0.5, 2.0) if vary else None,
                progress=lambda i: progress.update(task, completed=i),
            )
        d["monte_carlo"] = mc.to_dict()
    rows = [(k, f"{v:.6g} Ω") for k, v in d["resistances_ohm"].items()]
    rows += [
        ("homogeneous reference", f"{d['R_homogeneous_ohm']:.6g} Ω"),
        ("apparent sheet resistance", f"{d['sheet_resistance_apparent_ohm']:.6g} Ω/sq"),
        ("superconducting fraction", f"{d['sc_fraction']:.4f}"),
        ("percolates (current / voltage)", f"{d['sc_percolates']} / {d['sc_percolates_voltage']}"),
        ("zero resistance", str(d["zero_resistance"])),
        ("current fraction in superconductor", f"{d['current_fraction_in_sc']:.3f}"),
        ("residual", f"{d['residual']:.1e}"),
    ]
    if mc is not None:
        m = d["monte_carlo"]
        rows.append(
            (
                "Monte Carlo: reads zero",
                f"{m['fraction_zero']}"
                if m["fraction_zero"] is None
                else f"{100 * m['fraction_zero']:.0f} %",
            )
        )
    print_table(f"Four-probe simulation of {map_file}", rows)
    from supramap.report.network import verdict

    console.print(verdict(result))
    write_json(json_path, d)
    if report is not None:
        from supramap.report.network import network_section

        rep = new_report(f"Four-probe simulation — {map_file.name}", report, tables=False)
        network_section(rep, result, image, mc=mc, percolation=perc)
        console.print(f"Report: {rep.write()}")
