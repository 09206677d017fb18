"""Heterogeneous conduction in a conductive-AFM current map: the full analysis."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage

from supramap.conduction.artefacts import ArtefactCheck, check_artefacts
from supramap.conduction.edges import EdgeWidths, boundary_edge_widths
from supramap.conduction.islands import Island, find_islands
from supramap.conduction.levels import Levels, find_levels
from supramap.conduction.noise import NoiseFloor, estimate_noise
from supramap.data import pixel_size, require_image
from supramap.errors import AnalysisError

#: Candidate conducting pixels lie this many noise σ above the offset.
DETECT_SIGMA = 10.0
#: Plateau pixels: the current varies by less than this share across the 3 × 3 neighbourhood.
PLATEAU_RANGE = 0.25
#: Auto threshold = this share of the weakest level (half maximum: the edge midpoint).
HALF_MAXIMUM = 0.5


@dataclass(frozen=True)
class ConductionResult:
    """Everything :func:`analyze` measures on one current map (SI units throughout).

    Attributes
    ----------
    polarity : int
        +1 when conduction gives positive current, −1 when negative (negative bias).
    noise : NoiseFloor
    threshold_A, threshold_source :
        Threshold between insulating and conducting and how it was chosen.
    conducting_fraction : float
        Share of valid pixels above the threshold.
    conducting_fraction_interval : (float, float)
        The fraction at thresholds × (1 ∓ ``sensitivity``).
    levels : Levels
    islands : list of Island
    edges : EdgeWidths
    dynamic_range_decades : float
        ``log10(strongest level or 99.9th percentile / noise floor)``.
    artefacts : ArtefactCheck or None
    mask, labels : ndarray
        Conducting mask and island labels (not serialised).
    """

    polarity: int
    noise: NoiseFloor
    threshold_A: float
    threshold_source: str
    conducting_fraction: float
    conducting_fraction_interval: tuple[float, float]
    levels: Levels
    islands: list[Island]
    edges: EdgeWidths
    dynamic_range_decades: float
    pixel_size_m: tuple[float, float]
    shape: tuple[int, int]
    artefacts: ArtefactCheck | None
    mask: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    oriented_current: np.ndarray = field(repr=False)

    @property
    def n_islands(self) -> int:
        """Number of islands."""
        return len(self.islands)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the keys of ``supramap cafm analyze --json``)."""
        out: dict[str, Any] = {
            "noise_floor_A": self.noise.floor_A,
            "noise_sigma_A": self.noise.sigma_A,
            "noise_offset_A": self.noise.offset_A,
            "threshold_A": self.threshold_A,
            "threshold_source": self.threshold_source,
            "polarity": self.polarity,
            "conducting_fraction": self.conducting_fraction,
            "conducting_fraction_interval": list(self.conducting_fraction_interval),
            "n_islands": self.n_islands,
            "n_stripes": sum(i.is_stripe for i in self.islands),
            "islands": [asdict(i) for i in self.islands],
            "levels_A": list(self.levels.levels_A),
            "level_sigmas_A": list(self.levels.sigmas_A),
            "level_fractions": list(self.levels.fractions),
            "level_bic": {str(k): v for k, v in self.levels.bic.items()},
            "edge_width_m": self.edges.median_m,
            "edge_width_quartiles_m": (
                [float(np.percentile(self.edges.widths_m, q)) for q in (25, 75)]
                if self.edges.widths_m.size else [None, None]),
            "edge_profiles_used": int(self.edges.widths_m.size),
            "dynamic_range_decades": self.dynamic_range_decades,
            "pixel_size_m": list(self.pixel_size_m),
            "shape": list(self.shape),
        }
        if self.artefacts is not None:
            out["topography_correlation"] = {
                "spearman_rho": self.artefacts.correlations,
                "max_abs_rho": self.artefacts.max_abs_rho,
                "explained": self.artefacts.explained,
                "verdict": self.artefacts.verdict,
            }
        return out


def _polarity(current: xr.DataArray, values: np.ndarray) -> int:
    bias = current.attrs.get("bias_V")
    if isinstance(bias, (int, float)) and bias != 0 and np.isfinite(bias):
        return 1 if bias > 0 else -1
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1
    lo, hi = np.percentile(finite, [0.01, 99.99])
    med = np.median(finite)
    return 1 if (hi - med) >= (med - lo) else -1


def plateau_pixels(values: np.ndarray, detect: float) -> np.ndarray:
    """Conducting pixels away from edges: the whole 3 × 3 neighbourhood is above *detect* and
    varies by less than ``PLATEAU_RANGE`` of the pixel's current."""
    z = np.nan_to_num(values, nan=-np.inf)
    lo = ndimage.minimum_filter(z, size=3, mode="nearest")
    hi = ndimage.maximum_filter(np.nan_to_num(values, nan=np.inf), size=3, mode="nearest")
    return (lo > detect) & (hi - lo < PLATEAU_RANGE * np.abs(z))


