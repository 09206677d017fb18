"""``supramap sts fit | calibrate-tip | deconvolve | peaks | series``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
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
    corrected,
    emit_warnings,
    figure_report,
    option,
    present,
    print_table,
    progress_bar,
    quantities,
    quantity,
    write_json,
)
from supramap.errors import AnalysisError  # noqa: F401


def load_spectrum(*args, **kwargs):
    """supramap.sts.spectra.read_spectrum, imported on first use (scipy, lmfit and xarray
    are not loaded for ``--help``); its measurement-kind warnings are printed and recorded."""
    return read_checked(*args, **kwargs)[:3]


def read_checked(*args, **kwargs):
    """(bias, conductance, description, header lock-in V rms or None) of a spectrum, its
    measurement-kind warnings printed and recorded."""
    from supramap.sts.spectra import read_spectrum

    s = read_spectrum(*args, **kwargs)
    emit_warnings(s)
    return s.bias, s.conductance, s.what, s.lockin_rms_V


def _lockin(option: float | None, header: float | None) -> float:
    """The lock-in modulation to model: the option, else the file's header (said on the
    terminal), else none (:func:`supramap.analyses.library.lockin_from`)."""
    from supramap.analyses.library import lockin_from

    notes: list[str] = []
    value = lockin_from(option, header, notes)
    for line in notes:
        console.print(line)
    return value

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


def _grid(path: Path, channel: str | None, *, fitting: bool = False):
    """The grid and its conductance channel after the measurement-kind checks
    (:func:`supramap.analyses.library.grid_checked`), its warnings printed and recorded."""
    from supramap.analyses.library import grid_checked

    found: list = []
    try:
        return grid_checked(path, channel, found, fitting=fitting)
    finally:
        emit_warnings(found)


@app.command()
def grid(
    file: Path = typer.Argument(..., help="Nanonis grid (.3ds)."),
    energies: str = option("sts-grid", "energies", required=True),
    channel: str = GRID_CHANNEL_OPT,
    normalise: str = typer.Option("none", "--normalise", help="none, outer or iv."),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """dI/dV maps at chosen energies (with optional normalisation)."""
    from supramap.sts.grid import maps_at
    from supramap.sts.grid import normalise as norm

    ds, g = _grid(file, channel)
    if normalise == "outer":
        g = norm(g, method="outer")
    elif normalise == "iv":
        g = norm(g, method="iv", current=ds.get("Current"))
    elif normalise != "none":
        raise UsageError("--normalise must be none, outer or iv")
    maps = maps_at(g, list(energies))
    d = {
        "file": str(file),
        "channel": str(g.name),
        "shape": list(g.shape),
        "energies_eV": maps["energy"].values.tolist(),
        "map_mean": [float(np.nanmean(m)) for m in maps.values],
        "map_std": [float(np.nanstd(m)) for m in maps.values],
        "points_measured": ds.attrs.get("points_measured"),
        "points_total": ds.attrs.get("points_total"),
    }
    print_table(
        f"Grid {file.name} ({g.name})",
        [
            ("shape (y, x, bias)", " × ".join(map(str, g.shape))),
            ("points measured", f"{d['points_measured']} of {d['points_total']}"),
            ("maps at (meV)", ", ".join(f"{e * 1e3:g}" for e in d["energies_eV"])),
        ],
    )
    write_json(json_path, d)
    from supramap.report.sts import maps_figure

    figure_report(
        report, f"Grid — {file.name}", lambda: [(maps_figure(maps), "dI/dV maps", "maps.png")]
    )


@app.command()
def ingap(
    files: list[Path] = typer.Argument(..., help="Spectra (one, or a series with -p)."),
    temperature: str = typer.Option(
        None, "--temperature", help="Temperature (K or with a unit: 300mK), in (0, 1000]; "
                                    "default 1 K. Not with "
                                    "--tip (the tip's calibrated temperature is used).",
        callback=quantity("--temperature", "K", 0.0, 1000.0, lo_open=True)),
    lockin_rms: str = LOCKIN_OPT,
    tip: Path = typer.Option(
        None, "--tip", help="Calibrated superconducting tip (JSON from calibrate-tip): its DOS "
                            "enters the kernel; peaks at ±(Δ_tip + E0) are sample states E0."),
    shape: str = typer.Option("lorentzian", "--shape",
                              help="Intrinsic lineshape: lorentzian, gaussian or fano."),
    peaks: str = typer.Option("auto", "--peaks",
                              help="1, 2 or auto (the lower BIC decides one vs two peaks)."),
    window: str = typer.Option(
        None, "--window", help="Fit only |V| ≤ window: eV unless a unit is written (1meV).",
        callback=quantity("--window", "eV", 0.0, 1.0, lo_open=True)),
    parameter: list[str] = typer.Option(
        None, "--parameter", "-p", help="Series parameter per file (field in T, GN in S ...): "
                                        "a comma list or repeated."),
    parameter_name: str = typer.Option(
        "field_T", "--parameter-name", help="Name of --parameter with its unit (field_T, GN_S)."),
    channel: str = CHANNEL_OPT,
    bias_column: str = BIAS_OPT,
    out: Path = typer.Option(
        None, "--out", help="For a grid (.3ds): NetCDF of the per-pixel peak maps (energy, "
                            "FWHM, weight ± errors, χ², converged)."),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Intrinsic energy, FWHM and weight of in-gap / zero-bias peaks, fitted through the
    thermal and lock-in broadening; one vs two peaks by BIC; over a series with -p; on every
    pixel of a grid (.3ds, with --out)."""
    from supramap.sts.ingap import SHAPES, fit_in_gap

    tip_model = None
    if tip is not None:
        if temperature is not None:
            raise UsageError("--temperature and --tip: the tip's calibrated effective "
                             "temperature is the one used; drop --temperature")
        from supramap.sts import TipModel

        tip_model = TipModel.load(tip)
        temperature = tip_model.temperature_K
    temperature = 1.0 if temperature is None else temperature
    if shape not in SHAPES:
        raise UsageError(f"--shape must be one of {', '.join(SHAPES)}, got {shape!r}")
    if peaks not in ("1", "2", "auto"):
        raise UsageError(f"--peaks must be 1, 2 or auto, got {peaks!r}")
    npk = peaks if peaks == "auto" else int(peaks)
    if any(f.suffix.lower() == ".3ds" for f in files):
        return _ingap_grid(files, temperature, lockin_rms, tip_model, shape, npk, window,
                           parameter, channel, out, json_path, report)
    if out is not None:
        raise UsageError("--out is for a grid (.3ds); spectra give --json")
    unit = parameter_name.rsplit("_", 1)[-1] if "_" in parameter_name else ""
    values = quantities(parameter, unit, "--parameter") if parameter else \
        [float(i) for i in range(len(files))]
    if len(values) != len(files):
        raise UsageError(f"{len(files)} files but {len(values)} --parameter values")
    fits, rows = [], []
    order = np.argsort(values)
    loaded = [read_checked(files[i], channel, bias_column) for i in order]
    heads = {x[3] for x in loaded}
    if lockin_rms is None and len(heads) > 1:
        raise UsageError("the files' headers give different lock-in amplitudes: give "
                         "--lockin-rms")
    lockin_rms = _lockin(lockin_rms, next(iter(heads)) if len(heads) == 1 else None)
    with busy(f"fitting {len(files)} spectra through the broadening"):
        for i, (b, g, _, _) in zip(order, loaded):
            fits.append((values[i], files[i], fit_in_gap(
                b, g, temperature=temperature, lockin_rms=lockin_rms, shape=shape,
                peaks=npk, window_eV=window, tip=tip_model)))
    for v, f, r in fits:
        label = f"{parameter_name} = {v:g}" if parameter else f.name
        peaks_txt = "; ".join(
            f"E = {e * 1e6:.4g} ± {de * 1e6:.2g} µeV, FWHM {w * 1e6:.4g} ± {dw * 1e6:.2g} µeV"
            for e, de, w, dw in zip(r.energies_eV, r.energies_err_eV, r.fwhm_eV, r.fwhm_err_eV))
        rows.append((label, f"{r.n_peaks} peak(s): {peaks_txt}; apparent FWHM "
                            f"{r.apparent_fwhm_eV * 1e6:.4g} µeV"))
    rows.append(("thermal FWHM (3.53 k_BT)", f"{fits[0][2].thermal_fwhm_eV * 1e6:.4g} µeV"))
    tip_txt = (f", tip Δ {tip_model.delta_eV * 1e3:.4g} meV" if tip_model is not None else "")
    print_table(f"In-gap peaks ({shape}, T = {temperature:g} K, lock-in {lockin_rms:g} V rms"
                f"{tip_txt})", rows)
    emit_warnings(*[r for _, _, r in fits])
    d = {"shape": shape, "temperature_K": temperature, "lockin_rms_V": lockin_rms,
         "tip": None if tip_model is None else str(tip),
         "parameter_name": parameter_name if parameter else None,
         "fits": [{"file": str(f), "parameter": v, **r.to_dict()} for v, f, r in fits]}
    write_json(json_path, d)
    from supramap.report.sts import ingap_figure

    figure_report(report, "In-gap peaks",
                  lambda: [(ingap_figure(fits, parameter_name if parameter else None),
                            "Intrinsic and apparent FWHM, peak energies", "ingap.png")])


