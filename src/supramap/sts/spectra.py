"""Loading a single spectrum (bias, conductance) from a Nanonis .dat or a CSV/TXT table."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from supramap.errors import AnalysisError, ChannelError


def load_spectrum(path: Path, channel: str | None = None, bias_column: str | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, str]:
    """(bias in V, conductance, description) from a Nanonis .dat or a CSV/TXT table."""
    from supramap.io import read
    from supramap.io.text import read_table

    if path.suffix.lower() in (".csv", ".txt", ".tsv"):
        ds = read_table(path)
        names = list(ds.data_vars)
        bname = bias_column or names[0]
        if bname not in ds:
            raise ChannelError(f"{path}: no column {bname!r}; columns are {', '.join(names)}")
        gname = channel or next(n for n in names if n != bname)
        if gname not in ds:
            raise ChannelError(f"{path}: no column {gname!r}; columns are {', '.join(names)}")
        return ds[bname].values, ds[gname].values, gname
    ds = read(path)
    if "bias" not in ds.coords:
        raise ChannelError(f"{path}: not a bias spectrum (format {ds.attrs.get('format')!r})")
    bias = ds["bias"].values
    names = [str(n) for n in ds.data_vars]
    if channel is not None:
        from supramap.io import resolve_channel

        name = resolve_channel(ds, channel, path=path)
        if _CURRENT.match(name):
            # A current I(V) is not a conductance: fitting it as one is wrong, so it is
            # differentiated, and the description says so.
            return bias, _derivative(bias, ds[name].values), \
                f"dI/dV of {name} (numerical derivative)"
        return bias, ds[name].values, name
    lockin = _ranked(names, _LOCKIN)
    if lockin:
        return bias, ds[lockin].values, lockin
    current = _ranked([n for n in names if ds[n].attrs.get("units", "A") == "A"], _CURRENT)
    if current:
        return bias, _derivative(bias, ds[current].values), \
            f"dI/dV of {current} (numerical derivative)"
    raise AnalysisError(f"{path}: no conductance or current channel; channels are "
                        f"{', '.join(names)} (choose one with --channel)")


#: In-phase lock-in channels as Nanonis and others name them (Demod 1 before Demod 2).
_LOCKIN = re.compile(r"^(li demod\s*(\d*)\s*x|lockin ?x?|lock-in ?x?|lix(_\d+)?(_omega)?|li x|"
                     r"liy_1_omega|lock-in|lockin)\b", re.I)
_CURRENT = re.compile(r"^(current|input \d+|i)\b", re.I)


def _derivative(bias: np.ndarray, i: np.ndarray) -> np.ndarray:
    order = np.argsort(bias)
    g = np.empty_like(np.asarray(i, dtype=float))
    g[order] = np.gradient(np.asarray(i, dtype=float)[order], bias[order])
    return g


def _ranked(names: list[str], pattern: re.Pattern) -> str | None:
    """The best channel matching *pattern*: plain before ``[AVG]`` before other markers,
    ``[bwd]``/``[filt]`` last; a lower demodulator or input number first."""
    def key(n: str) -> tuple[int, int, str]:
        m = pattern.match(n)
        num = int(m.group(2)) if m and m.lastindex and m.lastindex >= 2 and m.group(2) else 0
        low = n.lower()
        marker = 0 if "[" not in n else 1 if "[avg]" in low and "[bwd]" not in low else \
            3 if ("[bwd]" in low or "[filt]" in low) else 2
        return (marker, num, n)
    hits = [n for n in names if pattern.match(n)]
    return min(hits, key=key) if hits else None
