"""From a measured map to the inputs of the network: sheet conductance and superconductors."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr

from supramap.data import pixel_size, require_image
from supramap.errors import AnalysisError

RULES = ("threshold", "proportional")


@dataclass(frozen=True)
class NetworkInput:
    """Sheet conductance (S per square) of the normal phase, the superconducting mask, the pixel
    pitch (m) and how they were obtained."""

    conductance: np.ndarray
    sc_mask: np.ndarray
    dx: float
    dy: float
    rule: str
    normal_sheet_resistance: float
    threshold_A: float | None = None


def from_current_map(current: xr.DataArray, *, rule: str = "threshold",
                     threshold: float | None = None, normal_sheet_resistance: float = 1e3,
                     ) -> NetworkInput:
    """Turn a cAFM current map into network inputs.

    Parameters
    ----------
    current : DataArray (y, x) in A
    rule : {"threshold", "proportional"}
        ``threshold``: pixels above *threshold* are superconducting, all others normal with
        *normal_sheet_resistance*.  ``proportional``: no superconductor; the local sheet
        conductance is proportional to the current, scaled so that a pixel at the median
        current of the conducting pixels (above *threshold*) has *normal_sheet_resistance*;
        pixels at or below zero current are insulating.
    threshold : float
        Current threshold in A (e.g. from :func:`supramap.conduction.analyze`).
    normal_sheet_resistance : float
        Ω per square.
    """
    require_image(current, name="current")
    if rule not in RULES:
        raise AnalysisError(f"unknown rule {rule!r}; choose from {RULES}")
    if not (normal_sheet_resistance > 0 and np.isfinite(normal_sheet_resistance)):
        raise AnalysisError("normal sheet resistance must be positive and finite")
    if threshold is None or not np.isfinite(threshold):
        raise AnalysisError("a current threshold (A) is needed to build the network")
    dy, dx = pixel_size(current)
    i = np.asarray(current.values, dtype=float)
    valid = np.isfinite(i)
    if rule == "threshold":
        sc = valid & (i > threshold)
        g = np.where(valid, 1.0 / normal_sheet_resistance, np.nan)
    else:
        above = valid & (i > threshold)
        if not above.any():
            raise AnalysisError("no pixel above the threshold to scale the conductance")
        ref = float(np.median(i[above]))
        g = np.where(valid, np.clip(i, 0, None) / ref / normal_sheet_resistance, np.nan)
        sc = np.zeros(i.shape, bool)
    return NetworkInput(g, sc, dx, dy, rule, normal_sheet_resistance, threshold)


def from_conductance_map(conductance: xr.DataArray, *, sc_above: float | None = None,
                         ) -> NetworkInput:
    """Use a sheet-conductance map (``attrs["units"] == "S"``) directly; pixels above
    *sc_above* (S), if given, are superconducting."""
    require_image(conductance, name="conductance")
    unit = conductance.attrs.get("units", "")
    if unit not in ("S", ""):
        raise AnalysisError(f"conductance map must be in S, got {unit!r}")
    dy, dx = pixel_size(conductance)
    g = np.asarray(conductance.values, dtype=float)
    sc = np.isfinite(g) & (g > sc_above) if sc_above is not None else np.zeros(g.shape, bool)
    normal = g[np.isfinite(g) & (g > 0) & ~sc]
    rs = float(1 / np.median(normal)) if normal.size else float("nan")
    return NetworkInput(g, sc, dx, dy, "conductance", rs, None)
