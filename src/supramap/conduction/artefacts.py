"""Is the current contrast a topographic artefact?  Rank correlations with topography, its
slope and the cantilever deflection."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import ndimage, stats

from supramap.data import pixel_size
from supramap.errors import AnalysisError
from supramap.spm import align_rows, plane_level, remove_scars

WEAK = 0.2
STRONG = 0.5


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


def _flatten_topography(topo: xr.DataArray) -> np.ndarray:
    z = remove_scars(align_rows(plane_level(topo), "median"))
    return np.asarray(z.values, dtype=float)


def check_artefacts(current: np.ndarray, *, topography: xr.DataArray | None = None,
                    deflection: xr.DataArray | None = None, max_samples: int = 200_000,
                    seed: int = 0) -> ArtefactCheck:
    """Rank-correlate the current with topography, |∇topography| and deflection.

    Topography is plane-levelled, row-aligned and scar-corrected first, as a user would in
    Gwyddion.  Large maps use a seeded random subsample of *max_samples* pixels.
    """
    signals: dict[str, np.ndarray] = {}
    cur = np.asarray(current, dtype=float)
    if topography is not None:
        if topography.shape != cur.shape:
            raise AnalysisError(f"topography shape {topography.shape} differs from current "
                                f"{cur.shape}")
        z = _flatten_topography(topography)
        dy, dx = pixel_size(topography)
        zz = np.nan_to_num(z)
        slope = np.hypot(ndimage.sobel(zz, axis=0) / (8 * dy), ndimage.sobel(zz, axis=1) / (8 * dx))
        signals["topography"] = z
        signals["topography_slope"] = slope
    if deflection is not None:
        if deflection.shape != cur.shape:
            raise AnalysisError(f"deflection shape {deflection.shape} differs from current "
                                f"{cur.shape}")
        signals["deflection"] = np.asarray(deflection.values, dtype=float)
    if not signals:
        raise AnalysisError("artefact check needs a topography or a deflection map")
    flat = cur.ravel()
    idx = np.arange(flat.size)
    if flat.size > max_samples:
        idx = np.random.default_rng(seed).choice(flat.size, max_samples, replace=False)
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
    return ArtefactCheck(rhos, top, top**2 if np.isfinite(top) else float("nan"), verdict)
