"""The usual Gwyddion-style correction chain as one call: level, align rows, remove scars.

Used by the image commands' ``--level``, ``--align-rows`` and ``--remove-scars`` options; each
step appends itself to ``attrs["provenance"]`` (the report shows it).
"""

from __future__ import annotations

import xarray as xr

from supramap.errors import AnalysisError
from supramap.spm.level import plane_level, poly_level
from supramap.spm.lines import align_rows
from supramap.spm.scars import remove_scars

LEVELS = ("none", "plane", "poly2", "poly3")
ALIGNS = ("none", "median", "poly")


def preprocess(image: xr.DataArray, *, level: str = "none", align: str = "none",
               scars: bool = False) -> xr.DataArray:
    """Apply the chosen corrections in Gwyddion's order (level, align rows, scars)."""
    if level not in LEVELS:
        raise AnalysisError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    if align not in ALIGNS:
        raise AnalysisError(f"align must be one of {', '.join(ALIGNS)}, got {align!r}")
    out = image
    if level == "plane":
        out = plane_level(out)
    elif level.startswith("poly"):
        out = poly_level(out, int(level[-1]))
    if align != "none":
        out = align_rows(out, align)
    if scars:
        out = remove_scars(out)
    return out


def steps(image: xr.DataArray) -> list[str]:
    """The provenance of an image (what was done to it, in order)."""
    return [str(s) for s in image.attrs.get("provenance", [])]
