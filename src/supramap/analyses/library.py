"""The declared analyses as library calls on files: read, check, analyse → :class:`Outcome`.

Each function is *the* analysis behind its CLI command: the command parses its options, calls
it through :func:`supramap.analyses.run`, prints ``rows`` and writes ``to_dict()``.  Parameters
arrive converted by the registry's grammar, in the declared units (lengths of bulk samples in
mm, masses in mg, energies in eV, temperatures in K).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from supramap.analyses.outcome import Outcome
from supramap.errors import AnalysisError
from supramap.quality import QualityWarning
from supramap.units import si_prefix

# -- shared readers and checks (the CLI's other commands use them too) ----------------------


def read_image_checked(path, channel: str | None, units: str):
    """One image channel, preferring channels in *units*."""
    from supramap.io import read_image

    return read_image(path, channel, prefer_units=units)


def preprocessed(image, level: str = "none", align: str = "none", scars: bool = False,
                 clip=None):
    """The image after the requested corrections (recorded in its provenance), carrying the
    display range of --clip (percentiles LO, HI)."""
    if clip is not None:
        lo, hi = (float(v) for v in clip)
        if not 0 <= lo < hi <= 100:
            raise AnalysisError(f"--clip needs percentiles 0 ≤ LO < HI ≤ 100, got {lo:g},{hi:g}")
        image = image.copy()
        image.attrs["display_clip"] = (lo, hi)
    if level == "none" and align == "none" and not scars:
        return image
    from supramap.spm.pipeline import preprocess

    return preprocess(image, level=level, align=align, scars=scars)


def lockin_from(option: float | None, header: float | None, notes: list[str]) -> float:
    """The lock-in modulation to model: the option when given, else the file's header (said
    in *notes*), else none."""
    if option is not None:
        return float(option)
    if header is not None:
        notes.append(f"Lock-in modulation from the file's header: {header * 1e3:.4g} mV rms "
                     "(--lockin-rms overrides)")
        return float(header)
    return 0.0


def grid_checked(path: Path, channel: str | None, warnings: list, *, fitting: bool = False):
    """The grid's conductance channel, after the measurement-kind checks: the sweep must be a
    bias (a Z grid is refused); for *fitting* (gap and in-gap models) a KPFM grid is refused
    and the sweep must reach zero bias.  A current chosen by default is differentiated.
    Tip changes found in the spectra are added to *warnings* (``grid.tip_change``)."""
    from supramap.io import read
    from supramap.sts.kind import (
        check_reaches_zero,
        check_sweep_unit,
        check_tunnelling,
        header_warnings,
    )
    from supramap.sts.spectra import grid_conductance

    ds = read(path)
    if ds.attrs.get("format") != "3ds":
        raise AnalysisError(f"{path}: a spectroscopy grid (.3ds) is needed")
    where = f"{path}: "
    check_sweep_unit(ds["bias"].attrs.get("units"), ds["bias"].attrs.get("long_name"),
                     where=where)
    header = ds.attrs.get("header")
    if fitting:
        warnings.extend(check_tunnelling(header, where=where))
        check_reaches_zero(ds["bias"].values, where=where)
    else:
        warnings.extend(header_warnings(header))
    g = grid_conductance(ds, channel, path=path)
    g.attrs.setdefault("provenance", list(ds.attrs.get("provenance", [])))
    from supramap.sts.health import grid_health

    warnings.extend(grid_health(g))  # a tip change half-way through the grid
    return ds, g


def needle(path: Path):
    """An atom-probe file's ions."""
    from supramap.io import read

    ds = read(path)
    if ds.attrs.get("format") not in ("pos", "epos", "apt"):
        raise AnalysisError(f"{path}: an atom-probe file (.pos, .epos, .apt) is needed")
    return ds


def excluded_nm(ions, table, top: float | None, cap: str | None) -> tuple[float, str]:
    """The depth (nm) excluded from the apex: a fixed depth in m, or the detected cap."""
    from supramap.apt import detect_cap

    if top is not None and cap is not None:
        raise AnalysisError("give --exclude-top or --exclude-cap, not both")
    if top is not None:
        return float(top) * 1e9, "fixed"
    if cap is not None:
        el, _, thr = cap.partition(":")
        try:
            threshold = float(thr)
        except ValueError:
            raise AnalysisError(f"--exclude-cap must be ELEMENT:THRESHOLD, got {cap!r}") from None
        if not (el and 0 < threshold < 1):
            raise AnalysisError(f"--exclude-cap must be ELEMENT:THRESHOLD in (0, 1), got "
                                f"{cap!r}")
        return detect_cap(ions, table, element=el, threshold=threshold), f"{el} cap"
    return 0.0, "none"


def _fmt(v: float, unit: str) -> str:
    return si_prefix(v, unit) if v == v else "n/a"


# -- cAFM -------------------------------------------------------------------------------------


