"""Percolation statistics of a superconducting mask and effective-medium theory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage

from supramap.display import displayable
from supramap.errors import AnalysisError

_FOUR = np.array([[0, 1, 0], [1, 1, 1], [0, 1, 0]])


@displayable
@dataclass(frozen=True)
class PercolationStats:
    """Clusters of the superconducting mask (4-connected, as current flows between pixels).

    ``spans_x``: one cluster touches the left and the right edge; ``spans_y``: top and bottom.
    ``emt_sheet_ratio`` is Bruggeman's 2-D prediction of R_s(mixture)/R_s(normal) for a
    superconducting fraction f: ``1 − 2f`` (0 at and above f = ½).
    """

    fraction: float
    n_clusters: int
    cluster_sizes_px: np.ndarray
    largest_cluster_fraction: float
    spans_x: bool
    spans_y: bool
    emt_sheet_ratio: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (sizes as a log-binned histogram)."""
        sizes = self.cluster_sizes_px
        if sizes.size:
            edges = np.unique(np.logspace(0, np.log10(sizes.max() + 1), 16).astype(int))
            counts, edges = np.histogram(sizes, bins=edges)
            hist = {"edges_px": edges.tolist(), "counts": counts.tolist()}
        else:
            hist = {"edges_px": [], "counts": []}
        return {
            "sc_fraction": self.fraction,
            "n_clusters": self.n_clusters,
            "largest_cluster_fraction": self.largest_cluster_fraction,
            "spans_x": self.spans_x,
            "spans_y": self.spans_y,
            "emt_sheet_ratio": self.emt_sheet_ratio,
            "cluster_size_histogram": hist,
        }


def bruggeman_2d(fraction: float, sigma_sc: float, sigma_n: float) -> float:
    """Effective conductivity of a 2-D two-phase mixture (Bruggeman 1935).

    Solves ``f (σ₁ − σ)/(σ₁ + σ) + (1 − f)(σ₂ − σ)/(σ₂ + σ) = 0`` for σ; with σ₁ → ∞ the
    root is ``σ₂ / (1 − 2f)`` below f = ½ and infinite above.

    Bruggeman's EMT describes symmetric random mixtures of *resolved* grains (its 2-D
    threshold f = ½ is that of a thresholded smooth random field).  Masks random at the pixel
    scale are a different, lattice problem: a lone superconducting pixel only halves the
    resistance of its four bonds, so their dilute slope is about −1.5 instead of −2.
    """
    f = float(fraction)
    if not 0 <= f <= 1:
        raise AnalysisError(f"fraction must lie in [0, 1], got {fraction}")
    if np.isinf(sigma_sc):
        return sigma_n / (1 - 2 * f) if f < 0.5 else float("inf")
    # Multiplying out: σ² − σ [(2f − 1) σ₁ + (1 − 2f) σ₂] − σ₁σ₂ = 0; the positive root.
    b = -((2 * f - 1) * sigma_sc + (1 - 2 * f) * sigma_n)
    c = -sigma_sc * sigma_n
    return float((-b + np.sqrt(b * b - 4 * c)) / 2)


def percolation_stats(sc_mask: np.ndarray) -> PercolationStats:
    """Cluster statistics of a boolean superconducting mask."""
    m = np.asarray(sc_mask, dtype=bool)
    if m.ndim != 2 or m.size == 0:
        raise AnalysisError(f"mask must be a non-empty 2-D array, got shape {m.shape}")
    lab, n = ndimage.label(m, structure=_FOUR)
    sizes = np.bincount(lab.ravel())[1:] if n else np.array([], dtype=int)
    left, right = set(lab[:, 0][lab[:, 0] > 0]), set(lab[:, -1][lab[:, -1] > 0])
    top, bottom = set(lab[0][lab[0] > 0]), set(lab[-1][lab[-1] > 0])
    f = float(m.mean())
    return PercolationStats(
        fraction=f, n_clusters=int(n), cluster_sizes_px=np.sort(sizes)[::-1],
        largest_cluster_fraction=float(sizes.max() / m.size) if n else 0.0,
        spans_x=bool(left & right), spans_y=bool(top & bottom),
        emt_sheet_ratio=max(1 - 2 * f, 0.0),
    )
