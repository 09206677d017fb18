"""The spectroscopy analyses as library calls on files (``supramap sts ...``).

Each returns an :class:`~supramap.analyses.outcome.Outcome`; parameters arrive in the declared
units (energies in eV, temperatures in K, modulation in V rms).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from supramap.analyses.library import lockin_from
from supramap.analyses.outcome import Outcome
from supramap.errors import AnalysisError


def _spectrum(file, channel, bias_column):
    from supramap.sts.spectra import read_spectrum

    return read_spectrum(Path(file), channel, bias_column)


def sts_calibrate_tip(file, *, channel=None, bias_column=None, sample_gaps=(1.26e-3, 1.41e-3),
                      sample_weights=None, vary_sample=False, temperature=1.0,
                      lockin_rms=None) -> Outcome:
    """Fit the tip gap, broadening and effective temperature on a known reference
    (``supramap sts calibrate-tip``); ``result`` is the :class:`~supramap.sts.TipModel`
    (``result.save(path)``), ``data["fit"]`` the SIS fit."""
    import numpy as np

    from supramap.sts.fit import SAMPLE_GAMMA, calibrate_tip

    file = Path(file)
    gaps = [float(g) for g in sample_gaps]
    weights = None
    if sample_weights is not None:
        weights = [float(w) for w in sample_weights]
        if len(weights) != len(gaps) or not all(np.isfinite(w) and w >= 0 for w in weights) \
                or not sum(weights) > 0:
            raise AnalysisError(f"--sample-weights needs {len(gaps)} numbers ≥ 0 (one per "
                                f"--sample-gaps), got {sample_weights!r}")
    s = _spectrum(file, channel, bias_column)
    notes: list[str] = []
    lockin = lockin_from(lockin_rms, s.lockin_rms_V, notes)
    try:
        tip, res = calibrate_tip(s.bias, s.conductance, sample_gaps=gaps,
                                 sample_weights=weights, vary_sample=vary_sample,
                                 temperature=temperature, lockin_rms=lockin)
    except AnalysisError as e:  # a spectrum that cannot show the reference's gap
        raise AnalysisError(f"{file}: {e}") from None
    if res.bias.size < s.bias.size:
        notes.append(f"fitted over |V| ≤ {1e3 * np.abs(res.bias).max():.3g} mV (10× the "
                     f"reference's largest gap) of the {1e3 * np.abs(s.bias).max():.3g} mV "
                     "sweep")
    # The modulation the spectrum demands, against the one modelled (a wrong one fails the
    # calibration: the sum peak's width is mostly the modulation's).
    lockin_fit = (float("nan"), float("nan"))
    lockin_health = []
    if not vary_sample:
        from supramap.sts.health import lockin_warnings, reference_lockin

        # On the part of the sweep the calibration fitted (res.bias, res.data).
        rms, rms_err, _ = reference_lockin(
            res.bias, res.data, sample_gaps=gaps, sample_gamma=SAMPLE_GAMMA,
            sample_weights=tip.extra["sample_weights"] if res.success else weights,
            temperature=temperature, lockin_rms=lockin, start=res if res.success else None)
        lockin_fit = (rms, rms_err)
        source = ("--lockin-rms" if lockin_rms is not None else "the header" if
                  s.lockin_rms_V is not None else "the analysis (no modulation in the header)")
        step = float(np.median(np.abs(np.diff(res.bias)))) if res.bias.size > 1 else 0.0
        lockin_health = lockin_warnings(rms, rms_err, lockin, step, source=source)
    if not res.success:
        raise AnalysisError(f"{file}: the tip calibration failed ("
                            + "; ".join(w.code for w in res.warnings)
                            + f"; fitted tip gap {tip.delta_eV * 1e3:.4g} meV): no tip model "
                            "written" + "".join(f". {w.message[:1].upper()}{w.message[1:]}"
                                        for w in lockin_health))
    d = {"file": str(file), **res.to_dict(), "lockin_rms_used_V": lockin,
         "lockin_rms_fitted_V": lockin_fit[0], "lockin_rms_fitted_err_V": lockin_fit[1]}
    rows = [
        ("tip gap", f"{tip.delta_eV * 1e3:.4f} ± {tip.delta_err_eV * 1e3:.2g} meV"),
        ("tip Γ", f"{tip.gamma_eV * 1e6:.2f} µeV"),
        ("T_eff", f"{tip.temperature_K:.3f} ± {tip.temperature_err_K:.2g} K"
         if tip.extra.get("temperature_determined", True) else
         f"{tip.temperature_K:.3f} K (fixed: not determined by the data)"),
        ("reference gap weights", ", ".join(f"{w:.3f}" for w in
                                            tip.extra.get("sample_weights", []))),
        ("reduced χ²", f"{res.redchi:.3g}"),
        ("bias modulation", f"{lockin * 1e6:.3g} µV rms modelled"
         + (f"; {lockin_fit[0] * 1e6:.3g} ± {lockin_fit[1] * 1e6:.2g} µV rms fitted"
            if np.isfinite(lockin_fit[0]) else "")),
    ]

    def figures():
        from supramap.report.sts import fit_figure

        return [(fit_figure(res), "SIS data and fit", "calibration.png")]

    from supramap.sts.health import temperature_warnings

    health = temperature_warnings(tip.temperature_K, tip.temperature_err_K, s.temperature_K) \
        if tip.extra.get("temperature_determined", True) else []
    if s.temperature_K is not None:
        rows.append(("header temperature", f"{s.temperature_K:.3g} K (thermometer)"))
    return Outcome("sts-calibrate-tip", f"Tip calibration on {file.name}", d, rows, tip,
                   list(s.warnings) + list(res.warnings) + health + lockin_health,
                   figures=figures,
                   notes=notes,
                   data={"fit": res},
                   summary=f"Δ_tip = {tip.delta_eV * 1e3:.4f} ± {tip.delta_err_eV * 1e3:.2g} "
                           f"meV, T_eff = {tip.temperature_K:.3f} K")


def sts_deconvolve(file, tip=None, *, channel=None, bias_column=None, **params) -> Outcome:
    """Recover the sample DOS by regularised inversion of the SIS kernel (``supramap sts
    deconvolve``); ``lambda`` (a keyword: ``**{"lambda": 1e-3}``) fixes the regularisation."""
    from supramap.sts import TipModel
    from supramap.sts.deconvolve import deconvolve

    file = Path(file)
    if tip is None:
        raise AnalysisError("sts-deconvolve needs tip= (the tip model of calibrate-tip)")
    t = TipModel.load(tip)
    s = _spectrum(file, channel, bias_column)
    res = deconvolve(s.bias, s.conductance, t, lam=params.get("lambda"))
    d = {"file": str(file), **res.to_dict()}
    rows = [
        ("gaps (meV)", ", ".join(f"{x * 1e3:.3f}" for x in res.gaps_eV) or "none found"),
        ("λ", f"{res.regularisation['lambda']:.2g} ({res.regularisation['method']})"),
        ("rms residual", f"{d['rms_residual']:.3g}"),
        ("trusted energies", f"|E| ≤ {res.regularisation['trusted_range_eV'] * 1e3:.3g} meV "
                             "(DOS masked beyond)"),
    ]

    def figures():
        from supramap.report.sts import deconvolution_figure

        return [(deconvolution_figure(res), "Recovered DOS and re-convolved fit",
                 "deconvolution.png")]

    return Outcome("sts-deconvolve", f"Deconvolution of {file.name}", d, rows, res,
                   list(s.warnings) + list(res.warnings), figures=figures)


def sts_peaks(file, tip=None, *, channel=None, bias_column=None, conductance_scale=None,
              prominence=0.1, smooth=0.0) -> Outcome:
    """Coherence-peak pairs (above 7× the noise), gaps, asymmetry and the zero-bias peak
    (``supramap sts peaks``); *smooth* in eV."""
    from supramap.sts import TipModel, coherence_peaks, zero_bias_peak

    file = Path(file)
    s = _spectrum(file, channel, bias_column)
    if not 0 < prominence < 1 or not 0 <= smooth < 1:
        raise AnalysisError("--prominence must lie in (0, 1) and --smooth in [0, 1) eV")
    tip_delta = TipModel.load(tip).delta_eV if tip is not None else 0.0
    b, g = s.bias, s.conductance
    cp = coherence_peaks(b, g, prominence=prominence, smooth_eV=smooth, tip_delta_eV=tip_delta)
    zb = zero_bias_peak(b, g, conductance_scale=conductance_scale)
    d = {"file": str(file), "channel": s.what, "coherence_peaks_eV": cp.positions_eV,
         "pairs": cp.pairs, "gaps_eV": cp.gaps_eV, "tip_delta_eV": tip_delta,
         "noise": cp.noise, "zbcp": zb.to_dict()}
    rows = [
        ("significant peaks (mV)",
         ", ".join(f"{x * 1e3:.3f}" for x in cp.positions_eV) or "none above 7× noise"),
        ("sample gaps (meV)" + (" = peak − Δ_tip" if tip_delta else ""),
         ", ".join(f"{x * 1e3:.3f}" for x in cp.gaps_eV) or "-"),
        ("zero-bias peak", "absent" if not zb.present else
         f"at {zb.position_eV * 1e3:.3f} meV, FWHM {zb.fwhm_eV * 1e3:.3f} meV"),
    ]

    def figures():
        from supramap.report.sts import peaks_figure

        return [(peaks_figure(b, g, cp, zb), "Spectrum with peaks", "peaks.png")]

    return Outcome("sts-peaks", f"Peaks of {file.name}", d, rows, cp,
                   list(s.warnings) + list(cp.warnings), figures=figures)


def series_values(parameter, parameter_name: str, n_files: int) -> list[float]:
    """The series parameter per file, in the unit ``parameter_name`` ends with (``field_T``:
    T; ``GN_S``: S), from a comma list or repeated values with or without units."""
    from supramap.units import parse_quantities

    unit = parameter_name.rsplit("_", 1)[-1] if "_" in parameter_name else ""
    try:
        values = parse_quantities(parameter, unit)
    except ValueError as exc:
        raise AnalysisError(f"--parameter: {exc}") from None
    if len(values) != n_files:
        raise AnalysisError(f"{n_files} files but {len(values)} --parameter values")
    return values


def sts_series(*files, parameter=None, parameter_name="field_T", window=1e-3, channel=None,
               bias_column=None) -> Outcome:
    """Zero-bias peak position, FWHM and height per spectrum of a series; where it splits
    (``supramap sts series``); *window* in eV."""
    from supramap.sts import track_low_energy_peaks

    files = [Path(f) for f in files]
    if parameter is None:
        raise AnalysisError("--parameter is needed: one field (T) or GN (S) per spectrum")
    values = series_values(parameter, parameter_name, len(files))
    read = [_spectrum(f, channel, bias_column) for f in files]
    spectra = [(s.bias, s.conductance) for s in read]
    res = track_low_energy_peaks(spectra, values, window_eV=window,
                                 parameter_name=parameter_name)
    d = {"files": [str(f) for f in files], **res.to_dict()}
    rows = [(f"{parameter_name} = {p:g}",
             f"peaks {', '.join(f'{x * 1e3:.3f}' for x in br) or '-'} meV, "
             f"FWHM {w * 1e3:.3f} meV" if w else "no peak")
            for p, br, w in zip(res.parameter, res.branches, res.fwhm_eV)]

    def figures():
        from supramap.report.sts import colour_map_figure, waterfall_figure

        return [(waterfall_figure(spectra, values, parameter_name), "Waterfall",
                 "waterfall.png"),
                (colour_map_figure(spectra, values, parameter_name), "Colour map", "map.png")]

    return Outcome("sts-series", "Series", d, rows, res,
                   [w for s in read for w in s.warnings] + list(getattr(res, "warnings", ())),
                   figures=figures)


# -- grids and maps -------------------------------------------------------------------------


def _grid(path, channel, *, fitting=False):
    """(dataset, conductance, warnings) of a grid after the measurement-kind checks."""
    from supramap.analyses.library import grid_checked

    found: list = []
    ds, g = grid_checked(Path(path), channel, found, fitting=fitting)
    return ds, g, found


def _map(file: Path, channel, energy, found: list):
    """The map to analyse: an image channel, or a grid's dI/dV map at *energy*."""
    from supramap.io import read_image

    if file.suffix.lower() == ".3ds":
        if energy is None:
            raise AnalysisError(f"{file}: --energy is needed for a grid")
        from supramap.sts.grid import maps_at

        _, g, w = _grid(file, channel)
        found.extend(w)
        return maps_at(g, [energy]).isel(energy=0, drop=True)
    return read_image(file, channel)


