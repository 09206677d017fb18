"""In-gap states: peak lineshapes fitted *through* the measurement's broadening.

A zero-bias or in-gap peak measured at temperature T with a lock-in modulation is the
intrinsic lineshape convolved with −f′(E) (FWHM 3.53 k_BT) and the lock-in kernel (Klein et al.,
PRB 7, 2336 (1973)); its apparent width is not the intrinsic one.  Here the intrinsic peaks
(Lorentzian, Gaussian or Fano, or any callable) are evaluated on a fine energy grid and mapped to
the bias points by the same broadening matrix the gap map uses
(:func:`supramap.sts.gapmap.broadening_matrix`), so the fit returns intrinsic energy, FWHM and
weight with uncertainties (scipy ``least_squares`` and its Jacobian), beside the apparent FWHM
read off the data.  One against two peaks is decided by the Bayesian information criterion,
never by eye.  With a calibrated superconducting tip (``tip=``, a
:class:`~supramap.sts.models.TipModel`), the mapping is the SIS kernel of
:func:`supramap.sts.deconvolve.sis_kernel` (tip DOS and Fermi functions at the tip's effective
temperature) followed by the lock-in kernel, and the background is a linear sample DOS, so
peaks seen at ±(Δ_tip + E0) are fitted as sample states at E0.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.quality import QualityWarning, as_warnings, warn, warnings_to_list

#: A sweep wider than this (±50 mV, ten times the largest gaps of the iron chalcogenides)
#: fitted whole is not an in-gap fit.
WIDE_SWEEP_EV = 0.05


def lorentzian(e, e0, fwhm):
    """Unit-area Lorentzian of full width *fwhm* at *e0*."""
    g = fwhm / 2
    return g / np.pi / ((e - e0) ** 2 + g * g)


def gaussian(e, e0, fwhm):
    """Unit-area Gaussian of full width at half maximum *fwhm* at *e0*."""
    s = fwhm / (2 * np.sqrt(2 * np.log(2)))
    return np.exp(-0.5 * ((e - e0) / s) ** 2) / (s * np.sqrt(2 * np.pi))


def fano(e, e0, fwhm, q=2.0):
    """Fano lineshape (q + ε)²/(1 + ε²), ε = 2(E − E₀)/Γ, minus its background of 1, scaled
    to the Lorentzian's height for q → ∞ (so *weight* stays comparable)."""
    eps = 2 * (e - e0) / fwhm
    return ((q + eps) ** 2 / (1 + eps * eps) - 1) / (q * q) * 2 / (np.pi * fwhm)


SHAPES: dict[str, Callable] = {"lorentzian": lorentzian, "gaussian": gaussian,
                               "fano": fano}


@displayable
@dataclass
class InGapFit:
    """Intrinsic peaks (energy, FWHM, weight ± errors) fitted through the broadening."""

    shape: str
    n_peaks: int
    energies_eV: list[float]
    energies_err_eV: list[float]
    fwhm_eV: list[float]
    fwhm_err_eV: list[float]
    weights: list[float]
    weights_err: list[float]
    apparent_fwhm_eV: float
    thermal_fwhm_eV: float
    bic: dict[int, float]
    rms_residual: float
    success: bool
    extra: dict[str, float] = field(default_factory=dict)
    warnings: list[QualityWarning] = field(default_factory=list)

    @property
    def split(self) -> bool:
        """Two peaks preferred by the BIC."""
        return self.n_peaks == 2

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"shape": self.shape, "n_peaks": self.n_peaks, "split": self.split,
                "energies_eV": self.energies_eV, "energies_err_eV": self.energies_err_eV,
                "fwhm_eV": self.fwhm_eV, "fwhm_err_eV": self.fwhm_err_eV,
                "weights": self.weights, "weights_err": self.weights_err,
                "apparent_fwhm_eV": self.apparent_fwhm_eV,
                "thermal_fwhm_eV": self.thermal_fwhm_eV,
                "bic": {str(k): v for k, v in self.bic.items()},
                "rms_residual": self.rms_residual, "success": self.success, **self.extra,
                "warnings": warnings_to_list(self.warnings)}


