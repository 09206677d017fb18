"""``supramap cafm analyze | compare | series``."""

from __future__ import annotations

from pathlib import Path

import typer

from supramap.cli.common import (
    ALIGN_OPT,
    CLIP_OPT,
    JSON_OPT,
    LEVEL_OPT,
    REPORT_OPT,
    SCARS_OPT,
    UsageError,
    busy,
    call,
    console,
    emit_warnings,
    load,
    new_report,
    option,
    present,
    print_table,
    progress_bar,
    write_json,
)
from supramap.units import si_prefix

app = typer.Typer(help="Conductive-AFM heterogeneity analysis.", no_args_is_help=True)

THRESHOLD_OPT = option("cafm-analyze", "threshold")


def _fmt(v: float, unit: str) -> str:
    return si_prefix(v, unit) if v == v else "n/a"


@app.command()
def analyze(
    current: Path = typer.Argument(..., help="Current map (BCR/BCRF, .gwy, .sxm)."),
    topography: Path = typer.Option(None, "--topography", help="Topography recorded alongside."),
    deflection: Path = typer.Option(None, "--deflection", help="Deflection recorded alongside."),
    channel: str = typer.Option(None, "--channel", help="Current channel name (or prefix)."),
    topography_channel: str = typer.Option(
        None, "--topography-channel", help="Topography channel of the same file (default: in m)."),
    deflection_channel: str = typer.Option(
        None, "--deflection-channel", help="Deflection channel of the same file (default: none)."),
    threshold: str = THRESHOLD_OPT,
    line: str = option("cafm-analyze", "line"),
    line_width: str = option("cafm-analyze", "line_width"),
    islands_out: Path = typer.Option(
        None, "--islands", help="Write the per-island table here (CSV; units in the column "
                                "names: area_m2, equivalent_diameter_m, mean_current_A ...)."),
    masks_out: Path = typer.Option(
        None, "--masks", help="Write the conducting mask and island labels here (NetCDF with "
                              "x, y in m; a .tif gets the labels as a 32-bit TIFF)."),
    level: str = LEVEL_OPT,
    align: str = ALIGN_OPT,
    scars: bool = SCARS_OPT,
    clip: str = CLIP_OPT,
    mask_in: Path = typer.Option(
        None, "--mask", help="Conducting pixels given instead of the threshold: a NetCDF "
                             "written by --masks, or an image of the map's size (non-zero = "
                             "conducting)."),
    ignore_feedback: bool = typer.Option(
        False, "--ignore-feedback",
        help="Analyse a current image the file says was taken under current feedback "
             "(constant-current STM) anyway; refused by default."),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Noise floor, conducting fraction, islands, current levels, edge width, artefacts."""
    with busy("analysing the current map"):
        out = call("cafm-analyze", current, topography=topography, deflection=deflection,
                   channel=channel, topography_channel=topography_channel,
                   deflection_channel=deflection_channel, threshold=threshold, line=line,
                   line_width=line_width, level=level, align_rows=align, remove_scars=scars,
                   clip=clip, mask=mask_in, ignore_feedback=ignore_feedback)
    result = out.result
    if islands_out is not None:
        from supramap.conduction import islands_csv
        from supramap.fileutil import atomic_write_text

        atomic_write_text(islands_out, islands_csv(result.islands))
    if masks_out is not None:
        from supramap.conduction import mask_dataset
        from supramap.fileutil import atomic_write_bytes

        if masks_out.suffix.lower() in (".tif", ".tiff"):
            import io

            import tifffile

            buf = io.BytesIO()
            tifffile.imwrite(buf, result.labels.astype("uint32"))
            atomic_write_bytes(masks_out, buf.getvalue())
        else:
            atomic_write_bytes(masks_out, mask_dataset(out.data["current"], result.mask,
                                                       result.labels)
                               .to_netcdf())
    present(out, json_path, report)


@app.command()
def compare(
    a: Path = typer.Argument(..., help="Current map A (reference)."),
    b: Path = typer.Argument(..., help="Current map B (registered onto A)."),
    topography_a: Path = typer.Option(
        None, "--topography-a", help="Topography recorded with map A (artefact check)."),
    topography_b: Path = typer.Option(
        None, "--topography-b", help="Topography recorded with map B (artefact check)."),
    channel: str = typer.Option(None, "--channel", help="Current channel in both files."),
    threshold: str = THRESHOLD_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Overlap of conducting areas in two maps (forward/backward or two temperatures)."""
    from supramap.conduction import compare as run

    thr = threshold
    if (topography_a is None) != (topography_b is None):
        raise UsageError("give both --topography-a and --topography-b, or neither")
    ma, mb = load(a, channel, "A"), load(b, channel, "A")
    ta = load(topography_a, None, "m") if topography_a else None
    tb = load(topography_b, None, "m") if topography_b else None
    result = run(ma, mb, topography_a=ta, topography_b=tb, threshold=thr)
    d = result.to_dict()
    d.update({"file_a": str(a), "file_b": str(b)})
    print_table(
        f"{a.name} vs {b.name}",
        [
            ("shift (y, x)", f"{_fmt(d['shift_m'][0], 'm')}, {_fmt(d['shift_m'][1], 'm')}"),
            ("IoU", f"{d['iou']:.3f}" if d["iou"] == d["iou"] else "n/a"),
            (
                "persistent / vanished / appeared",
                " / ".join(
                    f"{v:.3f}" if v == v else "n/a"
                    for v in (
                        d["persistent_fraction"],
                        d["vanished_fraction"],
                        d["appeared_fraction"],
                    )
                ),
            ),
            (
                "spots A / B (only A / only B)",
                f"{d['n_spots_a']} / {d['n_spots_b']} "
                f"({d['n_spots_only_a']} / {d['n_spots_only_b']})",
            ),
            ("median spot diameter", _fmt(d["spot_diameter_m"], "m")),
        ],
    )
    emit_warnings(result)
    write_json(json_path, d)
    if report is not None:
        from supramap.report.cafm import comparison_section

        rep = new_report(f"cAFM comparison — {a.name} vs {b.name}", report, tables=False)
        comparison_section(rep, "Comparison", result, ma, (a.name, b.name))
        console.print(f"Report: {rep.write()}")


@app.command()
def series(
    files: list[Path] = typer.Argument(..., help="Current maps of one area, in order."),
    temperatures: list[str] = option("cafm-series", "temperatures", required=True),
    topographies: list[Path] = typer.Option(
        None, "--topography", help="Topography per map (repeat), for registration."
    ),
    channel: str = typer.Option(
        None, "--channel", help="Current channel as the header names it (default: the one in A)."),
    threshold: str = THRESHOLD_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Conducting fraction versus temperature, vanishing temperature, returning islands."""
    from supramap.conduction import temperature_series

    thr = threshold
    if len(files) != len(temperatures):
        raise UsageError(f"{len(files)} files but {len(temperatures)} temperatures")
    if topographies and len(topographies) != len(files):
        raise UsageError(f"{len(topographies)} topographies for {len(files)} maps")
    maps, topos = [], []
    with progress_bar(f"reading {len(files)} maps") as progress:
        task = progress.add_task("reading maps", total=len(files))
        for i, f in enumerate(files):
            maps.append(load(f, channel, "A"))
            if topographies:
                topos.append(load(topographies[i], None, "m"))
            progress.advance(task)
        progress.add_task("analysing series", total=None)
        result = temperature_series(maps, temperatures, topographies=topos or None, threshold=thr)
    d = result.to_dict()
    d["files"] = [str(f) for f in files]
    rows = [
        (f"#{i + 1} {t:g} K", f"{f:.4f} ({n} islands)")
        for i, (t, f, n) in enumerate(
            zip(d["temperatures_K"], d["conducting_fraction"], d["n_islands"])
        )
    ]
    vt = d["vanishing_temperature_K"]
    rows.append(("vanishing temperature", f"{vt:g} K" if vt is not None else "not reached"))
    if "islands_returned" in d:
        rows.append(
            (
                "islands back after re-cooling",
                f"{len(d['islands_returned'])} of {d['n_islands_first']}",
            )
        )
    print_table("Temperature series", rows)
    emit_warnings(result)
    write_json(json_path, d)
    if report is not None:
        from supramap.report.cafm import series_section

        rep = new_report("cAFM temperature series", report, tables=False)
        series_section(rep, result, maps[0])
        console.print(f"Report: {rep.write()}")