def _level_samples(values: np.ndarray, detect: float) -> np.ndarray:
    """Currents to cluster into levels: plateau pixels, or — when features are too small to
    have a plateau (metastable dots of a few pixels) — the peak current of each feature."""
    core = plateau_pixels(values, detect)
    if core.sum() >= 20:
        return values[core]
    lab, n = ndimage.label(np.nan_to_num(values, nan=-np.inf) > detect,
                           structure=np.ones((3, 3)))
    if n < 3:
        return np.array([])
    return np.asarray(ndimage.maximum(values, lab, index=np.arange(1, n + 1)))


def analyze(current: xr.DataArray, *, topography: xr.DataArray | None = None,
            deflection: xr.DataArray | None = None, threshold: float | str = "auto",
            max_levels: int = 5, sensitivity: float = 0.5, min_island_pixels: int = 3,
            max_edge_profiles: int = 2000) -> ConductionResult:
    """Quantify heterogeneous conduction in a cAFM current map.

    Parameters
    ----------
    current : DataArray (y, x)
        Current in A (``attrs["units"] == "A"``); ``attrs["bias_V"]`` sets the polarity.
    topography, deflection : DataArray (y, x), optional
        Recorded alongside; used to check that they do not explain the current.
    threshold : "auto" or float
        Conducting threshold in A.  ``"auto"``: each island is cut at half of its own current
        level (the half-maximum contour is the edge midpoint), and ``threshold_A`` reports half
        the weakest level; with no level found (no conduction), ``offset + 10 σ`` of the noise.
        A number: one global cut.
    max_levels : int
        Most current levels considered.
    sensitivity : float
        The fraction interval uses thresholds × (1 − s) and × (1 + s).
    min_island_pixels : int
        Smaller conducting components are not counted as islands.

    Notes
    -----
    The noise floor assumes an insulating majority (as in the published Fe(Se,Te) maps); when
    more than half of the map conducts, supply the threshold.
    """
    require_image(current, name="current")
    unit = current.attrs.get("units", "A")
    if unit not in ("A", ""):
        raise AnalysisError(f"current map must be in A, got units {unit!r}")
    raw = np.asarray(current.values, dtype=float)
    if not np.isfinite(raw).any():
        raise AnalysisError("current map has no valid pixel")
    polarity = _polarity(current, raw)
    values = polarity * raw
    noise = estimate_noise(values)
    detect = noise.above(DETECT_SIGMA)
    levels = find_levels(_level_samples(values, detect), max_levels=max_levels)
    lv = np.asarray(levels.levels_A, dtype=float)
    if threshold == "auto":
        if lv.size:
            thr = max(HALF_MAXIMUM * float(lv[0]), detect)
            source = "auto: half maximum of each island's level"
        else:
            thr = detect
            source = f"auto: noise offset + {DETECT_SIGMA:g} sigma (no conducting level found)"
    else:
        try:
            thr = float(threshold)
        except (TypeError, ValueError):
            raise AnalysisError(f"threshold must be 'auto' or a current in A, got {threshold!r}")\
                from None
        if not np.isfinite(thr):
            raise AnalysisError(f"threshold must be finite, got {threshold!r}")
        source = "user"
    local = threshold == "auto" and lv.size > 0
    x = np.asarray(current.x.values)
    y = np.asarray(current.y.values)

    def classify(scale: float) -> np.ndarray:
        """Conducting mask at *scale* × the threshold (local half maximum when automatic)."""
        base = np.isfinite(values) & (values > scale * thr)
        if not local:
            return base
        # Each island is cut at half of its own level, so the mask follows the edge midpoint
        # of strong and weak islands alike (one global cut would sit low on strong edges).
        lab, n = ndimage.label(base, structure=np.ones((3, 3)))
        if n == 0:
            return base
        peak = np.asarray(ndimage.maximum(values, lab, index=np.arange(1, n + 1)))
        own = lv[np.argmin(np.abs(peak[:, None] - lv[None, :]), axis=1)]
        cut = np.concatenate([[np.inf], scale * np.maximum(HALF_MAXIMUM * own, thr)])
        return base & (values > cut[lab])

    mask = classify(1.0)
    valid = int(np.isfinite(values).sum())
    fraction = float(mask.sum() / valid)
    interval = (float(classify(1 + sensitivity).sum() / valid),
                float(classify(1 - sensitivity).sum() / valid))
    labels, islands = find_islands(mask, values, x=x, y=y, min_pixels=min_island_pixels,
                                   levels=levels.levels_A)
    edges = boundary_edge_widths(current.copy(data=values), labels > 0, thr,
                                 max_profiles=max_edge_profiles)
    top = max(levels.levels_A) if levels.levels_A else float(np.nanpercentile(values, 99.9))
    floor = max(noise.floor_A, noise.sigma_A)
    dyn = float(np.log10(top / floor)) if top > 0 and floor > 0 else float("nan")
    artefacts = None
    if topography is not None or deflection is not None:
        artefacts = check_artefacts(values, topography=topography, deflection=deflection)
    return ConductionResult(
        polarity=polarity, noise=noise, threshold_A=float(thr), threshold_source=source,
        conducting_fraction=fraction, conducting_fraction_interval=interval, levels=levels,
        islands=islands, edges=edges, dynamic_range_decades=dyn,
        pixel_size_m=pixel_size(current), shape=tuple(current.shape), artefacts=artefacts,
        mask=mask, labels=labels, oriented_current=values,
    )