def apparent_fwhm(bias: np.ndarray, g: np.ndarray) -> float:
    """FWHM of the highest peak above the spectrum's lower edge level (linear interpolation);
    NaN when the peak does not fall to half on both sides within the window."""
    b, y = np.asarray(bias, float), np.asarray(g, float)
    base = float(np.nanmin(y))
    i = int(np.nanargmax(y))
    half = base + 0.5 * (y[i] - base)
    left = np.nonzero(y[:i] < half)[0]
    right = np.nonzero(y[i:] < half)[0]
    if not left.size or not right.size:
        return float("nan")
    lo, hi = left[-1], i + right[0]
    xl = np.interp(half, [y[lo], y[lo + 1]], [b[lo], b[lo + 1]])
    xr = np.interp(half, [y[hi], y[hi - 1]], [b[hi], b[hi - 1]])
    return float(xr - xl)


def _tip_kernel(b: np.ndarray, tip, lockin_rms: float, step: float,
                ) -> tuple[np.ndarray, np.ndarray]:
    """Energy grid and matrix K with G(V_i) = Σ_j K[i, j] N_s(E_j) for a superconducting tip:
    the SIS kernel on a fine bias grid, then the lock-in kernel onto the measured biases."""
    from supramap.sts.deconvolve import sis_kernel
    from supramap.sts.lineshapes import lockin_kernel

    kt = 8.617333e-5 * tip.temperature_K
    pad = tip.delta_eV + 12 * kt + 3 * lockin_rms + 20 * tip.gamma_eV
    vmax = float(np.abs(b).max())
    e = np.arange(-(vmax + pad), vmax + pad + step / 2, step)
    if e.size > 20000:
        raise AnalysisError(f"energy grid of {e.size} points for the tip kernel: narrow the "
                            "window (window_eV) or use a coarser bias step")
    if lockin_rms <= 0:
        return e, sis_kernel(b, e, tip)
    a = np.sqrt(2) * lockin_rms
    vf = np.arange(b.min() - a, b.max() + a + step / 2, step)
    lk = lockin_kernel(vf[None, :] - b[:, None], lockin_rms) * step
    lk /= np.maximum(lk.sum(axis=1, keepdims=True), 1e-300)
    return e, lk @ sis_kernel(vf, e, tip)


def measurement_kernel(b: np.ndarray, temperature: float, lockin_rms: float = 0.0, tip=None,
                       ) -> tuple[np.ndarray, np.ndarray, float]:
    """Energy grid E and matrix K (bias × E) mapping an intrinsic sample DOS to the measured
    conductance — thermal and lock-in broadening, or a superconducting tip's SIS kernel then
    the lock-in — on a grid a quarter of the bias step and of k_BT fine; and the temperature
    used (the tip's effective one with a tip)."""
    from supramap.sts.gapmap import broadening_matrix

    step = float(np.median(np.diff(np.sort(b))))
    if tip is not None:
        temperature = float(tip.temperature_K)
        fine = min(step / 4, 8.617e-5 * temperature / 4, max(tip.gamma_eV, step / 40))
        e, k = _tip_kernel(b, tip, lockin_rms, fine)
    else:
        e, k = broadening_matrix(b, temperature, lockin_rms=lockin_rms,
                                 step=min(step / 4, 8.617e-5 * temperature / 4))
    return e, k, temperature


def tip_temperature_error(tip) -> float | None:
    """The tip's effective-temperature uncertainty to propagate into in-gap fits (K): its
    ``temperature_err_K``, or ± its whole temperature when its calibration did not determine
    it (``extra["temperature_determined"]`` False); None without a tip or an error."""
    if tip is None:
        return None
    dt = float(getattr(tip, "temperature_err_K", float("nan")))
    if not (tip.extra or {}).get("temperature_determined", True):
        dt = float(tip.temperature_K)
    return dt if np.isfinite(dt) and dt > 0 else None


