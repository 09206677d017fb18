"""Conductance models with named parameters, and the tip model saved by a calibration."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from supramap.errors import AnalysisError, FormatError
from supramap.fileutil import atomic_write_json
from supramap.sts.lineshapes import (
    dynes,
    dynes_derivative,
    multigap,
    nis_conductance,
    sis_conductance,
)


def gap_params(n_gaps: int, prefix: str = "") -> list[str]:
    """Parameter names of an n-gap Dynes DOS: delta1, gamma1, weight1, ..."""
    names = []
    for i in range(1, n_gaps + 1):
        names += [f"{prefix}delta{i}", f"{prefix}gamma{i}", f"{prefix}weight{i}"]
    return names


def dos_from(p: dict[str, float], n_gaps: int, prefix: str = ""):
    """A DOS function from parameters (weights normalised)."""
    d = [p[f"{prefix}delta{i}"] for i in range(1, n_gaps + 1)]
    g = [p[f"{prefix}gamma{i}"] for i in range(1, n_gaps + 1)]
    w = [p.get(f"{prefix}weight{i}", 1.0) for i in range(1, n_gaps + 1)]
    return lambda e: multigap(e, d, g, w)


def nis_model(bias: np.ndarray, p: dict[str, float], n_gaps: int, *,
              lockin_rms: float = 0.0) -> np.ndarray:
    """scale × NIS conductance of an n-gap Dynes sample at temperature ``p['temperature']``."""
    g = nis_conductance(bias, dos_from(p, n_gaps), p["temperature"], lockin_rms=lockin_rms)
    return p.get("scale", 1.0) * g + p.get("offset", 0.0)


def sis_model(bias: np.ndarray, p: dict[str, float], n_gaps: int, *,
              lockin_rms: float = 0.0, step: float | None = None) -> np.ndarray:
    """scale × SIS conductance: single-gap Dynes tip (tip_delta, tip_gamma) on an n-gap
    Dynes sample, Fermi functions at ``p['temperature']`` (the effective temperature)."""
    td, tg = p["tip_delta"], p["tip_gamma"]
    margin = 4 * max(td, max(p[f"delta{i}"] for i in range(1, n_gaps + 1))) + 2e-3
    if step is None:
        # The energy grid must resolve the sharpest feature: a Dynes peak of width Γ needs a
        # step of ~Γ/4 (on a 10 µV bias grid, Γ_tip = 10 µeV left the coherence peak 24 % low).
        widths = [tg] + [p[f"gamma{i}"] for i in range(1, n_gaps + 1)]
        narrowest = max(min(w for w in widths if w > 0) if any(w > 0 for w in widths)
                        else 1e-6, 1e-7)
        span = 2 * (float(np.max(np.abs(bias))) + margin)
        step = float(np.clip(narrowest / 4, max(span / 32_768, 1e-7), 2e-5))  # ≤ 32 k points
    g = sis_conductance(bias, lambda e: dynes(e, td, tg), lambda e: dynes_derivative(e, td, tg),
                        dos_from(p, n_gaps), p["temperature"], lockin_rms=lockin_rms,
                        margin=margin, step=step)
    return p.get("scale", 1.0) * g + p.get("offset", 0.0)


@dataclass(frozen=True)
class TipModel:
    """A calibrated superconducting tip: single-gap Dynes DOS and the effective temperature.

    Saved as JSON by ``supramap sts calibrate-tip`` and read by ``deconvolve``.
    """

    delta_eV: float
    gamma_eV: float
    temperature_K: float
    delta_err_eV: float = float("nan")
    gamma_err_eV: float = float("nan")
    temperature_err_K: float = float("nan")
    reference: str = ""
    redchi: float = float("nan")
    extra: dict[str, Any] = field(default_factory=dict)

    def dos(self, e: np.ndarray) -> np.ndarray:
        """Tip DOS."""
        return dynes(e, self.delta_eV, self.gamma_eV)

    def dos_derivative(self, e: np.ndarray) -> np.ndarray:
        """Its energy derivative."""
        return dynes_derivative(e, self.delta_eV, self.gamma_eV)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model as JSON (atomically)."""
        atomic_write_json(path, {"kind": "supramap superconducting tip", "version": 1,
                                 **asdict(self)})

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TipModel:
        """Read a tip model written by :meth:`save`."""
        p = Path(path)
        try:
            d = json.loads(p.read_text())
        except (OSError, ValueError) as exc:
            raise FormatError(p, f"not a tip-model JSON file ({exc})") from None
        if not isinstance(d, dict) or d.get("kind") != "supramap superconducting tip":
            raise FormatError(p, "not a supramap tip model (missing kind)")
        try:
            fields = {k: (float("nan") if d[k] is None else d[k]) for k in
                      ("delta_eV", "gamma_eV", "temperature_K") }
            extra = {k: d[k] for k in ("delta_err_eV", "gamma_err_eV", "temperature_err_K",
                                       "reference", "redchi", "extra") if k in d}
            extra = {k: (float("nan") if v is None else v) for k, v in extra.items()}
            tip = cls(**fields, **extra)
        except (KeyError, TypeError) as exc:
            raise FormatError(p, f"tip model lacks a field ({exc})") from None
        if not (tip.delta_eV > 0 and tip.gamma_eV >= 0 and tip.temperature_K > 0):
            raise FormatError(p, "tip model has non-physical values")
        return tip


def check_bias(bias: np.ndarray, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted, finite (bias, conductance) pairs; errors for too little or uniform data."""
    b = np.asarray(bias, dtype=float)
    y = np.asarray(g, dtype=float)
    if b.shape != y.shape or b.ndim != 1:
        raise AnalysisError("bias and conductance must be 1-D arrays of one length")
    ok = np.isfinite(b) & np.isfinite(y)
    b, y = b[ok], y[ok]
    if b.size < 10:
        raise AnalysisError(f"a spectrum needs at least 10 valid points, got {b.size}")
    order = np.argsort(b)
    b, y = b[order], y[order]
    if np.ptp(b) == 0:
        raise AnalysisError("the bias does not vary")
    return b, y