def cafm_analyze(current, topography=None, deflection=None, *, channel=None,
                 topography_channel=None, deflection_channel=None, threshold="auto",
                 line=None, line_width=0.0, level="none", align_rows="none",
                 remove_scars=False, clip=None, mask=None, ignore_feedback=False) -> Outcome:
    """Noise floor, conducting fraction, islands, current levels, edge width and artefacts of
    a conductive-AFM current map (``supramap cafm analyze``)."""
    from supramap.conduction import analyze
    from supramap.conduction.analysis import check_not_feedback

    current = Path(current)
    cur = preprocessed(read_image_checked(current, channel, "A"), level, align_rows,
                       remove_scars, clip)
    if cur.attrs.get("units") != "A":
        raise AnalysisError(f"{current}: channel {cur.name!r} is in {cur.attrs.get('units')!r}, "
                            "not a current (A); choose one with --channel")
    if not ignore_feedback:
        try:
            check_not_feedback(cur)
        except AnalysisError as exc:
            raise AnalysisError(f"{current}: {exc}") from None
    topo = read_image_checked(topography, topography_channel, "m") if topography else None
    defl = read_image_checked(deflection, deflection_channel, "V") if deflection else None
    user_mask = _user_mask(Path(mask), cur) if mask is not None else None
    result = analyze(cur, topography=topo, deflection=defl, threshold=threshold,
                     mask=user_mask, check_feedback=False)
    d = result.to_dict()
    d["file"] = str(current)
    if line is not None:
        from supramap.conduction import line_edge_width

        pts = tuple(float(v) for v in line)
        d["line_edge_width_m"] = line_edge_width(cur.copy(data=result.oriented_current),
                                                 pts[:2], pts[2:], width=line_width)
        d["line_m"] = list(pts)
    d["processing"] = [str(x) for x in cur.attrs.get("provenance", [])]
    lo, hi = d["conducting_fraction_interval"]
    a90, b90 = d["conducting_fraction_interval_90"]
    rows = [
        ("noise floor", _fmt(d["noise_floor_A"], "A")),
        ("threshold", f"{_fmt(d['threshold_A'], 'A')} ({d['threshold_source']})"),
        ("conducting fraction", f"{d['conducting_fraction']:.4f}; 90 % interval of the area "
         f"[{a90:.4f}, {b90:.4f}]; cut × ½ and × 1.5: [{lo:.4f}, {hi:.4f}]"),
        ("islands / stripes", f"{d['n_islands']} / {d['n_stripes']}"),
        ("current levels (± 1σ)", ", ".join(
            _fmt(v, "A") + (f" ± {_fmt(e, 'A')}" if e == e else "")
            for v, e in zip(d["levels_A"], d["level_errors_A"])) or "none"),
        ("level fractions", ", ".join(f"{f:.2f}" for f in d["level_fractions"]) or "-"),
        ("edge width (10–90 %)", _fmt(d["edge_width_m"], "m")),
        ("dynamic range", f"{d['dynamic_range_decades']:.2f} decades"),
    ]
    if "line_edge_width_m" in d:
        rows.append(("edge width on --line", _fmt(d["line_edge_width_m"], "m")))

    def section(rep):
        from supramap.report.cafm import analysis_section

        analysis_section(rep, current.name, cur, result, topography=topo, deflection=defl)

    def figures():
        from supramap.report import figures as fig

        return [(fig.maps_figure(cur, result, None, defl), "Maps", "maps.png"),
                (fig.histogram_figure(result), "log-current histogram", "histogram.png")]

    after = [result.artefacts.verdict] if result.artefacts is not None else []
    return Outcome("cafm-analyze", f"cAFM analysis of {current}", d, rows, result,
                   list(result.warnings), figures=figures, section=section, epilogue=after,
                   data={"current": cur})


def cafm_compare(a, b, topography_a=None, topography_b=None, *, channel=None,
                 threshold="auto") -> Outcome:
    """Overlap of the conducting areas of two maps of one area (forward/backward, or two
    temperatures): B is registered onto A (on the topographies when given) — ``supramap cafm
    compare``."""
    from supramap.conduction import compare

    a, b = Path(a), Path(b)
    if (topography_a is None) != (topography_b is None):
        raise AnalysisError("give both --topography-a and --topography-b, or neither")
    ma, mb = read_image_checked(a, channel, "A"), read_image_checked(b, channel, "A")
    ta = read_image_checked(topography_a, None, "m") if topography_a else None
    tb = read_image_checked(topography_b, None, "m") if topography_b else None
    result = compare(ma, mb, topography_a=ta, topography_b=tb, threshold=threshold)
    d = {**result.to_dict(), "file_a": str(a), "file_b": str(b)}
    num = lambda v: f"{v:.3f}" if v == v else "n/a"  # noqa: E731
    rows = [("shift (y, x)", f"{_fmt(d['shift_m'][0], 'm')}, {_fmt(d['shift_m'][1], 'm')}"),
            ("IoU", num(d["iou"])),
            ("persistent / vanished / appeared", " / ".join(
                num(d[k]) for k in ("persistent_fraction", "vanished_fraction",
                                    "appeared_fraction"))),
            ("spots A / B (only A / only B)", f"{d['n_spots_a']} / {d['n_spots_b']} "
             f"({d['n_spots_only_a']} / {d['n_spots_only_b']})"),
            ("median spot diameter", _fmt(d["spot_diameter_m"], "m"))]

    def section(rep):
        from supramap.report.cafm import comparison_section

        comparison_section(rep, "Comparison", result, ma, (a.name, b.name))

    def figures():
        from supramap.report.figures import comparison_figure

        return [(comparison_figure(result, ma, (a.name, b.name)), "Persistent, vanished and "
                 "appeared conducting areas", "overlay.png")]

    return Outcome("cafm-compare", f"{a.name} vs {b.name}", d, rows, result,
                   list(result.warnings), figures=figures, section=section,
                   data={"a": ma, "b": mb})


def cafm_series(*files, topography=None, temperatures=None, channel=None,
                threshold="auto", progress=None) -> Outcome:
    """Conducting fraction and islands versus temperature over maps of one area (registered
    on each other), the temperature where conduction vanishes and the islands that return on
    re-cooling — ``supramap cafm series``; *temperatures* in K, one per map."""
    from supramap.conduction import temperature_series

    files = [Path(f) for f in files]
    topographies = list(topography or [])
    if temperatures is None or len(files) != len(temperatures):
        raise AnalysisError(f"{len(files)} files but {len(temperatures or [])} temperatures")
    if topographies and len(topographies) != len(files):
        raise AnalysisError(f"{len(topographies)} topographies for {len(files)} maps")
    maps, topos = [], []
    for i, f in enumerate(files):
        maps.append(read_image_checked(f, channel, "A"))
        if topographies:
            topos.append(read_image_checked(topographies[i], None, "m"))
        if progress is not None:
            progress(i + 1, len(files))
    result = temperature_series(maps, list(temperatures), topographies=topos or None,
                                threshold=threshold)
    d = {**result.to_dict(), "files": [str(f) for f in files]}
    rows = [(f"#{i + 1} {t:g} K", f"{f:.4f} ({n} islands)") for i, (t, f, n) in enumerate(
        zip(d["temperatures_K"], d["conducting_fraction"], d["n_islands"]))]
    vt = d["vanishing_temperature_K"]
    rows.append(("vanishing temperature", f"{vt:g} K" if vt is not None else "not reached"))
    if "islands_returned" in d:
        rows.append(("islands back after re-cooling",
                     f"{len(d['islands_returned'])} of {d['n_islands_first']}"))

    def section(rep):
        from supramap.report.cafm import series_section

        series_section(rep, result, maps[0])

    def figures():
        from supramap.report.figures import series_figure

        return [(series_figure(result), "Conducting fraction against temperature",
                 "fraction.png")]

    return Outcome("cafm-series", "Temperature series", d, rows, result,
                   list(getattr(result, "warnings", ())), figures=figures, section=section,
                   data={"maps": maps})