def _ingap_grid(files, temperature, lockin_rms, tip_model, shape, npk, window, parameter,
                channel, out, json_path, report):
    """`sts ingap GRID.3ds --out MAPS.nc`: the same models on every pixel, batched."""
    from supramap.sts.ingap_grid import fit_in_gap_grid

    if len(files) != 1 or parameter:
        raise UsageError("a grid is fitted alone: one .3ds file, no --parameter")
    if out is None:
        raise UsageError("a grid needs --out MAPS.nc for the per-pixel maps")
    auto = npk == "auto"
    if auto:
        npk = 1  # BIC per pixel is not offered: fit the series' choice with --peaks 2
    ds_in, g = _grid(files[0], channel, fitting=True)
    from supramap.sts.kind import header_lockin_rms

    lockin_rms = _lockin(lockin_rms, header_lockin_rms(ds_in.attrs.get("header")))
    with busy(f"in-gap fits on {g.shape[0] * g.shape[1]} spectra"):
        ds = fit_in_gap_grid(g, temperature=temperature, lockin_rms=lockin_rms, shape=shape,
                             peaks=npk, window_eV=window, tip=tip_model)
    ds.attrs["source_file"] = str(files[0])
    from supramap.fileutil import atomic_open

    nc = ds.copy()
    nc["converged"] = nc["converged"].astype("int8")  # NetCDF has no bool
    with atomic_open(out, "wb") as fh:
        fh.write(nc.to_netcdf())
    conv = ds["converged"].values
    rows = [("pixels fitted (converged)", f"{conv.sum()} of {conv.size}"),
            ("peaks per pixel", f"{npk}" + (" (--peaks auto means 1 on a grid: no per-pixel "
                                            "model choice; give --peaks 2 for two)"
                                            if auto else ""))]
    d = {"file": str(files[0]), "shape": shape, "peaks": npk, "temperature_K":
         float(ds.attrs["temperature_K"]), "lockin_rms_V": lockin_rms,
         "fraction_converged": float(conv.mean()), "peaks_summary": []}
    for i in range(1, npk + 1):
        en = ds[f"energy_{i}"].values[conv]
        fw = ds[f"fwhm_{i}"].values[conv]
        summ = {"peak": i}
        if en.size:
            q = lambda a: [float(v) for v in np.percentile(a, [25, 50, 75])]  # noqa: E731
            summ.update(energy_eV_quartiles=q(en), fwhm_eV_quartiles=q(fw))
            rows.append((f"peak {i}: energy (median, IQR)",
                         f"{np.median(en) * 1e6:.4g} µeV ({np.percentile(en, 25) * 1e6:.4g} … "
                         f"{np.percentile(en, 75) * 1e6:.4g})"))
            rows.append((f"peak {i}: intrinsic FWHM (median, IQR)",
                         f"{np.median(fw) * 1e6:.4g} µeV ({np.percentile(fw, 25) * 1e6:.4g} … "
                         f"{np.percentile(fw, 75) * 1e6:.4g})"))
        d["peaks_summary"].append(summ)
    print_table(f"In-gap peaks per pixel of {files[0].name} ({shape})", rows)
    from supramap.sts.ingap_grid import grid_warnings

    emit_warnings(grid_warnings(ds, g["bias"].values if window is None else
                                np.clip(g["bias"].values, -window, window)))
    write_json(json_path, d)
    from supramap.report.sts import ingap_maps_figure

    figure_report(report, f"In-gap peaks — {files[0].name}",
                  lambda: [(ingap_maps_figure(ds, npk), "Intrinsic energy and FWHM per pixel",
                            "ingap_maps.png")])


