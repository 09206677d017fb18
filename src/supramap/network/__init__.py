"""Does a four-probe measurement see the heterogeneity?  Resistor networks built from maps.

:func:`fourprobe` simulates van der Pauw, in-line four-probe and two-probe measurements on a
sheet-conductance map with superconducting clusters contracted exactly; :func:`monte_carlo`
repeats it over contact placements; :func:`percolation_stats` and :func:`bruggeman_2d` describe
the superconducting mask.
"""

from supramap.network.maps import NetworkInput, from_conductance_map, from_current_map
from supramap.network.measure import (
    FourProbeResult,
    MonteCarloResult,
    configurations,
    default_contacts,
    fourprobe,
    monte_carlo,
    random_contacts,
    van_der_pauw_sheet_resistance,
)
from supramap.network.model import Contact, Network, build_network
from supramap.network.percolation import PercolationStats, bruggeman_2d, percolation_stats
from supramap.network.solve import make_solver

__all__ = [
    "Contact", "Network", "build_network", "make_solver", "fourprobe", "FourProbeResult",
    "monte_carlo", "MonteCarloResult", "configurations", "default_contacts", "random_contacts",
    "van_der_pauw_sheet_resistance", "percolation_stats", "PercolationStats", "bruggeman_2d",
    "from_current_map", "from_conductance_map", "NetworkInput",
]