def _user_mask(path: Path, cur):
    """A mask file: the ``conducting`` variable of a NetCDF, or any image (non-zero = True)."""
    if path.suffix.lower() in (".nc", ".nc4", ".h5"):
        import xarray as xr

        try:
            with xr.open_dataset(path) as ds:
                m = np.asarray(ds["conducting"].values)
        except (OSError, ValueError, KeyError) as exc:
            raise AnalysisError(f"{path}: not a mask NetCDF with a 'conducting' variable "
                                f"({exc})") from None
    else:
        from supramap.io import read_image

        m = np.asarray(read_image(path).values)
    if m.shape != cur.shape:
        raise AnalysisError(f"{path}: mask of {m.shape[0]} × {m.shape[1]} px for a map of "
                            f"{cur.shape[0]} × {cur.shape[1]} px")
    return np.nan_to_num(m) != 0


# -- STS --------------------------------------------------------------------------------------


def _param_text(name: str, value: float, err: float | None, varied: bool) -> str:
    """A fitted value with its unit and uncertainty (energies in meV, T in K)."""
    base = name.rstrip("0123456789")
    unit, f = {"delta": ("meV", 1e3), "gamma": ("meV", 1e3), "tip_delta": ("meV", 1e3),
               "tip_gamma": ("meV", 1e3), "temperature": ("K", 1.0)}.get(base, ("", 1.0))
    if not varied:
        return f"{value * f:.6g} {unit} (fixed)".replace("  ", " ")
    if err is None:
        return f"{value * f:.6g} {unit} ± n/a (no covariance)".replace("  ", " ")
    return f"{value * f:.6g} ± {err * f:.2g} {unit}".rstrip()


def sts_fit(file, tip=None, *, channel=None, bias_column=None, model="dynes", gaps=1,
            temperature=1.0, vary_temperature=False, lockin_rms=None) -> Outcome:
    """Fit a Dynes (NIS) or SIS model to one spectrum (``supramap sts fit``)."""
    from supramap.sts import TipModel, fit_spectrum
    from supramap.sts.spectra import read_spectrum

    file = Path(file)
    s = read_spectrum(file, channel, bias_column)
    warnings: list[QualityWarning] = list(s.warnings)
    notes: list[str] = []
    lockin = lockin_from(lockin_rms, s.lockin_rms_V, notes)
    fixed = {}
    if tip is not None:
        if model != "sis":
            raise AnalysisError("--tip goes with --model sis")
        t = TipModel.load(tip)
        fixed = {"tip_delta": t.delta_eV, "tip_gamma": t.gamma_eV}
        temperature = t.temperature_K
    res = fit_spectrum(s.bias, s.conductance, model=model, n_gaps=gaps,
                       temperature=temperature, vary_temperature=vary_temperature,
                       lockin_rms=lockin, fixed=fixed,
                       guesses={"tip_delta": fixed.get("tip_delta", 0.0)})
    d = {"file": str(file), "channel": s.what, **res.to_dict()}
    rows = ([(k, _param_text(k, v, e, res.vary.get(k, True)))
             for k, (v, e) in res.params.items() if not k.startswith("frac")]
            + [("reduced χ²", f"{res.redchi:.3g}"),
               ("rms residual / noise", f"{res.residual_over_noise:.3g}"),
               ("result", "fit succeeded" if res.success else "FIT FAILED (see warnings)")])

    def figures():
        from supramap.report.sts import fit_figure

        return [(fit_figure(res), "Data, fit and residuals", "fit.png")]

    heads = [f"{k.replace('delta', 'Δ').replace('gamma', 'Γ').replace('tip_', 'tip ')} = "
             + _param_text(k, v, e, res.vary.get(k, True))
             for k, (v, e) in res.params.items()
             if k.rstrip("0123456789") in ("delta", "gamma", "tip_delta", "tip_gamma")]
    summary = ", ".join(heads) + f", T = {res.params['temperature'][0]:.3g} K" \
        if "temperature" in res.params else ", ".join(heads)
    if not res.success:
        summary += " (FIT FAILED)"
    return Outcome("sts-fit", f"{model} fit of {file.name} ({s.what})"
                   + ("" if res.success else " — FIT FAILED"), d, rows, res,
                   warnings + list(res.warnings), figures=figures, notes=notes,
                   summary=summary)


def sts_gapmap(file, *, channel=None, model="dynes", temperature=1.0, lockin_rms=None,
               workers=0, scheduler=None, progress=None, noise="auto") -> Outcome:
    """Fit every pixel of a grid (``supramap sts gapmap``); ``result.data`` holds the maps."""
    from supramap.sts.gapmap import gap_map
    from supramap.sts.grid import check_grid
    from supramap.sts.kind import header_lockin_rms

    file = Path(file)
    warnings: list[QualityWarning] = []
    notes: list[str] = []
    ds_in, g = grid_checked(file, channel, warnings, fitting=True)
    lockin = lockin_from(lockin_rms, header_lockin_rms(ds_in.attrs.get("header")), notes)
    check_grid(g)
    res = gap_map(g, temperature=temperature, lockin_rms=lockin, workers=workers,
                  scheduler=scheduler, progress=progress, noise=noise)
    d = {"file": str(file), **res.to_dict()}
    lo, hi = d.get("median_gap_interval_90_eV") or (None, None)
    med = f"{d['median_gap_eV'] * 1e3:.4f} meV" if d["median_gap_eV"] else "n/a"
    if d["median_gap_eV"] and lo is not None:
        med += f" (90 % interval {lo * 1e3:.4f}–{hi * 1e3:.4f} meV, from the pixels' errors)"
    errs = res.data["delta_stderr"].values[res.data["converged"].values]
    rows = [("median gap (converged pixels)", med),
            ("per-pixel gap error (median 1σ)",
             f"{float(np.median(errs)) * 1e6:.3g} µeV" if errs.size else "n/a"),
            ("noise model", d["noise_model"]["description"]),
            ("fraction converged", f"{d['fraction_converged']:.3f}"),
            ("time", f"{d['seconds']:.2f} s on {d['workers']} worker(s)")]

    def figures():
        from supramap.report.sts import gap_map_figure

        return [(gap_map_figure(res.data), "Gap and broadening per pixel", "gap_map.png")]

    return Outcome("sts-gapmap", f"Gap map of {file.name}", d, rows, res,
                   warnings + list(res.warnings), figures=figures, notes=notes)


# -- bulk -------------------------------------------------------------------------------------


