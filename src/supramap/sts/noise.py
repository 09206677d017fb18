"""The noise of tunnelling spectra, estimated from the data themselves.

Lock-in dI/dV noise is rarely the same at every bias: part of it grows with the signal (gain
and modulation noise are multiplicative, strongest at the coherence peaks) on top of a floor
(amplifier noise).  A fit that weighs every point the same then gives standard errors that
are too small where it matters; a 24 × 20 grid with 1 % multiplicative noise had 90 %
intervals holding the true gap in only 77–84 % of the pixels.  :func:`noise_from_residuals`
estimates σ²(G) = σ₀² + (c·G)² from the residuals of a first fit, pooled over many spectra,
and :meth:`NoiseModel.sigma` gives the weights of the second.

Written here rather than taken from a library: the model has two parameters and must be
robust to the few badly fitted spectra of a real grid (medians of squared residuals per
signal bin, not means), which statsmodels' or scikit-learn's heteroscedastic regressions are
not, and neither is a dependency of the core.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: Median of a χ² variable with one degree of freedom: median(r²) / this is an unbiased
#: variance estimate for Gaussian noise, and one badly fitted spectrum cannot move it.
CHI2_1_MEDIAN = 0.454936423119572

#: σ changing by more than this factor over the signal's range (5th–95th percentile) makes
#: the model signal-dependent; below it, weights would change the intervals by < 5 %.
HETEROSCEDASTIC_RATIO = 1.1


@dataclass(frozen=True)
class NoiseModel:
    """σ(G) = √(floor² + (relative·G)²) in the units of the signal G."""

    kind: str  # "constant" or "signal-dependent"
    floor: float
    relative: float
    points: int
    source: str = "residuals of an unweighted first fit"

    def sigma(self, signal) -> np.ndarray:
        """The noise's standard deviation at each value of *signal*."""
        s = np.asarray(signal, dtype=float)
        return np.sqrt(self.floor ** 2 + (self.relative * s) ** 2)

    def describe(self) -> str:
        """One line for tables and notes."""
        if self.kind == "constant":
            return f"constant noise σ = {self.floor:.3g} (weights equal; {self.source})"
        return (f"signal-dependent noise σ² = ({self.floor:.3g})² + ({self.relative:.3g}·G)² "
                f"(weighted fit; {self.source})")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "floor": self.floor, "relative": self.relative,
                "points": self.points, "source": self.source}


def noise_from_residuals(fitted, residual, *, n_params: int = 4, points_per_spectrum=None,
                         bins: int = 40) -> NoiseModel:
    """Fit σ²(G) = σ₀² + (c·G)² to the squared residuals of a fit, against the fitted signal.

    The points are cut into *bins* bins of equal count by |G|; in each the median of r²
    (÷ the median of χ²₁, × n/(n − p) for the parameters fitted per spectrum) estimates σ²,
    and σ₀², c² ≥ 0 follow by least squares weighted by each bin's relative precision.
    """
    f = np.abs(np.asarray(fitted, dtype=float)).ravel()
    r = np.asarray(residual, dtype=float).ravel()
    ok = np.isfinite(f) & np.isfinite(r)
    f, r = f[ok], r[ok]
    if f.size < 50:
        raise ValueError("too few residuals to estimate the noise (need ≥ 50)")
    # In units of the typical signal: nS² and 1e-22 S² side by side would make the least
    # squares singular to machine precision.
    unit = float(np.median(f)) or float(np.max(f)) or 1.0
    f, r = f / unit, r / unit
    dof = 1.0
    if points_per_spectrum:
        dof = points_per_spectrum / max(points_per_spectrum - n_params, 1)
    order = np.argsort(f, kind="stable")
    nb = int(min(bins, max(f.size // 25, 2)))
    cuts = np.array_split(order, nb)
    x = np.array([np.mean(f[c] ** 2) for c in cuts])
    v = np.array([np.median(r[c] ** 2) for c in cuts]) / CHI2_1_MEDIAN * dof
    # Each bin's variance estimate has a relative error ∝ 1/√count: weight 1/v².
    w = np.array([len(c) for c in cuts]) / np.maximum(v, 1e-300) ** 2
    a_mat = np.stack([np.ones_like(x), x], axis=1) * np.sqrt(w)[:, None]
    (s0, c2), *_ = np.linalg.lstsq(a_mat, v * np.sqrt(w), rcond=None)
    if c2 <= 0:  # no growth with the signal
        s0, c2 = float(np.sum(w * v) / np.sum(w)), 0.0
    elif s0 <= 0:  # all multiplicative
        s0, c2 = 0.0, float(np.sum(w * v * x) / np.sum(w * x * x))
    floor, rel = float(np.sqrt(s0)), float(np.sqrt(c2))
    lo, hi = np.percentile(f, [5, 95])
    model = NoiseModel("signal-dependent", floor, rel, int(f.size))
    s_lo, s_hi = model.sigma([lo, hi])
    if not (s_lo > 0) or s_hi / s_lo < HETEROSCEDASTIC_RATIO:
        return NoiseModel("constant", unit * float(np.sqrt(np.median(r ** 2) / CHI2_1_MEDIAN
                                                          * dof)), 0.0, int(f.size))
    return NoiseModel("signal-dependent", unit * floor, rel, int(f.size))


#: Spectra whose residuals give a noise model (:func:`noise_from_fits`): ~10⁵ residuals fix
#: its two numbers to ~1 %, and modelling every spectrum of a block would cost a third of
#: the fit.
NOISE_SPECTRA = 256


def noise_from_fits(spectra: np.ndarray, fitted_of, converged: np.ndarray, *,
                    n_params: int) -> NoiseModel | None:
    """The noise model of many fitted spectra (rows of *spectra*) from the residuals of at
    most :data:`NOISE_SPECTRA` converged ones, spread evenly over them; *fitted_of(rows)*
    returns the fitted model of those rows.  None when fewer than two converged or too few
    residuals."""
    ok = np.nonzero(converged)[0]
    if ok.size < 2:
        return None
    ok = ok[np.unique(np.linspace(0, ok.size - 1, min(ok.size, NOISE_SPECTRA)).astype(int))]
    fitted = fitted_of(ok)
    try:
        return noise_from_residuals(fitted, spectra[ok] - fitted, n_params=n_params,
                                    points_per_spectrum=spectra.shape[1])
    except ValueError:
        return None
