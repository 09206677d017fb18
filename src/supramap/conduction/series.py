"""A temperature series of one area: where and when conduction vanishes and returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from supramap.conduction.analysis import ConductionResult, analyze
from supramap.conduction.compare import Comparison, compare
from supramap.display import displayable
from supramap.errors import AnalysisError

#: A map conducts when more than this share of its area is above threshold.
VANISHED_FRACTION = 1e-3


@displayable
@dataclass(frozen=True)
class SeriesResult:
    """Conduction versus temperature for maps of one area, in acquisition order.

    ``vanishing_temperature_K`` is the lowest temperature at which the conducting fraction is
    ≤ ``vanished_fraction`` (None if conduction never vanishes).  When a map after the
    vanishing point conducts again (re-cooling), ``return_comparison`` compares the first map
    with that one: ``islands_returned`` are the first map's island labels found again.
    """

    temperatures_K: list[float]
    conducting_fraction: list[float]
    n_islands: list[int]
    vanishing_temperature_K: float | None
    vanished_fraction: float
    returned_index: int | None
    return_comparison: Comparison | None = field(repr=False)
    results: list[ConductionResult] = field(repr=False, default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the keys of ``supramap cafm series --json``)."""
        out: dict[str, Any] = {
            "temperatures_K": self.temperatures_K,
            "conducting_fraction": self.conducting_fraction,
            "conducting_fraction_interval": [list(r.conducting_fraction_interval)
                                             for r in self.results],
            "n_islands": self.n_islands,
            "vanishing_temperature_K": self.vanishing_temperature_K,
            "vanished_fraction_criterion": self.vanished_fraction,
            "returned_index": self.returned_index,
        }
        c = self.return_comparison
        if c is not None:
            out.update({
                "islands_returned": c.islands_returned,
                "n_islands_first": c.n_islands_a,
                "islands_returned_fraction": (len(c.islands_returned) / c.n_islands_a
                                              if c.n_islands_a else None),
                "return_persistent_fraction": c.persistent_fraction,
                "return_shift_m": list(c.shift_m),
            })
        return out


def temperature_series(maps: Sequence[xr.DataArray], temperatures: Sequence[float], *,
                       topographies: Sequence[xr.DataArray] | None = None,
                       threshold: float | str = "auto",
                       vanished_fraction: float = VANISHED_FRACTION) -> SeriesResult:
    """Analyse maps of one area taken at *temperatures* (in acquisition order)."""
    if len(maps) != len(temperatures):
        raise AnalysisError(f"{len(maps)} maps but {len(temperatures)} temperatures")
    if len(maps) < 2:
        raise AnalysisError("a temperature series needs at least two maps")
    temps = [float(t) for t in temperatures]
    if not all(np.isfinite(t) and t >= 0 for t in temps):
        raise AnalysisError(f"temperatures must be finite and ≥ 0 K, got {temperatures}")
    if topographies is not None and len(topographies) != len(maps):
        raise AnalysisError(f"{len(topographies)} topographies for {len(maps)} maps")
    results = [analyze(m, threshold=threshold) for m in maps]
    fractions = [r.conducting_fraction for r in results]
    gone = [i for i, f in enumerate(fractions) if f <= vanished_fraction]
    vanish_t = min(temps[i] for i in gone) if gone else None
    returned_index = None
    comparison = None
    if gone and fractions[0] > vanished_fraction:
        first_gone = gone[0]
        after = [i for i in range(first_gone + 1, len(maps)) if fractions[i] > vanished_fraction]
        if after:
            returned_index = after[0]
            topo_a = topographies[0] if topographies is not None else None
            topo_b = topographies[returned_index] if topographies is not None else None
            comparison = compare(maps[0], maps[returned_index], topography_a=topo_a,
                                 topography_b=topo_b, threshold=threshold)
    return SeriesResult(
        temperatures_K=temps, conducting_fraction=fractions,
        n_islands=[r.n_islands for r in results], vanishing_temperature_K=vanish_t,
        vanished_fraction=vanished_fraction, returned_index=returned_index,
        return_comparison=comparison, results=results,
    )
