"""The spectroscopy analyses as library calls on files (``supramap sts ...``).

Each returns an :class:`~supramap.analyses.outcome.Outcome`; parameters arrive in the declared
units (energies in eV, temperatures in K, modulation in V rms).
"""

from __future__ import annotations

from pathlib import Path

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

    from supramap.sts import calibrate_tip

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
    tip, res = calibrate_tip(s.bias, s.conductance, sample_gaps=gaps, sample_weights=weights,
                             vary_sample=vary_sample, temperature=temperature,
                             lockin_rms=lockin)
    if not res.success:
        raise AnalysisError(f"{file}: the tip calibration failed ("
                            + "; ".join(w.code for w in res.warnings)
                            + f"; fitted tip gap {tip.delta_eV * 1e3:.4g} meV): no tip model "
                            "written")
    d = {"file": str(file), **res.to_dict()}
    rows = [
        ("tip gap", f"{tip.delta_eV * 1e3:.4f} ± {tip.delta_err_eV * 1e3:.2g} meV"),
        ("tip Γ", f"{tip.gamma_eV * 1e6:.2f} µeV"),
        ("T_eff", f"{tip.temperature_K:.3f} ± {tip.temperature_err_K:.2g} K"
         if tip.extra.get("temperature_determined", True) else
         f"{tip.temperature_K:.3f} K (fixed: not determined by the data)"),
        ("reference gap weights", ", ".join(f"{w:.3f}" for w in
                                            tip.extra.get("sample_weights", []))),
        ("reduced χ²", f"{res.redchi:.3g}"),
    ]

    def figures():
        from supramap.report.sts import fit_figure

        return [(fit_figure(res), "SIS data and fit", "calibration.png")]

    return Outcome("sts-calibrate-tip", f"Tip calibration on {file.name}", d, rows, tip,
                   list(s.warnings) + list(res.warnings), figures=figures, notes=notes,
                   data={"fit": res},
                   summary=f"Δ_tip = {tip.delta_eV * 1e3:.4f} ± {tip.delta_err_eV * 1e3:.2g} "
                           f"meV, T_eff = {tip.temperature_K:.3f} K")


def sts_deconvolve(file, tip=None, *, channel=None, bias_column=None, **params) -> Outcome:
    """Recover the sample DOS by regularised inversion of the SIS kernel (``supramap sts
    deconvolve``); ``lambda`` (a keyword: ``**{"lambda": 1e-3}``) fixes the regularisation."""
    from supramap.sts import TipModel, deconvolve

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
