"""``supramap cafm analyze | compare | series``."""

from __future__ import annotations

from pathlib import Path

import typer

from supramap.cli.common import (
    JSON_OPT,
    REPORT_OPT,
    busy,
    call,
    given,
    option,
    present,
    progress_bar,
)

app = typer.Typer(help="Conductive-AFM heterogeneity analysis.", no_args_is_help=True)

THRESHOLD_OPT = option("cafm-analyze", "threshold")


@app.command()
def analyze(
    current: Path = typer.Argument(..., help="Current map (BCR/BCRF, .gwy, .sxm)."),
    topography: Path = given("cafm-analyze", "topography"),
    deflection: Path = given("cafm-analyze", "deflection"),
    channel: str = option("cafm-analyze", "channel"),
    topography_channel: str = option("cafm-analyze", "topography_channel"),
    deflection_channel: str = option("cafm-analyze", "deflection_channel"),
    threshold: str = THRESHOLD_OPT,
    line: str = option("cafm-analyze", "line"),
    line_width: str = option("cafm-analyze", "line_width"),
    islands_out: Path = typer.Option(
        None, "--islands", help="Write the per-island table here (CSV; units in the column "
                                "names: area_m2, equivalent_diameter_m, mean_current_A ...)."),
    masks_out: Path = typer.Option(
        None, "--masks", help="Write the conducting mask and island labels here (NetCDF with "
                              "x, y in m; a .tif gets the labels as a 32-bit TIFF)."),
    level: str = option("cafm-analyze", "level"),
    align: str = option("cafm-analyze", "align_rows"),
    scars: bool = option("cafm-analyze", "remove_scars"),
    clip: str = option("cafm-analyze", "clip"),
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
    topography_a: Path = given("cafm-compare", "topography_a"),
    topography_b: Path = given("cafm-compare", "topography_b"),
    channel: str = option("cafm-compare", "channel"),
    threshold: str = THRESHOLD_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Overlap of conducting areas in two maps (forward/backward or two temperatures)."""
    with busy("registering and comparing the maps"):
        out = call("cafm-compare", a, b, topography_a=topography_a, topography_b=topography_b,
                   channel=channel, threshold=threshold)
    present(out, json_path, report)


@app.command()
def series(
    files: list[Path] = typer.Argument(..., help="Current maps of one area, in order."),
    temperatures: list[str] = option("cafm-series", "temperatures", required=True),
    topographies: list[Path] = given("cafm-series", "topography"),
    channel: str = option("cafm-series", "channel"),
    threshold: str = THRESHOLD_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Conducting fraction versus temperature, vanishing temperature, returning islands."""
    with progress_bar(f"reading {len(files)} maps") as progress:
        task = progress.add_task("reading maps and analysing the series", total=len(files))
        out = call("cafm-series", *files, topography=topographies or None,
                   temperatures=temperatures, channel=channel, threshold=threshold,
                   progress=lambda d, t: progress.update(task, completed=d, total=t))
    present(out, json_path, report)