def fit_in_gap(bias, g, *, temperature: float, lockin_rms: float = 0.0,
               shape: str | Callable = "lorentzian", peaks: int | str = "auto",
               window_eV: float | None = None, tip=None) -> InGapFit:
    """Fit one or two intrinsic peaks (plus a linear background) to a spectrum.

    With a *tip* whose effective temperature is uncertain (``temperature_err_K``), or was not
    determined by its calibration (``extra["temperature_determined"]`` False: then ± its whole
    value), the fit is repeated at T ± δT and half the spread of each energy, width and weight
    is added in quadrature to its error: the intervals then carry the tip's calibration
    (``ingap.tip_temperature`` says by how much).  Other parameters: see
    :func:`fit_in_gap_fixed`.
    """
    kw = dict(temperature=temperature, lockin_rms=lockin_rms, shape=shape,
              window_eV=window_eV)
    r = fit_in_gap_fixed(bias, g, peaks=peaks, tip=tip, **kw)
    dt = tip_temperature_error(tip)
    if dt is None:
        return r
    t0 = float(tip.temperature_K)
    undetermined = not (tip.extra or {}).get("temperature_determined", True)
    alt = []
    for t in (max(t0 - dt, 0.1 * t0), t0 + dt):
        try:
            alt.append(fit_in_gap_fixed(bias, g, peaks=r.n_peaks,
                                        tip=replace(tip, temperature_K=t), **kw))
        except AnalysisError:
            continue
    if not alt:
        return r

    def spread(attr):
        base = np.asarray(getattr(r, attr), dtype=float)
        dev = [np.abs(np.asarray(getattr(a, attr), dtype=float) - base) for a in alt
               if len(getattr(a, attr)) == base.size]
        return np.mean(dev, axis=0) if dev else np.zeros_like(base)

    new = {}
    for val, err in (("energies_eV", "energies_err_eV"), ("fwhm_eV", "fwhm_err_eV"),
                     ("weights", "weights_err")):
        new[err] = [float(np.hypot(e, d)) for e, d in zip(getattr(r, err), spread(val))]
    dw = spread("fwhm_eV")
    note = warn("ingap.tip_temperature",
                f"the tip's effective temperature {t0:.3g} K is "
                + ("not determined by its calibration (taken as ± itself)" if undetermined
                   else f"known to ± {dt:.2g} K")
                + f": that moves the intrinsic FWHM by up to {1e6 * float(np.max(dw)):.3g} µeV,"
                " added to its error", tip_temperature_K=t0, tip_temperature_err_K=dt,
                fwhm_shift_eV=float(np.max(dw)))
    return replace(r, **new, warnings=list(as_warnings([*r.warnings, note])))