def _gap_map_file(path: Path):
    """The Dataset `sts gapmap --out` wrote (delta, gamma, converged ...), loaded; one clear
    error line for anything else."""
    import xarray as xr

    try:
        with xr.open_dataset(path) as gm:
            gm = gm.load()
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a gap map written by `sts gapmap --out` ({exc})") \
            from None
    missing = [k for k in ("delta", "gamma", "converged") if k not in gm]
    if missing:
        raise UsageError(f"{path}: not a gap map written by `sts gapmap --out` (no "
                         f"{', '.join(missing)})")
    return gm


@app.command()
def explore(
    file: Path = typer.Argument(..., help="Nanonis grid (.3ds)."),
    out: Path = typer.Option(..., "--out", help="Folder for the page (index.html)."),
    gapmap: Path = typer.Option(
        None, "--gapmap", help="NetCDF written by `sts gapmap --out`: the clicked pixel's "
                               "fitted gap is shown too."),
    channel: str = GRID_CHANNEL_OPT,
    json_path: Path = JSON_OPT,
) -> None:
    """A self-contained HTML page to explore a grid offline: the dI/dV map at a chosen energy
    (slider), the topography and fitted-parameter maps, the spectrum of any pixel clicked, the
    mean of a region and the spectra along a line."""
    from supramap.report.explorer import decimation, write_explorer

    ds, g = _grid(file, channel)
    layers: dict = {}
    for name in ds.data_vars:  # the grid's own per-pixel parameters: topography first
        da = ds[name]
        if da.dims == ("y", "x") and str(name).startswith("param ") and \
                str(name)[6:] not in ("X", "Y", "Sweep Start", "Sweep End") and \
                np.isfinite(np.asarray(da.values, float)).any() and \
                np.nanstd(np.asarray(da.values, float)) > 0:
            label = str(name)[6:]
            if label.lower().startswith("z"):
                label = f"topography ({label})"
            layers[label] = (np.asarray(da.values, float), da.attrs.get("units", ""))
    layers = dict(sorted(layers.items(), key=lambda kv: not kv[0].startswith("topography")))
    gap = fit = None
    if gapmap is not None:
        fit = _gap_map_file(gapmap)
        conv = fit["converged"].values.astype(bool)
        gap = np.where(conv, fit["delta"].values, np.nan)
        for key, label, scale, unit in (("gamma", "Γ (fitted)", 1e3, "meV"),
                                        ("redchi", "reduced χ²", 1.0, "")):
            if key in fit:
                layers[label] = (np.where(conv, fit[key].values * scale, np.nan), unit)
        if gap.shape != g.shape[:2]:
            raise UsageError(f"{gapmap}: gap map {gap.shape} does not match the grid "
                             f"{g.shape[:2]}")
    page = write_explorer(g, out, gap_eV=gap, maps=layers, fit=fit,
                          title=f"Grid explorer — {file.name}")
    console.print(f"Explorer: {page}")
    names = list(layers) + (["Δ (fitted gap)"] if gap is not None else [])
    write_json(json_path, {"file": str(file), "page": str(page), "shape": list(g.shape),
                           "decimation": decimation(g.shape[0], g.shape[1]),
                           "layers": names, "fitted_spectra": fit is not None,
                           "page_bytes": page.stat().st_size})


