"""supramap: see *where* a material superconducts.

Readers for scanning-probe instrument files, image processing, and the analysis of
heterogeneous conduction in conductive-AFM maps.  Data travel as :mod:`xarray` objects with
physical coordinates (metres, volts, kelvin) and ``attrs["units"]``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("supramap")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
