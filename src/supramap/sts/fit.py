"""Fitting tunnelling spectra with lmfit: single spectra, global fits, tip calibration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import lmfit
import numpy as np

from supramap.errors import AnalysisError
from supramap.sts.models import TipModel, check_bias, nis_model, sis_model
from supramap.sts.peaks import coherence_peaks

MODELS = ("dynes", "sis")


@dataclass
class FitResult:
    """Fitted parameters (value, standard error), reduced χ², success, best fit, residuals."""

    model: str
    params: dict[str, tuple[float, float | None]]
    redchi: float
    success: bool
    bias: np.ndarray = field(repr=False)
    data: np.ndarray = field(repr=False)
    best_fit: np.ndarray = field(repr=False)
    message: str = ""

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
                "params": {k: {"value": v, "stderr": e} for k, (v, e) in self.params.items()},
                "redchi": self.redchi, "success": self.success, "message": self.message}


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


def _params(bias, g, model, n_gaps, temperature, vary_temperature, fixed, guesses):
    p = lmfit.Parameters()
    outer = np.abs(bias) > 0.8 * np.abs(bias).max()
    scale = float(np.median(g[outer])) if outer.any() else float(np.median(g))
    p.add("scale", value=scale if scale > 0 else 1.0, min=0)
    p.add("temperature", value=temperature, min=0.01, max=100, vary=vary_temperature)
    tip_delta = guesses.get("tip_delta", 0.0)
    gaps = guesses.get("gaps") or guess_gaps(bias, g, n_gaps, kind=model, tip_delta=tip_delta)
    vmax = float(np.abs(bias).max())
    for i, d in enumerate(gaps, start=1):
        p.add(f"delta{i}", value=d, min=0, max=vmax)
        p.add(f"gamma{i}", value=guesses.get("gamma", 0.03 * d), min=0, max=vmax)
        p.add(f"weight{i}", value=1.0 / n_gaps, min=0, max=1, vary=n_gaps > 1)
    if n_gaps > 1:
        # Weights sum to 1: the last one is what the others leave.
        p[f"weight{n_gaps}"].set(expr="1 - " + " - ".join(f"weight{i}" for i in
                                                          range(1, n_gaps)))
    if model == "sis":
        p.add("tip_delta", value=tip_delta or 1e-3, min=0, max=vmax)
        p.add("tip_gamma", value=guesses.get("tip_gamma", 1e-5), min=0, max=vmax)
    for name, value in fixed.items():
        if name not in p:
            raise AnalysisError(f"unknown parameter {name!r}; parameters are {list(p)}")
        p[name].set(value=value, vary=False, expr="")
    return p


def fit_spectrum(bias: np.ndarray, g: np.ndarray, *, model: str = "dynes", n_gaps: int = 1,
                 temperature: float = 1.0, vary_temperature: bool = False,
                 lockin_rms: float = 0.0, fixed: dict[str, float] | None = None,
                 guesses: dict[str, Any] | None = None, sigma: float | None = None,
                 ) -> FitResult:
    """Fit an NIS (``dynes``: n-gap Dynes sample, normal tip) or SIS (``sis``: single-gap
    Dynes tip on an n-gap Dynes sample) conductance spectrum.

    Starting gaps come from the coherence peaks; ``fixed`` pins parameters; uncertainties are
    lmfit's (scaled by √χ²ᵣ unless *sigma* is given).
    """
    if model not in MODELS:
        raise AnalysisError(f"unknown model {model!r}; choose from {MODELS}")
    if not 1 <= n_gaps <= 4:
        raise AnalysisError("n_gaps must be between 1 and 4")
    b, y = check_bias(bias, g)
    p = _params(b, y, model, n_gaps, temperature, vary_temperature, fixed or {}, guesses or {})
    fn = nis_model if model == "dynes" else sis_model

    def residual(params):
        return (fn(b, params.valuesdict(), n_gaps, lockin_rms=lockin_rms) - y) / (sigma or 1.0)

    out = lmfit.minimize(residual, p, method="leastsq", scale_covar=sigma is None)
    best = fn(b, out.params.valuesdict(), n_gaps, lockin_rms=lockin_rms)
    params = {k: (float(v.value), None if v.stderr is None else float(v.stderr))
              for k, v in out.params.items()}
    return FitResult(model, params, float(out.redchi), bool(out.success), b, y, best,
                     str(out.message))


def fit_global(biases: Sequence[np.ndarray], gs: Sequence[np.ndarray], *, shared: Sequence[str],
               model: str = "dynes", n_gaps: int = 1, temperature: float = 1.0,
               lockin_rms: float = 0.0) -> list[FitResult]:
    """Fit several spectra at once; parameters in *shared* (e.g. ``["delta1"]``) take one value
    for all, the others are per spectrum (suffix ``_k``)."""
    if len(biases) != len(gs) or not biases:
        raise AnalysisError("give one bias array per spectrum")
    data = [check_bias(b, g) for b, g in zip(biases, gs)]
    p = lmfit.Parameters()
    singles = [_params(b, y, model, n_gaps, temperature, False, {}, {}) for b, y in data]
    for k, sp in enumerate(singles):
        for name, par in sp.items():
            new = f"{name}_{k}"
            expr = par.expr.replace("weight", "weight").replace(" ", "") if par.expr else None
            if expr:
                for i in range(1, n_gaps):
                    expr = expr.replace(f"weight{i}", f"weight{i}_{k}")
            p.add(new, value=par.value, min=par.min, max=par.max, vary=par.vary, expr=expr)
    for name in shared:
        if f"{name}_0" not in p:
            raise AnalysisError(f"unknown shared parameter {name!r}")
        for k in range(1, len(data)):
            p[f"{name}_{k}"].set(expr=f"{name}_0")
    fn = nis_model if model == "dynes" else sis_model

    def split(values, k):
        return {n[: -len(f"_{k}")]: v for n, v in values.items() if n.endswith(f"_{k}")}

    def residual(params):
        vals = params.valuesdict()
        return np.concatenate([fn(b, split(vals, k), n_gaps, lockin_rms=lockin_rms) - y
                               for k, (b, y) in enumerate(data)])

    out = lmfit.minimize(residual, p, method="leastsq")
    results = []
    for k, (b, y) in enumerate(data):
        vals = split(out.params.valuesdict(), k)
        params = {n: (float(vals[n]), None if out.params[f"{n}_{k}"].stderr is None
                      else float(out.params[f"{n}_{k}"].stderr)) for n in vals}
        results.append(FitResult(model, params, float(out.redchi), bool(out.success), b, y,
                                 fn(b, vals, n_gaps, lockin_rms=lockin_rms), str(out.message)))
    return results


def calibrate_tip(bias: np.ndarray, g: np.ndarray, *, sample_gaps: Sequence[float] = (1.26e-3,
                                                                                        1.41e-3),
                  sample_gamma: float = 1e-5, sample_weights: Sequence[float] | None = None,
                  vary_sample: bool = False, temperature: float = 1.0,
                  lockin_rms: float = 0.0, reference: str = "Pb(111)") -> tuple[TipModel,
                                                                                FitResult]:
    """Fit an SIS spectrum on a reference of known DOS (default Pb(111), two gaps 1.26 and
    1.41 meV) for the tip gap, its Dynes broadening and the effective temperature."""
    n = len(sample_gaps)
    w = list(sample_weights) if sample_weights is not None else [1.0 / n] * n
    fixed: dict[str, float] = {}
    if not vary_sample:
        for i, (d, wi) in enumerate(zip(sample_gaps, w), start=1):
            fixed[f"delta{i}"] = d
            fixed[f"gamma{i}"] = sample_gamma
            if n > 1:
                fixed[f"weight{i}"] = wi
    peaks = coherence_peaks(*check_bias(bias, g))
    outer = max((abs(p) for p in peaks.positions_eV), default=2 * max(sample_gaps) + 1e-3)
    tip_guess = max(outer - max(sample_gaps), 1e-4)
    res = fit_spectrum(bias, g, model="sis", n_gaps=n, temperature=temperature,
                       vary_temperature=True, lockin_rms=lockin_rms, fixed=fixed,
                       guesses={"tip_delta": tip_guess, "gaps": list(sample_gaps),
                                "gamma": sample_gamma})
    pr = res.params
    tip = TipModel(delta_eV=pr["tip_delta"][0], gamma_eV=pr["tip_gamma"][0],
                   temperature_K=pr["temperature"][0],
                   delta_err_eV=pr["tip_delta"][1] if pr["tip_delta"][1] is not None
                   else float("nan"),
                   gamma_err_eV=pr["tip_gamma"][1] if pr["tip_gamma"][1] is not None
                   else float("nan"),
                   temperature_err_K=pr["temperature"][1] if pr["temperature"][1] is not None
                   else float("nan"),
                   reference=reference, redchi=res.redchi,
                   extra={"sample_gaps_eV": [pr[f"delta{i}"][0] for i in range(1, n + 1)],
                          "lockin_rms_V": lockin_rms})
    return tip, res
