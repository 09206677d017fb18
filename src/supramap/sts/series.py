"""Spectra versus a control parameter (magnetic field, junction transmissivity GN = It/Vb):
per-spectrum zero-bias-peak positions, widths and heights, and a peak that splits in two."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.sts.models import check_bias
from supramap.sts.peakfind import find_peaks, widths
from supramap.sts.peaks import G0


@displayable
@dataclass(frozen=True)
class SeriesResult:
    """Per spectrum: the parameter, the low-energy peaks (1 or 2 branches), FWHM, height."""

    parameter: list[float]
    parameter_name: str
    branches: list[list[float]]  # low-energy peak positions (eV) per spectrum
    fwhm_eV: list[float | None]
    height: list[float | None]
    split_at: float | None

    def statistics(self) -> dict[str, Any]:
        """Mean, standard deviation and range of FWHM and height over the spectra with a
        peak (e.g. over defects measured under the same conditions)."""
        out: dict[str, Any] = {}
        for name, vals in (("fwhm_eV", self.fwhm_eV), ("height", self.height)):
            v = np.array([x for x in vals if x is not None], dtype=float)
            out[name] = ({"n": int(v.size), "mean": float(v.mean()), "std": float(v.std()),
                          "min": float(v.min()), "max": float(v.max())} if v.size else
                         {"n": 0})
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"parameter": self.parameter, "parameter_name": self.parameter_name,
                "peak_positions_eV": self.branches, "fwhm_eV": self.fwhm_eV,
                "height": self.height, "split_at": self.split_at,
                "n_branches": [len(b) for b in self.branches],
                "statistics": self.statistics()}


def transmissivity(current_setpoint: float, bias_setpoint: float) -> float:
    """GN = It/Vb in units of G0 = 2e²/h."""
    if bias_setpoint == 0:
        raise AnalysisError("the set-point bias must not be zero")
    return abs(current_setpoint / bias_setpoint) / G0


def track_low_energy_peaks(spectra: Sequence[tuple[np.ndarray, np.ndarray]],
                           parameter: Sequence[float], *, window_eV: float,
                           prominence: float = 0.05, parameter_name: str = "parameter",
                           ) -> SeriesResult:
    """Follow the peak(s) within ±*window_eV* of zero across a series.

    One peak near zero is a ZBCP; two peaks symmetric about zero mean it has split; the
    parameter value of the first split spectrum (in sorted order) is ``split_at``.
    """
    if len(spectra) != len(parameter):
        raise AnalysisError(f"{len(spectra)} spectra but {len(parameter)} parameter values")
    if not spectra:
        raise AnalysisError("empty series")
    order = np.argsort(np.asarray(parameter, dtype=float))
    branches, fwhm, height = [], [], []
    for k in order:  # one small peak search per spectrum
        b, g = check_bias(*spectra[k])
        sel = np.abs(b) <= window_eV
        bs, gs = b[sel], g[sel]
        if bs.size < 5:
            raise AnalysisError("fewer than 5 points inside the peak window")
        idx, _ = find_peaks(gs, prominence=prominence * max(float(np.ptp(g)), 1e-300))
        step = float(np.median(np.diff(bs)))
        if idx.size:
            hts = gs[idx]
            keep = idx[np.argsort(hts)[::-1][:2]]
            keep = np.sort(keep)
            if keep.size == 2 and not (bs[keep[0]] < 0 < bs[keep[1]]):
                keep = keep[[int(np.argmax(gs[keep]))]]
            w = widths(gs, keep, rel_height=0.5).widths * step
            branches.append([float(bs[i]) for i in keep])
            fwhm.append(float(np.mean(w)))
            height.append(float(np.max(gs[keep]) - np.min(gs)))
        else:
            branches.append([])
            fwhm.append(None)
            height.append(None)
    params = [float(parameter[k]) for k in order]
    split = next((p for p, br in zip(params, branches) if len(br) == 2), None)
    return SeriesResult(params, parameter_name, branches, fwhm, height, split)