def sts_grid(file, *, energies=None, channel=None, normalise="none") -> Outcome:
    """dI/dV maps of a grid at chosen energies (eV), optionally normalised (``outer``: by the
    outer conductance; ``iv``: by I/V) — ``supramap sts grid``; ``result`` holds the maps."""
    import numpy as np

    from supramap.sts.grid import maps_at
    from supramap.sts.grid import normalise as norm

    file = Path(file)
    if not energies:
        raise AnalysisError("sts-grid needs energies (--energies, eV or with a unit: 1.5meV)")
    ds, g, found = _grid(file, channel)
    if normalise == "outer":
        g = norm(g, method="outer")
    elif normalise == "iv":
        g = norm(g, method="iv", current=ds.get("Current"))
    maps = maps_at(g, list(energies))
    d = {"file": str(file), "channel": str(g.name), "shape": list(g.shape),
         "energies_eV": maps["energy"].values.tolist(),
         "map_mean": [float(np.nanmean(m)) for m in maps.values],
         "map_std": [float(np.nanstd(m)) for m in maps.values],
         "points_measured": ds.attrs.get("points_measured"),
         "points_total": ds.attrs.get("points_total")}
    rows = [("shape (y, x, bias)", " × ".join(map(str, g.shape))),
            ("points measured", f"{d['points_measured']} of {d['points_total']}"),
            ("maps at (meV)", ", ".join(f"{e * 1e3:g}" for e in d["energies_eV"]))]

    def figures():
        from supramap.report.sts import maps_figure

        return [(maps_figure(maps), "dI/dV maps", "maps.png")]

    return Outcome("sts-grid", f"Grid {file.name} ({g.name})", d, rows, maps, found,
                   figures=figures)


