"""NaN-aware smoothing of image arrays."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def nan_gaussian(values: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing that ignores NaN pixels (normalised convolution: the blurred data
    divided by the blurred validity mask); NaN pixels stay NaN."""
    z = np.asarray(values, dtype=float)
    valid = np.isfinite(z)
    w = ndimage.gaussian_filter(valid.astype(float), sigma)
    v = ndimage.gaussian_filter(np.where(valid, z, 0.0), sigma)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid, v / np.maximum(w, 1e-12), np.nan)