def qd_table(path: Path, mapping: str | None = None):
    """A Quantum Design .dat, or a CSV/TXT table whose columns *mapping* renames
    ('Temperature=T (K),Moment=m (emu)'; units in the header are converted to SI)."""
    from supramap.io import read

    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        from supramap.io.text import read_table

        ds = read_table(path)
        for pair in filter(None, (mapping or "").split(",")):
            new, _, old = pair.partition("=")
            if old.strip() not in ds:
                raise AnalysisError(f"{path}: no column {old.strip()!r}; columns are "
                                    f"{', '.join(map(str, ds.data_vars))}")
            ds = ds.rename({old.strip(): new.strip()})
        ds.attrs["format"] = "qd"
        return ds
    ds = read(path)
    if ds.attrs.get("format") != "qd":
        raise AnalysisError(
            f"{path}: a Quantum Design .dat file is needed, got {ds.attrs.get('format')!r}")
    return ds


def qd_column(ds, path: Path, names: tuple[str, ...], units: tuple[str, ...], what: str,
              chosen: str | None = None) -> np.ndarray:
    """A column by name (*chosen*) or the first of *names* in one of *units*."""
    if chosen is not None:
        if chosen not in ds:
            raise AnalysisError(f"{path}: no column {chosen!r}")
        return np.asarray(ds[chosen].values, dtype=float)
    from supramap.io.qd import pick_column

    name = pick_column(ds, names, units)
    if name is None:
        raise AnalysisError(f"{path}: no {what} column (looked for {', '.join(names)})")
    return np.asarray(ds[name].values, dtype=float)


def comment_rows(ds) -> list[QualityWarning]:
    """A warning quoting the file's own comment rows (MultiVu writes them between the data:
    addenda measured at another field, a calibration file, an operator's note), which are not
    data and would otherwise go unseen."""
    from supramap.quality import warn

    rows = ds.attrs.get("comments") or []
    if not rows:
        return []
    texts = [str(r.get("text", "")) for r in rows]
    shown = "; ".join(repr(t) for t in texts[:5]) + (f" and {len(texts) - 5} more"
                                                      if len(texts) > 5 else "")
    return [warn("file.comments", f"the file has {len(texts)} comment row(s), not used as data "
                                  f"— read them: {shown}", comments=texts[:20])]


def _num(value: float, unit: str, fmt: str = ".4g") -> str:
    return "n/a (see warnings)" if not np.isfinite(value) else f"{value:{fmt}} {unit}"


def bulk_heat(file, *, mass=None, molar_mass=None, atoms=None, window=(3.0, 5.0),
              gamma_n=None, columns=None) -> Outcome:
    """γ, β, θ_D, the superconducting volume fraction and the specific-heat jump of a PPMS
    heat-capacity file (``supramap bulk heat``); *mass* in mg, *molar_mass* in g/mol,
    *window* (T1, T2) in K, *gamma_n* in mJ/(mol K²)."""
    from supramap.bulk import analyze_heat
    from supramap.io.qd import sample_properties

    file = Path(file)
    w = tuple(float(v) for v in window)
    if len(w) != 2 or not w[0] < w[1]:
        raise AnalysisError(f"--window must be 'T1,T2' with T1 < T2, got {window!r}")
    ds = qd_table(file, columns)
    header = sample_properties(ds)
    sources: dict[str, tuple[float, str]] = {}
    for key, opt, scale, name in (("mass_kg", mass, 1e-6, "--mass"),
                                  ("molar_mass_kg_per_mol", molar_mass, 1e-3, "--molar-mass"),
                                  ("atoms_per_formula_unit", atoms, 1.0, "--atoms")):
        if opt is not None:
            sources[key] = (float(opt) * scale, f"option {name}")
        elif key in header:
            sources[key] = (header[key]["value"], header[key]["source"])
        elif key == "atoms_per_formula_unit":
            sources[key] = (2.0, "default (2)")
        else:
            raise AnalysisError(f"{file}: the header states no "
                                f"{key.split('_kg')[0].replace('_', ' ')}; give {name}")
    mass_mg = sources["mass_kg"][0] * 1e6
    molar = sources["molar_mass_kg_per_mol"][0] * 1e3
    n_atoms = sources["atoms_per_formula_unit"][0]
    t = qd_column(ds, file, ("Sample Temp", "Temperature"), ("K",), "temperature")
    c = qd_column(ds, file, ("Samp HC", "Heat Capacity"), ("J/K",), "heat capacity")
    moles = (mass_mg * 1e-6) / (molar * 1e-3)
    ok = np.isfinite(t) & np.isfinite(c)
    t, c_mol = t[ok], c[ok] / moles
    res = analyze_heat(t, c_mol, window=w, atoms_per_formula_unit=n_atoms,
                       gamma_n=None if gamma_n is None else gamma_n * 1e-3)
    d = {"file": str(file), **res.to_dict(),
         "sample": {k: {"value": v, "source": src} for k, (v, src) in sources.items()}}
    rows = [
        ("sample mass", f"{mass_mg:.4g} mg ({sources['mass_kg'][1]})"),
        ("molar mass", f"{molar:.4g} g/mol ({sources['molar_mass_kg_per_mol'][1]})"),
        ("atoms per formula unit", f"{n_atoms:g} ({sources['atoms_per_formula_unit'][1]})"),
        ("γ (window fit)", f"{res.fit.gamma * 1e3:.4g} ± {res.fit.gamma_err * 1e3:.2g} "
                           "mJ/mol K²"),
        ("β (window fit)", f"{res.fit.beta * 1e3:.4g} ± {res.fit.beta_err * 1e3:.2g} "
                           "mJ/mol K⁴"),
        ("γn", _num(res.gamma_n * 1e3, "mJ/mol K²")),
        ("Tc / ΔC/γnTc", f"{d['Tc_K']:.2f} K / {d['jump_ratio']:.2f}" if res.jump else "n/a"),
    ]
    if res.alpha is not None:
        a = res.alpha
        rows += [("α-model: γ0", f"{a.gamma0 * 1e3:.4g} ± {a.gamma0_err * 1e3:.2g} mJ/mol K²"),
                 ("α-model: Δ0 / α", f"{a.delta0_eV * 1e3:.3g} meV / {a.alpha:.3g} ± "
                                     f"{a.alpha_err:.2g}"),
                 ("α-model: Tc / spread σ", f"{a.Tc_K:.3f} ± {a.Tc_err_K:.2g} K / "
                                            f"{a.Tc_spread_K:.2g} K")]
    rows += [
        ("γ0 / β used (" + ("α-model + normal state" if res.source == "alpha-model"
                            else "window") + ")",
         f"{res.gamma0 * 1e3:.4g} ± {res.gamma_err * 1e3:.2g} mJ/mol K² / "
         f"{res.beta * 1e3:.4g} ± {res.beta_err * 1e3:.2g} mJ/mol K⁴ (1σ)"),
        ("θ_D", _num(res.theta_D_K, "K", ".1f") + (
            f" ± {d['theta_D_err_K']:.2g} K" if d.get("theta_D_err_K") is not None and
            np.isfinite(d["theta_D_err_K"]) else "")),
        ("superconducting volume fraction 1 − γ0/γn",
         "n/a (see warnings)" if not np.isfinite(res.sc_volume_fraction)
         else f"{100 * res.sc_volume_fraction:.1f} %"),
    ]

    def figures():
        from supramap.report import bulk as fig

        f1, f2 = fig.heat_figures(t, c_mol, res)
        return [(f1, "C/T vs T² with the fit", "heat_fit.png"),
                (f2, "C_e/T vs T with the entropy-conserving jump", "heat_jump.png")]

    return Outcome("bulk-heat", f"Specific heat of {file.name}", d, rows, res,
                   list(res.warnings) + comment_rows(ds), figures=figures,
                   section=_table_section("Specific heat", d, rows, figures))


