"""Heterogeneous conduction in conductive-AFM current maps.

:func:`analyze` one map (noise floor, threshold, conducting fraction, islands, current levels,
edge width, artefact check); :func:`compare` two maps of one area; :func:`temperature_series`
for maps at several temperatures.
"""

from supramap.conduction.analysis import ConductionResult, analyze
from supramap.conduction.artefacts import ArtefactCheck, check_artefacts
from supramap.conduction.compare import Comparison, compare
from supramap.conduction.edges import EdgeWidths, boundary_edge_widths, line_edge_width
from supramap.conduction.islands import (
    Island,
    find_islands,
    islands_csv,
    islands_table,
    mask_dataset,
)
from supramap.conduction.levels import Levels, find_levels
from supramap.conduction.noise import NoiseFloor, estimate_noise
from supramap.conduction.series import SeriesResult, temperature_series

__all__ = [
    "analyze", "ConductionResult", "compare", "Comparison", "temperature_series",
    "SeriesResult", "estimate_noise", "NoiseFloor", "find_levels", "Levels", "find_islands",
    "Island", "boundary_edge_widths", "line_edge_width", "EdgeWidths", "check_artefacts",
    "ArtefactCheck", "islands_table", "islands_csv", "mask_dataset",
]