def fit_in_gap_fixed(bias, g, *, temperature: float, lockin_rms: float = 0.0,
                     shape: str | Callable = "lorentzian", peaks: int | str = "auto",
                     window_eV: float | None = None, tip=None) -> InGapFit:
    """Fit one or two intrinsic peaks (plus a linear background) to a spectrum, the
    broadening taken as exactly known.

    Parameters
    ----------
    bias, g : arrays
        Bias (V, sample bias) and conductance (any unit).
    temperature : float
        Electron temperature (K) of the thermal broadening.
    lockin_rms : float
        Lock-in modulation (V rms); 0 for none.
    shape : "lorentzian", "gaussian", "fano" or a callable ``f(E, e0, fwhm)``
        Intrinsic lineshape of unit weight.
    peaks : 1, 2 or "auto"
        "auto" fits both and keeps the lower BIC (n ln(RSS/n) + k ln n).
    window_eV : float, optional
        Fit only |V| ≤ window.
    tip : TipModel, optional
        A calibrated superconducting tip: its DOS (and its effective temperature, which then
        replaces *temperature*) enter the kernel; the background is a linear sample DOS.
    """
    from scipy.optimize import least_squares

    b = np.asarray(bias, dtype=float)
    y = np.asarray(g, dtype=float)
    if b.shape != y.shape or b.ndim != 1:
        raise AnalysisError("bias and conductance must be 1-D arrays of one length")
    ok = np.isfinite(b) & np.isfinite(y)
    if window_eV is not None:
        ok &= np.abs(b) <= window_eV
    b, y = b[ok], y[ok]
    if b.size < 12:
        raise AnalysisError(f"{b.size} points in the window: at least 12 are needed")
    if not (np.isfinite(temperature) and temperature > 0):
        raise AnalysisError(f"temperature must be positive, got {temperature}")
    if peaks not in (1, 2, "auto"):
        raise AnalysisError(f"peaks must be 1, 2 or 'auto', got {peaks!r}")
    order = np.argsort(b)
    b, y = b[order], y[order]
    func = SHAPES.get(shape) if isinstance(shape, str) else shape
    if func is None:
        raise AnalysisError(f"unknown shape {shape!r}; choose from {', '.join(SHAPES)} or pass "
                            "a callable")
    name = shape if isinstance(shape, str) else getattr(shape, "__name__", "custom")
    step = float(np.median(np.diff(b)))
    e, k, temperature = measurement_kernel(b, temperature, lockin_rms, tip)
    span = float(b[-1] - b[0])
    thermal = 3.5255 * 8.617333e-5 * temperature
    scale = float(np.ptp(y)) or 1.0
    # Start values from the spectrum less a straight background through its outer parts (a
    # sloped background over a wide sweep would otherwise inflate the start area and width, and
    # the fit of a doublet would depend on how far the sweep runs).
    centre = 0.5 * (b[0] + b[-1])
    outer = np.abs(b - centre) > 0.6 * 0.5 * span
    slope0, base0 = (np.polyfit(b[outer] - centre, y[outer], 1) if outer.sum() >= 4 else
                     (0.0, float(np.median(np.concatenate([y[:3], y[-3:]])))))
    base0 = float(base0 - slope0 * centre)
    y_peak = y - (base0 + slope0 * b)
    peak_area = max(float(np.trapezoid(np.clip(y_peak, 0, None), b)), 1e-12 * scale)
    fano_q = name == "fano"
    apparent = apparent_fwhm(b, y)

    def unpack(p, n):
        per = 4 if fano_q else 3
        pk = [p[i * per:(i + 1) * per] for i in range(n)]
        return pk, p[n * per], p[n * per + 1]

    def model(p, n):
        pk, c0, c1 = unpack(p, n)
        dos = np.zeros_like(e)
        for par in pk:
            if fano_q:
                dos += par[2] * func(e, par[0], abs(par[1]), par[3])
            else:
                dos += par[2] * func(e, par[0], abs(par[1]))
        if tip is not None:  # the background is the sample's (normal) DOS
            return k @ (dos + c0 + c1 * e)
        return k @ dos + c0 + c1 * b

    def model_batch(pp, n):
        """:func:`model` for many parameter vectors at once (rows of *pp*): one matrix
        product with the kernel instead of one per vector."""
        per = 4 if fano_q else 3
        dos = np.zeros((e.size, pp.shape[0]))
        for i in range(n):
            e0, w, amp = pp[:, i * per], np.abs(pp[:, i * per + 1]), pp[:, i * per + 2]
            dos += amp * (func(e[:, None], e0, w, pp[:, i * per + 3]) if fano_q
                          else func(e[:, None], e0, w))
        c0, c1 = pp[:, n * per], pp[:, n * per + 1]
        if tip is not None:
            return (k @ (dos + c0 + c1 * e[:, None])).T
        return (k @ dos + c0 + c1 * b[:, None]).T

    def jacobian(p, n, lo, hi):
        """Forward differences as scipy's "2-point" takes them (relative step √ε·max(1, |p|),
        turned back inside the bounds), all evaluated in one :func:`model_batch` call: the
        fits spent 60 % of their time in the one-vector products of the per-parameter
        evaluations."""
        h = np.sqrt(np.finfo(float).eps) * np.where(p >= 0, 1.0, -1.0) * \
            np.maximum(1.0, np.abs(p))
        h = np.where((p + h < lo) | (p + h > hi), -h, h)
        h = (p + h) - p
        f = model_batch(np.vstack([p, p + np.diag(h)]), n)
        return ((f[1:] - f[0]) / h[:, None]).T / scale

    def fit(n):
        imax = int(np.argmax(y_peak))
        width_start = apparent_fwhm(b, y_peak)
        width0 = max(width_start if np.isfinite(width_start) else 4 * step, 2 * step)
        top = b[imax]
        if tip is not None:  # a sample state at E0 peaks at ±(Δ_tip + |E0|)
            top = np.sign(top) * max(abs(top) - tip.delta_eV, 0.0)
            width0 = 4 * step
        starts = [[top]] if n == 1 else [[top - width0 / 4, top + width0 / 4]]
        p0, lo, hi = [], [], []
        for e0 in starts[0]:
            p0 += [e0, max(width0 - thermal, 2 * step) / n, peak_area / n]
            lo += [b[0], 1e-3 * step, -10 * peak_area]
            hi += [b[-1], span, 10 * peak_area]
            if fano_q:
                p0.append(3.0)
                lo.append(-50.0)
                hi.append(50.0)
        p0 += [base0, float(slope0)]
        lo += [-np.inf, -np.inf]
        hi += [np.inf, np.inf]
        # The batched Jacobian for the built-in shapes (they broadcast); a user's callable
        # keeps scipy's own differences.
        jac = (functools.partial(jacobian, n=n, lo=np.array(lo), hi=np.array(hi))
               if func in SHAPES.values() else "2-point")
        res = least_squares(lambda p: (model(p, n) - y) / scale, p0, jac=jac,
                            bounds=(lo, hi), x_scale="jac", max_nfev=4000)
        rss = float(np.sum((res.fun * scale) ** 2))
        dof = max(b.size - len(p0), 1)
        try:
            cov = np.linalg.inv(res.jac.T @ res.jac) * rss / dof / scale**2
            err = np.sqrt(np.abs(np.diag(cov)))
        except np.linalg.LinAlgError:
            err = np.full(len(p0), np.nan)
        bic = b.size * np.log(max(rss, 1e-300) / b.size) + len(p0) * np.log(b.size)
        return res, err, rss, float(bic)

    tried = {n: fit(n) for n in ((1, 2) if peaks == "auto" else (peaks,))}
    bic = {n: v[3] for n, v in tried.items()}
    admissible = set(tried)
    if peaks == "auto" and 2 in tried:
        # Two peaks count only as two resolved states: both of positive weight and separated
        # by more than three standard errors — else the second peak is the optimiser using a
        # negative twin to polish residuals (seen on noise-free spectra), not a splitting.
        r2, e2 = tried[2][0], tried[2][1]
        (a, ea), (c, ec) = [(unpack(r2.x, 2)[0][i], unpack(e2, 2)[0][i]) for i in (0, 1)]
        sep, sep_err = abs(a[0] - c[0]), float(np.hypot(ea[0], ec[0]))
        if not (a[2] > 0 and c[2] > 0 and sep > 3 * sep_err):
            admissible.discard(2)
    n = min(admissible, key=bic.get)
    res, err, rss, _ = tried[n]
    pk, _, _ = unpack(res.x, n)
    pe, _, _ = unpack(err, n)
    idx = np.argsort([p[0] for p in pk])
    pk, pe = [pk[i] for i in idx], [pe[i] for i in idx]
    ws: list[QualityWarning] = []
    fwhm = [float(abs(p[1])) for p in pk]
    if not res.success:
        ws.append(warn("ingap.fit_failed", f"the fit did not converge ({res.message})"))
    if min(fwhm) < 0.2 * step:
        ws.append(warn("ingap.width_unresolved",
                       f"the intrinsic FWHM {min(fwhm) * 1e6:.3g} µeV is below a fifth of the "
                       f"bias step ({step * 1e6:.3g} µeV): only an upper bound is measured",
                       fwhm_eV=min(fwhm), bias_step_eV=step))
    if min(fwhm) < 0.1 * thermal:
        ws.append(warn("ingap.below_thermal",
                       f"the intrinsic FWHM is under a tenth of the thermal width "
                       f"({thermal * 1e6:.3g} µeV at {temperature:g} K): it rests on the "
                       "assumed temperature", thermal_fwhm_eV=thermal))
    ws += peak_warnings([float(p[0]) for p in pk], fwhm, b)
    if window_eV is None and float(np.abs(b).max()) > WIDE_SWEEP_EV:
        ws.append(warn("ingap.wide_sweep",
                       f"the fit used the whole ±{np.abs(b).max() * 1e3:.3g} mV sweep: in-gap "
                       "states lie within a superconducting gap (a few meV), so peaks found "
                       "this far out are other features; give --window (e.g. 2 × the gap)",
                       vmax_eV=float(np.abs(b).max())))
    extra = {"fano_q": [float(p[3]) for p in pk]} if fano_q else {}
    return InGapFit(
        name, n, [float(p[0]) for p in pk], [float(v[0]) for v in pe], fwhm,
        [float(v[1]) for v in pe], [float(p[2]) for p in pk], [float(v[2]) for v in pe],
        apparent, thermal, bic, float(np.sqrt(rss / b.size)),
        bool(res.success), extra, ws)


