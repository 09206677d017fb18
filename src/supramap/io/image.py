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
    _check_size(p, raw)
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


#: The largest raster decoded (pixels): a compressed PNG of 12000 × 12000 zeros is 140 kB
#: on disk and GBs in memory.
MAX_PIXELS = 100_000_000


def _check_size(p: Path, raw: bytes) -> None:
    """Refuse, from the header alone, an image whose decoded size would be absurd."""
    import struct

    if raw.startswith(MAGICS[0]) and len(raw) >= 24:
        w, h = struct.unpack(">II", raw[16:24])
    else:
        return  # TIFF: tifffile reports the shape below without decoding
    if w * h > MAX_PIXELS:
        raise FormatError(p, f"a {w} × {h} pixel image exceeds the reader's limit of "
                             f"{MAX_PIXELS / 1e6:.0f} Mpixel ({w * h * 8 / 1e9:.1f} GB as floats)")


class RasterReader(Reader):
    """PNG and TIFF micrographs."""

    name = "raster"
    description = "PNG/TIFF image"
    extensions = (".png", ".tif", ".tiff", ".jpk")

    def can_read(self, head: bytes) -> bool | None:
        """True for the PNG and TIFF signatures."""
        return head.startswith(MAGICS)

    def read(self, path: Path) -> xr.Dataset:
        """Read the image (pixel coordinates); a TIFF that is a vendor container (Park
        Systems) is read from its private tags, never from its preview page."""
        p = Path(path)
        with open(p, "rb") as fh:
            head = fh.read(4)
        if head in (b"II*\x00", b"MM\x00*"):
            vendor = _vendor_tiff(p)
            if vendor is not None:
                return vendor
        img = read_raster(path)
        return xr.Dataset({"intensity": img}, attrs={"format": "raster"})


def _vendor_tiff(p: Path) -> xr.Dataset | None:
    """Read a Park or JPK TIFF from its private tags, never from the preview page; refuse a TIFF
    carrying other SPM-vendor private tags (0x8000–0x80FF) rather than read its preview as data;
    None for a plain TIFF."""
    import tifffile

    from supramap.io.jpk import is_jpk, read_jpk
    from supramap.io.park import park_tags, read_park

    try:
        with tifffile.TiffFile(p) as tif:
            tags = park_tags(tif)
            first = {t.code for t in tif.pages[0].tags.values()}
            if tags is None and is_jpk(first):
                return read_jpk(p, tif)
            codes = {t.code for page in tif.pages[:4] for t in page.tags.values()}
    except FormatError:
        raise
    except Exception as exc:  # tifffile raises many types on corrupt files
        raise FormatError(p, f"corrupt TIFF ({type(exc).__name__}: {exc})") from None
    if tags is not None:
        return read_park(p, tags)
    if codes & set(range(0x8000, 0x8100)):
        raise FormatError(p, "a TIFF with SPM-vendor private tags (0x8000–0x80FF) but no JPK "
                             "grid size: its visible page is only a preview, so it is refused "
                             "rather than read as data")
    return None


def write_png(path: str | os.PathLike[str], values: np.ndarray) -> None:
    """Write an 8-bit grey PNG (values scaled to 0–255), atomically."""
    import imageio.v3 as iio

    from supramap.fileutil import atomic_write_bytes

    v = np.asarray(values, dtype=float)
    lo, hi = np.nanpercentile(v, [0.5, 99.5])
    u8 = np.clip((v - lo) / max(hi - lo, 1e-300) * 255, 0, 255).astype(np.uint8)
    atomic_write_bytes(path, iio.imwrite("<bytes>", u8, extension=".png"))


register(RasterReader())