def sts_ingap(*files, tip=None, temperature=None, lockin_rms=None, shape="lorentzian",
              peaks="auto", window=None, parameter=None, parameter_name="field_T",
              channel=None, bias_column=None) -> Outcome:
    """Intrinsic energy, FWHM and weight of in-gap / zero-bias peaks, fitted through the
    thermal and lock-in broadening; one vs two peaks by BIC; over a series (*parameter*, one
    value per file in the unit *parameter_name* ends with); on every pixel of one grid (.3ds:
    ``result`` is the Dataset of per-pixel maps) — ``supramap sts ingap``."""
    import numpy as np

    from supramap.sts.ingap import fit_in_gap

    files = [Path(f) for f in files]
    tip_model = None
    if tip is not None:
        if temperature is not None:
            raise AnalysisError("--temperature and --tip: the tip's calibrated effective "
                                "temperature is the one used; drop --temperature")
        from supramap.sts import TipModel

        tip_model = TipModel.load(tip)
        temperature = tip_model.temperature_K
    temperature = 1.0 if temperature is None else float(temperature)
    npk = peaks if peaks == "auto" else int(peaks)
    if any(f.suffix.lower() == ".3ds" for f in files):
        if len(files) != 1 or parameter:
            raise AnalysisError("a grid is fitted alone: one .3ds file, no --parameter")
        return _ingap_grid(files[0], temperature, lockin_rms, tip, tip_model, shape, npk,
                           window, channel)
    values = series_values(parameter, parameter_name, len(files)) if parameter else \
        [float(i) for i in range(len(files))]
    order = np.argsort(values)
    loaded = [_spectrum(files[i], channel, bias_column) for i in order]
    heads = {s.lockin_rms_V for s in loaded}
    if lockin_rms is None and len(heads) > 1:
        raise AnalysisError("the files' headers give different lock-in amplitudes: give "
                            "--lockin-rms")
    notes: list[str] = []
    lockin = lockin_from(lockin_rms, next(iter(heads)) if len(heads) == 1 else None, notes)
    fits = [(values[i], files[i], fit_in_gap(s.bias, s.conductance, temperature=temperature,
                                            lockin_rms=lockin, shape=shape, peaks=npk,
                                            window_eV=window, tip=tip_model))
            for i, s in zip(order, loaded)]
    rows = []
    for v, f, r in fits:
        label = f"{parameter_name} = {v:g}" if parameter else f.name
        txt = "; ".join(
            f"E = {e * 1e6:.4g} ± {de * 1e6:.2g} µeV, FWHM {w * 1e6:.4g} ± {dw * 1e6:.2g} µeV"
            for e, de, w, dw in zip(r.energies_eV, r.energies_err_eV, r.fwhm_eV, r.fwhm_err_eV))
        rows.append((label, f"{r.n_peaks} peak(s): {txt}; apparent FWHM "
                            f"{r.apparent_fwhm_eV * 1e6:.4g} µeV"))
    rows.append(("thermal FWHM (3.53 k_BT)", f"{fits[0][2].thermal_fwhm_eV * 1e6:.4g} µeV"))
    tip_txt = f", tip Δ {tip_model.delta_eV * 1e3:.4g} meV" if tip_model is not None else ""
    d = {"shape": shape, "temperature_K": temperature, "lockin_rms_V": lockin,
         "tip": None if tip_model is None else str(tip),
         "parameter_name": parameter_name if parameter else None,
         "fits": [{"file": str(f), "parameter": v, **r.to_dict()} for v, f, r in fits]}

    def figures():
        from supramap.report.sts import ingap_figure

        return [(ingap_figure(fits, parameter_name if parameter else None),
                 "Intrinsic and apparent FWHM, peak energies", "ingap.png")]

    warnings = [w for s in loaded for w in s.warnings] + [w for _, _, r in fits
                                                          for w in r.warnings]
    first = fits[0][2]
    summary = ", ".join(f"E = {e * 1e6:.4g} µeV, FWHM {w * 1e6:.4g} µeV"
                        for e, w in zip(first.energies_eV, first.fwhm_eV))
    return Outcome("sts-ingap", f"In-gap peaks ({shape}, T = {temperature:g} K, lock-in "
                                f"{lockin:g} V rms{tip_txt})", d, rows,
                   [r for _, _, r in fits], warnings, figures=figures, notes=notes,
                   summary=summary if len(fits) == 1 else "")


