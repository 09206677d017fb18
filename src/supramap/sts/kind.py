"""Is this file a tunnelling bias spectrum?  Checks of the header and sweep before any model.

A gap, in-gap or QPI analysis models dI/dV(V) of a tunnelling junction.  Nanonis files say what
was measured: the sweep signal and its unit (a Z or frequency sweep is not a bias sweep), the
feedback that set the tip height (a frequency-shift setpoint is nc-AFM), the oscillation
controller of a qPlus sensor, and the experiment's comment (KPFM).  What cannot be a tunnelling
spectrum is refused with the reason; what can, but under conditions the models do not include,
is analysed with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from supramap.errors import AnalysisError
from supramap.quality import QualityWarning, warn

__all__ = ["check_sweep_unit", "check_reaches_zero", "check_resolves_gap", "header_warnings",
           "check_tunnelling", "header_lockin_rms"]


def _on(value: Any) -> bool:
    return str(value).strip().strip('"').upper() in ("TRUE", "ON", "1")


def check_sweep_unit(units: str | None, name: str | None = None, *, where: str = "") -> None:
    """Refuse a sweep whose unit is not volts (Z spectroscopy in m, a frequency sweep in Hz)."""
    u = (units or "").strip()
    if u and u != "V":
        what = f"{name} " if name else ""
        raise AnalysisError(f"{where}the sweep is {what}in {u}, not a bias in V: a "
                            f"{'Z' if u == 'm' else 'non-bias'} spectroscopy is not a bias "
                            "spectrum, so no gap or in-gap model applies")


def check_reaches_zero(bias: np.ndarray, *, where: str = "") -> None:
    """Refuse a bias sweep that does not reach zero bias: a gap and in-gap states lie about the
    Fermi level, and a sweep on one side of it away from zero holds none of them."""
    b = np.asarray(bias, dtype=float)
    b = b[np.isfinite(b)]
    if b.size < 2:
        return
    step = float(np.median(np.diff(np.sort(b))))
    if b.min() > step or b.max() < -step:
        raise AnalysisError(f"{where}the bias sweep {1e3 * b.min():.4g} … {1e3 * b.max():.4g} mV "
                            "does not reach zero bias: a gap or in-gap state lies about the "
                            "Fermi level, so this sweep cannot show one")


def check_resolves_gap(bias: np.ndarray, gap: float, *, where: str = "",
                       what: str = "the reference's gap", lockin_rms: float = 0.0) -> None:
    """Refuse a sweep that cannot show a gap of *gap* (eV): a bias step above a quarter of the
    gap (a coherence peak then falls between two points), a bias modulation whose swing (peak
    amplitude √2 × rms) exceeds half the gap (the peaks are smeared into the gap), or a sweep
    that stops short of 1.5× the gap.  A ±2 V survey spectrum of 256 points (15.7 mV steps)
    took over 5 minutes of SIS fitting against a Pb reference before it failed; it is refused
    at once."""
    b = np.asarray(bias, dtype=float)
    b = b[np.isfinite(b)]
    if b.size < 2 or not gap > 0:
        return
    step = float(np.median(np.abs(np.diff(np.sort(b)))))
    if step > gap / 4:
        raise AnalysisError(f"{where}the bias step {1e3 * step:.3g} mV does not resolve "
                            f"{what} ({1e3 * gap:.3g} meV; a step ≤ {1e3 * gap / 4:.2g} mV is "
                            "needed): this is not a spectrum of the gap")
    if lockin_rms and np.sqrt(2) * lockin_rms > gap / 2:
        raise AnalysisError(f"{where}the bias modulation ({1e3 * lockin_rms:.3g} mV rms, "
                            f"{1e3 * np.sqrt(2) * lockin_rms:.3g} mV peak) smears {what} "
                            f"({1e3 * gap:.3g} meV) beyond fitting: the peak swing must stay "
                            f"under half the gap ({1e3 * gap / 2:.2g} mV)")
    if np.abs(b).max() < 1.5 * gap:
        raise AnalysisError(f"{where}the bias sweep (|V| ≤ {1e3 * np.abs(b).max():.3g} mV) stops "
                            f"short of {what} ({1e3 * gap:.3g} meV; ≥ 1.5× is needed to see "
                            "its coherence peaks)")


def _kpfm(header: Mapping[str, Any]) -> str | None:
    for key in ("Comment", "Experiment", "Scan>series name"):
        v = str(header.get(key, ""))
        if "kpfm" in v.lower() or "kelvin" in v.lower():
            return f"{key} = {v.strip()}"
    for key, v in header.items():
        k = key.lower()
        if (k.startswith("kelvin") or k.startswith("kpfm")) and ("status" in k or "on" in
                                                                 k.split()[-1:]) and _on(v):
            return f"{key} = {v}"
    return None


def header_warnings(header: Mapping[str, Any] | None) -> list[QualityWarning]:
    """Warnings for a tunnelling spectrum taken under conditions the models leave out: a qPlus
    or cantilever oscillating (nc-AFM), the tip height set by a frequency shift."""
    h = header or {}
    ws: list[QualityWarning] = []
    osc = [k for k in ("Oscillation Control>Amplitude controller on",
                       "Oscillation Control>Phase controller on") if _on(h.get(k, ""))]
    if osc:
        amp = h.get("Oscillation Control>Amplitude Setpoint (m)")
        ws.append(warn("sts.oscillating_tip",
                       "the header says the oscillation controller was on (qPlus / nc-AFM): "
                       "the tip oscillated during the sweep" +
                       (f" with amplitude {amp} m" if amp else "") + ", which averages the "
                       "current over tip heights and is not in the broadening models",
                       keys=osc))
    unit = str(h.get("Z-Controller>Setpoint unit", "")).strip().strip('"')
    if unit and unit not in ("A", "pA", "nA"):
        ws.append(warn("sts.non_current_feedback",
                       f"the tip height was set by a {h.get('Z-Controller>Controller name', '')} "
                       f"feedback with a setpoint in {unit}, not by a tunnelling current: the "
                       "junction's conductance is not normalised by a current setpoint",
                       setpoint_unit=unit))
    return ws


def check_tunnelling(header: Mapping[str, Any] | None, *, where: str = ""
                     ) -> list[QualityWarning]:
    """Refuse a KPFM measurement; return the warnings of :func:`header_warnings` otherwise."""
    h = header or {}
    why = _kpfm(h)
    if why:
        raise AnalysisError(f"{where}the header says this is a KPFM measurement ({why}): its "
                            "bias sweeps follow the frequency shift's parabola and the contact "
                            "potential, not a tunnelling spectrum, so no gap is fitted")
    return header_warnings(h)


def header_lockin_rms(header: Mapping[str, Any] | None) -> float | None:
    """The bias modulation (V rms) the header records: Nanonis ``Lock-in>Amplitude`` is the
    modulation's amplitude (zero to peak), so rms = amplitude / √2 — when the lock-in ran
    (``Lock-in status`` not OFF) and modulated the bias.  None when the header says nothing
    (or the modulation was not on the bias)."""
    h = header or {}
    raw = h.get("Lock-in>Amplitude", h.get("Lockin>Amplitude"))
    if raw is None:
        return None
    if str(h.get("Lock-in>Lock-in status", "ON")).strip().strip('"').upper() == "OFF":
        return None
    if "bias" not in str(h.get("Lock-in>Modulated signal", "Bias (V)")).lower():
        return None
    try:
        amp = float(str(raw).split()[0])
    except ValueError:
        return None
    return amp / np.sqrt(2) if np.isfinite(amp) and 0 < amp < 1 else None


def header_temperature(header: Mapping[str, Any] | None) -> float | None:
    """The sample temperature (K) the header records — Nanonis ``Temperature 1>Temperature 1
    (K)`` or any key naming a temperature in K — when it is a number in 10 mK–400 K."""
    for key, raw in (header or {}).items():
        k = str(key).lower()
        if "temperature" in k and k.rstrip().endswith("(k)"):
            try:
                t = float(str(raw).split()[0])
            except (ValueError, IndexError):
                continue
            if np.isfinite(t) and 0.01 <= t <= 400:
                return t
    return None
