"""Fitting tunnelling spectra: single spectra, global fits, tip calibration (bounded
Levenberg–Marquardt, :mod:`supramap.sts.lsq`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.quality import QualityWarning, as_warnings, warn, warnings_to_list
from supramap.sts.lineshapes import K_B
from supramap.sts.lsq import Parameters, minimize
from supramap.sts.models import TipModel, check_bias, nis_model, sis_model
from supramap.sts.peaks import coherence_peaks, local_noise, spectrum_noise

MODELS = ("dynes", "sis")


@displayable
@dataclass
class FitResult:
    """Fitted parameters (value, standard error) in SI (eV, K), reduced χ², success, best fit,
    residuals and the quality warnings.

    ``success`` is False when the fit failed by any criterion below (``warnings`` says which);
    ``converged`` is the optimiser's own flag.
    """

    model: str
    params: dict[str, tuple[float, float | None]]
    redchi: float
    success: bool
    bias: np.ndarray = field(repr=False)
    data: np.ndarray = field(repr=False)
    best_fit: np.ndarray = field(repr=False)
    message: str = ""
    converged: bool = True
    noise: float = float("nan")
    residual_over_noise: float = float("nan")
    vary: dict[str, bool] = field(default_factory=dict)
    warnings: tuple[QualityWarning, ...] = ()

    @property
    def residual(self) -> np.ndarray:
        """data − best fit."""
        return self.data - self.best_fit

    def value(self, name: str) -> float:
        """Best value of a parameter."""
        return self.params[name][0]

    def to_dict(self) -> dict[str, Any]:
        """Keys of ``supramap sts fit --json``."""
        return {"model": self.model,
                "params": {k: {"value": v, "stderr": e,
                               "fixed": not self.vary.get(k, e is not None)}
                           for k, (v, e) in self.params.items()},
                "redchi": self.redchi, "success": self.success, "converged": self.converged,
                "noise": self.noise, "rms_residual_over_noise": self.residual_over_noise,
                "message": self.message, "warnings": warnings_to_list(self.warnings)}


def guess_gaps(bias: np.ndarray, g: np.ndarray, n_gaps: int, *, kind: str = "dynes",
               tip_delta: float = 0.0) -> list[float]:
    """Starting gaps from the coherence peaks (|V| of the strongest pairs; minus the tip gap
    for SIS)."""
    peaks = coherence_peaks(bias, g)
    pos = sorted({round(abs(p), 9) for p in peaks.positions_eV})
    if not pos:
        span = float(np.abs(bias).max())
        pos = [span / 4]
    pos = pos[-n_gaps:] if len(pos) >= n_gaps else pos + [pos[-1] * (1.1 + 0.1 * k)
                                                          for k in range(n_gaps - len(pos))]
    gaps = [max(p - tip_delta, 1e-5) for p in sorted(pos)]
    return gaps


#: Parameters fitted in meV (values × 1e3) so that the finite differences and covariance
#: see numbers of order one; reported back in eV.
ENERGY = ("delta", "gamma", "tip_delta", "tip_gamma")


def _factor(name: str) -> float:
    return 1e3 if name.rstrip("0123456789") in ENERGY else 1.0


def stick_breaking(weights: Sequence[float]) -> list[float]:
    """Fractions f1…f(n−1) in [0, 1] with w1 = f1, w2 = (1 − f1) f2, …,
    wn = (1 − f1)…(1 − f(n−1)): weights that sum to 1 by construction."""
    w = np.asarray(weights, dtype=float)
    w = w / w.sum()
    fr, left = [], 1.0
    for wi in w[:-1]:
        fr.append(float(np.clip(wi / left, 0, 1)) if left > 0 else 0.0)
        left -= wi
    return fr


def _params(bias, g, model, n_gaps, temperature, vary_temperature, fixed, guesses):
    """Fit parameters in fitting units: energies in meV, the conductance scale relative to
    the data's outer median (the data are divided by it too)."""
    p = Parameters()
    p.add("scale", value=1.0, min=0)
    p.add("temperature", value=temperature, min=0.01, max=100, vary=vary_temperature)
    tip_delta = guesses.get("tip_delta", 0.0)
    gaps = guesses.get("gaps") or guess_gaps(bias, g, n_gaps, kind=model, tip_delta=tip_delta)
    vmax = float(np.abs(bias).max()) * 1e3
    for i, d in enumerate(gaps, start=1):
        p.add(f"delta{i}", value=d * 1e3, min=0, max=vmax)
        p.add(f"gamma{i}", value=guesses.get("gamma", 0.03 * d) * 1e3, min=0, max=vmax)
    # Gap weights by stick-breaking: they sum to 1 by construction, never clipped.
    given = [fixed.get(f"weight{i}") for i in range(1, n_gaps + 1)]
    start_w = [w if w is not None else 1.0 / n_gaps for w in given]
    fr = stick_breaking(start_w)
    for i in range(1, n_gaps):
        p.add(f"frac{i}", value=fr[i - 1], min=0, max=1,
              vary=not all(w is not None for w in given))
    for i in range(1, n_gaps + 1):
        terms = [(f"frac{j}", True) for j in range(1, i)] + ([(f"frac{i}", False)]
                                                             if i < n_gaps else [])
        p.add(f"weight{i}", expr=tuple(terms))
    if model == "sis":
        p.add("tip_delta", value=(tip_delta or 1e-3) * 1e3, min=0, max=vmax)
        p.add("tip_gamma", value=guesses.get("tip_gamma", 1e-5) * 1e3, min=0, max=vmax)
    for name, value in fixed.items():
        if name.startswith("weight"):
            continue
        if name not in p:
            raise AnalysisError(f"unknown parameter {name!r}; parameters are {list(p)}")
        p.fix(name, value * _factor(name))
    return p


