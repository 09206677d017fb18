"""Bulk measurements of the virtual sample, with the published Fe(Se,Te) numbers as truth.

ρ(T): ρ0 + A·Tⁿ times an error-function transition; χ(T): ZFC full shielding and a small FC
Meissner fraction, as measured by a prism with demagnetisation factor N; C(T): γ0 T + β T³
plus the BCS α-model electronic term of the superconducting volume (Padamsee et al.), smeared
by a Gaussian distribution of local Tc; M(H): a Bean slab with a
Kim-model Jc(H).  Each generator returns arrays in SI and the truth; :func:`write_bulk_files`
writes them as Quantum Design ``.dat`` files in instrument units.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

from supramap.bulk.magnetisation import MU0, demag_prism


@dataclass(frozen=True)
class BulkTruth:
    """Published-like parameters of the virtual crystal (SI)."""

    tc_mid_K: float = 13.9
    width_sigma_K: float = 0.39  # 10–90 % width = 2.563 σ ≈ 1 K
    rho0: float = 3.0e-6  # 300 µΩ cm
    a: float = 2.0e-8
    n: float = 1.3
    gamma0: float = 0.807e-3  # J / (mol K²)
    beta: float = 0.393e-3  # J / (mol K⁴)
    gamma_n: float = 0.807e-3 / 0.045  # 95.5 % superconducting volume
    tc_heat_K: float = 14.4
    alpha: float = 1.81  # Δ0 / k_B Tc; ΔC/γT at Tc ≈ 1.5 (α_BCS = 1.764 gives 1.43)
    atoms: int = 2
    shielding: float = 1.0
    meissner: float = 0.08
    jc0: float = 1.5e9  # A/m² (1.5e5 A/cm²)
    h0_T: float = 0.5
    length_m: float = 2e-3
    width_m: float = 1e-3
    thickness_m: float = 0.1e-3

    @property
    def jump_r(self) -> float:
        """ΔC/(γ T) of the superconducting part at Tc for the α-model with this α."""
        from supramap.bulk.heat import alpha_model

        return float(alpha_model(np.array([1 - 1e-9]), self.alpha)[0] - 1)

    @property
    def t90(self) -> float:
        """90 % criterion temperature."""
        return self.tc_mid_K + 1.2815515655446004 * self.width_sigma_K

    @property
    def t10(self) -> float:
        """10 % criterion temperature."""
        return self.tc_mid_K - 1.2815515655446004 * self.width_sigma_K


def rho_normal(t: np.ndarray, truth: BulkTruth = BulkTruth()) -> np.ndarray:
    """Normal-state resistivity ρ0 + A·Tⁿ (Ω·m)."""
    return truth.rho0 + truth.a * np.power(t, truth.n)


def transport(truth: BulkTruth = BulkTruth(), *, step: float = 0.02, noise: float = 0.0,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """ρ(T) from 2 to 300 K (dense through the transition)."""
    t = np.unique(np.concatenate([np.arange(2, 30, step), np.arange(30, 300.01, 1.0)]))
    f = 0.5 * (1 + erf((t - truth.tc_mid_K) / (np.sqrt(2) * truth.width_sigma_K)))
    rho = rho_normal(t, truth) * f
    if noise:
        rho = rho + noise * truth.rho0 * np.random.default_rng(seed).standard_normal(t.size)
    return t, rho


def susceptibility(truth: BulkTruth = BulkTruth(), *, field_T: float = 1e-3,
                   ) -> dict[str, Any]:
    """ZFC and FC moments of the prism (field along the thickness)."""
    n = demag_prism(truth.length_m, truth.width_m, truth.thickness_m)
    vol = truth.length_m * truth.width_m * truth.thickness_m
    t = np.arange(2.0, 30.0, 0.1)
    shape = 0.5 * (1 - erf((t - truth.tc_mid_K) / (np.sqrt(2) * truth.width_sigma_K)))
    chi_int_z = -truth.shielding * shape
    chi_int_f = -truth.meissner * shape
    # Measured χ_m = χ / (1 + N χ).
    chi_m_z = chi_int_z / (1 + n * chi_int_z)
    chi_m_f = chi_int_f / (1 + n * chi_int_f)
    h = field_T / MU0
    return {"T": t, "moment_zfc": chi_m_z * h * vol, "moment_fc": chi_m_f * h * vol,
            "field_T": field_T, "volume": vol, "N": n}


def heat(truth: BulkTruth = BulkTruth(), *, sigma: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Molar C(T) (J mol⁻¹ K⁻¹) from 2 to 25 K.

    C/T = γ0 + (γn − γ0)·α-model(T/Tc) + βT²: the non-superconducting part γ0 stays normal,
    the rest follows the BCS α-model with Δ0 = α k_B Tc, which conserves entropy at Tc and
    is exponentially small only well below Tc (at 5 K it is still ~40 % of γn for
    Tc = 14.4 K) — a low-temperature window fit is contaminated, as in a real crystal.  The
    jump is smeared by a Gaussian distribution of local Tc of width *sigma* (K).
    """
    from supramap.bulk.heat import smeared_alpha_model

    t = np.arange(2.0, 25.0, 0.05)
    shape = smeared_alpha_model(t, truth.alpha, truth.tc_heat_K, sigma)
    ce_t = truth.gamma0 + (truth.gamma_n - truth.gamma0) * shape
    return t, ce_t * t + truth.beta * t**3


