"""Scanning-probe image processing: levelling, line alignment, scars, profiles, registration.

Every function takes an image DataArray ``(y, x)`` and returns a new one with the step appended
to ``attrs["provenance"]``; inputs are never modified.
"""

from supramap.spm.geometry import crop, profile
from supramap.spm.level import plane_level, poly_level
from supramap.spm.lines import align_rows
from supramap.spm.register import RegistrationResult, align_image, register, shift_image
from supramap.spm.scars import mark_scars, remove_scars
from supramap.spm.smooth import nan_gaussian

__all__ = [
    "plane_level",
    "poly_level",
    "align_rows",
    "mark_scars",
    "remove_scars",
    "crop",
    "profile",
    "register",
    "shift_image",
    "align_image",
    "RegistrationResult",
    "nan_gaussian",
]
