"""Heterogeneous conduction in a conductive-AFM current map: the full analysis."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np
import xarray as xr
from scipy import ndimage

from supramap.conduction.artefacts import ArtefactCheck, check_artefacts
from supramap.conduction.edges import EdgeWidths, boundary_edge_widths
from supramap.conduction.islands import Island, find_islands
from supramap.conduction.levels import Levels, find_levels
from supramap.conduction.noise import NoiseFloor, estimate_noise
from supramap.conduction.tipchange import image_tip_changes, tip_change_warnings
from supramap.conduction.uncertainty import (
    WIDTH_10_90_PER_SIGMA,
    flip_variance,
    fraction_interval,
    level_errors,
)
from supramap.data import pixel_size, require_image
from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.quality import (
    QualityWarning,
    as_warnings,
    interval_90,
    warn,
    warnings_to_list,
)
from supramap.spm import extreme, nan_gaussian
from supramap.spm.health import offset_jump_warnings, offset_jumps
from supramap.spm.labels import label_max

#: Candidate conducting pixels lie this many noise σ above the offset.
DETECT_SIGMA = 10.0
#: Plateau pixels: the current varies by less than this share across the 3 × 3 neighbourhood.
PLATEAU_RANGE = 0.25
#: Auto threshold = this share of the weakest level (half maximum: the edge midpoint).
HALF_MAXIMUM = 0.5
#: Radius (px) of the neighbourhood whose highest current sets a pixel's local level.
LOCAL_PX = 3


@displayable
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
        The fraction at thresholds × (1 ∓ ``sensitivity``): how much the cut matters.
    conducting_fraction_interval_90 : (float, float)
        90 % interval of the true conducting area fraction (edge pixels, noise at the cut and
        the tip's rounding of islands; :mod:`supramap.conduction.uncertainty`).
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
    conducting_fraction_interval_90: tuple[float, float]
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
    warnings: tuple[QualityWarning, ...] = ()
    #: Standard error of each level's mean (from scan-line means; see
    #: :func:`supramap.conduction.uncertainty.level_errors`).
    level_errors_A: tuple[float, ...] = ()
    #: Tip changes read from the map (:mod:`supramap.conduction.tipchange`).
    tip_changes: tuple = ()
    #: Lasting height offsets between scan lines of the topography given with the map
    #: (:func:`supramap.spm.health.offset_jumps`): a tip change seen in the topography.
    topography_jumps: tuple = ()

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
            "conducting_fraction_interval_90": list(self.conducting_fraction_interval_90),
            "n_islands": self.n_islands,
            "n_stripes": sum(i.is_stripe for i in self.islands),
            "islands": [asdict(i) for i in self.islands],
            "levels_A": list(self.levels.levels_A),
            "level_sigmas_A": list(self.levels.sigmas_A),
            "level_errors_A": list(self.level_errors_A),
            "level_intervals_90_A": [interval_90(v, e) for v, e in
                                     zip(self.levels.levels_A, self.level_errors_A)],
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
            "tip_changes": [asdict(c) for c in self.tip_changes],
            "topography_jumps": [asdict(j) for j in self.topography_jumps],
            "warnings": warnings_to_list(self.warnings),
        }
        if self.artefacts is not None:
            out["topography_correlation"] = {
                "spearman_rho": self.artefacts.correlations,
                "max_abs_rho": self.artefacts.max_abs_rho,
                "explained": self.artefacts.explained,
                "verdict": self.artefacts.verdict,
            }
        return out


def _polarity(current: xr.DataArray, values: np.ndarray) -> tuple[int, QualityWarning | None]:
    """+1 or −1 from the data: conduction is the long tail away from the (insulating)
    median.  The bias attribute only breaks a tie: instruments and converters disagree on its
    sign (a Createc-converted .sxm has −3.04 V and positive conducting currents)."""
    bias = current.attrs.get("bias_V")
    from_bias = (1 if bias > 0 else -1) if isinstance(bias, (int, float)) and bias != 0 \
        and np.isfinite(bias) else None
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 1, None
    # Conduction is the side that reaches far from zero current: measured from zero, not from
    # the median, so a map whose superconducting pixels are the majority is not inverted.
    lo, hi = np.percentile(finite, [0.01, 99.99])
    up, down = max(hi, 0.0), max(-lo, 0.0)
    if max(up, down) <= 0 or abs(up - down) <= 0.1 * max(up, down):
        return (from_bias or 1), None
    data = 1 if up > down else -1
    if from_bias is not None and from_bias != data:
        return data, warn("cafm.polarity_from_data",
                          f"the conducting tail has the sign {data:+d} although the bias is "
                          f"{bias:g} V: the data decide (instrument sign conventions differ)",
                          bias_V=bias, polarity=data)
    return data, None


def orient(current: xr.DataArray) -> tuple[np.ndarray, QualityWarning | None]:
    """The current map with conduction positive (the sign that reaches far from zero; see
    :func:`analyze`), and the warning when that disagrees with the bias attribute."""
    raw = np.asarray(current.values, dtype=float)
    polarity, w = _polarity(current, raw)
    return polarity * raw, w


def check_not_feedback(current: xr.DataArray) -> None:
    """Refuse a current image taken under current feedback (constant-current STM): the Z
    controller held the current at its setpoint, so the image is the feedback error, not
    where the sample conducts."""
    a = current.attrs
    if a.get("z_controller_on") == 1 and str(a.get("z_setpoint_unit", "")).strip() == "A":
        sp = a.get("z_setpoint")
        raise AnalysisError(
            f"the file says the Z controller ({a.get('z_controller', 'current feedback')}) "
            f"held the current at {sp:.3g} A during this image: a constant-current STM image, "
            "whose current channel is the feedback error, not a conduction map (cAFM maps "
            "are taken with the feedback on deflection); --ignore-feedback analyses it anyway"
            if isinstance(sp, (int, float)) else
            "the file says the current feedback was on during this image (constant-current "
            "STM): not a conduction map; --ignore-feedback analyses it anyway")


def saturation_warning(raw: np.ndarray) -> QualityWarning | None:
    """Pixels pinned at the extreme value of the map (the preamplifier's or ADC's limit):
    at least 0.5 % of the valid pixels, and 20 or more, share exactly the largest (or
    smallest) value.  Their current is a bound, not a measurement."""
    finite = raw[np.isfinite(raw)]
    if finite.size < 100:
        return None
    for end in (float(finite.max()), float(finite.min())):
        if end == 0:
            continue
        n = int(np.count_nonzero(finite == end))
        if n >= 20 and n >= 0.005 * finite.size:
            return warn("cafm.saturated",
                        f"{100 * n / finite.size:.1f} % of the pixels sit exactly at "
                        f"{end:.4g} A, the map's extreme: the preamplifier or ADC saturated "
                        "there, so their current (and any level at it) is a bound, not a "
                        "measurement", saturated_fraction=n / finite.size, limit_A=end)
    return None


def plateau_pixels(values: np.ndarray, detect: float) -> np.ndarray:
    """Conducting pixels away from edges: the whole 3 × 3 neighbourhood is above *detect* and
    varies by less than ``PLATEAU_RANGE`` of the pixel's current."""
    # Two full-size work arrays reused in place (this was the peak memory of a 4096²
    # analysis); copies of the map only where NaN must be replaced.
    finite = bool(np.isfinite(values).all())
    z = values if finite else np.nan_to_num(values, nan=-np.inf)
    lo = extreme.minimum_filter(z, 3)
    hi = extreme.maximum_filter(values if finite else np.nan_to_num(values, nan=np.inf), 3)
    above = lo > detect
    np.subtract(hi, lo, out=hi)  # the 3 × 3 range
    np.abs(z, out=lo)
    lo *= PLATEAU_RANGE
    return above & (hi < lo)


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
    return label_max(values, lab, n)