# -- APT --------------------------------------------------------------------------------------


def apt_composition(needle_file, range=None, *, exclude_top=None, exclude_cap=None,  # noqa: A002
                    background=False) -> Outcome:
    """Ionic and atomic composition with counting errors (``supramap apt composition``);
    *exclude_top* in m."""
    from supramap.apt import composition
    from supramap.io.apt import read_ranges

    needle_file = Path(needle_file)
    ions, table = needle(needle_file), read_ranges(range)
    depth, how = excluded_nm(ions, table, exclude_top, exclude_cap)
    c = composition(ions, table, min_depth_nm=depth, background=background)
    d = {"file": str(needle_file), "exclusion": how, **c.to_dict()}
    rows = ([(el, f"{100 * v:.2f} ± {100 * s:.2f} at.%") for el, (v, s) in c.atomic.items()]
            + [("ions / ranged", f"{c.n_ions} / {c.n_ranged}")]
            + [("isotope overlap split", note) for note in c.overlaps_split])

    def figures():
        from supramap.apt import depth_profile
        from supramap.report import apt as fig

        return [(fig.atom_map_figure(ions, table), "Atom map", "atom_map.png"),
                (fig.profile_figure(depth_profile(ions, table), depth or None),
                 "Concentration profile", "profile.png")]

    return Outcome("apt-composition", f"Composition of {needle_file.name} (excluding the top "
                   f"{depth:.1f} nm, {how})", d, rows, c, list(c.warnings), figures=figures)



def _metres(name: str, value_mm: float | None, need: str) -> float:
    """A sample dimension given in mm, in m; a clear error naming the option when missing."""
    if value_mm is None:
        raise AnalysisError(f"--{name} is needed for {need} (mm unless a unit is written: "
                            f"--{name} 2mm)")
    return float(value_mm) * 1e-3


def _pct(value: float) -> str:
    return "n/a (see warnings)" if not np.isfinite(value) else f"{100 * value:.1f} %"


def _table_section(title: str, d: dict, rows, figures):
    def section(rep):
        from supramap.report import bulk as fig

        rep.table(rows, header=["quantity", "value"])
        fig.table_section(rep, title, d)
        for f, caption, name in figures():
            rep.figure(f, caption, name=name)
    return section


def bulk_transport(file, *, column=None, length=None, width=None, thickness=None,
                   columns=None) -> Outcome:
    """Tc criteria, residual resistivity, RRR and the normal state of ρ(T), or the critical
    fields of ρ(H) sweeps (``supramap bulk transport``); dimensions in mm."""
    from supramap.bulk import analyze_field_sweeps, analyze_transport, resistivity
    from supramap.io.qd import pick_column

    file = Path(file)
    ds = qd_table(file, columns)
    t = qd_column(ds, file, ("Temperature", "Sample Temp"), ("K",), "temperature")
    names = ("Bridge 1 Resistivity", "Resistance", "Resistivity")
    r = qd_column(ds, file, names, ("ohm", "ohm m"), "resistance", column)
    picked = column if column is not None else pick_column(ds, names, ("ohm", "ohm m"))
    # The column's unit says what it is: Ω·m (from Ohm-cm or Ohm-m) is already a
    # resistivity, whatever the name; Ω is a resistance that needs the geometry for ρ.
    column_unit = ds[picked].attrs.get("units", "") if picked in ds else ""
    is_resistivity = column_unit == "ohm m"
    h = ds["Magnetic Field"].values if "Magnetic Field" in ds else np.zeros_like(t)
    ok = np.isfinite(t) & np.isfinite(r)
    sweep = np.nanmax(np.abs(h[ok])) - np.nanmin(np.abs(h[ok])) > 0.05 and np.ptp(t[ok]) < 2.0
    d: dict = {"file": str(file)}
    notes: list[str] = []
    warnings: list[QualityWarning] = []
    if sweep:
        res = analyze_field_sweeps(h, r, t)
        d.update({"sweep": "field", **res.to_dict()})
        title = f"Critical fields from {file.name}"
        rows = [(f"{tk:.2f} K", f"Hc 90/50/10/zero = {a:.3f} / {b:.3f} / {c:.3f} / {z:.3f} T")
                for tk, a, b, c, z in zip(res.temperatures_K, res.hc_90_T, res.hc_50_T,
                                          res.hc_10_T, res.hc_zero_T)]
        units = "ohm m"
    else:
        units = "ohm m" if is_resistivity else "ohm"
        geometry_given = any(v is not None for v in (length, width, thickness))
        if is_resistivity and geometry_given:
            notes.append(f"Column {picked!r} is a resistivity ({ds[picked].attrs.get('column')}):"
                         " the sample geometry is not used.")
        if not is_resistivity and geometry_given:
            r = resistivity(r, length=_metres("length", length, "ρ"),
                            width=_metres("width", width, "ρ"),
                            thickness=_metres("thickness", thickness, "ρ"))
            units = "ohm m"
        res = analyze_transport(t, r, units=units)
        d.update({"sweep": "temperature", **res.to_dict(),
                  "column": picked, "column_quantity": "resistivity" if is_resistivity
                  else "resistance", "column_unit": column_unit})
        d.setdefault("rho0_ohm_m", None)
        title = f"Transport of {file.name}"
        rows = [
            ("input", f"{picked} ({'resistivity' if is_resistivity else 'resistance'}"
                      f", {ds[picked].attrs.get('raw_unit') or column_unit})"
             if picked in ds else str(picked)),
            ("Tc onset / 90 / 50 / 10 / zero (K)",
             " / ".join(f"{d[k]:.3f}" for k in ("Tc_onset_K", "Tc_90_K", "Tc_mid_K", "Tc_10_K",
                                                 "Tc_zero_K"))
             if res.has_transition else "no superconducting transition"),
            ("Tc mid (50 %), 90 % interval",
             f"{d['Tc_mid_K']:.3f} K [{d['Tc_mid_interval_90_K'][0]:.3f}, "
             f"{d['Tc_mid_interval_90_K'][1]:.3f}] (noise and sampling)"
             if d.get("Tc_mid_interval_90_K") else "n/a"),
            ("width 10–90 % (K)", _num(d["transition_width_K"], "K", ".3f")),
            ("ρ0" if units == "ohm m" else "R0",
             f"{res.rho0 * (1e8 if units == 'ohm m' else 1):.4g} "
             f"{'µΩ cm' if units == 'ohm m' else 'Ω'}"),
            ("RRR", f"{d['RRR']:.3g}"),
            ("normal state", d["normal_state"]),
        ]
        if units == "ohm" and not geometry_given:
            notes.append("No sample geometry given: resistance analysed; give --length, "
                         "--width and --thickness for ρ.")
        warnings = list(res.warnings) + comment_rows(ds)

    def figures():
        from supramap.report import bulk as fig

        if sweep:
            return [(fig.field_sweep_figure(h, r, t, res), "ρ(µ0H) and critical fields",
                     "field_sweeps.png")]
        return [(fig.transport_figure(t[ok], r[ok], res, units), "ρ(T)", "transport.png")]

    return Outcome("bulk-transport", title, d, rows, res, warnings, figures=figures,
                   section=_table_section("Transport", d, rows, figures), notes=notes)


