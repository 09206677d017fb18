"""Point defects in topographs and dI/dV maps: detection, shape symmetry and orientation,
spectra and grouping."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import xarray as xr
from skimage.feature import blob_log

from supramap.errors import AnalysisError


@dataclass(frozen=True)
class Defect:
    """A detected defect: position (m), size (m), shape and orientation, group."""

    x_m: float
    y_m: float
    sigma_m: float
    amplitude: float
    elongation: float  # major/minor axis of the local second moments (1 = round)
    orientation_deg: float  # of the long axis from +x, in [0, 180)
    group: int = -1


def find_defects(m: xr.DataArray, *, min_sigma_px: float = 1.0, max_sigma_px: float = 6.0,
                 threshold: float = 0.1, sign: int = 1) -> list[Defect]:
    """Blobs (Laplacian of Gaussian, scikit-image) of the map normalised to [0, 1]; *sign* −1
    finds depressions.  Shape from the intensity-weighted second moments in a 3σ window."""
    if m.dims != ("y", "x"):
        raise AnalysisError("defects need a (y, x) map")
    z = np.asarray(m.values, dtype=float) * sign
    z = np.where(np.isfinite(z), z, np.nanmedian(z))
    z = z - np.median(z)
    rng = z.max() - z.min()
    if rng <= 0:
        return []
    zn = np.clip(z / z.max(), 0, None) if z.max() > 0 else z
    blobs = blob_log(zn, min_sigma=min_sigma_px, max_sigma=max_sigma_px, threshold=threshold)
    dx = float(m.x[1] - m.x[0])
    dy = float(m.y[1] - m.y[0])
    out = []
    ny, nx = z.shape
    for r, c, s in blobs:  # one small window per defect
        w = int(np.ceil(3 * s))
        r0, r1 = max(int(r) - w, 0), min(int(r) + w + 1, ny)
        c0, c1 = max(int(c) - w, 0), min(int(c) + w + 1, nx)
        patch = np.clip(zn[r0:r1, c0:c1], 0, None)
        yy, xx = np.mgrid[r0:r1, c0:c1]
        tot = patch.sum()
        if tot <= 0:
            continue
        my, mx = (patch * yy).sum() / tot, (patch * xx).sum() / tot
        cyy = (patch * (yy - my) ** 2).sum() / tot
        cxx = (patch * (xx - mx) ** 2).sum() / tot
        cxy = (patch * (xx - mx) * (yy - my)).sum() / tot
        ev, vec = np.linalg.eigh(np.array([[cxx, cxy], [cxy, cyy]]))
        elong = float(np.sqrt(ev[1] / ev[0])) if ev[0] > 0 else float("inf")
        angle = float(np.degrees(np.arctan2(vec[1, 1], vec[0, 1])) % 180)
        out.append(Defect(float(m.x[0]) + mx * dx, float(m.y[0]) + my * dy, float(s) * dx,
                          float(z[int(r), int(c)] * sign), elong, angle))
    return out


def defect_spectra(grid: xr.DataArray, defects: list[Defect]) -> np.ndarray:
    """Spectrum at each defect's nearest grid pixel, (n_defects, n_bias)."""
    x, y = grid["x"].values, grid["y"].values
    return np.array([grid.values[int(np.argmin(np.abs(y - d.y_m))),
                                 int(np.argmin(np.abs(x - d.x_m)))] for d in defects])


def group_defects(defects: list[Defect], spectra: np.ndarray, n_groups: int = 2,
                  seed: int = 0) -> list[Defect]:
    """Group defects by their normalised spectra (k-means, scipy)."""
    from scipy.cluster.vq import kmeans2

    if len(defects) < n_groups:
        raise AnalysisError(f"{len(defects)} defects cannot form {n_groups} groups")
    s = spectra / np.linalg.norm(spectra, axis=1, keepdims=True)
    _, labels = kmeans2(s, n_groups, seed=seed, minit="++")
    return [Defect(**{**asdict(d), "group": int(k)}) for d, k in zip(defects, labels)]


def defects_to_dict(defects: list[Defect]) -> list[dict[str, Any]]:
    """JSON-ready list."""
    return [asdict(d) for d in defects]
