"""Every analysis of supramap as a declared, unit-aware library call.

>>> import supramap.analyses as sa
>>> result = sa.run("sts-fit", "spectrum.dat", temperature="4.2K")   # doctest: +SKIP
>>> result                     # headline numbers with units and the warning codes
>>> result.plot()              # the report's figures

``REGISTRY`` holds the declarations (:mod:`supramap.analyses.catalog`); the CLI, ``supramap
batch``, ``sample.toml`` and this module read parameters through the same grammar.
"""

from __future__ import annotations

from supramap.analyses.catalog import REGISTRY
from supramap.analyses.registry import Analysis, Input, Parameter, ParameterError, convert

__all__ = ["REGISTRY", "Analysis", "Input", "Parameter", "ParameterError", "convert", "run",
           "Outcome"]


def __getattr__(name: str):
    if name in ("run", "Outcome"):
        from supramap.analyses import outcome

        return getattr(outcome, name)
    raise AttributeError(name)
