"""Bounded non-linear least squares for the spectrum fits: MINPACK's Levenberg–Marquardt
(:func:`scipy.optimize.leastsq`) with MINUIT-style bound transforms and the covariance mapped
back through them — the recipe of lmfit's ``leastsq`` method, same solver options, same
transforms, same error propagation to constrained parameters.

Why our own and not lmfit: fitting one spectrum takes milliseconds, but ``import lmfit``
loads scipy.stats, asteval, uncertainties and pandas' JSON helpers — with scipy.signal, half
a second of the 1.1 s that ``supramap sts fit`` took on a 101-point spectrum (#27: an
analysis command's fixed cost < 1 s).  What the fits use of lmfit is small: parameters with
bounds, fixed ones, products of stick-breaking fractions, shared values.
``tests/test_lsq.py`` runs the same fits through lmfit and asserts the same numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import leastsq

from supramap.errors import AnalysisError

#: A constrained parameter's value: the product over its terms (name, complement) of
#: value(name), or 1 − value(name) when complement.  The empty product is 1.
Expr = tuple[tuple[str, bool], ...]

_TINY = 1e-15


def _clip(v: float, lo: float, hi: float) -> float:
    return hi if v > hi else lo if v < lo else v


class Parameter:
    """One fit parameter: value (clipped into [min, max] on assignment, as lmfit does), bounds,
    whether it varies, an optional product expression, and its standard error after a fit."""

    __slots__ = ("name", "min", "max", "vary", "expr", "stderr", "_value")

    def __init__(self, name: str, value: float = 0.0, *, min: float = -np.inf,
                 max: float = np.inf, vary: bool = True, expr: Expr | None = None) -> None:
        self.name, self.min, self.max = name, float(min), float(max)
        self.vary = bool(vary) and expr is None
        self.expr = expr
        self.stderr: float | None = None
        self.value = value

    @property
    def value(self) -> float:
        return self._value

    @value.setter
    def value(self, v: float) -> None:
        self._value = _clip(float(v), self.min, self.max)

    # MINUIT's transforms (F. James, MINUIT reference manual, §1.2.1): the optimiser works on
    # an unbounded internal value; both bounds: v = min + (sin u + 1)(max − min)/2.
    def to_internal(self) -> float:
        lo, hi, v = self.min, self.max, self._value
        if lo == -np.inf and hi == np.inf:
            u = v
        elif hi == np.inf:
            u = np.sqrt((v - lo + 1.0) ** 2 - 1)
        elif lo == -np.inf:
            u = np.sqrt((hi - v + 1.0) ** 2 - 1)
        else:
            u = np.arcsin(2 * (v - lo) / (hi - lo) - 1)
        return 0.0 if abs(u) < _TINY else float(u)

    def from_internal(self, u: float) -> float:
        lo, hi = self.min, self.max
        if lo == -np.inf and hi == np.inf:
            return float(u)
        if hi == np.inf:
            return float(lo - 1.0 + np.sqrt(u * u + 1))
        if lo == -np.inf:
            return float(hi + 1 - np.sqrt(u * u + 1))
        return float(lo + (np.sin(u) + 1) * (hi - lo) / 2.0)

    def gradient(self, u: float) -> float:
        """d(value)/d(internal) at internal *u*: maps the covariance to the parameter."""
        lo, hi = self.min, self.max
        if lo == -np.inf and hi == np.inf:
            return 1.0
        if hi == np.inf:
            return float(u / np.sqrt(u * u + 1))
        if lo == -np.inf:
            return float(-u / np.sqrt(u * u + 1))
        return float(np.cos(u) * (hi - lo) / 2.0)


class Parameters(Mapping[str, Parameter]):
    """Parameters in insertion order; constrained ones are evaluated in that order (each may
    use any parameter added before it)."""

    def __init__(self) -> None:
        self._p: dict[str, Parameter] = {}

    def add(self, name: str, value: float = 0.0, *, min: float = -np.inf, max: float = np.inf,
            vary: bool = True, expr: Expr | None = None) -> Parameter:
        self._p[name] = p = Parameter(name, value, min=min, max=max, vary=vary, expr=expr)
        return p

    def fix(self, name: str, value: float) -> None:
        """Hold *name* at *value* (dropping any expression)."""
        p = self._p[name]
        p.expr, p.vary = None, False
        p.value = value

    def __getitem__(self, name: str) -> Parameter:
        return self._p[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._p)

    def __len__(self) -> int:
        return len(self._p)

    def update_constraints(self) -> None:
        for p in self._p.values():
            if p.expr is not None:
                p.value = _product(p.expr, self._p)

    def valuesdict(self) -> dict[str, float]:
        self.update_constraints()
        return {k: p.value for k, p in self._p.items()}


def _product(expr: Expr, params: Mapping[str, Parameter]) -> float:
    out = 1.0
    for name, complement in expr:
        v = params[name].value
        out *= (1 - v) if complement else v
    return out


@dataclass
class LeastSquaresResult:
    """What a fit leaves: the parameters at the best point (values and standard errors),
    χ²/(N − n_varied), whether MINPACK converged, and its message."""

    params: Parameters
    redchi: float
    success: bool
    message: str
    nfev: int
    covar: np.ndarray | None


_MESSAGES = {1: "Fit succeeded.", 2: "Fit succeeded.", 3: "Fit succeeded.",
             4: "One or more variable did not affect the fit."}


def minimize(residual: Callable[[dict[str, float]], np.ndarray], params: Parameters, *,
             scale_covar: bool = True, max_nfev: int | None = None) -> LeastSquaresResult:
    """Minimise Σ residual(values)² over the varying parameters within their bounds.

    MINPACK lmdif with lmfit's options (ftol = xtol = 1.5e-8, gtol 0, epsfcn 1e-10, factor
    100); the covariance from the final Jacobian, mapped to the parameters by the transforms'
    gradients and, with *scale_covar*, multiplied by χ²_red; constrained parameters' errors by
    linear propagation with the correlations.  A model that returns NaN or ±inf stops the fit
    with :class:`~supramap.errors.AnalysisError`.  After *max_nfev* evaluations
    (default 2000 × (n + 1)) the fit stops unconverged, without uncertainties.
    """
    names = [k for k, p in params.items() if p.vary]
    ps = [params[k] for k in names]
    x0 = np.array([p.to_internal() for p in ps], dtype=float)
    for p in params.values():
        p.stderr = None
    nfev = 0

    def f(u: np.ndarray) -> np.ndarray:
        nonlocal nfev
        nfev += 1
        for p, ui in zip(ps, np.atleast_1d(u)):
            p.value = p.from_internal(ui)
        out = np.asarray(residual(params.valuesdict()), dtype=np.float64).ravel()
        if not np.all(np.isfinite(out)):
            raise AnalysisError("the model gave NaN or infinite values during the fit; the "
                                "fit stopped (a parameter outside the model's domain)")
        return out

    limit = max_nfev or 2000 * (len(names) + 1)
    with np.errstate(all="ignore"):
        if names:
            best, cov, _info, msg, ier = leastsq(f, x0, full_output=True, col_deriv=False,
                                                 ftol=1.5e-8, xtol=1.5e-8, gtol=0.0,
                                                 maxfev=limit, epsfcn=1e-10, factor=100)
            best = np.atleast_1d(best)
        else:
            best, cov, msg, ier = x0, None, "no parameter varies", 1
        resid = f(best)
        chisqr = float(np.sum(resid**2))
        redchi = chisqr / max(1, resid.size - len(names))
        success = ier in (1, 2, 3, 4)
        message = _MESSAGES.get(ier, f"Fit stopped: {msg}")
        if ier == 5:
            cov = None  # an unconverged fit has no uncertainties
        covar = None
        if cov is not None:
            g = np.array([p.gradient(u) for p, u in zip(ps, best)])
            covar = cov * np.outer(g, g) * (redchi if scale_covar else 1.0)
            _errors(params, names, covar)
        else:
            message += " Could not estimate error-bars."
    return LeastSquaresResult(params, redchi, success, message, nfev, covar)


def _errors(params: Parameters, names: Sequence[str], covar: np.ndarray) -> None:
    """Standard errors: √diag for the varying parameters, 0 for fixed ones and, when every
    varying error is positive, J C Jᵀ for the constrained ones (J by the product rule through
    the constraints, in order)."""
    for p in params.values():
        p.stderr = 0.0
    for i, k in enumerate(names):
        params[k].stderr = float(np.sqrt(covar[i, i]))
    if not all(params[k].stderr > 0 for k in names):
        return
    n = len(names)
    grad = {k: np.eye(n)[i] for i, k in enumerate(names)}
    for k, p in params.items():
        if p.expr is None:
            grad.setdefault(k, np.zeros(n))
            continue
        jac = np.zeros(n)
        for j, (name, complement) in enumerate(p.expr):
            others = _product(p.expr[:j] + p.expr[j + 1:], params)
            jac += (-1.0 if complement else 1.0) * others * grad[name]
        grad[k] = jac
        p.stderr = float(np.sqrt(max(jac @ covar @ jac, 0.0)))
