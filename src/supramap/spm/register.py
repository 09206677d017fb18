"""Sub-pixel registration of two images by phase correlation (Guizar-Sicairos et al., Opt. Lett.
33, 156 (2008), as implemented in :func:`skimage.registration.phase_cross_correlation`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from supramap.data import like, pixel_size, require_image
from supramap.errors import RegistrationError
from supramap.spm.level import polynomial_background


@dataclass(frozen=True)
class RegistrationResult:
    """Shift that maps *moving* onto *reference*.

    Attributes
    ----------
    shift_px : (float, float)
        (row, column) shift in pixels to apply to *moving* (positive moves content down/right).
    shift_m : (float, float)
        The same in metres, (y, x).
    error : float
        Normalised RMS error of the correlation peak (0 = perfect match).
    """

    shift_px: tuple[float, float]
    shift_m: tuple[float, float]
    error: float


def _prepare(values: np.ndarray) -> np.ndarray:
    """Plane-level, take the gradient magnitude (1-px Gaussian), taper the frame edges.

    Correlating gradient magnitudes rather than heights makes terrace edges and particles
    the features and removes the steps' staircase; the taper hides the frame edges, which
    otherwise dominate the correlation.  Tried on the virtual sample (256² frames, drifts up to
    8 px): height images err by up to 1 px untapered and 0.16 px tapered, gradient
    magnitudes by ≤ 0.05 px tapered.
    """
    z = np.asarray(values, dtype=float)
    valid = np.isfinite(z)
    if valid.sum() < 16:
        raise RegistrationError("image has too few valid pixels to register")
    z = z - polynomial_background(z, 1, valid)
    z = np.where(valid, z, 0.0)
    smooth = ndimage.gaussian_filter(z, 1.0)
    g = np.hypot(ndimage.sobel(smooth, axis=0), ndimage.sobel(smooth, axis=1))
    g = np.where(valid, g - g[valid].mean(), 0.0)
    ny, nx = g.shape
    return g * np.outer(_taper(ny), _taper(nx))


def _taper(n: int, frac: float = 0.1) -> np.ndarray:
    w = np.ones(n)
    m = max(int(n * frac), 1)
    ramp = 0.5 * (1 - np.cos(np.pi * (np.arange(m) + 0.5) / m))
    w[:m] = ramp
    w[n - m :] = ramp[::-1]
    return w


def register(reference: xr.DataArray, moving: xr.DataArray, *, upsample: int = 50,
             ) -> RegistrationResult:
    """Find the translation that aligns *moving* with *reference* (sub-pixel).

    Both images are plane-levelled, turned into gradient magnitudes and tapered at the edges
    before phase correlation; on images with structure (terraces, grains, particles) the
    result is accurate to a few hundredths of a pixel (``1/upsample`` at best).

    Raises
    ------
    RegistrationError
        When the images differ in shape or pixel size.
    """
    require_image(reference, name="reference")
    require_image(moving, name="moving")
    if reference.shape != moving.shape:
        raise RegistrationError(f"cannot register images of different shapes "
                                f"{reference.shape} and {moving.shape}")
    dy, dx = pixel_size(reference)
    mdy, mdx = pixel_size(moving)
    if not (np.isclose(dy, mdy, rtol=1e-3, atol=0) and np.isclose(dx, mdx, rtol=1e-3, atol=0)):
        raise RegistrationError(f"pixel sizes differ: {dy:g}×{dx:g} m vs {mdy:g}×{mdx:g} m; "
                                "resample one image first")
    shift, error, _ = phase_cross_correlation(_prepare(reference.values),
                                              _prepare(moving.values),
                                              upsample_factor=upsample)
    sy, sx = (float(shift[0]), float(shift[1]))
    return RegistrationResult(shift_px=(sy, sx), shift_m=(sy * dy, sx * dx), error=float(error))


def shift_image(image: xr.DataArray, shift_px: tuple[float, float], *, order: int = 1,
                ) -> xr.DataArray:
    """Translate image content by ``shift_px`` (rows, cols); uncovered pixels become NaN."""
    require_image(image)
    z = np.asarray(image.values, dtype=float)
    valid = np.isfinite(z).astype(float)
    moved = ndimage.shift(np.nan_to_num(z), shift_px, order=order, mode="constant", cval=0.0)
    cover = ndimage.shift(valid, shift_px, order=1, mode="constant", cval=0.0)
    moved = np.where(cover > 0.999, moved, np.nan)
    return like(image, moved, step=f"shift_image(shift_px=({shift_px[0]:.4f}, "
                                   f"{shift_px[1]:.4f}))")
