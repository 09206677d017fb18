"""Peaks of tunnelling spectra: coherence-peak pairs, gaps, zero-bias conductance peaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d
from scipy.signal import find_peaks, peak_widths

G0 = 7.748091729e-5  # 2e²/h in S


@dataclass(frozen=True)
class CoherencePeaks:
    """Coherence peaks: all positions, ±E pairs with heights and particle–hole asymmetry."""

    positions_eV: list[float]
    heights: list[float]
    pairs: list[dict[str, float]] = field(default_factory=list)

    @property
    def gaps_eV(self) -> list[float]:
        """Mean |E| of each pair, ascending."""
        return sorted(p["gap_eV"] for p in self.pairs)


def _smooth(g: np.ndarray, bias: np.ndarray, width_eV: float) -> np.ndarray:
    db = float(np.median(np.diff(bias)))
    s = width_eV / db if db > 0 else 0
    return gaussian_filter1d(g, s) if s > 0.3 else g


def coherence_peaks(bias: np.ndarray, g: np.ndarray, *, prominence: float = 0.05,
                    smooth_eV: float = 0.0, pair_tolerance: float = 0.15,
                    exclude_zero_eV: float | None = None) -> CoherencePeaks:
    """Find peaks (prominence as a share of the spectrum's range), pair +E with −E.

    Pairs match when |E+| and |E−| agree within *pair_tolerance* (relative); the asymmetry is
    (h+ − h−)/(h+ + h−).  Peaks closer to zero than *exclude_zero_eV* are ignored (default:
    three bias steps).
    """
    b = np.asarray(bias, dtype=float)
    y = np.asarray(g, dtype=float)
    order = np.argsort(b)
    b, y = b[order], y[order]
    ys = _smooth(y, b, smooth_eV)
    rng = float(np.ptp(ys)) or 1.0
    idx, _ = find_peaks(ys, prominence=prominence * rng)
    step = float(np.median(np.diff(b)))
    zero = 3 * step if exclude_zero_eV is None else exclude_zero_eV
    idx = idx[np.abs(b[idx]) > zero]
    pos = b[idx].tolist()
    hts = ys[idx].tolist()
    pairs = []
    neg = [(p, h) for p, h in zip(pos, hts) if p < 0]
    for p, h in ((p, h) for p, h in zip(pos, hts) if p > 0):
        if not neg:
            break
        q, hq = min(neg, key=lambda x: abs(abs(x[0]) - p))
        if abs(abs(q) - p) <= pair_tolerance * p:
            pairs.append({"plus_eV": p, "minus_eV": q, "gap_eV": (p - q) / 2,
                          "height_plus": h, "height_minus": hq,
                          "asymmetry": (h - hq) / (h + hq) if h + hq else 0.0})
    return CoherencePeaks(pos, hts, pairs)


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
    order = np.argsort(b)
    b, y = b[order], y[order]
    w = window_eV or 0.15 * float(np.abs(b).max())
    sel = np.abs(b) <= w
    if sel.sum() < 5:
        return ZeroBiasPeak(False)
    bs, ys = b[sel], y[sel]
    idx, props = find_peaks(ys, prominence=min_prominence * max(float(np.ptp(y)), 1e-300))
    if idx.size == 0:
        return ZeroBiasPeak(False)
    k = int(idx[np.argmin(np.abs(bs[idx]))])
    if abs(bs[k]) > w / 2:
        return ZeroBiasPeak(False)
    widths, heights, left, right = peak_widths(ys, [k], rel_height=0.5)
    step = float(np.median(np.diff(bs)))
    left_i = int(np.searchsorted(bs, bs[k]) - 1)
    base = float(min(ys[: max(left_i, 1)].min(), ys[k + 1:].min() if k + 1 < ys.size
                     else ys[k]))
    height = float(ys[k] - base)
    return ZeroBiasPeak(True, float(bs[k]), float(widths[0] * step), height,
                        height * conductance_scale / G0 if conductance_scale else None)
