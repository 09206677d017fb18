"""Noise floor of a current map, estimated from its insulating majority."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from supramap.errors import AnalysisError

MAD_TO_SIGMA = 1.482602218505602  # σ of a normal distribution per median absolute deviation


@dataclass(frozen=True)
class NoiseFloor:
    """Noise of the insulating population.

    Attributes
    ----------
    offset_A : float
        Median current of the insulating pixels (amplifier offset).
    sigma_A : float
        Robust standard deviation of the insulating pixels.
    floor_A : float
        ``offset + 3 σ``: the level below which 99.87 % of insulating pixels lie.
    """

    offset_A: float
    sigma_A: float
    floor_A: float

    def above(self, n_sigma: float) -> float:
        """Current ``offset + n_sigma·σ``."""
        return self.offset_A + n_sigma * self.sigma_A


def estimate_noise(values: np.ndarray, *, max_samples: int = 1_000_000, clip: float = 5.0,
                   seed: int = 0) -> NoiseFloor:
    """Robust noise of the majority population of *values* (oriented so conduction > 0).

    Median and MAD of all valid pixels, then twice again on the pixels within ``clip`` σ, so
    that a conducting minority (up to ~40 % of the area) does not inflate the estimate.  Large
    maps are estimated on a seeded random subsample of ``max_samples`` pixels.
    """
    arr = np.asarray(values, dtype=float)
    v = arr.ravel()
    v = v[np.isfinite(v)]
    if v.size < 10:
        raise AnalysisError(f"need at least 10 valid pixels to estimate the noise, got {v.size}")
    if v.size > max_samples:
        v = np.random.default_rng(seed).choice(v, max_samples, replace=False)
    low = _lowest_mode(arr, v, clip) if arr.ndim == 2 else None
    if low is not None:
        return low
    keep = v
    med = float(np.median(keep))
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(keep - med)))
    for _ in range(2):
        if sigma <= 0:
            break
        keep = v[np.abs(v - med) < clip * sigma]
        med = float(np.median(keep))
        sigma = MAD_TO_SIGMA * float(np.median(np.abs(keep - med)))
    if sigma <= 0:
        # Quantised or constant data: fall back to the standard deviation of the majority.
        sigma = float(np.std(keep)) or float(np.finfo(float).tiny)
    return NoiseFloor(offset_A=med, sigma_A=sigma, floor_A=med + 3 * sigma)


def _lowest_mode(image: np.ndarray, v: np.ndarray, clip: float) -> NoiseFloor | None:
    """The insulating population as the *lowest* current population, whatever its share.

    A superconducting majority would otherwise be taken for the background (its median is
    the map's median).  The pixel noise comes from differences of neighbouring pixels (most
    neighbours lie in one phase, so this holds for any conducting fraction); a mean shift
    started at the low end of the histogram walks to the lowest mode; offset and σ are then
    the median and the lower half-width of the pixels around it (the upper side may hold
    edge pixels).  None when the image gives no usable neighbour noise."""
    # About a million neighbour pairs are plenty: every k-th row of a large map.
    k = max(1, int(image.size // 1_000_000))
    d = np.diff(image[::k], axis=1).ravel()
    d = d[np.isfinite(d)]
    if d.size < 10:
        return None
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(d - np.median(d)))) / np.sqrt(2)
    if not sigma > 0:
        return None
    c = float(np.percentile(v, 0.5)) + 2.6 * sigma
    for _ in range(50):
        near = v[np.abs(v - c) < 3 * sigma]
        if near.size == 0:
            return None
        new = float(np.median(near))
        if abs(new - c) < 1e-3 * sigma:
            break
        c = new
    for _ in range(3):
        below = c - v[(v < c) & (v > c - clip * sigma)]
        if below.size < 5:
            break
        # The median of a half-normal |x| is 0.6745 σ.
        s_low = float(np.median(below)) / 0.6745
        if not s_low > 0:
            break
        sigma = s_low
        near = v[np.abs(v - c) < clip * sigma]
        c = float(np.median(near)) if near.size else c
    return NoiseFloor(offset_A=c, sigma_A=sigma, floor_A=c + 3 * sigma)
