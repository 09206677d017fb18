"""Peaks of tunnelling spectra: coherence-peak pairs, gaps, zero-bias conductance peaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from supramap.display import displayable
from supramap.quality import QualityWarning, as_warnings, warn
from supramap.sts.peakfind import find_peaks

G0 = 7.748091729e-5  # 2e²/h in S


@dataclass(frozen=True)
class CoherencePeaks:
    """Coherence peaks: all positions, ±E pairs with heights and particle–hole asymmetry."""

    positions_eV: list[float]
    heights: list[float]
    pairs: list[dict[str, float]] = field(default_factory=list)
    noise: float = float("nan")
    tip_delta_eV: float = 0.0
    warnings: tuple[QualityWarning, ...] = ()

    @property
    def gaps_eV(self) -> list[float]:
        """Sample gap of each pair, ascending: mean |E| of the pair, minus the tip gap when a
        superconducting tip was given (an SIS peak sits at Δ_tip + Δ_sample)."""
        return sorted(p["gap_eV"] for p in self.pairs)


def spectrum_noise(y: np.ndarray) -> float:
    """Point-to-point noise of a spectrum: robust scatter of second differences / √6 (a smooth
    curve contributes almost nothing to second differences on a fine bias grid)."""
    d2 = np.diff(np.asarray(y, dtype=float), 2)
    d2 = d2[np.isfinite(d2)]
    if d2.size < 5:
        return float("nan")
    return float(1.4826 * np.median(np.abs(d2 - np.median(d2))) / np.sqrt(6))


def local_noise(y: np.ndarray, half: int = 15) -> np.ndarray:
    """Point-to-point noise at each point: :func:`spectrum_noise` within ±*half* points (a
    running median of |second differences|).  Lock-in noise grows with the signal: on an SIS
    spectrum 0.3 % noise is 10× larger at the coherence peaks than in the gap, and one
    number for the whole sweep (set by the quiet majority) called a perfect fit's residuals
    22× the noise."""
    from scipy.ndimage import median_filter

    yy = np.asarray(y, dtype=float)
    d2 = np.abs(np.diff(yy, 2))
    d2 = np.concatenate([d2[:1], d2, d2[-1:]])
    d2 = np.where(np.isfinite(d2), d2, np.nanmedian(d2))
    return 1.4826 * median_filter(d2, size=2 * half + 1, mode="nearest") / np.sqrt(6)


def _smooth(g: np.ndarray, bias: np.ndarray, width_eV: float) -> np.ndarray:
    db = float(np.median(np.diff(bias)))
    s = width_eV / db if db > 0 else 0
    return gaussian_filter1d(g, s) if s > 0.3 else g


def coherence_peaks(bias: np.ndarray, g: np.ndarray, *, prominence: float = 0.05,
                    smooth_eV: float = 0.0, pair_tolerance: float = 0.15,
                    exclude_zero_eV: float | None = None, n_sigma: float = 7.0,
                    tip_delta_eV: float = 0.0, min_width_points: float = 3.0
                    ) -> CoherencePeaks:
    """Find significant peaks and pair +E with −E.

    A peak counts when its prominence exceeds both *prominence* × the spectrum's range and
    *n_sigma* × the spectrum's noise (:func:`spectrum_noise` of the, possibly smoothed, data),
    judged within a local window, and is at least *min_width_points* wide: noise and single-
    point spikes do not make peaks (pure white noise of 8000 points gives none in 50 draws).
    Coherence peaks come in pairs placed symmetrically about zero
    bias: each negative peak pairs with at most one positive peak, when |E+| and |E−| agree
    within *pair_tolerance* (relative); the asymmetry is (h+ − h−)/(h+ + h−).  With a
    superconducting tip (*tip_delta_eV*), the sample gap of a pair is its mean |E| − Δ_tip.
    Peaks closer to zero than *exclude_zero_eV* are ignored (default: three bias steps).
    """
    b = np.asarray(bias, dtype=float)
    y = np.asarray(g, dtype=float)
    ok = np.isfinite(b) & np.isfinite(y)
    b, y = b[ok], y[ok]
    ws: list[QualityWarning] = []
    if b.size < 5 or np.ptp(b) <= 0 or not np.ptp(y) > 0:
        ws.append(warn("peaks.no_signal", "the spectrum is constant, too short or has no "
                                          "finite values: no peaks can be found",
                       n_points=int(b.size)))
        return CoherencePeaks([], [], [], float("nan"), tip_delta_eV, tuple(ws))
    order = np.argsort(b)
    b, y = b[order], y[order]
    ys = _smooth(y, b, smooth_eV)
    rng = float(np.ptp(ys)) or 1.0
    noise = spectrum_noise(ys)
    floor = max(prominence * rng, n_sigma * noise if np.isfinite(noise) else 0.0)
    # At least *min_width_points* wide at half prominence: single-point spikes are not peaks.
    # Prominence is judged within a local window (a coherence peak is a local feature): over
    # the whole spectrum the extremes of white noise alone reach ~7σ in a few thousand points.
    wlen = max(41, ys.size // 25)
    idx, _ = find_peaks(ys, prominence=floor, width=min_width_points or None, wlen=wlen)
    step = float(np.median(np.diff(b)))
    zero = 3 * step if exclude_zero_eV is None else exclude_zero_eV
    idx = idx[np.abs(b[idx]) > zero]
    pos = b[idx].tolist()
    hts = ys[idx].tolist()
    pairs = []
    neg = [(p, h) for p, h in zip(pos, hts) if p < 0]
    # Strongest positive peaks first, each negative partner used once.
    for p, h in sorted(((p, h) for p, h in zip(pos, hts) if p > 0), key=lambda x: -x[1]):
        if not neg:
            break
        q, hq = min(neg, key=lambda x: abs(abs(x[0]) - p))
        if abs(abs(q) - p) <= pair_tolerance * p:
            neg.remove((q, hq))
            pairs.append({"plus_eV": p, "minus_eV": q, "gap_eV": (p - q) / 2 - tip_delta_eV,
                          "height_plus": h, "height_minus": hq,
                          "asymmetry": (h - hq) / (h + hq) if h + hq else 0.0})
    pairs.sort(key=lambda d: d["plus_eV"])
    if len(pos) > 8:
        ws.append(warn("peaks.many",
                       f"{len(pos)} significant peaks: spikes, telegraph noise or a spectrum "
                       "that is not a superconducting gap; pairs may be accidental (smooth with "
                       "--smooth-ev or check the spectrum)", significant_peaks=len(pos)))
    if not pairs:
        ws.append(warn("peaks.no_pair",
                       f"no pair of peaks symmetric about zero bias rises above {n_sigma:g}× "
                       "the noise: no gap can be read from the peaks",
                       noise=noise, significant_peaks=len(pos)))
    if tip_delta_eV > 0 and any(d["gap_eV"] <= 0 for d in pairs):
        ws.append(warn("peaks.inside_tip_gap",
                       "a peak pair lies inside ±Δ_tip: it is not a sample coherence peak "
                       "(thermally excited quasiparticle peak?)", tip_delta_eV=tip_delta_eV))
        pairs = [d for d in pairs if d["gap_eV"] > 0]
    return CoherencePeaks(pos, hts, pairs, noise, tip_delta_eV, as_warnings(ws))


@displayable
@dataclass(frozen=True)
class ZeroBiasPeak:
    """A zero-bias conductance peak (ZBCP): position, FWHM above the local baseline, height."""

    present: bool
    position_eV: float | None = None
    fwhm_eV: float | None = None
    height: float | None = None
    height_G0: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict."""
        return {"present": self.present, "position_eV": self.position_eV,
                "fwhm_eV": self.fwhm_eV, "height": self.height, "height_G0": self.height_G0}


