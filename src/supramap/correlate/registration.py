"""Registering a cAFM map onto an SEM (or optical) image: affine transforms from control
points, or automatically by phase correlation after resampling to a common pixel size."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import ndimage

from supramap.display import displayable
from supramap.errors import RegistrationError


@displayable
@dataclass(frozen=True)
class Affine:
    """x' = A · x + t for points (x, y) in metres; ``residuals_m`` of the fit points."""

    matrix: np.ndarray  # (2, 2)
    offset: np.ndarray  # (2,)
    residuals_m: np.ndarray

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Transform (n, 2) points."""
        p = np.atleast_2d(np.asarray(points, dtype=float))
        return p @ self.matrix.T + self.offset

    def inverse(self) -> Affine:
        """The inverse transform."""
        inv = np.linalg.inv(self.matrix)
        return Affine(inv, -inv @ self.offset, self.residuals_m)

    @property
    def rms_residual_m(self) -> float:
        """Root-mean-square residual of the control points."""
        r = self.residuals_m
        return float(np.sqrt(np.mean(np.sum(r**2, axis=1)))) if r.size else 0.0

    def to_dict(self) -> dict:
        """JSON-ready form."""
        return {"matrix": self.matrix.tolist(), "offset_m": self.offset.tolist(),
                "rms_residual_m": self.rms_residual_m,
                "residuals_m": self.residuals_m.tolist()}


def affine_from_points(source: np.ndarray, target: np.ndarray) -> Affine:
    """Least-squares affine transform taking *source* points onto *target* points ((n, 2),
    n ≥ 3, not collinear)."""
    s = np.asarray(source, dtype=float)
    t = np.asarray(target, dtype=float)
    if s.shape != t.shape or s.ndim != 2 or s.shape[1] != 2:
        raise RegistrationError("control points must be two (n, 2) arrays of one shape")
    if s.shape[0] < 3:
        raise RegistrationError(f"an affine transform needs at least 3 control points, "
                                f"got {s.shape[0]}")
    design = np.hstack([s, np.ones((s.shape[0], 1))])
    if np.linalg.matrix_rank(design) < 3:
        raise RegistrationError("the control points are collinear")
    coef, *_ = np.linalg.lstsq(design, t, rcond=None)
    a = coef[:2].T
    off = coef[2]
    res = t - (s @ a.T + off)
    return Affine(a, off, res)


def resample_to(image: xr.DataArray, reference: xr.DataArray, transform: Affine,
                ) -> xr.DataArray:
    """Sample *image* on *reference*'s grid, where *transform* maps image coordinates to
    reference coordinates (bilinear; outside: NaN)."""
    inv = transform.inverse()
    xx, yy = np.meshgrid(reference.x.values, reference.y.values)
    src = inv.apply(np.stack([xx.ravel(), yy.ravel()], axis=1))
    dx = float(image.x[1] - image.x[0])
    dy = float(image.y[1] - image.y[0])
    cols = (src[:, 0] - float(image.x[0])) / dx
    rows = (src[:, 1] - float(image.y[0])) / dy
    v = ndimage.map_coordinates(np.nan_to_num(np.asarray(image.values, float)), [rows, cols],
                                order=1, mode="constant", cval=np.nan)
    return reference.copy(data=v.reshape(reference.shape))


def auto_register(image: xr.DataArray, reference: xr.DataArray) -> Affine:
    """Automatic translation-only registration (both images in metres, same orientation).

    The map is resampled to the reference's pixel pitch, the reference is cropped where the
    map's own coordinates put it, and the two are phase-correlated (on gradient magnitudes,
    :func:`supramap.spm.register`).  Rotation and scale errors need control points.
    """
    from supramap.data import make_image
    from supramap.spm import register

    d = float(abs(reference.x[1] - reference.x[0]))
    xs = np.arange(float(image.x[0]), float(image.x[-1]), d)
    ys = np.arange(float(image.y[0]), float(image.y[-1]), d)
    if xs.size < 16 or ys.size < 16:
        raise RegistrationError("the map covers too few reference pixels to register "
                                "automatically; give control points")
    tmpl = make_image(np.zeros((ys.size, xs.size)), dx=d, x0=xs[0] - d / 2, y0=ys[0] - d / 2)
    identity = Affine(np.eye(2), np.zeros(2), np.zeros((0, 2)))
    small = resample_to(image, tmpl, identity)
    h, w = small.shape
    ref = np.asarray(reference.values, dtype=float)
    if ref.shape[0] < h or ref.shape[1] < w:
        raise RegistrationError("the reference image is smaller than the map")
    r0 = int(np.clip(round((ys[0] - float(reference.y[0])) / d), 0, ref.shape[0] - h))
    c0 = int(np.clip(round((xs[0] - float(reference.x[0])) / d), 0, ref.shape[1] - w))
    crop = reference.isel(y=slice(r0, r0 + h), x=slice(c0, c0 + w))
    filled = small.fillna(float(np.nanmean(small.values)))
    reg = register(crop, filled.assign_coords(x=crop.x.values, y=crop.y.values))
    # Content of the map shifted by s pixels lies on the crop: x_ref = x_map + Δ.
    offset = np.array([float(crop.x[0]) - float(small.x[0]) + reg.shift_px[1] * d,
                       float(crop.y[0]) - float(small.y[0]) + reg.shift_px[0] * d])
    return Affine(np.eye(2), offset, np.zeros((0, 2)))