def _ingap_grid(file, temperature, lockin_rms, tip, tip_model, shape, npk, window, channel):
    """The in-gap models on every pixel of a grid, batched (``result``: the maps)."""
    import numpy as np

    from supramap.sts.ingap_grid import fit_in_gap_grid, grid_warnings
    from supramap.sts.kind import header_lockin_rms

    auto = npk == "auto"
    if auto:
        npk = 1  # BIC per pixel is not offered: fit the series' choice with --peaks 2
    ds_in, g, found = _grid(file, channel, fitting=True)
    notes: list[str] = []
    lockin = lockin_from(lockin_rms, header_lockin_rms(ds_in.attrs.get("header")), notes)
    ds = fit_in_gap_grid(g, temperature=temperature, lockin_rms=lockin, shape=shape,
                         peaks=npk, window_eV=window, tip=tip_model)
    ds.attrs["source_file"] = str(file)
    conv = ds["converged"].values
    rows = [("pixels fitted (converged)", f"{conv.sum()} of {conv.size}"),
            ("peaks per pixel", f"{npk}" + (" (--peaks auto means 1 on a grid: no per-pixel "
                                            "model choice; give --peaks 2 for two)"
                                            if auto else ""))]
    d = {"file": str(file), "shape": shape, "peaks": npk, "temperature_K":
         float(ds.attrs["temperature_K"]), "lockin_rms_V": lockin,
         "tip": None if tip_model is None else str(tip),
         "fraction_converged": float(conv.mean()), "peaks_summary": [],
         "noise_model": ds.attrs["noise_model"]}
    rows.append(("noise model (per-pixel errors: 1σ; 90 % interval ±1.645σ)",
                 ds.attrs["noise_model"]))
    if "tip_temperature_fwhm_shift_eV" in ds.attrs:
        d["tip_temperature_fwhm_shift_eV"] = float(ds.attrs["tip_temperature_fwhm_shift_eV"])
        rows.append(("tip temperature's uncertainty in the FWHM errors (median)",
                     f"{1e6 * d['tip_temperature_fwhm_shift_eV']:.3g} µeV"))
    for i in range(1, npk + 1):
        en, fw = ds[f"energy_{i}"].values[conv], ds[f"fwhm_{i}"].values[conv]
        summ = {"peak": i}
        if en.size:
            q = lambda a: [float(v) for v in np.percentile(a, [25, 50, 75])]  # noqa: E731
            summ.update(energy_eV_quartiles=q(en), fwhm_eV_quartiles=q(fw))
            for what, a in (("energy", en), ("intrinsic FWHM", fw)):
                lo, med, hi = (v * 1e6 for v in q(a))
                rows.append((f"peak {i}: {what} (median, IQR)",
                             f"{med:.4g} µeV ({lo:.4g} … {hi:.4g})"))
        d["peaks_summary"].append(summ)
    bias = g["bias"].values if window is None else np.clip(g["bias"].values, -window, window)

    def figures():
        from supramap.report.sts import ingap_maps_figure

        return [(ingap_maps_figure(ds, npk), "Intrinsic energy and FWHM per pixel",
                 "ingap_maps.png")]

    return Outcome("sts-ingap", f"In-gap peaks per pixel of {file.name} ({shape})", d, rows,
                   ds, found + list(grid_warnings(ds, bias)), figures=figures, notes=notes,
                   summary=f"{100 * d['fraction_converged']:.1f} % of the pixels converged")


