"""Row (scan-line) alignment, as Gwyddion's "Align rows" methods, vectorised over all rows."""

from __future__ import annotations

import numpy as np
import xarray as xr

from supramap.data import like, require_image
from supramap.errors import AnalysisError

METHODS = ("median", "median_diff", "poly")


def align_rows(image: xr.DataArray, method: str = "median", *, order: int = 1,
               mask: np.ndarray | None = None) -> xr.DataArray:
    """Remove line-to-line offsets (and, for ``poly``, per-line tilts/bows).

    Parameters
    ----------
    image : DataArray (y, x)
    method : {"median", "median_diff", "poly"}
        ``median``: subtract each row's median; ``median_diff``: shift each row by the median of
        its difference to the previous row (keeps real height steps that cross rows);
        ``poly``: subtract a least-squares polynomial of degree *order* fitted to each row.
    mask : (M, N) bool ndarray, optional
        True for pixels to ignore when estimating the corrections.
    """
    require_image(image)
    if method not in METHODS:
        raise AnalysisError(f"unknown row-alignment method {method!r}; choose from {METHODS}")
    z = np.asarray(image.values, dtype=float)
    use = np.isfinite(z)
    if mask is not None:
        use &= ~np.asarray(mask, dtype=bool)
    masked = np.where(use, z, np.nan)
    if method == "median":
        offsets = np.zeros(z.shape[0])
        rows_ok = use.any(axis=1)
        if rows_ok.any():
            offsets[rows_ok] = np.nanmedian(masked[rows_ok], axis=1)
        out = z - offsets[:, None]
    elif method == "median_diff":
        diff = masked[1:] - masked[:-1]
        ok = np.isfinite(diff).any(axis=1)
        step = np.zeros(z.shape[0] - 1)
        if ok.any():
            step[ok] = np.nanmedian(diff[ok], axis=1)
        offsets = np.concatenate([[0.0], np.cumsum(step)])
        out = z - offsets[:, None]
    else:
        nx = z.shape[1]
        u = np.linspace(-1, 1, nx)
        v = np.vander(u, order + 1, increasing=True)  # (nx, order+1)
        w = use.astype(float)
        zz = np.where(use, z, 0.0)
        # Weighted normal equations for every row at once: (V^T W V) c = V^T W z.
        lhs = np.einsum("rx,xi,xj->rij", w, v, v)
        rhs = np.einsum("rx,xi->ri", w * zz, v)
        good = w.sum(axis=1) > order
        coef = np.zeros((z.shape[0], order + 1))
        if good.any():
            coef[good] = np.linalg.solve(lhs[good] + 1e-12 * np.eye(order + 1),
                                         rhs[good][..., None])[..., 0]
        out = z - coef @ v.T
    return like(image, out, step=f"align_rows(method={method!r}, order={order})")