def _physical(values: dict[str, float], s0: float) -> dict[str, float]:
    out = {k: v / _factor(k) for k, v in values.items()}
    out["scale"] = values["scale"] * s0
    return out


def _fit_checks(out, y_n: np.ndarray, resid_n: np.ndarray, sigma_n: float | None
                ) -> tuple[list[QualityWarning], float, float]:
    """Why a fit cannot be trusted: no covariance, a parameter at a bound, residuals far above
    the noise, structured residuals."""
    ws: list[QualityWarning] = []
    varied = [k for k, v in out.params.items() if v.vary]
    if not out.success:
        ws.append(warn("fit.not_converged", f"the optimiser did not converge ({out.message})"))
    if any(out.params[k].stderr is None for k in varied):
        ws.append(warn("fit.no_covariance",
                       "the covariance matrix could not be estimated: no uncertainties, the "
                       "parameters are not determined by the data (too many gaps, a parameter "
                       "without effect, or a bad start)"))
    for k in varied:
        v = out.params[k]
        span = (v.max - v.min) if np.isfinite(v.max) and np.isfinite(v.min) else abs(v.value)
        tol = 1e-6 * max(span, abs(v.value), 1e-12)
        if (np.isfinite(v.min) and v.value - v.min <= tol and v.min != 0.0) or \
                (np.isfinite(v.max) and v.max - v.value <= tol):
            ws.append(warn("fit.at_bound", f"parameter {k} ended at its bound ({v.value:.4g})",
                           parameter=k, value=v.value))
    for k in varied:
        v = out.params[k]
        if v.stderr is not None and v.value != 0 and abs(v.stderr) > 0.5 * abs(v.value) \
                and k.rstrip("0123456789") in ("delta", "tip_delta", "temperature", "scale"):
            ws.append(warn("fit.undetermined",
                           f"{k} is not determined by the data (uncertainty "
                           f"{100 * abs(v.stderr / v.value):.0f} % of its value)",
                           parameter=k, relative_error=abs(v.stderr / v.value)))
    for k in varied:
        if k.startswith("delta"):
            gk = "gamma" + k[5:]
            if gk in out.params and out.params[gk].value > out.params[k].value > 0:
                ws.append(warn("fit.no_gap",
                               f"the broadening {gk} exceeds the gap {k}: no resolved gap in "
                               "this spectrum", **{k: out.params[k].value / 1e3,
                                                   gk: out.params[gk].value / 1e3}))
    for k in varied:
        # The largest superconducting gaps known are a few tens of meV (cuprates ~40 meV,
        # Fe-based ≤ 20 meV); a fitted "gap" above 50 meV is a band edge, a semiconductor's gap
        # or a tunnelling barrier's curvature, not a superconducting gap.
        if k.rstrip("0123456789") in ("delta", "tip_delta") and out.params[k].value > 50.0:
            ws.append(warn("fit.gap_implausible",
                           f"{k} = {out.params[k].value:.4g} meV is larger than any "
                           "superconducting gap (≲ 50 meV): the spectrum's feature is not a "
                           "superconducting gap, so the fit is not reported as one",
                           parameter=k, value_eV=out.params[k].value / 1e3))
    noise = sigma_n if sigma_n else spectrum_noise(y_n)
    noise = max(noise, 1e-6 * float(np.median(np.abs(y_n)) or 1.0))
    rms = float(np.sqrt(np.mean(resid_n**2)))
    if sigma_n:
        ratio = rms / noise
    else:
        # Against the noise where each residual is (it grows with the signal on lock-in
        # data); the same as rms / noise when the noise is the same everywhere.
        # The local noise from the residuals' second differences: the model has taken the
        # signal's own curvature out (sharp SIS peaks inflate those of the data), a smooth
        # misfit has little, and what is left is the noise where it is.
        floor = 1e-6 * float(np.median(np.abs(y_n)) or 1.0)
        local = np.maximum(local_noise(resid_n), floor)
        ratio = float(np.sqrt(np.mean((resid_n / local) ** 2)))
    if ratio > 5:
        ws.append(warn("fit.poor",
                       f"the residuals are {ratio:.3g}× the noise of the data: the model does "
                       "not describe this spectrum", rms_residual_over_noise=ratio))
    r = resid_n - resid_n.mean()
    if r.size > 10 and np.dot(r, r) > 0:
        ac = float(np.dot(r[:-1], r[1:]) / np.dot(r, r))
        if ac > 0.7 and ratio > 2:
            ws.append(warn("fit.structured_residuals",
                           f"the residuals are structured (lag-1 autocorrelation {ac:.2f}): "
                           "features the model lacks", autocorrelation=ac))
    return ws, noise, ratio