def gap_map_file(path):
    """The Dataset ``sts gapmap --out`` wrote (delta, gamma, converged ...), loaded; one clear
    error for anything else."""
    import xarray as xr

    try:
        with xr.open_dataset(path) as gm:
            gm = gm.load()
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"{path}: not a gap map written by `sts gapmap --out` ({exc})") \
            from None
    missing = [k for k in ("delta", "gamma", "converged") if k not in gm]
    if missing:
        raise AnalysisError(f"{path}: not a gap map written by `sts gapmap --out` (no "
                            f"{', '.join(missing)})")
    return gm


@dataclass
class ExplorerPage:
    """What the grid explorer shows; :meth:`write` writes the self-contained page."""

    grid: Any
    layers: dict
    gap_eV: Any
    fit: Any
    title: str
    angle_deg: float = 0.0
    positions: Any = None  # the scanner X, Y (m) the file recorded with each point

    def html(self) -> str:
        """The page itself (Bokeh's JavaScript inlined: it works offline)."""
        from supramap.report.explorer import explorer_html

        return explorer_html(self.grid, gap_eV=self.gap_eV, maps=self.layers, fit=self.fit,
                             title=self.title, angle_deg=self.angle_deg,
                             positions=self.positions)[0]

    def write(self, folder) -> Path:
        """Write ``index.html`` (and nothing else) into *folder*; its path."""
        from supramap.report.explorer import write_explorer

        return write_explorer(self.grid, Path(folder), gap_eV=self.gap_eV, maps=self.layers,
                              fit=self.fit, title=self.title, angle_deg=self.angle_deg,
                              positions=self.positions)

    def _repr_html_(self) -> str:
        """The same page inline in Jupyter (an iframe holding it: no notebook extension, and
        the page's script cannot clash with the notebook's)."""
        import html as _html

        return (f'<iframe srcdoc="{_html.escape(self.html(), quote=True)}" width="100%" '
                'height="1000" style="border:0" title="grid explorer"></iframe>')


