"""Two maps of the same area: forward/backward traces, or two temperatures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from skimage import measure

from supramap.conduction.analysis import ConductionResult, analyze
from supramap.data import pixel_size, require_image
from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.quality import QualityWarning, as_warnings, warn, warnings_to_list
from supramap.spm import align_rows, plane_level, register, remove_scars, shift_image
from supramap.spm.register import rotate_values

#: Conducting features up to this equivalent diameter count as "spots" (metastable dots).
SPOT_MAX_DIAMETER_M = 200e-9


@displayable
@dataclass(frozen=True)
class Comparison:
    """Overlap of the conducting masks of map A and map B (B registered onto A).

    Fractions are relative to A's conducting area inside the common valid region:
    ``persistent`` = |A∩B|/|A|, ``vanished`` = |A∖B|/|A|, ``appeared`` = |B∖A|/|A|;
    ``iou`` = |A∩B|/|A∪B|.  With no conduction in A they are NaN.

    Spots are conducting components with equivalent diameter ≤ ``spot_max_diameter_m``;
    ``spots_only_a`` / ``spots_only_b`` are those with no overlap in the other map.
    ``islands_returned`` lists the labels of A's islands that overlap B's mask.
    """

    shift_px: tuple[float, float]
    shift_m: tuple[float, float]
    registered_on: str
    registration_quality: float
    iou: float
    persistent_fraction: float
    vanished_fraction: float
    appeared_fraction: float
    fraction_a: float
    fraction_b: float
    spot_diameters_m: np.ndarray
    spots_a: int
    spots_b: int
    spots_only_a: int
    spots_only_b: int
    spot_max_diameter_m: float
    islands_returned: list[int]
    n_islands_a: int
    result_a: ConductionResult = field(repr=False)
    result_b: ConductionResult = field(repr=False)
    mask_a: np.ndarray = field(repr=False)
    mask_b: np.ndarray = field(repr=False)
    registration_method: str = ""
    warnings: tuple[QualityWarning, ...] = ()
    rotation_deg: float = 0.0
    #: Change of the fast-axis shift between the topographies from the first scan line to the
    #: last (px): thermal drift or creep that one registration shift cannot undo.
    drift_px: float = float("nan")

    @property
    def spot_diameter_m(self) -> float:
        """Median equivalent diameter of the spots in either map (NaN if none)."""
        d = self.spot_diameters_m
        return float(np.median(d)) if d.size else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the keys of ``supramap cafm compare --json``)."""
        d = self.spot_diameters_m
        return {
            "shift_px": list(self.shift_px),
            "shift_m": list(self.shift_m),
            "registered_on": self.registered_on,
            "registration_quality": self.registration_quality,
            "registration_method": self.registration_method,
            "rotation_deg": self.rotation_deg,
            "scan_drift_px": self.drift_px,
            "warnings": warnings_to_list(self.warnings),
            "iou": self.iou,
            "persistent_fraction": self.persistent_fraction,
            "appeared_fraction": self.appeared_fraction,
            "vanished_fraction": self.vanished_fraction,
            "conducting_fraction_a": self.fraction_a,
            "conducting_fraction_b": self.fraction_b,
            "spot_diameter_m": self.spot_diameter_m,
            "spot_diameters_m": d.tolist(),
            "spot_diameter_quartiles_m": ([float(np.percentile(d, q)) for q in (25, 75)]
                                          if d.size else [None, None]),
            "n_spots_a": self.spots_a,
            "n_spots_b": self.spots_b,
            "n_spots_only_a": self.spots_only_a,
            "n_spots_only_b": self.spots_only_b,
            "spot_max_diameter_m": self.spot_max_diameter_m,
            "n_islands_a": self.n_islands_a,
            "islands_returned": self.islands_returned,
            "islands_returned_fraction": (len(self.islands_returned) / self.n_islands_a
                                          if self.n_islands_a else None),
        }


#: Drift along the slow axis (px, first line to last) that draws a warning; a constant
#: lag between forward and backward is undone by the registration and is not drift.  On
#: generated pairs the estimate of no drift stayed below 0.08 px, of 1 px within 0.1 px.
DRIFT_WARN_PX = 0.5
#: Band shifts scattered about their line by more than this (px rms) measure no drift: a
#: featureless topography (a public AFM scan of a bare tilted plane read "−23 px" from
#: shifts of −1 to −118 px).  Generated pairs scatter < 0.1 px; a real creeping one 0.3 px.
BAND_SCATTER_PX = 1.0


def scan_drift(a: np.ndarray, b: np.ndarray, bands: int = 8) -> float:
    """The change of the fast-axis shift of *b* against *a* from the first measured line to
    the last (px): a line fitted to the shifts of :func:`supramap.spm.register.band_shifts`
    (an aborted scan's empty lines do not lengthen it)."""
    from supramap.spm.register import band_shifts

    rows, shifts = band_shifts(a, b, bands=bands)
    ok = np.isfinite(shifts)
    if ok.sum() < 3:
        return float("nan")
    slope, icpt = np.polyfit(rows[ok], shifts[ok], 1)
    if np.std(shifts[ok] - (slope * rows[ok] + icpt)) > BAND_SCATTER_PX:
        return float("nan")  # the bands disagree: nothing to register on (a bare plane)
    measured = np.nonzero(np.isfinite(a).all(axis=1) & np.isfinite(b).all(axis=1))[0]
    return float(slope * (measured[-1] - measured[0]))


def _clean_topography(topo: xr.DataArray) -> xr.DataArray:
    return remove_scars(align_rows(plane_level(topo), "median"))


