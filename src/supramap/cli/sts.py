"""``supramap sts ...``: each command parses its declared options, calls its analysis
(:mod:`supramap.analyses.sts`, :mod:`supramap.analyses.library`) and presents the outcome."""

from __future__ import annotations

from pathlib import Path

import typer

from supramap.cli.common import (
    JSON_OPT,
    REPORT_OPT,
    UsageError,
    busy,
    call,
    given,
    option,
    present,
    progress_bar,
)

app = typer.Typer(help="Tunnelling spectroscopy.", no_args_is_help=True)

TEMPERATURE_OPT = option("sts-fit", "temperature")
TEFF_OPT = option("sts-calibrate-tip", "temperature")
LOCKIN_OPT = option("sts-fit", "lockin_rms")

CHANNEL_OPT = typer.Option(
    None, "--channel", help="Conductance column (default: lock-in X, else dI/dV of the current)."
)
BIAS_OPT = typer.Option(None, "--bias-column", help="Bias column of a CSV/TXT table.")
GRID_CHANNEL_OPT = typer.Option(
    None, "--channel", help="Grid/image channel as the header names it (default: lock-in X).")


@app.command()
def fit(
    file: Path = typer.Argument(..., help="Spectrum (.dat, .csv, .txt)."),
    channel: str = CHANNEL_OPT,
    bias_column: str = BIAS_OPT,
    model: str = option("sts-fit", "model"),
    gaps: int = option("sts-fit", "gaps"),
    temperature: str = TEMPERATURE_OPT,
    vary_temperature: bool = option("sts-fit", "vary_temperature"),
    lockin_rms: str = LOCKIN_OPT,
    tip: Path = typer.Option(None, "--tip", help="Calibrated tip (JSON) for --model sis."),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Fit a Dynes (NIS) or SIS model with uncertainties."""
    present(call("sts-fit", file, tip=tip, channel=channel, bias_column=bias_column,
                 model=model, gaps=gaps, temperature=temperature,
                 vary_temperature=vary_temperature, lockin_rms=lockin_rms),
            json_path, report)


@app.command("calibrate-tip")
def calibrate_tip(
    file: Path = typer.Argument(..., help="SIS spectrum on the reference (Pb(111))."),
    out: Path = typer.Option(..., "--out", help="Tip model JSON to write."),
    channel: str = CHANNEL_OPT,
    bias_column: str = BIAS_OPT,
    sample_gaps: str = option("sts-calibrate-tip", "sample_gaps"),
    sample_weights: str = option("sts-calibrate-tip", "sample_weights"),
    vary_sample: bool = option("sts-calibrate-tip", "vary_sample"),
    temperature: str = TEFF_OPT,
    lockin_rms: str = LOCKIN_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Fit the tip gap, broadening and effective temperature on a known reference."""
    with busy("fitting the tip on the reference (SIS model)"):
        res = call("sts-calibrate-tip", file, channel=channel, bias_column=bias_column,
                   sample_gaps=sample_gaps, sample_weights=sample_weights,
                   vary_sample=vary_sample, temperature=temperature, lockin_rms=lockin_rms)
    res.result.save(out)
    res.epilogue.append(f"Tip model written to {out}")
    present(res, json_path, report, extra={"tip": out.name})


@app.command()
def deconvolve(
    file: Path = typer.Argument(..., help="SIS spectrum on the unknown sample."),
    tip: Path = typer.Option(..., "--tip", help="Tip model JSON from calibrate-tip."),
    channel: str = CHANNEL_OPT,
    bias_column: str = BIAS_OPT,
    lam: str = option("sts-deconvolve", "lambda"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Recover the sample DOS by regularised inversion of the SIS kernel."""
    with busy("deconvolving (regularised inversion of the SIS kernel)"):
        out = call("sts-deconvolve", file, tip=tip, channel=channel, bias_column=bias_column,
                   **{"lambda": lam})
    present(out, json_path, report)


@app.command()
def peaks(
    file: Path = typer.Argument(..., help="Spectrum."),
    channel: str = CHANNEL_OPT,
    bias_column: str = BIAS_OPT,
    conductance_scale: str = option("sts-peaks", "conductance_scale"),
    prominence: str = option("sts-peaks", "prominence"),
    smooth: str = option("sts-peaks", "smooth"),
    tip: Path = typer.Option(
        None, "--tip", help="Calibrated superconducting tip (JSON): gaps = peak − Δ_tip."
    ),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Coherence-peak pairs (above 7× the noise), gaps, asymmetry and the zero-bias peak."""
    present(call("sts-peaks", file, tip=tip, channel=channel, bias_column=bias_column,
                 conductance_scale=conductance_scale, prominence=prominence, smooth=smooth),
            json_path, report)


@app.command()
def series(
    files: list[Path] = typer.Argument(..., help="Spectra of the series."),
    parameter: list[str] = option("sts-series", "parameter", required=True),
    parameter_name: str = option("sts-series", "parameter_name"),
    window: str = option("sts-series", "window"),
    channel: str = CHANNEL_OPT,
    bias_column: str = BIAS_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Zero-bias peak position, FWHM and height per spectrum; where it splits."""
    present(call("sts-series", *files, parameter=parameter, parameter_name=parameter_name,
                 window=window, channel=channel, bias_column=bias_column), json_path, report)


@app.command()
def grid(
    file: Path = typer.Argument(..., help="Nanonis grid (.3ds)."),
    energies: str = option("sts-grid", "energies", required=True),
    channel: str = GRID_CHANNEL_OPT,
    normalise: str = option("sts-grid", "normalise"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """dI/dV maps at chosen energies (with optional normalisation)."""
    present(call("sts-grid", file, energies=energies, channel=channel, normalise=normalise),
            json_path, report)


@app.command()
def ingap(
    files: list[Path] = typer.Argument(..., help="Spectra (one, or a series with -p)."),
    temperature: str = option("sts-ingap", "temperature"),
    lockin_rms: str = LOCKIN_OPT,
    tip: Path = given("sts-ingap", "tip"),
    shape: str = option("sts-ingap", "shape"),
    peaks: str = option("sts-ingap", "peaks"),
    window: str = option("sts-ingap", "window"),
    parameter: list[str] = option("sts-ingap", "parameter"),
    parameter_name: str = option("sts-ingap", "parameter_name"),
    channel: str = CHANNEL_OPT,
    bias_column: str = BIAS_OPT,
    out: Path = typer.Option(None, "--out", help="For a grid (.3ds): NetCDF of the per-pixel "
                             "peak maps (energy, FWHM, weight ± errors, χ², converged)."),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Intrinsic energy, FWHM and weight of in-gap / zero-bias peaks, fitted through the
    thermal and lock-in broadening; one vs two peaks by BIC; over a series with -p; on every
    pixel of a grid (.3ds, with --out)."""
    is_grid = any(f.suffix.lower() == ".3ds" for f in files)
    if is_grid and out is None:
        raise UsageError("a grid needs --out MAPS.nc for the per-pixel maps")
    if out is not None and not is_grid:
        raise UsageError("--out is for a grid (.3ds); spectra give --json")
    with busy(f"fitting in-gap peaks of {'a grid' if is_grid else f'{len(files)} spectra'}"):
        res = call("sts-ingap", *files, tip=tip, temperature=temperature,
                   lockin_rms=lockin_rms, shape=shape, peaks=peaks, window=window,
                   parameter=parameter, parameter_name=parameter_name, channel=channel,
                   bias_column=bias_column)
    if is_grid:
        from supramap.fileutil import atomic_write_bytes

        nc = res.result.copy()
        nc["converged"] = nc["converged"].astype("int8")  # NetCDF has no bool
        atomic_write_bytes(out, nc.to_netcdf())
    present(res, json_path, report)


@app.command()
def explore(
    file: Path = typer.Argument(..., help="Nanonis grid (.3ds)."),
    out: Path = typer.Option(..., "--out", help="Folder for the page (index.html)."),
    gapmap: Path = given("sts-explore", "gapmap"),
    channel: str = GRID_CHANNEL_OPT,
    json_path: Path = JSON_OPT,
) -> None:
    """A self-contained HTML page to explore a grid offline: the dI/dV map at a chosen energy
    (slider), the topography and fitted-parameter maps, the spectrum of any pixel clicked, the
    mean of a region and the spectra along a line."""
    res = call("sts-explore", file, gapmap=gapmap, channel=channel)
    page = res.result.write(out)
    res.epilogue.append(f"Explorer: {page}")
    present(res, json_path, None, extra={"page": str(page), "page_bytes": page.stat().st_size})


@app.command()
def decompose(
    file: Path = typer.Argument(..., help="Nanonis grid (.3ds)."),
    method: str = option("sts-decompose", "method"),
    components: str = option("sts-decompose", "components"),
    max_components: int = option("sts-decompose", "max_components"),
    gapmap: Path = given("sts-decompose", "gapmap"),
    compare: Path = given("sts-decompose", "compare"),
    compare_channel: str = option("sts-decompose", "compare_channel"),
    channel: str = GRID_CHANNEL_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Unsupervised decomposition of the grid's spectra: k-means clusters, PCA or NMF
    components, with their spectra and maps."""
    with busy(f"{method} on the grid's spectra"):
        res = call("sts-decompose", file, gapmap=gapmap, compare=compare, method=method,
                   components=components, max_components=max_components,
                   compare_channel=compare_channel, channel=channel)
    present(res, json_path, report)


@app.command()
def gapmap(
    file: Path = typer.Argument(..., help="Nanonis grid (.3ds)."),
    out: Path = typer.Option(..., "--out", help="NetCDF file for the parameter maps."),
    model: str = option("sts-gapmap", "model"),
    temperature: str = TEMPERATURE_OPT,
    lockin_rms: str = LOCKIN_OPT,
    workers: int = option("sts-gapmap", "workers"),
    scheduler: str = option("sts-gapmap", "scheduler"),
    noise: str = option("sts-gapmap", "noise"),
    channel: str = GRID_CHANNEL_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Fit every pixel (batched Levenberg–Marquardt), optionally on dask.distributed."""
    with progress_bar("gap map") as progress:
        task = progress.add_task("fitting the grid", total=None)
        out_ = call("sts-gapmap", file, channel=channel, model=model, temperature=temperature,
                    lockin_rms=lockin_rms, workers=workers, scheduler=scheduler,
                    noise=noise,
                    progress=lambda d, t: progress.update(task, completed=d, total=t))
        ny, nx = out_.result.data["delta"].shape[:2]
        progress.summary_text = f"gap map of {ny} × {nx} spectra"
    from supramap.fileutil import atomic_write_bytes

    ds = out_.result.data.copy()
    for key in ("converged", "gap_at_sweep_edge"):  # NetCDF has no bool
        if key in ds:
            ds[key] = ds[key].astype("int8")
    atomic_write_bytes(out, ds.to_netcdf())
    present(out_, json_path, report, extra={"out": str(out)})


@app.command()
def qpi(
    file: Path = typer.Argument(..., help="Grid (.3ds) or map (.sxm, .gwy, .bcrf)."),
    energy: str = option("sts-qpi", "energy"),
    symmetrize: str = option("sts-qpi", "symmetrize"),
    dispersion: str = option("sts-qpi", "dispersion"),
    lattice: str = option("sts-qpi", "lattice"),
    linecut: str = option("sts-qpi", "linecut"),
    bragg: bool = option("sts-qpi", "bragg"),
    channel: str = GRID_CHANNEL_OPT,
    level: str = option("sts-qpi", "level"),
    align: str = option("sts-qpi", "align_rows"),
    scars: bool = option("sts-qpi", "remove_scars"),
    clip: str = option("sts-qpi", "clip"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Fourier transform, q-vectors (sub-pixel, nm⁻¹), E(q) over energies and the C4 → C2
    anisotropy of the power above the background (not after a C4 symmetrisation)."""
    with busy("Fourier analysis"):
        res = call("sts-qpi", file, energy=energy, symmetrize=symmetrize,
                   dispersion=dispersion, lattice=lattice, linecut=linecut, bragg=bragg,
                   channel=channel, level=level, align_rows=align, remove_scars=scars,
                   clip=clip)
    present(res, json_path, report)


@app.command()
def defects(
    file: Path = typer.Argument(..., help="Topograph / map, or a grid with --energy."),
    energy: str = option("sts-defects", "energy"),
    n_sigma: str = option("sts-defects", "n_sigma"),
    depressions: bool = option("sts-defects", "depressions"),
    groups: int = option("sts-defects", "groups"),
    channel: str = GRID_CHANNEL_OPT,
    level: str = option("sts-defects", "level"),
    align: str = option("sts-defects", "align_rows"),
    scars: bool = option("sts-defects", "remove_scars"),
    clip: str = option("sts-defects", "clip"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Point defects above the noise: positions, sizes, C2 elongation and orientation (two-lobe
    dumbbells counted once), axial orientation statistics; spectra groups."""
    with busy("finding defects"):
        res = call("sts-defects", file, energy=energy, n_sigma=n_sigma,
                   depressions=depressions, groups=groups, channel=channel, level=level,
                   align_rows=align, remove_scars=scars, clip=clip)
    present(res, json_path, report)