def sts_explore(file, gapmap=None, *, channel=None) -> Outcome:
    """The layers of an offline grid explorer (``supramap sts explore``): the dI/dV maps, the
    grid's own per-pixel parameters (topography first) and, with *gapmap*, the fitted gap, Γ
    and χ²; ``result.write(folder)`` writes the page."""
    import numpy as np

    from supramap.quality import Z90
    from supramap.report.explorer import decimation

    file = Path(file)
    ds, g, found = _grid(file, channel)
    layers: dict = {}
    for name in ds.data_vars:  # the grid's own per-pixel parameters: topography first
        da = ds[name]
        vals = np.asarray(da.values, float)
        if da.dims == ("y", "x") and str(name).startswith("param ") and \
                str(name)[6:] not in ("X", "Y", "Sweep Start", "Sweep End") and \
                np.isfinite(vals).any() and np.nanstd(vals) > 0:
            label = str(name)[6:]
            if label.lower().startswith("z"):
                label = f"topography ({label})"
            layers[label] = (vals, da.attrs.get("units", ""))
    layers = dict(sorted(layers.items(), key=lambda kv: not kv[0].startswith("topography")))
    gap = fit = None
    if gapmap is not None:
        fit = gap_map_file(gapmap)
        conv = fit["converged"].values.astype(bool)
        gap = np.where(conv, fit["delta"].values, np.nan)
        if gap.shape != g.shape[:2]:
            raise AnalysisError(f"{gapmap}: gap map {gap.shape} does not match the grid "
                                f"{g.shape[:2]}")
        # The uncertainty layer: the 90 % half-width of each pixel's gap (1.645 standard
        # errors, with the noise model the fit used), beside Γ and χ².
        for key, label, scale, unit in (("delta_stderr", "Δ uncertainty (90 % half-width)",
                                         Z90 * 1e3, "meV"),
                                        ("gamma", "Γ (fitted)", 1e3, "meV"),
                                        ("redchi", "reduced χ²", 1.0, "")):
            if key in fit:
                layers[label] = (np.where(conv, fit[key].values * scale, np.nan), unit)
    names = list(layers) + (["Δ (fitted gap)"] if gap is not None else [])
    positions = None
    if "param X" in ds and "param Y" in ds and ds["param X"].attrs.get("units") == "m":
        positions = (np.asarray(ds["param X"].values, float),
                     np.asarray(ds["param Y"].values, float))
    d = {"file": str(file), "shape": list(g.shape),
         "decimation": decimation(g.shape[0], g.shape[1]), "layers": names,
         "fitted_spectra": fit is not None,
         "grid_angle_deg": float(ds.attrs.get("grid_angle_deg", 0.0) or 0.0)}
    rows = [("grid (y, x, bias)", " × ".join(map(str, g.shape))),
            ("map layers", ", ".join(names) or "dI/dV only")]
    return Outcome("sts-explore", f"Explorer of {file.name}", d, rows,
                   ExplorerPage(g, layers, gap, fit, f"Grid explorer — {file.name}",
                                float(ds.attrs.get("grid_angle_deg", 0.0) or 0.0), positions),
                   found)


def sts_decompose(file, gapmap=None, compare=None, *, method="kmeans", components="auto",
                  max_components=8, compare_channel=None, channel=None) -> Outcome:
    """k-means clusters, PCA or NMF components of a grid's spectra, with their spectra and
    maps; with *gapmap* or *compare* (a map of the same area) their value per k-means cluster
    and η² — ``supramap sts decompose``."""
    from supramap.sts.decompose import compare_clusters, decompose_grid, resample_onto_grid

    file = Path(file)
    if (gapmap is not None or compare is not None) and method != "kmeans":
        raise AnalysisError(f"--{'gapmap' if gapmap is not None else 'compare'} compares "
                            "k-means clusters: use --method kmeans")
    _, g, found = _grid(file, channel)
    res = decompose_grid(g, method=method, n_components=None if components == "auto"
                         else int(components), max_components=max_components)
    d = {"file": str(file), **res.to_dict()}
    rows = [("method", res.method), ("components", f"{res.n_components} ({res.criterion})")]
    for i, share in enumerate(d["component_share"]):
        rows.append((f"{'cluster' if res.method == 'kmeans' else 'component'} {i}",
                     {"kmeans": f"{100 * share:.1f} % of the pixels",
                      "pca": f"{100 * share:.1f} % of the variance"}.get(
                         res.method, f"mean weight {share:.3g}")))
    if res.scores:
        rows.append(("criterion values", ", ".join(f"{k}: {v:.3f}"
                                                   for k, v in res.scores.items())))
    if gapmap is not None:
        gm = gap_map_file(gapmap)
        cmp = compare_clusters(res.labels, gm["delta"].where(gm["converged"].astype(bool)),
                               name="gap", units="eV")
        d["gap_comparison"] = cmp
        rows += [(f"cluster {r['cluster']}: gap", f"{r['mean'] * 1e3:.4g} ± "
                  f"{r['std'] * 1e3:.2g} meV ({r['n_pixels']} fitted pixels)")
                 for r in cmp["clusters"]]
        rows.append(("η² of the gap over the clusters", f"{cmp['eta_squared']:.3f}"))
    if compare is not None:
        from supramap.io import read_image

        compare = Path(compare)
        img = read_image(compare, compare_channel)
        unit = img.attrs.get("units", "")
        cmp2 = compare_clusters(res.labels, resample_onto_grid(img, g),
                                name=img.name or compare.name, units=unit)
        d["map_comparison"] = {"file": str(compare), **cmp2}
        rows += [(f"cluster {r['cluster']}: {compare.name}", f"{r['mean']:.4g} ± "
                  f"{r['std']:.2g} {unit} ({r['n_pixels']} px)") for r in cmp2["clusters"]]
        rows.append((f"η² of {compare.name} over the clusters", f"{cmp2['eta_squared']:.3f}"))

    def figures():
        from supramap.report.sts import decomposition_figure

        return [(decomposition_figure(res), "Component spectra and maps",
                 "decomposition.png")]

    return Outcome("sts-decompose", f"Decomposition of {file.name}", d, rows, res,
                   found + list(res.warnings), figures=figures)