def loop(truth: BulkTruth = BulkTruth(), *, h_max: float = 7.0) -> dict[str, Any]:
    """A Bean-slab M(H) loop (field ⟂ the length × width face, moment in A·m²)."""
    a, b = sorted((truth.length_m, truth.width_m))
    vol = truth.length_m * truth.width_m * truth.thickness_m
    up = np.linspace(-h_max, h_max, 281)
    down = up[::-1]
    h = np.concatenate([up[:141][::-1] * -1 * 0 + np.linspace(0, h_max, 141), down, up])

    def jc(hh):
        return truth.jc0 / (1 + np.abs(hh) / truth.h0_T)

    sign = np.concatenate([np.full(141, -1.0), np.full(281, 1.0), np.full(281, -1.0)])
    # Critical state: M = ∓ Jc a (1 − a/3b) / 4 on the increasing / decreasing branch.
    m_irr = sign * jc(h) * a * (1 - a / (3 * b)) / 4
    m_rev = -2e3 * np.tanh(h / 0.05)
    moment = (m_irr + m_rev) * vol
    return {"field_T": h, "moment": moment, "volume": vol, "a": a, "b": b, "jc": jc}


def write_bulk_files(folder: str | Path, truth: BulkTruth = BulkTruth()) -> dict[str, Any]:
    """Write ``transport.dat``, ``susceptibility.dat`` (ZFC then FC), ``heat.dat`` and
    ``loop.dat`` in Quantum Design instrument units; returns the truth."""
    from supramap.io.qd import write_qd

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    t, rho = transport(truth)
    r = rho * truth.length_m / (truth.width_m * truth.thickness_m)
    write_qd(out / "transport.dat", {"Temperature": ("K", t),
                                     "Magnetic Field": ("Oe", np.zeros_like(t)),
                                     "Bridge 1 Resistivity": ("Ohm", r)},
             info={"Sample1 Name": "virtual Fe(Se,Te)"}, byapp="Resistivity, 2.1, 1.0")
    s = susceptibility(truth)
    tt = np.concatenate([s["T"], s["T"]])
    mm = np.concatenate([s["moment_zfc"], s["moment_fc"]])
    write_qd(out / "susceptibility.dat",
             {"Temperature": ("K", tt), "Magnetic Field": ("Oe", np.full(tt.size, 10.0)),
              "Moment": ("emu", mm / 1e-3)},
             comments={0: "ZFC", s["T"].size: "FC"}, byapp="MPMS3 w/ AC,1.0,1.1")
    th, c = heat(truth)
    molar_mass = 0.1369  # kg/mol of FeSe0.4Te0.6
    mass = 5e-6  # kg
    write_qd(out / "heat.dat", {"Sample Temp": ("Kelvin", th),
                                "Samp HC": ("µJ/K", c * mass / molar_mass / 1e-6)},
             byapp="HeatCapacity, 1.0, 1.0")
    lp = loop(truth)
    write_qd(out / "loop.dat", {"Temperature": ("K", np.full(lp["field_T"].size, 2.0)),
                                "Magnetic Field": ("Oe", lp["field_T"] / 1e-4),
                                "Moment": ("emu", lp["moment"] / 1e-3)},
             byapp="MPMS3 w/ AC,1.0,1.1")
    return {**asdict(truth), "t90_K": truth.t90, "t10_K": truth.t10,
            "demag_factor": s["N"], "molar_mass_kg_per_mol": molar_mass, "mass_kg": mass}
