"""Keep xarray from importing dask until a dask array exists.

xarray asks ``array_type("dask")`` on every DataArray it builds (to spot masked dask arrays),
and answering it imports ``dask`` and ``dask.array`` — 0.25–0.9 s, more than reading a file,
whenever dask is installed (it is: batch runs use it).  No dask array can exist before
``dask.array`` is imported (its class lives there), so until then the answer is "no type" and
nothing needs importing.  We pre-fill xarray's cache entry for ``"dask"`` with an object that
answers lazily; once ``dask.array`` is imported, it answers exactly as xarray's own would.

This touches a private cache of xarray (``namedarray.pycompat._cached_duck_array_modules``,
present since 2024.x): when that is not there, or the entry already exists, nothing is done
and xarray behaves as it always does (only slower to start).
"""

from __future__ import annotations

import importlib.util
import sys

_INSTALLED = False


def install() -> bool:
    """Pre-fill xarray's duck-array cache for dask; True when the lazy entry is in place."""
    global _INSTALLED
    if _INSTALLED:
        return True
    try:
        from xarray.namedarray import pycompat
    except ImportError:  # pragma: no cover - older xarray
        return False
    cache = getattr(pycompat, "_cached_duck_array_modules", None)
    base = getattr(pycompat, "DuckArrayModule", None)
    if not isinstance(cache, dict) or base is None or "dask" in cache:
        return False

    class LazyDask(base):  # type: ignore[misc, valid-type]
        """xarray's DuckArrayModule for dask, resolved on first real need."""

        def __init__(self) -> None:  # no import here, on purpose
            self._real = None

        def _resolve(self):
            if self._real is None:
                self._real = base("dask")
            return self._real

        @property
        def type(self):  # noqa: A003 - xarray's attribute name
            if "dask.array" not in sys.modules:
                return ()
            return self._resolve().type

        @property
        def module(self):
            return self._resolve().module

        @property
        def version(self):
            return self._resolve().version

        @property
        def available(self) -> bool:
            if self._real is not None:
                return self._real.available
            return importlib.util.find_spec("dask") is not None

    cache["dask"] = LazyDask()
    _defer_collection_check()
    _INSTALLED = True
    return True


def _defer_collection_check() -> None:
    from xarray.namedarray import utils

    original = getattr(utils, "is_dask_collection", None)
    if original is None or getattr(original, "_supramap_lazy", False):
        return

    def is_dask_collection(x: object) -> bool:
        if "dask" not in sys.modules and not hasattr(type(x), "__dask_graph__"):
            return False
        return original(x)

    is_dask_collection._supramap_lazy = True  # type: ignore[attr-defined]
    is_dask_collection.__doc__ = original.__doc__
    utils.is_dask_collection = is_dask_collection