def _qpi_rows(label, peaks, an, symmetrize):
    best = peaks[0] if peaks else None
    return [(f"strongest q{label}",
             f"{best['q_per_nm']:.4g} nm⁻¹ at {best['angle_deg']:.1f}°"
             + (f" = {best['q_2pi_over_a']:.4g} × 2π/a" if "q_2pi_over_a" in best else "")
             if best else "none above the background"),
            (f"anisotropy{label}", f"{an:.3f}" if an == an else
             ("not defined after a C2/C4 symmetrisation" if symmetrize in ("c2", "c4")
              else "n/a: no power above the background"))]


def _dispersion_rows(fit, points, n):
    if fit["model"] == "parabolic":
        txt = (f"parabolic: E0 = {fit['E0_eV'] * 1e3:.3g} ± {fit['E0_err_eV'] * 1e3:.2g} meV, "
               f"m* = {fit['effective_mass_me']:.3g} ± {fit['effective_mass_err_me']:.2g} mₑ")
    else:
        txt = (f"linear: E0 = {fit['E0_eV'] * 1e3:.3g} ± {fit['E0_err_eV'] * 1e3:.2g} meV, "
               f"v = {fit['velocity_m_per_s']:.3g} ± {fit['velocity_err_m_per_s']:.2g} m/s")
    on = [p for p in points if p["on_branch"]]
    return [("E(q) fit", txt),
            ("E(q) points", f"{len(on)} of {n} energies on the branch: "
             + ", ".join(f"{p['energy_eV'] * 1e3:.3g}" for p in on)
             + " meV (Bragg peaks masked, radial profiles)")]


def sts_qpi(file, *, energy=None, symmetrize="none", dispersion="auto", lattice=None,
            linecut=None, bragg=False, channel=None, level="none", align_rows="none",
            remove_scars=False, clip=None) -> Outcome:
    """Fourier transform, q-vectors (sub-pixel, nm⁻¹), E(q) over energies (a list of
    *energy*, eV) and the C4 → C2 anisotropy of the power above the background (not after a
    C4 symmetrisation) — ``supramap sts qpi``; *lattice* in m, *linecut* directions in
    degrees from qx."""
    import numpy as np

    from supramap.analyses.library import preprocessed
    from supramap.quality import warn
    from supramap.sts.qpi import anisotropy, fourier, q_peaks, symmetrise

    file = Path(file)
    energies = list(energy) if energy is not None else [None]
    directions = list(linecut) if linecut else []
    if directions and len(energies) < 2:
        raise AnalysisError("--linecut needs a grid and at least two --energy values")
    if bragg and lattice is None:
        raise AnalysisError("--bragg needs --lattice (the lattice constant the peaks belong "
                            "to)")
    found: list = []
    maps, ffts = [], []
    for e in energies:
        m = preprocessed(_map(file, channel, e, found), level, align_rows, remove_scars, clip)
        if min(m.shape) < 8:
            raise AnalysisError(f"{file}: a map of {m.shape[0]} × {m.shape[1]} pixels is too "
                                "small for a Fourier analysis")
        maps.append(m)
        ffts.append(fourier(m))
    rows, calibration = [], None
    if bragg:
        from supramap.sts.qpi import calibrate_maps

        try:
            ffts, calibration = calibrate_maps(ffts, lattice)
        except AnalysisError as exc:
            raise AnalysisError(f"{file}: {exc}; calibrate without --bragg") from None
        rows.append(("Bragg calibration", f"qx × {calibration['scale_x']:.4f}, qy × "
                     f"{calibration['scale_y']:.4f} (from {calibration['maps_with_bragg_peaks']}"
                     f" of {calibration['maps']} maps)"))
        if max(abs(calibration["scale_x"] - 1), abs(calibration["scale_y"] - 1)) > 0.1:
            found.append(warn("qpi.bragg_large_correction",
                              "the Bragg peaks moved the q axes by more than 10 % (× "
                              f"{calibration['scale_x']:.3f}, × {calibration['scale_y']:.3f}):"
                              " check the lattice constant and the scan calibration",
                              **{k: calibration[k] for k in ("scale_x", "scale_y")}))
    if symmetrize != "none":
        ffts = [symmetrise(f, symmetrize) for f in ffts]
    per_energy = []
    for e, f in zip(energies, ffts):
        qmax = float(np.abs(f.qx).max())
        an = anisotropy(f, q_min=0.05 * qmax, q_max=0.9 * qmax) \
            if symmetrize in ("none", "mirror") else float("nan")
        peaks = q_peaks(f, lattice_m=lattice)
        per_energy.append({"energy_eV": e, "anisotropy": an, "q_vectors": peaks})
        rows += _qpi_rows("" if e is None else f" at {e * 1e3:.3g} meV", peaks, an, symmetrize)
    m, f = maps[-1], ffts[-1]  # the last map: drawn in the report beside its transform
    d = {"file": str(file), "symmetrize": symmetrize, "lattice_m": lattice,
         "energies": per_energy, "shape": list(f.shape),
         "anisotropy": per_energy[0]["anisotropy"], "bragg_calibration": calibration}
    fit = None
    if len(energies) > 1:
        from supramap.sts.qpi import dispersion as branch_dispersion

        d["dispersion"], fit, branch_warnings = branch_dispersion(energies, ffts,
                                                                  model=dispersion)
        found += list(branch_warnings)
        if fit is not None:
            d["dispersion_fit"] = fit
            rows += _dispersion_rows(fit, d["dispersion"], len(energies))
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
    if symmetrize in ("c2", "c4"):
        found.append(warn("qpi.symmetrised",
                          f"the FFT was {symmetrize}-symmetrised: the C4 → C2 anisotropy is "
                          "forced by construction and is not reported"))
    d["processing"] = [str(x) for x in m.attrs.get("provenance", [])]

    def figures():
        from supramap.report.sts import dispersion_figure, fft_figure, linecut_figure

        out = [(fft_figure(m, f), "Map and its Fourier transform", "qpi.png")]
        if fit is not None:
            out.append((dispersion_figure(d["dispersion"], fit), "E(q) of the tracked branch",
                        "dispersion.png"))
        if cuts:
            out.append((linecut_figure(cuts, d.get("dispersion")),
                        "E–q line cuts of the Fourier amplitude (each energy over its median)",
                        "linecuts.png"))
        return out

    return Outcome("sts-qpi", f"QPI of {file.name}", d, rows, ffts, found, figures=figures,
                   data={"map": m})