def _spots(mask: np.ndarray, other: np.ndarray, area_px: float, max_d: float,
           ) -> tuple[np.ndarray, int, int]:
    lab = measure.label(mask, connectivity=2)
    if lab.max() == 0:
        return np.array([]), 0, 0
    sizes = np.bincount(lab.ravel())[1:]
    diam = np.sqrt(4 * sizes * area_px / np.pi)
    small = diam <= max_d
    overlap = np.bincount(lab[other & (lab > 0)], minlength=lab.max() + 1)[1:] > 0
    return diam[small], int(small.sum()), int((small & ~overlap).sum())


def compare(a: xr.DataArray, b: xr.DataArray, *, topography_a: xr.DataArray | None = None,
            topography_b: xr.DataArray | None = None, threshold: float | str = "auto",
            spot_max_diameter_m: float = SPOT_MAX_DIAMETER_M, upsample: int = 50,
            ) -> Comparison:
    """Compare the conduction of two current maps of one area.

    B is registered onto A by phase correlation on the (levelled, scar-corrected)
    topographies when both are given — the current itself changes between the maps, so it
    is not used for registration.  Each map is thresholded on its own grid (its own automatic
    threshold unless *threshold* is given) and B's mask is carried onto A's grid.
    ``registration_quality`` is the registration's confidence (the normalised correlation of
    the topographies over their overlap after the shift, plane-corrected); a low one is a
    warning.
    """
    require_image(a, name="map A")
    require_image(b, name="map B")
    if a.shape != b.shape:
        raise AnalysisError(f"maps differ in shape: {a.shape} vs {b.shape}")
    if (topography_a is None) != (topography_b is None):
        raise AnalysisError("give both topographies or neither")
    dy, dx = pixel_size(a)
    ws: list[QualityWarning] = []
    method = ""
    if topography_a is not None and topography_b is not None:
        ta, tb = _clean_topography(topography_a), _clean_topography(topography_b)
        reg = register(ta, tb, upsample=upsample)
        rotation = reg.rotation_deg
        shift_px, shift_m, on = reg.shift_px, reg.shift_m, "topography"
        err, method = reg.confidence, reg.method
        ws.extend(reg.warnings)
        drift = scan_drift(ta.values, tb.values) if not rotation else float("nan")
        if np.isfinite(drift) and abs(drift) >= DRIFT_WARN_PX:
            ws.append(warn("compare.scan_drift",
                           f"the shift between the two scans changes by {drift:+.2f} px along "
                           "the slow axis (drift or creep during the scan): one registration "
                           "shift leaves the ends misaligned by up to half that, so small "
                           "spots near them may 'appear' or 'vanish' by misalignment alone",
                           drift_px=drift, shift_px=float(reg.shift_px[1])))
    else:
        shift_px, shift_m, err, on = (0.0, 0.0), (0.0, 0.0), float("nan"), "none"
        rotation = 0.0
        drift = float("nan")
        ws.append(warn("registration.none",
                       "no topographies given: the maps are compared pixel by pixel without "
                       "registration, so any drift between the scans counts as change (give "
                       "--topography-a and --topography-b)"))
    # Each map is analysed on its own grid (no interpolated currents); B's *mask* is then
    # carried onto A's grid, so a sub-pixel registration jitter cannot reshape small dots.
    ra = analyze(a, threshold=threshold)
    rb = analyze(b, threshold=threshold)
    mask_b = xr.DataArray(rb.mask.astype(float), dims=b.dims, coords=b.coords, attrs=b.attrs)
    valid_b = xr.DataArray(np.isfinite(np.asarray(b.values)).astype(float), dims=b.dims,
                           coords=b.coords, attrs=b.attrs)
    if rotation:
        mask_b = mask_b.copy(data=np.nan_to_num(rotate_values(mask_b.values, rotation)))
        valid_b = valid_b.copy(data=np.nan_to_num(rotate_values(valid_b.values, rotation)))
    moved = shift_image(mask_b, shift_px).values
    cover = shift_image(valid_b, shift_px).values
    valid = np.isfinite(np.asarray(a.values)) & (np.nan_to_num(cover) > 0.5)
    ma = ra.mask & valid
    mb = (np.nan_to_num(moved) > 0.5) & valid
    area_a = int(ma.sum())
    union = int((ma | mb).sum())
    nan = float("nan")
    inter = int((ma & mb).sum())
    d_a, n_a, only_a = _spots(ma, mb, dx * dy, spot_max_diameter_m)
    d_b, n_b, only_b = _spots(mb, ma, dx * dy, spot_max_diameter_m)
    lab_a = ra.labels * valid
    returned = sorted(int(v) for v in np.unique(lab_a[mb & (lab_a > 0)]))
    n_valid = max(int(valid.sum()), 1)
    return Comparison(
        shift_px=(float(shift_px[0]), float(shift_px[1])),
        shift_m=(float(shift_m[0]), float(shift_m[1])),
        registered_on=on,
        registration_quality=float(err),
        iou=inter / union if union else nan,
        persistent_fraction=inter / area_a if area_a else nan,
        vanished_fraction=int((ma & ~mb).sum()) / area_a if area_a else nan,
        appeared_fraction=int((mb & ~ma).sum()) / area_a if area_a else nan,
        fraction_a=area_a / n_valid,
        fraction_b=int(mb.sum()) / n_valid,
        spot_diameters_m=np.concatenate([d_a, d_b]),
        spots_a=n_a, spots_b=n_b, spots_only_a=only_a, spots_only_b=only_b,
        spot_max_diameter_m=spot_max_diameter_m,
        islands_returned=returned,
        n_islands_a=ra.n_islands,
        result_a=ra, result_b=rb, mask_a=ma, mask_b=mb,
        registration_method=method,
        rotation_deg=float(rotation),
        drift_px=float(drift),
        warnings=as_warnings([*ws, *ra.warnings, *rb.warnings])
        if hasattr(ra, "warnings") else as_warnings(ws),
    )