def fit_spectrum(bias: np.ndarray, g: np.ndarray, *, model: str = "dynes", n_gaps: int = 1,
                 temperature: float = 1.0, vary_temperature: bool = False,
                 lockin_rms: float = 0.0, fixed: dict[str, float] | None = None,
                 guesses: dict[str, Any] | None = None, sigma: float | None = None,
                 max_nfev: int = 1500) -> FitResult:
    """Fit an NIS (``dynes``: n-gap Dynes sample, normal tip) or SIS (``sis``: single-gap
    Dynes tip on an n-gap Dynes sample) conductance spectrum.

    Starting gaps come from the coherence peaks; ``fixed`` pins parameters (SI units);
    uncertainties from the covariance (scaled by √χ²ᵣ unless *sigma* is given).  The data are
    divided by their outer median and energies fitted in meV, so that a Nanonis conductance of
    1e-11 A has a covariance too.  Gap weights come from stick-breaking fractions (sum 1
    exactly).  A failed fit (no covariance, a parameter at a bound, residuals > 5× the noise,
    structured residuals) has ``success = False`` and says why in ``warnings``.
    """
    if model not in MODELS:
        raise AnalysisError(f"unknown model {model!r}; choose from {MODELS}")
    if not 1 <= n_gaps <= 4:
        raise AnalysisError("n_gaps must be between 1 and 4")
    b, y = check_bias(bias, g)
    outer = np.abs(b) > 0.8 * np.abs(b).max()
    s0 = float(np.median(y[outer])) if outer.any() else float(np.median(y))
    if not (np.isfinite(s0) and s0 > 0):
        s0 = float(np.max(np.abs(y))) or 1.0
    y_n = y / s0
    sig_n = None if sigma is None else sigma / s0
    p = _params(b, y_n, model, n_gaps, temperature, vary_temperature, fixed or {},
                guesses or {})
    fn = nis_model if model == "dynes" else sis_model
    extra = _fixed_grid(model, b, _physical(p.valuesdict(), 1.0), n_gaps)

    def model_n(values):
        return fn(b, _physical(values, 1.0), n_gaps, lockin_rms=lockin_rms, **extra)

    def residual(values):
        return (model_n(values) - y_n) / (sig_n or 1.0)

    # A bounded number of model evaluations: a spectrum the model cannot describe must end in
    # a reported failure, not in minutes of search.
    out = minimize(residual, p, scale_covar=sigma is None, max_nfev=max_nfev)
    best_n = model_n(out.params.valuesdict())
    ws, noise_n, ratio = _fit_checks(out, y_n, y_n - best_n, sig_n)
    params: dict[str, tuple[float, float | None]] = {}
    vary: dict[str, bool] = {}
    for k, v in out.params.items():
        f = _factor(k) if k != "scale" else 1.0 / s0
        err = None if v.stderr is None else float(v.stderr) / f
        params[k] = (float(v.value) / f, err)
        vary[k] = bool(v.vary or v.expr)
    ok = not any(w.code in ("fit.not_converged", "fit.no_covariance", "fit.at_bound",
                            "fit.poor", "fit.gap_implausible") for w in ws)
    return FitResult(model, params, float(out.redchi), ok, b, y, best_n * s0,
                     str(out.message), bool(out.success), noise_n * s0, ratio, vary,
                     as_warnings(ws))