def analyze(current: xr.DataArray, *, topography: xr.DataArray | None = None,
            deflection: xr.DataArray | None = None, threshold: float | str = "auto",
            max_levels: int = 5, sensitivity: float = 0.5, min_island_pixels: int = 3,
            max_edge_profiles: int = 2000, mask: np.ndarray | None = None,
            check_feedback: bool = True) -> ConductionResult:
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
    mask : bool array (y, x), optional
        The conducting pixels as the user drew or computed them (e.g. in Gwyddion): used in
        place of the threshold classification; noise, levels, islands and edges are measured
        on it, the fraction interval is the fraction itself.
    check_feedback : bool
        Refuse a current image that the file says was taken with the Z controller holding
        the current (``z_controller_on`` with a setpoint in A: a constant-current STM image,
        whose current is the feedback error).  False analyses it anyway.

    Notes
    -----
    The noise floor assumes an insulating majority (as in the published Fe(Se,Te) maps); when
    more than half of the map conducts, supply the threshold.
    """
    require_image(current, name="current")
    unit = current.attrs.get("units", "A")
    if unit not in ("A", ""):
        raise AnalysisError(f"current map must be in A, got units {unit!r}")
    if check_feedback:
        check_not_feedback(current)
    raw = np.asarray(current.values, dtype=float)
    if not np.isfinite(raw).any():
        raise AnalysisError("current map has no valid pixel")
    ws: list[QualityWarning] = [saturation_warning(raw)]
    if not np.nanmax(raw) > np.nanmin(raw):
        raise AnalysisError(f"current map is constant ({np.nanmax(raw):g} A everywhere): "
                            "nothing to analyse (wrong channel?)")
    polarity, pw = _polarity(current, raw)
    ws.append(pw)
    values = polarity * raw
    noise = estimate_noise(values)
    # The noise floor is the lowest current population, whatever share of the map it has.
    # When even that lies far from zero, no pixel is insulating: the map conducts everywhere.
    everywhere = noise.offset_A > 20 * noise.sigma_A and noise.offset_A > 0
    if everywhere:
        ws.append(warn("cafm.no_insulating_background",
                       f"the lowest current in the map is {noise.offset_A:.3g} A, "
                       f"{noise.offset_A / noise.sigma_A:.0f}σ away from zero: no pixel is "
                       "insulating, so the map is analysed as conducting everywhere"
                       + (" (cut at half that current)" if threshold == "auto" else "")
                       + "; if the background is an amplifier offset or the image a "
                       "constant-current one, give --threshold",
                       offset_A=noise.offset_A, sigma_A=noise.sigma_A))
    detect = noise.above(DETECT_SIGMA)
    levels = find_levels(_level_samples(values, detect), max_levels=max_levels)
    # Near the noise floor (a level under 20σ, or no level although many pixels lie beyond
    # 5σ) the map is classified after a 1-px Gaussian smoothing, which lowers the pixel noise
    # ~3.5×: levels down to ~5σ of the raw map are then resolved and cut at their half maximum
    # without a speckle of noise pixels.
    graded = values
    sigma_graded = noise.sigma_A  # the noise of the map the classification is made on
    beyond5 = _share_above(values, noise.above(5.0))
    weakest = min(levels.levels_A) if levels.levels_A else np.inf
    if (not levels.levels_A and beyond5 > 0.002) or \
            (levels.levels_A and weakest < noise.offset_A + 20 * noise.sigma_A) or \
            beyond5 > 1.5 * _share_above(values, detect):
        smooth = nan_gaussian(values, 1.0)
        noise_s = estimate_noise(smooth)
        detect_s = noise_s.above(DETECT_SIGMA)
        levels_s = find_levels(_level_samples(smooth, detect_s), max_levels=max_levels)
        # Adopted when it resolves more or weaker levels, or when the raw map's detection cut
        # (10σ) lies above half the weakest level: cutting there would count only the
        # islands' noisy tops (levels at 11σ: a third of the conducting area).
        if levels_s.levels_A and (len(levels_s.levels_A) > len(levels.levels_A) or
                                  min(levels_s.levels_A) < 0.8 * weakest or
                                  HALF_MAXIMUM * weakest < detect):
            graded, levels, detect = smooth, levels_s, detect_s
            sigma_graded = noise_s.sigma_A
            ws.append(warn("cafm.weak_levels",
                           f"the weakest current level ({min(levels.levels_A):.3g} A) lies only "
                           f"{(min(levels.levels_A) - noise.offset_A) / noise.sigma_A:.1f}σ "
                           "above the noise: the map was classified after a 1-px Gaussian "
                           "smoothing; treat the fraction as ± its interval",
                           weakest_level_A=min(levels.levels_A), noise_sigma_A=noise.sigma_A))
    lv = np.asarray(levels.levels_A, dtype=float)
    if threshold == "auto" and everywhere:
        thr = HALF_MAXIMUM * noise.offset_A
        source = "auto: no insulating background, every pixel above half the lowest current"
    elif threshold == "auto":
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
        if thr <= noise.offset_A:
            raise AnalysisError(f"threshold {thr:g} A lies at or below the noise offset "
                                f"({noise.offset_A:g} A): every pixel would 'conduct'; give a "
                                "current above the insulating background")
        source = "user"
    local = threshold == "auto" and lv.size > 0 and not everywhere
    x = np.asarray(current.x.values)
    y = np.asarray(current.y.values)

    if local:
        # The local level: the level nearest to the highest current within LOCAL_PX pixels.
        # Each pixel is then cut at half of the level around it, so the mask follows the edge
        # midpoint of strong and weak parts alike — also inside one connected region holding
        # two levels (a stripe of 3.5 and 5.5 µA), where one cut per region would eat the
        # weaker part's edges.
        near = extreme.maximum_filter(np.nan_to_num(graded, nan=-np.inf), 2 * LOCAL_PX + 1)
        # The nearest level, one level at a time (an (ny, nx, levels) difference array was
        # the largest allocation of the analysis: 640 MB at 4096²).
        own = np.full(near.shape, lv[0])
        best = np.abs(near - lv[0])
        for level in lv[1:]:
            d = np.abs(near - level)
            closer = d < best
            own[closer], best[closer] = level, d[closer]
        del near, best
        local_cut = np.maximum(HALF_MAXIMUM * own, thr)
        del own

    def classify(scale: float) -> np.ndarray:
        """Conducting mask at *scale* × the threshold (local half maximum when automatic)."""
        base = np.isfinite(graded) & (graded > scale * thr)
        if not local:
            return base
        return base & (graded > scale * local_cut)

    valid = int(np.isfinite(values).sum())
    if mask is not None:
        user = np.asarray(mask)
        if user.shape != values.shape:
            raise AnalysisError(f"the mask's shape {user.shape} differs from the map's "
                                f"{values.shape}")
        mask = (user.astype(bool)) & np.isfinite(values)
        fraction = float(mask.sum() / valid)
        interval = (fraction, fraction)
        source = "user mask"
    else:
        mask = classify(1.0)
        fraction = float(mask.sum() / valid)
        interval = (float(classify(1 + sensitivity).sum() / valid),
                    float(classify(1 - sensitivity).sum() / valid))
        flips = flip_variance(graded, local_cut if local else thr, sigma_graded)
    # The classification is done: its full-size map of local cuts is freed before the islands
    # are measured (the peak memory of a 4096² analysis came after it).
    local_cut = None  # noqa: F841 — read by classify(), which is not called again
    labels, islands = find_islands(mask, values, x=x, y=y, min_pixels=min_island_pixels,
                                   levels=levels.levels_A)
    if levels.levels_A:
        refined, level_err = level_errors(graded, mask, levels.levels_A, levels.sigmas_A,
                                          raw=values)
        levels = replace(levels, levels_A=tuple(refined))
        level_err = tuple(level_err)
    else:
        level_err = ()
    edges, edge_warning = _edges(current.copy(data=values), labels > 0, thr,
                                 max_edge_profiles)
    ws.append(edge_warning)
    if source == "user mask":
        interval_90 = (fraction, fraction)
    else:
        dy_, dx_ = pixel_size(current)
        edge_px = edges.median_m / np.sqrt(abs(dx_ * dy_)) / WIDTH_10_90_PER_SIGMA
        if graded is not values:
            # Classified after the 1-px Gaussian: the edges are blurred more, and the noise
            # of neighbouring pixels is correlated, so their flips at the cut come in runs
            # along the edge of 2√π σ = 3.5 px.
            edge_px = float(np.hypot(edge_px if np.isfinite(edge_px) else 0.0, 1.0))
            flips *= 2 * np.sqrt(np.pi)
        interval_90 = fraction_interval(mask, valid, flip_var=flips, edge_sigma_px=edge_px,
                                        rounding=source.startswith("auto"))
    top = max(levels.levels_A) if levels.levels_A else float(np.nanpercentile(values, 99.9))
    floor = max(noise.floor_A, noise.sigma_A)
    dyn = float(np.log10(top / floor)) if top > 0 and floor > 0 else float("nan")
    artefacts = None
    if topography is not None or deflection is not None:
        artefacts = check_artefacts(values, topography=topography, deflection=deflection)
    if mask.sum() == 0:
        above = values[np.isfinite(values)] > noise.above(5.0)
        if threshold != "auto" and np.nanmax(values) <= thr:
            ws.append(warn("cafm.threshold_above_max",
                           f"the threshold {thr:g} A lies above every pixel (max "
                           f"{np.nanmax(values):g} A): fraction 0 says nothing about the map",
                           threshold_A=thr, max_A=float(np.nanmax(values))))
        elif above.mean() > 0.001:
            ws.append(warn("cafm.below_detection",
                           f"{100 * above.mean():.2f} % of the pixels lie 5–10σ above the noise "
                           "but no conducting level is resolved: conduction, if any, is below "
                           "the detection limit (10σ); the fraction 0 is a lower bound",
                           pixels_above_5_sigma=float(above.mean()),
                           noise_sigma_A=noise.sigma_A))
        else:
            ws.append(warn("cafm.no_conduction",
                           "no pixel conducts above the noise floor: the map shows no conduction",
                           noise_floor_A=noise.floor_A))
    # The tip's health along the slow axis: its edges' apparent width and the plateaus'
    # current, line by line.
    changes = tuple(image_tip_changes(values, mask, levels.levels_A, labels)) \
        if mask.any() else ()
    ws += tip_change_warnings(list(changes), values.shape[0])
    jumps: tuple = ()
    if topography is not None and topography.ndim == 2:
        # … and in the topography recorded with it (raw: line alignment removes the offsets).
        jumps = tuple(offset_jumps(np.asarray(topography.values, dtype=float)))
        ws += offset_jump_warnings(list(jumps), topography.shape[0],
                                   units=str(topography.attrs.get("units", "m")))
    return ConductionResult(
        polarity=polarity, noise=noise, threshold_A=float(thr), threshold_source=source,
        conducting_fraction=fraction, conducting_fraction_interval=interval,
        conducting_fraction_interval_90=interval_90, levels=levels,
        islands=islands, edges=edges, dynamic_range_decades=dyn,
        pixel_size_m=pixel_size(current), shape=tuple(current.shape), artefacts=artefacts,
        mask=mask, labels=labels, oriented_current=values, warnings=as_warnings(ws),
        level_errors_A=level_err, tip_changes=changes, topography_jumps=jumps,
    )


def _share_above(values: np.ndarray, level: float) -> float:
    n = max(int(np.isfinite(values).sum()), 1)
    return float(np.count_nonzero(values > level)) / n  # NaN compares False


def _edges(current: xr.DataArray, mask: np.ndarray, thr: float, max_profiles: int,
           ) -> tuple[EdgeWidths, QualityWarning | None]:
    """10–90 % edge widths with profiles long enough to reach both plateaus.

    The first pass samples ±5 px with plateaus 2.5–4 px from the boundary; a broad edge (a
    150 nm edge on 10 nm pixels) does not reach its plateaus there and reads too narrow, so
    the profiles are lengthened to the measured width until they do (three passes at most);
    if they never do, or no profile is usable, the result carries a warning.
    """
    dy, dx = pixel_size(current)
    px = min(dx, dy)
    half, plateau = 5.0, (2.5, 4.0)
    edges = boundary_edge_widths(current, mask, thr, max_profiles=max_profiles)
    for _ in range(3):
        if not np.isfinite(edges.median_m):
            if not mask.any():
                break
            # No profile reached a plateau: perhaps a broad edge; look further out.
            plateau = (plateau[0] * 2, plateau[1] * 2)
            half = plateau[1] + 1.0
            edges = boundary_edge_widths(current, mask, thr, max_profiles=max_profiles,
                                         half_length_px=half, plateau_px=plateau)
            continue
        w = edges.median_m / px
        if plateau[0] >= 0.75 * w + 1.0:
            return edges, None
        plateau = (0.75 * w + 1.5, 1.25 * w + 2.5)
        half = plateau[1] + 1.0
        edges = boundary_edge_widths(current, mask, thr, max_profiles=max_profiles,
                                     half_length_px=half, plateau_px=plateau)
    if not np.isfinite(edges.median_m):
        if mask.any():
            return edges, warn("cafm.edges_unmeasured",
                               "no edge profile reaches a conducting plateau and an insulating "
                               "floor (islands too small or too close): no edge width")
        return edges, None
    return edges, warn("cafm.edges_broad",
                       f"the edges ({edges.median_m:.3g} m) are broad compared with "
                       "the space around the islands: the profiles do not reach both "
                       "plateaus, so the 10–90 % width is a lower bound",
                       edge_width_m=edges.median_m)
