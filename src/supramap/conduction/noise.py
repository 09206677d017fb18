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
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size < 10:
        raise AnalysisError(f"need at least 10 valid pixels to estimate the noise, got {v.size}")
    if v.size > max_samples:
        v = np.random.default_rng(seed).choice(v, max_samples, replace=False)
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