def _fixed_grid(model: str, bias: np.ndarray, start: dict[str, float], n_gaps: int,
                ) -> dict[str, float]:
    """Keyword arguments that keep the SIS model on one energy grid for a whole fit.

    :func:`sis_model` sizes its grid from the current widths, which made the cost jump as Γ
    moved and the finite-difference Jacobian meaningless (a fit started at the truth wandered
    off to 4 K).  The grid: a quarter of the narrowest start width, never coarser than 2 µeV,
    at most 32 k points."""
    if model != "sis":
        return {}
    widths = [start["tip_gamma"]] + [start[f"gamma{i}"] for i in range(1, n_gaps + 1)]
    narrowest = min([w for w in widths if w > 0] or [1e-6])
    gaps = [start["tip_delta"]] + [start[f"delta{i}"] for i in range(1, n_gaps + 1)]
    span = 2 * (float(np.max(np.abs(bias))) + 4 * max(gaps) + 2e-3)
    return {"step": float(np.clip(narrowest / 4, max(span / 32_768, 1e-7), 2e-6))}


def fit_global(biases: Sequence[np.ndarray], gs: Sequence[np.ndarray], *, shared: Sequence[str],
               model: str = "dynes", n_gaps: int = 1, temperature: float = 1.0,
               lockin_rms: float = 0.0) -> list[FitResult]:
    """Fit several spectra at once; parameters in *shared* (e.g. ``["delta1"]``) take one value
    for all, the others are per spectrum (suffix ``_k``)."""
    if len(biases) != len(gs) or not biases:
        raise AnalysisError("give one bias array per spectrum")
    data = [check_bias(b, g) for b, g in zip(biases, gs)]
    scales = []
    for b, y in data:
        outer = np.abs(b) > 0.8 * np.abs(b).max()
        s0 = float(np.median(y[outer])) if outer.any() else float(np.median(y))
        scales.append(s0 if np.isfinite(s0) and s0 > 0 else 1.0)
    data_n = [(b, y / s0) for (b, y), s0 in zip(data, scales)]
    p = Parameters()
    singles = [_params(b, y, model, n_gaps, temperature, False, {}, {}) for b, y in data_n]
    for k, sp in enumerate(singles):
        for name, par in sp.items():
            expr = None if par.expr is None else tuple((f"{t}_{k}", c) for t, c in par.expr)
            p.add(f"{name}_{k}", value=par.value, min=par.min, max=par.max, vary=par.vary,
                  expr=expr)
    for name in shared:
        if f"{name}_0" not in p:
            raise AnalysisError(f"unknown shared parameter {name!r}")
        for k in range(1, len(data)):
            q = p[f"{name}_{k}"]
            q.expr, q.vary = ((f"{name}_0", False),), False
    fn = nis_model if model == "dynes" else sis_model

    def split(values, k):
        return {n[: -len(f"_{k}")]: v for n, v in values.items() if n.endswith(f"_{k}")}

    grids = [_fixed_grid(model, b, _physical(split(p.valuesdict(), k), 1.0), n_gaps)
             for k, (b, _) in enumerate(data_n)]

    def residual(vals):
        return np.concatenate([fn(b, _physical(split(vals, k), 1.0), n_gaps,
                                  lockin_rms=lockin_rms, **grids[k]) - y
                               for k, (b, y) in enumerate(data_n)])

    out = minimize(residual, p)
    results = []
    for k, ((b, y), s0) in enumerate(zip(data, scales)):
        vals = split(out.params.valuesdict(), k)
        params = {}
        for n in vals:
            f = _factor(n) if n != "scale" else 1.0 / s0
            err = out.params[f"{n}_{k}"].stderr
            params[n] = (float(vals[n]) / f, None if err is None else float(err) / f)
        best = fn(b, _physical(vals, s0), n_gaps, lockin_rms=lockin_rms, **grids[k])
        results.append(FitResult(model, params, float(out.redchi), bool(out.success), b, y,
                                 best, str(out.message), bool(out.success)))
    return results


