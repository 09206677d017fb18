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
    console,
    corrected,
    emit_warnings,
    load,
    new_report,
    parse_threshold,
    print_table,
    progress_bar,
    quantities,
    quantity,
    write_json,
)
from supramap.errors import AnalysisError
from supramap.units import si_prefix

app = typer.Typer(help="Conductive-AFM heterogeneity analysis.", no_args_is_help=True)

THRESHOLD_OPT = typer.Option(
    "auto", "--threshold", help="'auto' or a current in A (e.g. 2e-6 or 2uA)."
)


def _fmt(v: float, unit: str) -> str:
    return si_prefix(v, unit) if v == v else "n/a"


def _parse_line(text: str) -> tuple[float, float, float, float]:
    """'x0,y0,x1,y1' in metres, or each with its unit (0.5um,1um,2um,2um)."""
    return tuple(quantities(text, "m", "--line", count=4))  # type: ignore[return-value]


def _user_mask(path: Path, cur):
    """A mask file: the ``conducting`` variable of a NetCDF, or any image (non-zero = True)."""
    import numpy as np

    if path.suffix.lower() in (".nc", ".nc4", ".h5"):
        import xarray as xr

        try:
            with xr.open_dataset(path) as ds:
                m = np.asarray(ds["conducting"].values)
        except (OSError, ValueError, KeyError) as exc:
            raise UsageError(f"{path}: not a mask NetCDF with a 'conducting' variable "
                             f"({exc})") from None
    else:
        from supramap.io import read_image

        m = np.asarray(read_image(path).values)
    if m.shape != cur.shape:
        raise UsageError(f"{path}: mask of {m.shape[0]} × {m.shape[1]} px for a map of "
                         f"{cur.shape[0]} × {cur.shape[1]} px")
    return np.nan_to_num(m) != 0


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
    line: str = typer.Option(
        None,
        "--line",
        help="Edge line 'x0,y0,x1,y1' in image coordinates, metres unless a unit is written "
        "(0.5um,1um,2um,2um): also measure its 10–90 % width.",
    ),
    line_width: str = typer.Option(
        "0", "--line-width", help="Box width of --line, metres unless a unit is written "
                                  "(40nm); default 0 (a single profile).",
        callback=quantity("--line-width", "m", 0.0, 1.0),
    ),
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
    from supramap.conduction import analyze as run

    thr = parse_threshold(threshold)
    cur = corrected(load(current, channel, "A"), level, align, scars, clip)
    if cur.attrs.get("units") != "A":
        raise UsageError(
            f"{current}: channel {cur.name!r} is in {cur.attrs.get('units')!r}, "
            "not a current (A); choose one with --channel"
        )
    if not ignore_feedback:
        from supramap.conduction.analysis import check_not_feedback

        try:
            check_not_feedback(cur)
        except AnalysisError as exc:
            raise AnalysisError(f"{current}: {exc}") from None
    topo = load(topography, topography_channel, "m") if topography else None
    defl = load(deflection, deflection_channel, "V") if deflection else None
    with busy(f"analysing {cur.shape[0]} × {cur.shape[1]} px"):
        result = run(cur, topography=topo, deflection=defl, threshold=thr,
                     mask=_user_mask(mask_in, cur) if mask_in is not None else None,
                     check_feedback=False)
    d = result.to_dict()
    d["file"] = str(current)
    if line is not None:
        from supramap.conduction import line_edge_width

        pts = _parse_line(line)
        d["line_edge_width_m"] = line_edge_width(
            cur.copy(data=result.oriented_current), pts[:2], pts[2:], width=line_width
        )
        d["line_m"] = list(pts)
    print_table(
        f"cAFM analysis of {current}",
        [
            ("noise floor", _fmt(d["noise_floor_A"], "A")),
            ("threshold", f"{_fmt(d['threshold_A'], 'A')} ({d['threshold_source']})"),
            (
                "conducting fraction",
                f"{d['conducting_fraction']:.4f} "
                f"[{d['conducting_fraction_interval'][0]:.4f}, "
                f"{d['conducting_fraction_interval'][1]:.4f}]",
            ),
            ("islands / stripes", f"{d['n_islands']} / {d['n_stripes']}"),
            ("current levels", ", ".join(_fmt(v, "A") for v in d["levels_A"]) or "none"),
            ("level fractions", ", ".join(f"{f:.2f}" for f in d["level_fractions"]) or "-"),
            ("edge width (10–90 %)", _fmt(d["edge_width_m"], "m")),
            ("dynamic range", f"{d['dynamic_range_decades']:.2f} decades"),
            *(
                [("edge width on --line", _fmt(d["line_edge_width_m"], "m"))]
                if "line_edge_width_m" in d
                else []
            ),
        ],
    )
    if result.artefacts is not None:
        console.print(result.artefacts.verdict)
    emit_warnings(result)
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
            atomic_write_bytes(masks_out, mask_dataset(cur, result.mask, result.labels)
                               .to_netcdf())
    d["processing"] = [str(x) for x in cur.attrs.get("provenance", [])]
    write_json(json_path, d)
    if report is not None:
        from supramap.report.cafm import analysis_section

        rep = new_report(f"cAFM analysis — {current.name}", report, tables=False)
        analysis_section(rep, str(current.name), cur, result, topography=topo, deflection=defl)
        console.print(f"Report: {rep.write()}")


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

    thr = parse_threshold(threshold)
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
    temperatures: list[str] = typer.Option(
        ..., "--temperatures", "-t", help="One temperature per map, in order, K unless a unit "
                                          "is written: a comma list (-t 8,20,30) or repeated."
    ),
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

    thr = parse_threshold(threshold)
    temperatures = quantities(temperatures, "K", "--temperatures")
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