def zero_bias_peak(bias: np.ndarray, g: np.ndarray, *, window_eV: float | None = None,
                   min_prominence: float = 0.05, conductance_scale: float | None = None,
                   ) -> ZeroBiasPeak:
    """Detect a peak within *window_eV* of zero bias (default 15 % of the bias range).

    The baseline is the minimum on either side within the window; FWHM is measured at half
    the height above it.  ``conductance_scale`` (S per unit of g) converts the height to G0.
    """
    b = np.asarray(bias, dtype=float)
    y = np.asarray(g, dtype=float)
    ok = np.isfinite(b) & np.isfinite(y)
    b, y = b[ok], y[ok]
    if b.size < 5 or np.ptp(b) <= 0 or not np.ptp(y) > 0:
        return ZeroBiasPeak(False)
    order = np.argsort(b)
    b, y = b[order], y[order]
    w = window_eV or 0.15 * float(np.abs(b).max())
    sel = np.abs(b) <= w
    if sel.sum() < 5:
        return ZeroBiasPeak(False)
    bs, ys = b[sel], y[sel]
    noise = spectrum_noise(y)
    floor = max(min_prominence * max(float(np.ptp(y)), 1e-300),
                7 * noise if np.isfinite(noise) else 0.0)
    idx, props = find_peaks(ys, prominence=floor, width=3)
    if idx.size == 0:
        return ZeroBiasPeak(False)
    nearest = int(np.argmin(np.abs(bs[idx])))
    k = int(idx[nearest])
    if abs(bs[k]) > w / 2:
        return ZeroBiasPeak(False)
    fwhm = props["widths"][nearest:nearest + 1]  # at half prominence, as find_peaks measured
    step = float(np.median(np.diff(bs)))
    left_i = int(np.searchsorted(bs, bs[k]) - 1)
    base = float(min(ys[: max(left_i, 1)].min(), ys[k + 1:].min() if k + 1 < ys.size
                     else ys[k]))
    height = float(ys[k] - base)
    return ZeroBiasPeak(True, float(bs[k]), float(fwhm[0] * step), height,
                        height * conductance_scale / G0 if conductance_scale else None)