def peak_warnings(energies_eV, fwhm_eV, bias, *, what: str = "peak") -> list[QualityWarning]:
    """Peaks that are not in-gap states: as wide as a good part of the sweep (> 30 %: a
    background feature) or at its edge (|E| > 80 % of the largest bias)."""
    b = np.asarray(bias, dtype=float)
    span, vmax = float(np.nanmax(b) - np.nanmin(b)), float(np.nanmax(np.abs(b)))
    out: list[QualityWarning] = []
    for i, (en, fw) in enumerate(zip(energies_eV, fwhm_eV), start=1):
        if np.isfinite(fw) and fw > 0.3 * span:
            out.append(warn("ingap.peak_too_wide",
                            f"{what} {i}: FWHM {fw * 1e3:.3g} meV is {100 * fw / span:.0f} % "
                            "of the sweep: a background feature, not an in-gap state; narrow "
                            "the window (--window)", fwhm_eV=float(fw), sweep_eV=span))
        if np.isfinite(en) and abs(en) > 0.8 * vmax:
            out.append(warn("ingap.peak_at_sweep_edge",
                            f"{what} {i} sits at the edge of the sweep (E = {en * 1e3:.3g} meV "
                            f"of ±{vmax * 1e3:.3g} meV)", energy_eV=float(en)))
    return out


def in_gap_series(spectra: Sequence[tuple[np.ndarray, np.ndarray]], parameter: Sequence[float],
                  **kwargs) -> list[InGapFit]:
    """:func:`fit_in_gap` on each spectrum of a series (field, junction conductance ...),
    in the order of *parameter*."""
    if len(spectra) != len(parameter):
        raise AnalysisError(f"{len(spectra)} spectra but {len(parameter)} parameter values")
    order = np.argsort(np.asarray(parameter, dtype=float))
    return [fit_in_gap(*spectra[i], **kwargs) for i in order]
