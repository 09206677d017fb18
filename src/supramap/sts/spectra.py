"""Loading a single spectrum (bias, conductance) from a Nanonis .dat or a CSV/TXT table."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from supramap.errors import AnalysisError, ChannelError
from supramap.quality import QualityWarning, as_warnings


@dataclass(frozen=True)
class Spectrum:
    """A bias spectrum as read: bias (V), conductance, what the conductance is, and the
    warnings of the measurement-kind checks (:mod:`supramap.sts.kind`)."""

    bias: np.ndarray
    conductance: np.ndarray
    what: str
    warnings: tuple[QualityWarning, ...] = ()
    #: Bias modulation (V rms) from the file's header; None when it records none.
    lockin_rms_V: float | None = None
    #: The temperature (K) the header records (its thermometer); None when it records none.
    temperature_K: float | None = None


def read_spectrum(path: Path, channel: str | None = None, bias_column: str | None = None,
                  ) -> Spectrum:
    """The spectrum of a Nanonis .dat or a CSV/TXT table, after checking that it is a
    tunnelling bias spectrum: a sweep in volts that reaches zero bias, not KPFM."""
    from supramap.sts.kind import (
        check_reaches_zero,
        check_sweep_unit,
        check_tunnelling,
        header_lockin_rms,
        header_temperature,
    )

    path = Path(path)
    where = f"{path}: "
    ds, b, g, what = _load(path, channel, bias_column)
    ws: list[QualityWarning] = []
    lockin = temperature = None
    if ds is not None:
        check_sweep_unit(ds["bias"].attrs.get("units"), ds["bias"].attrs.get("long_name"),
                         where=where)
        ws = check_tunnelling(ds.attrs.get("header"), where=where)
        lockin = header_lockin_rms(ds.attrs.get("header"))
        temperature = header_temperature(ds.attrs.get("header"))
    check_reaches_zero(b, where=where)
    return Spectrum(np.asarray(b), np.asarray(g), what, as_warnings(ws), lockin, temperature)


def load_spectrum(path: Path, channel: str | None = None, bias_column: str | None = None,
                  ) -> tuple[np.ndarray, np.ndarray, str]:
    """(bias in V, conductance, description) from a Nanonis .dat or a CSV/TXT table, checked
    as :func:`read_spectrum` does (its warnings are dropped here)."""
    s = read_spectrum(path, channel, bias_column)
    return s.bias, s.conductance, s.what


def _load(path: Path, channel: str | None, bias_column: str | None):
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
        return None, ds[bname].values, ds[gname].values, gname
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
            return ds, bias, _derivative(bias, ds[name].values), \
                f"dI/dV of {name} (numerical derivative)"
        return ds, bias, ds[name].values, name
    lockin = _ranked(names, _LOCKIN)
    if lockin:
        return ds, bias, ds[lockin].values, lockin
    current = _ranked([n for n in names if ds[n].attrs.get("units", "A") == "A"], _CURRENT)
    if current:
        return ds, bias, _derivative(bias, ds[current].values), \
            f"dI/dV of {current} (numerical derivative)"
    raise AnalysisError(f"{path}: no conductance or current channel; channels are "
                        f"{', '.join(names)} (choose one with --channel)")


#: In-phase lock-in channels as Nanonis and others name them (Demod 1 before Demod 2).
_LOCKIN = re.compile(r"^(li demod\s*(\d*)\s*x|lockin ?x?|lock-in ?x?|lix(_\d+)?(_omega)?|li x|"
                     r"liy_1_omega|lock-in|lockin)\b", re.I)
_CURRENT = re.compile(r"^(current|input \d+|i)\b", re.I)


def _derivative(bias: np.ndarray, i: np.ndarray) -> np.ndarray:
    """dI/dV along the last axis (a spectrum, or every spectrum of a grid), in bias order."""
    bias = np.asarray(bias, dtype=float)
    order = np.argsort(bias)
    i = np.asarray(i, dtype=float)
    g = np.empty_like(i)
    g[..., order] = np.gradient(i[..., order], bias[order], axis=-1)
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


def grid_conductance(ds, channel: str | None = None, *, path: Path | str = ""):
    """The conductance channel of a ``(y, x, bias)`` grid Dataset: *channel* when named, else
    the first in-phase lock-in channel, else a current differentiated along the bias (a
    current I(V) fitted as a conductance would be wrong).  The description is in
    ``attrs["long_name"]``."""
    import xarray as xr

    names = [str(n) for n in ds.data_vars if ds[n].dims == ("y", "x", "bias")]
    if not names:
        raise ChannelError(f"{path}: no (y, x, bias) channel in this grid")
    if channel is not None:
        if channel not in names:
            raise ChannelError(f"{path}: no grid channel {channel!r}; channels are "
                               f"{', '.join(names)}")
        return ds[channel]
    lockin = _ranked(names, _LOCKIN)
    if lockin:
        return ds[lockin]
    current = _ranked([n for n in names if ds[n].attrs.get("units", "A") == "A"], _CURRENT)
    if current is None:
        return ds[names[0]]
    cur = ds[current]
    b = ds["bias"].values
    g = _derivative(b, cur.values).astype(np.float32)
    attrs = {k: v for k, v in cur.attrs.items() if k not in ("units", "long_name")}
    return xr.DataArray(g, dims=cur.dims, coords=cur.coords, name=f"dI/dV of {current}",
                        attrs={**attrs, "units": "S",
                               "long_name": f"dI/dV of {current} (numerical derivative)"})
