"""Loading a single spectrum (bias, conductance) from a Nanonis .dat or a CSV/TXT table."""

from __future__ import annotations

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
        if channel not in ds:
            raise ChannelError(f"{path}: no channel {channel!r}; channels are {', '.join(names)}")
        return bias, ds[channel].values, channel
    for cand in names:
        low = cand.lower()
        if ("li" in low and " x" in low or "lockin" in low or "lix" in low) \
                and "[" not in cand:
            return bias, ds[cand].values, cand
    if "Current" in ds:
        i = ds["Current"].values
        order = np.argsort(bias)
        g = np.empty_like(i)
        g[order] = np.gradient(i[order], bias[order])
        return bias, g, "dI/dV of Current"
    raise AnalysisError(f"{path}: no conductance or current channel")