#: Dynes broadening of the reference's gaps (eV) when none is given: Pb(111) at < 1 K.
SAMPLE_GAMMA = 1e-5


def reference_fixed(sample_gaps: Sequence[float], sample_gamma: float = SAMPLE_GAMMA,
                    sample_weights: Sequence[float] | None = None) -> dict[str, float]:
    """The reference's parameters an SIS fit holds fixed: its gaps, their Dynes Γ and their
    weights (as given, else equal), normalised to sum 1."""
    n = len(sample_gaps)
    weights = [1.0 / n] * n if sample_weights is None else [float(w) for w in sample_weights]
    total = float(np.sum(weights))
    if not (total > 0 and all(w >= 0 for w in weights)):
        raise AnalysisError("sample weights must be ≥ 0 with a positive sum")
    fixed = {f"delta{i}": float(d) for i, d in enumerate(sample_gaps, start=1)}
    fixed |= {f"gamma{i}": sample_gamma for i in range(1, n + 1)}
    if n > 1:
        fixed |= {f"weight{i}": w / total for i, w in enumerate(weights, start=1)}
    return fixed


#: A reference sweep is fitted over this many times its largest gap (beyond is the flat
#: normal state).
REFERENCE_REACH = 10


def reference_window(bias: np.ndarray, g: np.ndarray, gap: float, lockin_rms: float = 0.0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The part of a reference spectrum a tip calibration fits: refused when it cannot show a
    gap of *gap* (:func:`supramap.sts.kind.check_resolves_gap`), cut to |V| ≤ REFERENCE_REACH
    gaps (a ±300 mV survey sweep fitted whole took minutes on the model's µeV grid)."""
    from supramap.sts.kind import check_resolves_gap

    b, y = np.asarray(bias, dtype=float), np.asarray(g, dtype=float)
    check_resolves_gap(b, gap, what="the reference's largest gap", lockin_rms=lockin_rms)
    keep = np.abs(b) <= REFERENCE_REACH * gap
    return (b, y) if keep.all() else (b[keep], y[keep])


def calibrate_tip(bias: np.ndarray, g: np.ndarray, *, sample_gaps: Sequence[float] = (1.26e-3,
                                                                                        1.41e-3),
                  sample_gamma: float = SAMPLE_GAMMA,
                  sample_weights: Sequence[float] | None = None,
                  vary_sample: bool = False, temperature: float = 1.0,
                  lockin_rms: float = 0.0, reference: str = "Pb(111)",
                  reference_uncertainty: float = 0.01) -> tuple[TipModel, FitResult]:
    """Fit an SIS spectrum on a reference of known DOS (default Pb(111), two gaps 1.26 and
    1.41 meV) for the tip gap, its Dynes broadening and the effective temperature.

    Uncertainties are made realistic in two ways.  The fit's standard errors assume
    independent residuals; real residuals are correlated (lock-in time constant, model
    mismatch), so they are inflated by √((1 + ρ)/(1 − ρ)) with ρ the lag-1 autocorrelation of
    the residuals.  And the tip gap inherits the reference's own uncertainty: an SIS peak sits
    at Δ_tip + Δ_sample, so an error of the fixed sample gaps (*reference_uncertainty*,
    relative; 1 % for Pb) moves Δ_tip one for one; it is added in quadrature.
    """
    n = len(sample_gaps)
    if sample_weights is not None and len(sample_weights) != n:
        raise AnalysisError(f"{len(sample_weights)} sample weights for {n} sample gaps")
    # The reference's gap weights: as given, else fitted (a Pb(111) spectrum's two gaps need
    # not weigh equally; forcing them equal made a correct reference fail).  Fitted ones are
    # freed only from the best equal-weight solution: free from the start, the two close gaps
    # trade weight against the tip gap and the temperature and the fit wanders off.
    fit_weights = sample_weights is None and n > 1
    fixed = reference_fixed(sample_gaps, sample_gamma, sample_weights)
    if vary_sample:
        fixed = {k: v for k, v in fixed.items() if k.startswith("weight")}
    bias, g = reference_window(bias, g, max(sample_gaps), lockin_rms)
    bs, ys = check_bias(bias, g)
    peaks = coherence_peaks(bs, ys)
    # Without resolved peak pairs (very sharp SIS peaks at low temperature), the SIS peaks of a
    # reference are the spectrum's maxima on either side of zero bias.
    sides = [np.abs(bs[m][np.argmax(ys[m])]) for m in (bs < 0, bs > 0) if m.sum() > 2]
    fallback = float(np.mean(sides)) if sides else 2 * max(sample_gaps) + 1e-3
    outer = max((abs(p) for p in peaks.positions_eV), default=fallback)
    tip_guess = max(outer - max(sample_gaps), 1e-4)
    kw = dict(model="sis", n_gaps=n, lockin_rms=lockin_rms, fixed=fixed,
              guesses={"tip_delta": tip_guess, "gaps": list(sample_gaps),
                       "gamma": sample_gamma})

    def cost(r: FitResult) -> float:
        c = float(np.sum(np.square(r.residual)))
        return c if np.isfinite(c) else np.inf

    # Three starting temperatures around the given one (the cost can have a side minimum of a
    # wrong tip gap compensated by a high temperature); the lowest cost wins.
    res = min((fit_spectrum(bias, g, temperature=t0, vary_temperature=True, **kw)
               for t0 in (temperature / 2, temperature, 2 * temperature)), key=cost)
    if fit_weights:
        free = {k: v for k, v in fixed.items() if not k.startswith("weight")}
        freed = fit_spectrum(bias, g, temperature=res.params["temperature"][0],
                             vary_temperature=True,
                             **{**kw, "fixed": free,
                                "guesses": {**kw["guesses"],
                                            "tip_delta": res.params["tip_delta"][0],
                                            "tip_gamma": res.params["tip_gamma"][0]}})
        if cost(freed) < cost(res):
            res = freed
        kw["fixed"] = {**free, **{f"weight{i}": res.params[f"weight{i}"][0]
                                  for i in range(1, n + 1)}}
    t_determined = not any(w.values.get("parameter") == "temperature" and w.code in
                           ("fit.at_bound", "fit.undetermined") for w in res.warnings)
    if not t_determined or any(w.code == "fit.no_covariance" for w in res.warnings):
        # The effective temperature is a nuisance parameter: when the data cannot determine it
        # (sharp SIS peaks at 0.3 K), the tip gap still can.  Fit again with T fixed at the
        # given value, and say so: the tip model records T as not determined.
        again = fit_spectrum(bias, g, temperature=temperature, vary_temperature=False,
                             **{**kw, "guesses": {**kw["guesses"],
                                                  "tip_delta": res.params["tip_delta"][0]}})
        if again.success:
            t_determined = False
            note = warn("tip.temperature_undetermined",
                        f"the effective temperature is not determined by this spectrum (free, "
                        f"it ran to {res.params['temperature'][0]:.3g} K); the tip was fitted "
                        f"with T fixed at {temperature:g} K, which the tip model records as "
                        "not determined", fitted_temperature_K=res.params["temperature"][0],
                        fixed_temperature_K=temperature)
            res = replace(again, warnings=as_warnings([*again.warnings, note]))
    pr = res.params
    implausible = _implausible_tip(pr, sample_gaps)
    if implausible:
        res = replace(res, success=False, warnings=as_warnings([*res.warnings, implausible]))
    r = res.residual - np.mean(res.residual)
    rho = float(np.dot(r[:-1], r[1:]) / np.dot(r, r)) if np.dot(r, r) > 0 else 0.0
    rho = float(np.clip(rho, 0.0, 0.98))
    inflate = float(np.sqrt((1 + rho) / (1 - rho)))

    def err(name: str) -> float:
        e = pr[name][1]
        return float("nan") if e is None else float(e) * inflate

    systematic = 0.0 if vary_sample else reference_uncertainty * float(np.mean(sample_gaps))
    tip = TipModel(delta_eV=pr["tip_delta"][0], gamma_eV=pr["tip_gamma"][0],
                   temperature_K=pr["temperature"][0],
                   delta_err_eV=float(np.hypot(err("tip_delta"), systematic)),
                   gamma_err_eV=err("tip_gamma"),
                   temperature_err_K=err("temperature"),
                   reference=reference, redchi=res.redchi,
                   extra={"sample_gaps_eV": [pr[f"delta{i}"][0] for i in range(1, n + 1)],
                          "lockin_rms_V": lockin_rms,
                          "delta_err_statistical_eV": err("tip_delta"),
                          "delta_err_reference_eV": systematic,
                          "residual_autocorrelation": rho,
                          "error_inflation": inflate,
                          "sample_weights": [pr[f"weight{i}"][0] for i in range(1, n + 1)],
                          "temperature_determined": t_determined})
    return tip, res


#: The BCS ratio Δ(0) = 1.764 k_B Tc.
_BCS = 1.764


def _implausible_tip(pr: dict[str, tuple[float, float | None]], sample_gaps
                     ) -> QualityWarning | None:
    """Why a converged calibration is still no tip model: a tip gap the data do not determine
    (error over half its value), or an effective temperature above the BCS critical
    temperature of the largest gap in the junction (no gap survives there).  A ±300 mV survey
    spectrum fitted as a Pb reference converged to Δ_tip = 4.5 ± 1100 µeV at T = 100 K and
    was written as a tip model."""
    delta, err = pr["tip_delta"]
    if err is None or not np.isfinite(err) or err > 0.5 * abs(delta):
        return warn("tip.implausible",
                    f"the tip gap is not determined by this spectrum ({delta * 1e3:.3g} ± "
                    f"{(err or float('nan')) * 1e3:.2g} meV): not a superconducting-tip "
                    "reference spectrum (or the wrong reference gaps)", tip_delta_eV=delta)
    t = pr["temperature"][0]
    tc = max([delta, *sample_gaps]) / (_BCS * K_B)
    if t >= tc:
        return warn("tip.implausible",
                    f"the fit's effective temperature ({t:.3g} K) is above the BCS critical "
                    f"temperature of the junction's largest gap ({tc:.3g} K): no gap survives "
                    "there, so this is not a superconducting-tip reference spectrum",
                    temperature_K=t, critical_temperature_K=tc)
    return None