def sts_defects(file, *, energy=None, n_sigma=6.0, depressions=False, groups=0, channel=None,
                level="none", align_rows="none", remove_scars=False, clip=None) -> Outcome:
    """Point defects above *n_sigma* × the map's noise: positions, sizes, C2 elongation and
    orientation (two-lobe dumbbells counted once), axial orientation statistics; on a grid
    (at *energy*, eV) grouped by their spectra into *groups* — ``supramap sts defects``."""
    import numpy as np

    from supramap.analyses.library import preprocessed
    from supramap.sts.defects import (
        ORIENTATION_CONVENTION,
        defect_spectra,
        detect_defects,
        group_defects,
    )

    file = Path(file)
    is_grid = file.suffix.lower() == ".3ds"
    if groups and not is_grid:
        raise AnalysisError(f"{file}: --groups groups defects by their spectra, so it needs a "
                            "spectroscopy grid (.3ds with --energy); a topograph has none")
    found: list = []
    m = preprocessed(_map(file, channel, energy, found), level, align_rows, remove_scars, clip)
    search = detect_defects(m, n_sigma=n_sigma, sign=-1 if depressions else 1)
    defects = search.defects
    if groups and defects:
        _, g, _ = _grid(file, channel)
        defects = group_defects(defects, defect_spectra(g, defects), groups)
    elong = [x.elongation for x in defects]
    d = {"file": str(file), **search.to_dict(), "defects": [dict(vars(x)) for x in defects],
         "median_elongation": float(np.median(elong)) if elong else None,
         "processing": [str(x) for x in m.attrs.get("provenance", [])]}
    rows = [
        ("defects", str(len(defects))),
        ("noise (levelled, smoothed)", f"{search.noise:.3g} {m.attrs.get('units', '')}"),
        ("median elongation", f"{d['median_elongation']:.2f}" if defects else "-"),
        ("orientation populations",
         "; ".join(f"{p['mean_deg']:.1f}° (order {p['order']:.2f}, {p['count']} defects)"
                   for p in search.populations) or "-"),
        ("axial mean orientation (all)",
         f"{search.orientation_mean_deg:.1f}° (order {search.orientation_order:.2f})"
         if np.isfinite(search.orientation_mean_deg) else "-"),
    ]

    def figures():
        from supramap.report.sts import defects_figure

        return [(defects_figure(m, defects), "Defects found", "defects.png")]

    return Outcome("sts-defects", f"Defects in {file.name}", d, rows, search,
                   found + list(search.warnings), figures=figures,
                   epilogue=[f"Orientation: {ORIENTATION_CONVENTION}."], data={"map": m})