def bulk_susceptibility(file, *, length=None, width=None, thickness=None, shape="prism",
                        columns=None) -> Outcome:
    """Volume susceptibility, demagnetisation correction, shielding and Meissner fractions of
    ZFC/FC data (``supramap bulk susceptibility``; field along the thickness; mm)."""
    from supramap.bulk import (
        analyze_susceptibility,
        demag_ellipsoid,
        demag_prism,
        identify_branches,
    )
    from supramap.bulk import volume_susceptibility as chi_of
    from supramap.io.qd import MOMENT_COLUMNS

    file = Path(file)
    need = "the sample volume and demagnetisation"
    a, b, c = (_metres(n, v, need) for n, v in (("length", length), ("width", width),
                                                ("thickness", thickness)))
    n = demag_prism(a, b, c) if shape == "prism" else demag_ellipsoid(a / 2, b / 2, c / 2)
    volume = a * b * c if shape == "prism" else 4 / 3 * np.pi * a * b * c / 8
    ds = qd_table(file, columns)
    t = qd_column(ds, file, ("Temperature",), ("K",), "temperature")
    m = qd_column(ds, file, MOMENT_COLUMNS, ("A m2",), "moment")
    h = qd_column(ds, file, ("Magnetic Field",), ("T",), "field")
    chi = chi_of(m, h, volume)
    br = identify_branches(t, h, ds.attrs.get("comments"))
    zfc, fc = br.zfc, br.fc
    res = analyze_susceptibility(
        None if zfc is None else t[zfc], None if zfc is None else chi[zfc],
        None if fc is None else t[fc], None if fc is None else chi[fc],
        demag_factor=n, notes=br.warnings)
    d = {"file": str(file), "shape": shape, "volume_m3": volume,
         "branches": {"how": br.how, "fc_measured_on": br.fc_mode,
                      "zfc_rows": 0 if zfc is None else len(zfc),
                      "fc_rows": 0 if fc is None else len(fc)},
         **res.to_dict()}
    rows = [
        ("demagnetisation factor", f"{res.demag_factor:.4f}"),
        ("shielding fraction (ZFC)", _pct(res.shielding_fraction)),
        (f"Meissner fraction (FC{', cooling' if br.fc_mode == 'cooling' else ''})",
         _pct(res.meissner_fraction)),
        ("Tc onset (2 % of the corrected drop)",
         _num(res.Tc_onset_K, "K", ".3f") + (f" ± {res.Tc_onset_err_K:.2g} K (1σ)"
                                              if np.isfinite(res.Tc_onset_err_K) else "")),
        ("branches", f"{br.how}; ZFC {0 if zfc is None else len(zfc)} rows, FC "
                     f"{0 if fc is None else len(fc)} rows"),
    ]

    def figures():
        from supramap.report import bulk as fig

        main = zfc if zfc is not None else fc
        both = fc is not None and zfc is not None
        return [(fig.susceptibility_figure(t[main], chi[main], t[fc] if both else None,
                                           chi[fc] if both else None, n),
                 "ZFC / FC susceptibility", "susceptibility.png")]

    return Outcome("bulk-susceptibility", f"Susceptibility of {file.name}", d, rows, res,
                   list(res.warnings) + comment_rows(ds), figures=figures,
                   section=_table_section("Susceptibility", d, rows, figures))


def bulk_loop(file, *, length=None, width=None, thickness=None, columns=None) -> Outcome:
    """ΔM(H) and the Bean critical current of a rectangular slab (``supramap bulk loop``;
    field along the thickness; mm)."""
    from supramap.bulk import analyze_loop
    from supramap.io.qd import MOMENT_COLUMNS

    file = Path(file)
    a = _metres("length", length, "the Bean critical current")
    b = _metres("width", width, "the Bean critical current")
    c = _metres("thickness", thickness, "the sample volume")
    ds = qd_table(file, columns)
    h = qd_column(ds, file, ("Magnetic Field",), ("T",), "field")
    m = qd_column(ds, file, MOMENT_COLUMNS, ("A m2",), "moment")
    ok = np.isfinite(h) & np.isfinite(m)
    res = analyze_loop(h[ok], m[ok], volume=a * b * c, a=a, b=b)
    d = {"file": str(file), **res.to_dict()}
    rows = [
        ("self-field Jc", f"{res.jc_self_field:.4g} ± {res.jc_self_field_err:.2g} A/m² (1σ, "
         f"noise and the cusp at H = 0; dimensions exact) = {res.jc_self_field * 1e-4:.4g} "
         "A/cm²" if np.isfinite(res.jc_self_field) else "n/a (see warnings)"),
        ("branches", str(res.n_branches)),
        ("median ΔM / noise", f"{res.hysteresis_over_noise:.3g}"),
    ]

    def figures():
        from supramap.report import bulk as fig

        return [(fig.loop_figure(h[ok], m[ok], a * b * c, res), "M(H) and Jc(µ0H)",
                 "loop.png")]

    return Outcome("bulk-loop", f"M(H) loop of {file.name}", d, rows, res,
                   list(res.warnings) + comment_rows(ds), figures=figures,
                   section=_table_section("Critical current", d, rows, figures))


