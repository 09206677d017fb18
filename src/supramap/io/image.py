"""Plain raster images (SEM and optical micrographs as PNG or TIFF) via imageio.

These formats carry no reliable pixel size, so the reader returns pixel coordinates unless the
caller passes ``pixel_m`` (the sample description does); colour images are averaged to grey.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import xarray as xr

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.io.base import Reader, register

MAGICS = (b"\x89PNG\r\n\x1a\n", b"II*\x00", b"MM\x00*")


def read_raster(path: str | os.PathLike[str], *, pixel_m: float | None = None) -> xr.DataArray:
    """Read a PNG/TIFF as a grey image (y, x); coordinates in metres when *pixel_m* is given,
    else in pixels (``attrs["pixel_size_known"] = False``)."""
    import imageio.v3 as iio

    p = Path(path)
    raw = p.read_bytes()  # imageio leaves the file open when decoding fails: give it bytes
    try:
        a = np.asarray(iio.imread(raw), dtype=float)
    except Exception as exc:  # imageio raises many types for corrupt files
        raise FormatError(p, f"cannot be decoded as an image ({exc})") from None
    if a.ndim == 3:
        a = a[..., :3].mean(axis=-1)
    if a.ndim != 2 or min(a.shape) < 2:
        raise FormatError(p, f"not a 2-D image (shape {a.shape})")
    img = make_image(a, dx=pixel_m or 1.0, units="", name="intensity",
                     attrs={"pixel_size_known": pixel_m is not None, "source_file": str(p)})
    if pixel_m is None:
        img["x"].attrs["units"] = "px"
        img["y"].attrs["units"] = "px"
    return img


class RasterReader(Reader):
    """PNG and TIFF micrographs."""

    name = "raster"
    description = "PNG/TIFF image"
    extensions = (".png", ".tif", ".tiff")

    def can_read(self, head: bytes) -> bool | None:
        """True for the PNG and TIFF signatures."""
        return head.startswith(MAGICS)

    def read(self, path: Path) -> xr.Dataset:
        """Read the image (pixel coordinates)."""
        img = read_raster(path)
        return xr.Dataset({"intensity": img}, attrs={"format": "raster"})


def write_png(path: str | os.PathLike[str], values: np.ndarray) -> None:
    """Write an 8-bit grey PNG (values scaled to 0–255), atomically."""
    import imageio.v3 as iio

    from supramap.fileutil import atomic_write_bytes

    v = np.asarray(values, dtype=float)
    lo, hi = np.nanpercentile(v, [0.5, 99.5])
    u8 = np.clip((v - lo) / max(hi - lo, 1e-300) * 255, 0, 255).astype(np.uint8)
    atomic_write_bytes(path, iio.imwrite("<bytes>", u8, extension=".png"))


register(RasterReader())
