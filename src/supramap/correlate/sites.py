"""Which lift-out sites sit on conducting regions of the cAFM map."""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from supramap.correlate.registration import Affine


def classify_sites(sites, mask: np.ndarray, cafm: xr.DataArray, image_to_map: Affine,
                   *, radius_m: float = 0.0) -> list[dict[str, Any]]:
    """Carry each site from image coordinates to map coordinates and read the conducting mask
    there (the majority within *radius_m*, or the nearest pixel).  Sites off the map are
    ``outside``."""
    x, y = cafm.x.values, cafm.y.values
    dx, dy = float(x[1] - x[0]), float(y[1] - y[0])
    out = []
    for s in sites:  # a handful of sites
        mx, my = image_to_map.apply([[s.x_m, s.y_m]])[0]
        col = int(round((mx - x[0]) / dx))
        row = int(round((my - y[0]) / dy))
        if not (0 <= row < mask.shape[0] and 0 <= col < mask.shape[1]):
            cls = "outside"
            frac = None
        else:
            r = max(int(radius_m / abs(dx)), 0)
            win = mask[max(row - r, 0):row + r + 1, max(col - r, 0):col + r + 1]
            frac = float(win.mean())
            cls = "conducting" if frac >= 0.5 else "insulating"
        out.append({"site": s.name, "image_xy_m": [s.x_m, s.y_m], "map_xy_m": [mx, my],
                    "class": cls, "conducting_share": frac, "needle": s.needle})
    return out