def apt_profile(needle_file, range=None, *, bin=1e-9, ions_per_bin=None,  # noqa: A002
                cylinder=None) -> Outcome:
    """1-D concentration profile along the needle or a user cylinder (``supramap apt
    profile``): *bin* in m; *cylinder* 'cx,cy,cz,ux,uy,uz,radius,length' in m."""
    from supramap.apt import depth_profile
    from supramap.io.apt import read_ranges

    needle_file = Path(needle_file)
    ions, table = needle(needle_file), read_ranges(range)
    cyl = None
    if cylinder is not None:
        v = [float(t) * 1e9 for t in cylinder]  # nm
        if len(v) != 8 or not all(np.isfinite(v)) or v[6] <= 0 or v[7] <= 0 \
                or not any(v[3:6]):
            raise AnalysisError("--cylinder must be 8 numbers 'cx,cy,cz,ux,uy,uz,radius,length'"
                                " (m) with a non-zero axis and positive radius and length")
        cyl = {"centre": v[:3], "axis": v[3:6], "radius": v[6], "length": v[7]}
    prof = depth_profile(ions, table, bin_nm=float(bin) * 1e9, ions_per_bin=ions_per_bin,
                         cylinder=cyl)
    d = {"file": str(needle_file), **prof.to_dict()}
    rows = [("bins", str(prof.depth_nm.size)), ("elements", ", ".join(prof.fractions))]

    def figures():
        from supramap.report import apt as fig

        return [(fig.profile_figure(prof), "Concentration profile", "profile.png")]

    return Outcome("apt-profile", f"Profile of {needle_file.name}", d, rows, prof,
                   list(getattr(prof, "warnings", []) or []), figures=figures)


def apt_compare(a, b, range=None, *, exclude_top=None, exclude_cap=None  # noqa: A002
                ) -> Outcome:
    """Compositions and ratios (Fe/Te, Se/Te, Fe/(Se+Te)) of two needles with their
    significance (``supramap apt compare``); *exclude_top* in m."""
    from supramap.apt import compare_compositions, composition
    from supramap.io.apt import read_ranges

    a, b = Path(a), Path(b)
    table = read_ranges(range)
    comps = []
    for p in (a, b):
        ions = needle(p)
        depth, _ = excluded_nm(ions, table, exclude_top, exclude_cap)
        comps.append(composition(ions, table, min_depth_nm=depth))
    d = {"file_a": str(a), "file_b": str(b), **compare_compositions(*comps)}
    rows = [(k, f"{v['a']:.4f} ± {v['a_sigma']:.4f} vs {v['b']:.4f} ± {v['b_sigma']:.4f} "
                f"(z = {v['z']:.1f})") for k, v in d["ratios"].items()]

    def figures():
        from supramap.report import apt as fig

        return [(fig.comparison_figure(d, (a.stem, b.stem)), "Ratios", "ratios.png")]

    return Outcome("apt-compare", f"{a.name} vs {b.name}", d, rows, comps,
                   [w for c in comps for w in c.warnings], figures=figures)


def apt_spectrum(needle_file, range=None, *, bin_da=0.01) -> Outcome:  # noqa: A002
    """Mass spectrum; with ranges, the peaks no range covers (``supramap apt spectrum``)."""
    from supramap.apt import mass_spectrum
    from supramap.io.apt import read_ranges
    from supramap.quality import warn

    needle_file = Path(needle_file)
    ions = needle(needle_file)
    table = read_ranges(range) if range else None
    spec = mass_spectrum(ions, bin_width=bin_da, table=table)
    d = {"file": str(needle_file), "bin_da": bin_da, "n_ions": int(spec.counts.sum()),
         "n_ions_not_binned": spec.n_outside, "unranged_peaks_da": spec.unranged_peaks}
    warnings = []
    if spec.n_outside:
        warnings.append(warn("apt.invalid_mq",
                             f"{spec.n_outside} ions have a non-finite, negative or > 1000 Da "
                             "m/q (corrupt values) and are not in the spectrum",
                             n_ions=spec.n_outside))
    rows = [("ions", str(d["n_ions"])),
            ("unranged peaks (Da)", ", ".join(f"{p:.2f}" for p in spec.unranged_peaks)
             or "none")]

    def figures():
        from supramap.report import apt as fig

        return [(fig.spectrum_figure(spec, table), "Mass spectrum", "spectrum.png")]

    return Outcome("apt-spectrum", f"Mass spectrum of {needle_file.name}", d, rows, spec,
                   warnings, figures=figures)


# -- four-probe -------------------------------------------------------------------------------


def _contacts(points_m, image, size: int):
    """Contact pads at the given (x, y) pairs in metres (``--contacts 'x,y;x,y;...'``)."""
    from supramap.network import Contact

    pts = []
    if len(points_m) % 2:
        raise AnalysisError(f"--contacts needs x,y pairs ('x,y;x,y;...'), got "
                            f"{len(points_m)} numbers")
    dx = float(image.x[1] - image.x[0])
    dy = float(image.y[1] - image.y[0])
    for x, y in zip(points_m[::2], points_m[1::2]):
        col = int(round((x - float(image.x[0])) / dx))
        row = int(round((y - float(image.y[0])) / dy))
        if not (0 <= row < image.shape[0] and 0 <= col < image.shape[1]):
            raise AnalysisError(
                f"--contacts point ({x:.4g}, {y:.4g}) m lies outside the map "
                f"(x {float(image.x.min()):.4g}…{float(image.x.max()):.4g} m, "
                f"y {float(image.y.min()):.4g}…{float(image.y.max()):.4g} m)")
        pts.append(Contact.point(row, col, size, name=str(len(pts) + 1)))
    return pts



