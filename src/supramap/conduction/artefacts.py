"""Is the current contrast a topographic artefact?  Rank correlations with topography, its
slope and the cantilever deflection."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import ndimage

from supramap.data import pixel_size
from supramap.errors import AnalysisError
from supramap.spm import align_rows, plane_level, remove_scars

WEAK = 0.2
STRONG = 0.5
#: Maps larger than this (pixels per side) are compared on block means (see check_artefacts).
MAX_SIDE = 1024


@dataclass(frozen=True)
class ArtefactCheck:
    """Spearman rank correlations of the current with each companion signal.

    ``correlations`` maps ``"topography"``, ``"topography_slope"`` and ``"deflection"`` (those
    given) to ρ; ``max_abs_rho`` is the largest |ρ|, ``explained`` its square (the share of
    rank variance a monotonic relation could explain); ``verdict`` says it in plain words.
    """

    correlations: dict[str, float]
    max_abs_rho: float
    explained: float
    verdict: str
    #: Side of the pixel blocks averaged before correlating (1: the maps as measured).
    block_px: int = 1


def _flatten_topography(topo: xr.DataArray) -> np.ndarray:
    z = remove_scars(align_rows(plane_level(topo), "median"))
    return np.asarray(z.values, dtype=float)


def check_artefacts(current: np.ndarray, *, topography: xr.DataArray | None = None,
                    deflection: xr.DataArray | None = None, max_samples: int = 200_000,
                    seed: int = 0) -> ArtefactCheck:
    """Rank-correlate the current with topography, |∇topography| and deflection.

    Topography is plane-levelled, row-aligned and scar-corrected first, as a user would in
    Gwyddion.  Maps larger than ``MAX_SIDE`` pixels per side are first averaged over k × k
    blocks (k the smallest factor bringing them under it; ``block_px`` reports it): the check
    asks whether the current follows the topography on the scale of islands, which blocks of a
    few pixels keep, and cleaning a 4096² topography at full resolution took 13 s of a 19 s
    analysis.  The correlations then use a seeded random subsample of *max_samples* pixels.
    """
    signals: dict[str, np.ndarray] = {}
    cur = np.asarray(current, dtype=float)
    for name, other in (("topography", topography), ("deflection", deflection)):
        if other is not None and other.shape != cur.shape:
            raise AnalysisError(f"{name} shape {other.shape} differs from current {cur.shape}")
    k = int(np.ceil(max(cur.shape) / MAX_SIDE))
    if k > 1:
        cur = _block_mean(cur, k)
        topography = _coarsen(topography, k)
        deflection = _coarsen(deflection, k)
    if topography is not None:
        z = _flatten_topography(topography)
        dy, dx = pixel_size(topography)
        zz = np.nan_to_num(z)
        slope = np.hypot(ndimage.sobel(zz, axis=0) / (8 * dy), ndimage.sobel(zz, axis=1) / (8 * dx))
        signals["topography"] = z
        signals["topography_slope"] = slope
    if deflection is not None:
        signals["deflection"] = np.asarray(deflection.values, dtype=float)
    if not signals:
        raise AnalysisError("artefact check needs a topography or a deflection map")
    flat = cur.ravel()
    idx = np.arange(flat.size)
    if flat.size > max_samples:
        idx = np.random.default_rng(seed).choice(flat.size, max_samples, replace=False)
    # scipy.stats costs 0.5 s to import: loaded here, only when the check runs (every cAFM
    # command imports this module).
    from scipy import stats

    rhos: dict[str, float] = {}
    for name, sig in signals.items():
        a, b = flat[idx], sig.ravel()[idx]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() < 10 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
            rhos[name] = float("nan")
            continue
        rhos[name] = float(stats.spearmanr(a[ok], b[ok]).statistic)
    finite = [abs(r) for r in rhos.values() if np.isfinite(r)]
    top = max(finite) if finite else float("nan")
    worst = max(rhos, key=lambda k: abs(rhos[k]) if np.isfinite(rhos[k]) else -1)
    if not finite:
        verdict = "could not be checked (constant signals)"
    elif top < WEAK:
        verdict = (f"The current is not explained by {', '.join(rhos)}: the largest rank "
                   f"correlation is |ρ| = {top:.2f} ({worst}), i.e. ≤ {100 * top**2:.0f} % "
                   "of the contrast.")
    elif top < STRONG:
        verdict = (f"The current is weakly related to {worst} (|ρ| = {top:.2f}); inspect the "
                   "maps before trusting small features.")
    else:
        verdict = (f"Warning: the current follows {worst} (|ρ| = {top:.2f}); the contrast may "
                   "be a topographic or feedback artefact.")
    if k > 1:
        verdict += f" (compared on {k} × {k}-pixel block means)"
    return ArtefactCheck(rhos, top, top**2 if np.isfinite(top) else float("nan"), verdict,
                         block_px=k)


def _block_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Means of k × k blocks (NaN ignored; a partial last row/column of blocks is dropped)."""
    ny, nx = (a.shape[0] // k) * k, (a.shape[1] // k) * k
    b = a[:ny, :nx].reshape(ny // k, k, nx // k, k)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
        return np.nanmean(b, axis=(1, 3))


def _coarsen(image: xr.DataArray | None, k: int) -> xr.DataArray | None:
    if image is None:
        return None
    return image.coarsen(y=k, x=k, boundary="trim").mean(keep_attrs=True)