@app.command()
def decompose(
    file: Path = typer.Argument(..., help="Nanonis grid (.3ds)."),
    method: str = typer.Option("kmeans", "--method", help="kmeans, pca or nmf."),
    components: str = typer.Option(
        "auto", "--components", help="Number of clusters/components, or auto (k-means: best "
                                     "silhouette; PCA: 95 % variance; NMF: PCA's count + 1)."),
    max_components: int = typer.Option(8, "--max-components", min=2, max=32,
                                       help="Largest number tried by auto (2…32)."),
    gapmap: Path = typer.Option(
        None, "--gapmap", help="NetCDF from `sts gapmap --out` of the same grid: the fitted "
                               "gap per k-means cluster and η² (share of its variance "
                               "between clusters)."),
    compare: Path = typer.Option(
        None, "--compare", help="A map of the same area in the grid's frame (a registered "
                                "cAFM current, a topograph: .bcrf, .sxm, .gwy ...): its value "
                                "per k-means cluster and η²."),
    compare_channel: str = typer.Option(None, "--compare-channel",
                                        help="Channel of --compare (default: the first)."),
    channel: str = GRID_CHANNEL_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Unsupervised decomposition of the grid's spectra: k-means clusters, PCA or NMF
    components, with their spectra and maps."""
    from supramap.sts.decompose import compare_clusters, decompose_grid, resample_onto_grid

    if components == "auto":
        n = None
    else:
        try:
            n = int(components)
        except ValueError:
            raise UsageError(f"--components must be a whole number or auto, got "
                             f"{components!r}") from None
    _, g = _grid(file, channel)
    with busy(f"{method} on {g.shape[0] * g.shape[1]} spectra"):
        res = decompose_grid(g, method=method, n_components=n, max_components=max_components)
    d = {"file": str(file), **res.to_dict()}
    rows = [("method", res.method), ("components", f"{res.n_components} ({res.criterion})")]
    for i, share in enumerate(d["component_share"]):
        rows.append((f"{'cluster' if res.method == 'kmeans' else 'component'} {i}",
                     f"{100 * share:.1f} % of the pixels" if res.method == "kmeans"
                     else f"mean weight {share:.3g}"))
    if res.scores:
        rows.append(("criterion values", ", ".join(f"{k}: {v:.3f}"
                                                   for k, v in res.scores.items())))
    if gapmap is not None:
        if res.labels is None:
            raise UsageError("--gapmap compares k-means clusters: use --method kmeans")
        gm = _gap_map_file(gapmap)
        delta = gm["delta"].where(gm["converged"].astype(bool))
        cmp = compare_clusters(res.labels, delta, name="gap", units="eV")
        d["gap_comparison"] = cmp
        for row in cmp["clusters"]:
            rows.append((f"cluster {row['cluster']}: gap", f"{row['mean'] * 1e3:.4g} ± "
                         f"{row['std'] * 1e3:.2g} meV ({row['n_pixels']} fitted pixels)"))
        rows.append(("η² of the gap over the clusters", f"{cmp['eta_squared']:.3f}"))
    if compare is not None:
        if res.labels is None:
            raise UsageError("--compare compares k-means clusters: use --method kmeans")
        from supramap.io import read_image

        img = read_image(compare, compare_channel)
        on_grid = resample_onto_grid(img, g)
        unit = img.attrs.get("units", "")
        cmp2 = compare_clusters(res.labels, on_grid, name=img.name or compare.name, units=unit)
        d["map_comparison"] = {"file": str(compare), **cmp2}
        for row in cmp2["clusters"]:
            rows.append((f"cluster {row['cluster']}: {compare.name}",
                         f"{row['mean']:.4g} ± {row['std']:.2g} {unit} ({row['n_pixels']} px)"))
        rows.append((f"η² of {compare.name} over the clusters", f"{cmp2['eta_squared']:.3f}"))
    print_table(f"Decomposition of {file.name}", rows)
    emit_warnings(res)
    write_json(json_path, d)
    from supramap.report.sts import decomposition_figure

    figure_report(report, f"Decomposition — {file.name}",
                  lambda: [(decomposition_figure(res), "Component spectra and maps",
                            "decomposition.png")])


@app.command()
def gapmap(
    file: Path = typer.Argument(..., help="Nanonis grid (.3ds)."),
    out: Path = typer.Option(..., "--out", help="NetCDF file for the parameter maps."),
    model: str = option("sts-gapmap", "model"),
    temperature: str = TEMPERATURE_OPT,
    lockin_rms: str = LOCKIN_OPT,
    workers: int = option("sts-gapmap", "workers"),
    scheduler: str = option("sts-gapmap", "scheduler"),
    channel: str = GRID_CHANNEL_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Fit every pixel (batched Levenberg–Marquardt), optionally on dask.distributed."""
    from supramap.fileutil import atomic_open

    with progress_bar("gap map") as progress:
        task = progress.add_task("fitting the grid", total=None)
        out_ = call("sts-gapmap", file, channel=channel, model=model, temperature=temperature,
                    lockin_rms=lockin_rms, workers=workers, scheduler=scheduler,
                    progress=lambda d, t: progress.update(task, completed=d, total=t))
        ny, nx = out_.result.data["delta"].shape[:2]
        progress.summary_text = f"gap map of {ny} × {nx} spectra"
    ds = out_.result.data.copy()
    ds["converged"] = ds["converged"].astype("int8")
    if "gap_at_sweep_edge" in ds:
        ds["gap_at_sweep_edge"] = ds["gap_at_sweep_edge"].astype("int8")
    with atomic_open(out, "wb") as fh:
        fh.write(ds.to_netcdf())
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
    level: str = LEVEL_OPT,
    align: str = ALIGN_OPT,
    scars: bool = SCARS_OPT,
    clip: str = CLIP_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Fourier transform, q-vectors (sub-pixel, nm⁻¹), E(q) over energies and the C4 → C2
    anisotropy of the power above the background (not after a C4 symmetrisation)."""
    from supramap.quality import warn
    from supramap.sts.qpi import anisotropy, fourier, q_peaks, symmetrise

    if symmetrize not in ("none", "mirror", "c2", "c4"):
        raise UsageError(f"--symmetrize must be none, mirror, c2 or c4, got {symmetrize!r}")
    energies: list[float | None] = [None]
    if energy is not None:
        energies = list(energy)
    directions = list(linecut) if linecut else []
    if directions and len(energies) < 2:
        raise UsageError("--linecut needs a grid and at least two --energy values")
    if bragg and lattice is None:
        raise UsageError("--bragg needs --lattice (the lattice constant the peaks belong to)")
    rows, per_energy, ffts = [], [], []
    m = f = None
    maps_ffts = []
    for e in energies:
        m = corrected(_map(file, channel, e), level, align, scars, clip)
        if min(m.shape) < 8:
            raise UsageError(f"{file}: a map of {m.shape[0]} × {m.shape[1]} pixels is too "
                             "small for a Fourier analysis")
        maps_ffts.append((e, m, fourier(m)))
    calibration = None
    if bragg:
        from supramap.errors import AnalysisError
        from supramap.sts.qpi import calibrate_maps

        try:
            scaled, calibration = calibrate_maps([ff for _, _, ff in maps_ffts], lattice)
        except AnalysisError as exc:
            raise UsageError(f"{file}: {exc}; calibrate without --bragg") from None
        maps_ffts = [(e, mm, ff) for (e, mm, _), ff in zip(maps_ffts, scaled)]
        rows.append(("Bragg calibration", f"qx × {calibration['scale_x']:.4f}, qy × "
                                          f"{calibration['scale_y']:.4f} (from "
                                          f"{calibration['maps_with_bragg_peaks']} of "
                                          f"{calibration['maps']} maps)"))
    m = maps_ffts[-1][1]  # the last map: drawn in the report beside its transform
    for e, _, f in maps_ffts:
        if symmetrize != "none":
            f = symmetrise(f, symmetrize)
        ffts.append(f)
        qmax = float(np.abs(f.qx).max())
        an = anisotropy(f, q_min=0.05 * qmax, q_max=0.9 * qmax) \
            if symmetrize in ("none", "mirror") else float("nan")
        peaks = q_peaks(f, lattice_m=lattice)
        per_energy.append({"energy_eV": e, "anisotropy": an, "q_vectors": peaks})
        label = "" if e is None else f" at {e * 1e3:.3g} meV"
        best = peaks[0] if peaks else None
        rows.append((f"strongest q{label}",
                     f"{best['q_per_nm']:.4g} nm⁻¹ at {best['angle_deg']:.1f}°"
                     + (f" = {best['q_2pi_over_a']:.4g} × 2π/a" if "q_2pi_over_a" in best
                        else "") if best else "none above the background"))
        rows.append((f"anisotropy{label}", f"{an:.3f}" if np.isfinite(an) else
                     ("not defined after a C2/C4 symmetrisation" if symmetrize in ("c2", "c4")
                      else "n/a: no power above the background")))
    d = {"file": str(file), "symmetrize": symmetrize, "lattice_m": lattice,
         "energies": per_energy, "shape": list(f.shape),
         "anisotropy": per_energy[0]["anisotropy"], "bragg_calibration": calibration}
    fit = None
    if len(energies) > 1:
        from supramap.sts.qpi import dispersion as branch_dispersion

        if dispersion not in ("auto", "parabolic", "linear"):
            raise UsageError(f"--dispersion must be auto, parabolic or linear, got "
                             f"{dispersion!r}")
        d["dispersion"], fit, branch_warnings = branch_dispersion(energies, ffts,
                                                                  model=dispersion)
        emit_warnings(branch_warnings)
        n_on = sum(p["on_branch"] for p in d["dispersion"])
        if fit is not None:
            d["dispersion_fit"] = fit
            if fit["model"] == "parabolic":
                rows.append(("E(q) fit", f"parabolic: E0 = {fit['E0_eV'] * 1e3:.3g} ± "
                                         f"{fit['E0_err_eV'] * 1e3:.2g} meV, m* = "
                                         f"{fit['effective_mass_me']:.3g} ± "
                                         f"{fit['effective_mass_err_me']:.2g} mₑ"))
            else:
                rows.append(("E(q) fit", f"linear: E0 = {fit['E0_eV'] * 1e3:.3g} ± "
                                         f"{fit['E0_err_eV'] * 1e3:.2g} meV, v = "
                                         f"{fit['velocity_m_per_s']:.3g} ± "
                                         f"{fit['velocity_err_m_per_s']:.2g} m/s"))
            rows.append(("E(q) points", f"{n_on} of {len(energies)} energies on the "
                                        "branch: " + ", ".join(
                                            f"{p['energy_eV'] * 1e3:.3g}"
                                            for p in d["dispersion"] if p["on_branch"])
                         + " meV (Bragg peaks masked, radial profiles)"))
    cuts = []
    if directions:
        from supramap.sts.qpi import linecut_map, linecut_peaks

        for ang in directions:
            cut = linecut_map(ffts, energies, ang)
            qpk = linecut_peaks(cut)
            cuts.append(cut)
            d.setdefault("linecuts", []).append({
                "direction_deg": ang, "energy_eV": [float(v) for v in energies],
                "q_per_nm": (cut.q.values * 1e-9).tolist(),
                "intensity_over_median": cut.values.tolist(),
                "peak_q_per_nm": [None if not np.isfinite(v) else v * 1e-9 for v in qpk]})
            shown = [f"{v * 1e-9:.3g}" for v in qpk if np.isfinite(v)]
            rows.append((f"line cut {ang:g}°: strongest q per energy (nm⁻¹)",
                         ", ".join(shown) if shown else "none"))
    print_table(f"QPI of {file.name}", rows)
    if calibration and max(abs(calibration["scale_x"] - 1), abs(calibration["scale_y"] - 1)) > 0.1:
        emit_warnings([warn("qpi.bragg_large_correction",
                            f"the Bragg peaks moved the q axes by more than 10 % (× "
                            f"{calibration['scale_x']:.3f}, × {calibration['scale_y']:.3f}): "
                            "check the lattice constant and the scan calibration",
                            **{k: calibration[k] for k in ("scale_x", "scale_y")})])
    if symmetrize in ("c2", "c4"):
        emit_warnings([warn("qpi.symmetrised",
                            f"the FFT was {symmetrize}-symmetrised: the C4 → C2 anisotropy is "
                            "forced by construction and is not reported")])
    d["processing"] = [str(x) for x in m.attrs.get("provenance", [])]
    write_json(json_path, d)
    from supramap.report.sts import fft_figure

    def figures():
        out = [(fft_figure(m, f), "Map and its Fourier transform", "qpi.png")]
        if fit is not None:
            from supramap.report.sts import dispersion_figure

            out.append((dispersion_figure(d["dispersion"], fit), "E(q) of the tracked branch",
                        "dispersion.png"))
        if cuts:
            from supramap.report.sts import linecut_figure

            out.append((linecut_figure(cuts, d.get("dispersion")),
                        "E–q line cuts of the Fourier amplitude (each energy over its median)",
                        "linecuts.png"))
        return out

    figure_report(report, f"QPI — {file.name}", figures)


def _map(file: Path, channel: str | None, energy: float | None):
    from supramap.io import read_image

    if file.suffix.lower() == ".3ds":
        if energy is None:
            raise UsageError("--energy is needed for a grid")
        from supramap.sts.grid import maps_at

        _, g = _grid(file, channel)
        return maps_at(g, [energy]).isel(energy=0, drop=True)
    return read_image(file, channel)


@app.command()
def defects(
    file: Path = typer.Argument(..., help="Topograph / map, or a grid with --energy."),
    energy: str = option("sts-defects", "energy"),
    n_sigma: str = option("sts-defects", "n_sigma"),
    depressions: bool = option("sts-defects", "depressions"),
    groups: int = option("sts-defects", "groups"),
    channel: str = GRID_CHANNEL_OPT,
    level: str = LEVEL_OPT,
    align: str = ALIGN_OPT,
    scars: bool = SCARS_OPT,
    clip: str = CLIP_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Point defects above the noise: positions, sizes, C2 elongation and orientation (two-lobe
    dumbbells counted once), axial orientation statistics; spectra groups."""
    from supramap.sts.defects import defect_spectra, detect_defects, group_defects

    if not (np.isfinite(n_sigma) and 2 <= n_sigma <= 100):
        raise UsageError(f"--n-sigma must lie in [2, 100], got {n_sigma}")
    if groups < 0:
        raise UsageError(f"--groups must be ≥ 0, got {groups}")
    if groups and file.suffix.lower() != ".3ds":
        raise UsageError(f"{file}: --groups groups defects by their spectra, so it needs a "
                         "spectroscopy grid (.3ds with --energy); a topograph has none")
    m = corrected(_map(file, channel, energy), level, align, scars, clip)
    search = detect_defects(m, n_sigma=n_sigma, sign=-1 if depressions else 1)
    found = search.defects
    if groups and file.suffix.lower() == ".3ds" and found:
        _, g = _grid(file, channel)
        found = group_defects(found, defect_spectra(g, found), groups)
    elong = [x.elongation for x in found]
    d = {
        "file": str(file),
        **search.to_dict(),
        "defects": [dict(vars(x)) for x in found],
        "median_elongation": float(np.median(elong)) if elong else None,
    }
    print_table(
        f"Defects in {file.name}",
        [
            ("defects", str(len(found))),
            ("noise (levelled, smoothed)", f"{search.noise:.3g} {m.attrs.get('units', '')}"),
            ("median elongation", f"{d['median_elongation']:.2f}" if found else "-"),
            ("orientation populations",
             "; ".join(f"{p['mean_deg']:.1f}° (order {p['order']:.2f}, {p['count']} defects)"
                       for p in search.populations) or "-"),
            ("axial mean orientation (all)",
             f"{search.orientation_mean_deg:.1f}° (order {search.orientation_order:.2f})"
             if np.isfinite(search.orientation_mean_deg) else "-"),
        ],
    )
    from supramap.sts.defects import ORIENTATION_CONVENTION

    console.print(f"Orientation: {ORIENTATION_CONVENTION}.")
    emit_warnings(search)
    d["processing"] = [str(x) for x in m.attrs.get("provenance", [])]
    write_json(json_path, d)
    from supramap.report.sts import defects_figure

    figure_report(
        report,
        f"Defects — {file.name}",
        lambda: [(defects_figure(m, found), "Defects found", "defects.png")],
    )