def network_fourprobe(map_file, *, channel=None, threshold="auto", rule="threshold",
                      normal_sheet_resistance=1e3, geometry="vdp", contacts=None,
                      contact_size=1, monte_carlo=0, vary_threshold=False,
                      interval_draws=None, progress=None) -> Outcome:
    """Simulate a four-probe / van der Pauw / two-probe measurement on a resistor network
    built from a measured current (A) or sheet-conductance (S) map (``supramap network
    fourprobe``); *progress(i, n)* follows the Monte Carlo."""
    from supramap.network import (
        fourprobe,
        from_conductance_map,
        from_current_map,
        percolation_stats,
    )
    from supramap.network import monte_carlo as run_mc
    from supramap.quality import warn

    map_file = Path(map_file)
    image = read_image_checked(map_file, channel, "A")
    unit = image.attrs.get("units")
    warnings: list[QualityWarning] = []
    mask_for = None
    values = np.asarray(image.values, dtype=float)
    finite = values[np.isfinite(values)]
    uniform = finite.size > 0 and float(finite.max()) == float(finite.min())
    cafm = None
    if unit == "S":
        net_in = from_conductance_map(image)
    elif unit == "A" and uniform:
        # A homogeneous sample, the reference case of van der Pauw: every pixel one phase —
        # superconducting when above a given threshold, otherwise the normal sheet.
        level = float(finite.max())
        net_in = from_current_map(image, rule="threshold",
                                  threshold=level if threshold == "auto" else float(threshold),
                                  normal_sheet_resistance=normal_sheet_resistance)
        warnings.append(warn(
            "network.uniform_map",
            f"the map is uniform ({level:.3g} A at every pixel): analysed as a homogeneous "
            + ("superconductor" if net_in.sc_mask.any() else
               f"normal sheet of {normal_sheet_resistance:g} Ω/sq")
            + ("" if threshold != "auto" else " (give --threshold to call it superconducting)"),
            current_A=level))
    elif unit == "A":
        from supramap.conduction import analyze

        if threshold == "auto":
            cafm = analyze(image, threshold=threshold)
            oriented, thr_a = cafm.oriented_current, cafm.threshold_A
        else:
            # A given threshold needs only the conducting sign, not the whole analysis (its
            # noise, levels, islands and edges took 4.7 s of a 2048² four-probe run).
            from supramap.conduction.analysis import orient

            oriented, polarity_warning = orient(image)
            warnings += [polarity_warning] if polarity_warning else []
            thr_a = float(threshold)
        net_in = from_current_map(image.copy(data=oriented), rule=rule, threshold=thr_a,
                                  normal_sheet_resistance=normal_sheet_resistance)
        if rule == "threshold" and threshold == "auto":
            # The analysis' own mask: each island cut at half of its level.
            net_in = type(net_in)(net_in.conductance, cafm.mask.copy(), net_in.dx, net_in.dy,
                                  net_in.rule, net_in.normal_sheet_resistance, cafm.threshold_A)

        def mask_for(factor: float, _c=oriented, _t=thr_a):
            return np.isfinite(_c) & (_c > factor * _t)
    else:
        raise AnalysisError(f"{map_file}: channel {image.name!r} is in {unit!r}; a network "
                            "needs a current (A) or sheet-conductance (S) map")
    cts = _contacts(contacts, image, contact_size) if contacts else None
    reference = net_in.normal_sheet_resistance if net_in.sc_mask.any() or unit == "A" else None
    shared = {"geometry": geometry, "contact_size": contact_size, "dx": net_in.dx,
              "dy": net_in.dy, "reference_sheet_resistance": reference}
    result = fourprobe(net_in.conductance, net_in.sc_mask, contacts=cts, **shared)
    perc = percolation_stats(net_in.sc_mask)
    d = result.to_dict()
    d.update({"file": str(map_file), "rule": net_in.rule, "threshold_A": net_in.threshold_A,
              "percolation": perc.to_dict()})
    notes: list[str] = []
    if cafm is not None and rule == "threshold":
        # The 90 % interval under the map's own uncertainty: 3 + N solves, so by default only
        # on maps up to 512² (network.measure.INTERVAL_MAX_PIXELS).
        from supramap.network.measure import (
            INTERVAL_DRAWS,
            INTERVAL_MAX_PIXELS,
            resistance_interval,
        )

        draws = interval_draws if interval_draws is not None else (
            INTERVAL_DRAWS if net_in.conductance.size <= INTERVAL_MAX_PIXELS else 0)
        if draws:
            d.update(resistance_interval(
                net_in.conductance, net_in.sc_mask, cafm.conducting_fraction_interval_90,
                cafm.oriented_current, cafm.threshold_A, cafm.noise.sigma_A, draws=draws,
                measured=(result.R_apparent_ohm, result.sheet_resistance_apparent_ohm),
                **shared, contacts=cts))
        elif interval_draws is None:
            notes.append(f"no resistance interval: it needs {INTERVAL_DRAWS + 2} more solves "
                         f"of this {net_in.conductance.shape[0]}×{net_in.conductance.shape[1]} "
                         f"network (~3× the time); give --interval-draws {INTERVAL_DRAWS} "
                         "for it")
    mc = None
    if monte_carlo:
        vary = vary_threshold and mask_for is not None and rule == "threshold"
        mc = run_mc(net_in.conductance, mask_for if vary else net_in.sc_mask, n=monte_carlo,
                    **shared, threshold_range=(0.5, 2.0) if vary else None,
                    progress=(lambda i: progress(i, monte_carlo)) if progress else None)
        d["monte_carlo"] = mc.to_dict()
    rows = [(k, f"{v:.6g} Ω") for k, v in d["resistances_ohm"].items()]
    if d.get("R_apparent_interval_90_ohm"):
        lo, hi = d["R_apparent_interval_90_ohm"]
        rows.append(("90 % interval (threshold, tip, noise)", f"{lo:.4g} … {hi:.4g} Ω"))
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
        rows.append(("Monte Carlo: reads zero", f"{m['fraction_zero']}" if m["fraction_zero"]
                     is None else f"{100 * m['fraction_zero']:.0f} %"))
    from supramap.network.measure import verdict

    def section(rep):
        from supramap.report.network import network_section

        network_section(rep, result, image, mc=mc, percolation=perc, interval=d)

    def figures():
        from supramap.report.network import current_figure, potential_figure

        return [(potential_figure(result, image), "Potential map", "potential.png"),
                (current_figure(result, image), "Current density", "current.png")]

    return Outcome("network-fourprobe", f"Four-probe simulation of {map_file}", d, rows, result,
                   warnings + list(getattr(result, "warnings", []) or []), section=section,
                   figures=figures, epilogue=[verdict(result)], data={"map": image},
                   notes=notes)
