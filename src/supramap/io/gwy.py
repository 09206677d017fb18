"""Gwyddion native ``.gwy`` files, read through the well-kept ``gwyfile`` package.

``gwyfile`` parses the GWYP serialisation (Gwyddion 2.x).  The older GWYO serialisation of
Gwyddion 1.x is refused with a clear message: it is a different binary layout, rare today, and
Gwyddion 2 converts it on opening.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.io.base import Reader, register
from supramap.units import parse_unit


class GwyReader(Reader):
    """Reader of Gwyddion ``.gwy`` files (every data channel with its title and units)."""

    name = "gwy"
    description = "Gwyddion native (.gwy)"
    extensions = (".gwy",)

    def can_read(self, head: bytes) -> bool | None:
        """True for the GWYP and GWYO magics (GWYO then gets a clear refusal)."""
        return head[:4] in (b"GWYP", b"GWYO")

    def read(self, path: Path) -> xr.Dataset:
        """Read every data channel."""
        return read_gwy(path)


def _unit(obj: Any) -> str:
    if obj is None:
        return ""
    try:
        return str(obj.get("unitstr", "") or "")
    except AttributeError:
        return ""


def read_gwy(path: str | Path) -> xr.Dataset:
    """Read every ``/N/data`` channel of a Gwyddion file into a Dataset (SI units)."""
    import gwyfile
    import gwyfile.objects

    p = Path(path)
    with open(p, "rb") as fh:
        magic = fh.read(4)
    if magic == b"GWYO":
        raise FormatError(p, "GWYO (Gwyddion 1.x) serialisation is not supported; open the file "
                             "in Gwyddion 2 and save it again")
    if magic != b"GWYP":
        raise FormatError(p, f"not a Gwyddion file: magic {magic!r}, expected b'GWYP'")
    try:
        # Our own file object: gwyfile leaves the file open when parsing fails.
        with open(p, "rb") as fh:
            container = gwyfile.load(fh)
    except Exception as exc:  # gwyfile raises bare AssertionError/ValueError/struct.error
        raise FormatError(p, f"corrupt Gwyddion file ({type(exc).__name__}: {exc})") from None
    variables: dict[str, xr.DataArray] = {}
    keys = sorted(
        (k for k in container if re.fullmatch(r"/\d+/data", str(k))),
        key=lambda k: int(str(k).split("/")[1]),
    )
    if not keys:
        raise FormatError(p, "Gwyddion file holds no data channel")
    for key in keys:
        field = container[key]
        if not isinstance(field, gwyfile.objects.GwyDataField):
            continue
        index = str(key).split("/")[1]
        title = str(container.get(f"/{index}/data/title", f"channel {index}"))
        data = np.asarray(field.data, dtype=np.float64)
        if data.ndim != 2 or data.shape != (int(field["yres"]), int(field["xres"])):
            raise FormatError(p, f"channel {title!r}: data shape {data.shape} does not match "
                                 f"xres/yres")
        xy_unit_text = _unit(field.get("si_unit_xy"))
        z_unit_text = _unit(field.get("si_unit_z"))
        xy_unit, xy_scale = parse_unit(xy_unit_text)
        z_unit, z_scale = parse_unit(z_unit_text)
        xreal = float(field["xreal"]) * xy_scale
        yreal = float(field["yreal"]) * xy_scale
        if not (xreal > 0 and yreal > 0):
            raise FormatError(p, f"channel {title!r}: non-positive physical size")
        ny, nx = data.shape
        name = re.sub(r"\W+", "_", title).strip("_") or f"channel_{index}"
        while name in variables:
            name += f"_{index}"
        da = make_image(
            data * z_scale,
            dx=xreal / nx,
            dy=yreal / ny,
            x0=float(field.get("xoff", 0.0)) * xy_scale,
            y0=float(field.get("yoff", 0.0)) * xy_scale,
            units=z_unit,
            name=name,
            attrs={"title": title, "instrument": "Gwyddion", "channel": title},
        )
        da["x"].attrs["units"] = xy_unit
        da["y"].attrs["units"] = xy_unit
        da.attrs["provenance"] = [f"read {p.name} channel {title}"]
        variables[name] = da
    return xr.Dataset(variables, attrs={"format": "gwy", "source_file": str(p)})


register(GwyReader())
