"""Synthetic spectroscopy of the virtual sample: SIS/NIS spectra and dI/dV grids with a known
gap field, C2 defect bound states and unidirectional QPI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from supramap.sts.gapmap import broadening_matrix, model

MEV = 1e-3


def gap_field(ny: int, nx: int, *, low: float = 1.2 * MEV, high: float = 1.8 * MEV,
              seed: int = 0) -> np.ndarray:
    """A smooth gap landscape (eV) between *low* and *high*."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    f = ndimage.gaussian_filter(rng.standard_normal((ny, nx)), max(ny, nx) / 8, mode="wrap")
    f = (f - f.min()) / (np.ptp(f) or 1)
    return low + (high - low) * f


def dynes_grid(ny: int = 32, nx: int = 32, *, n_bias: int = 201, vmax: float = 6 * MEV,
               gamma: float = 0.08 * MEV, temperature: float = 1.0, noise: float = 0.01,
               pixel_m: float = 0.5e-9, seed: int = 0) -> tuple[xr.DataArray, dict[str, Any]]:
    """Thermally broadened Dynes spectra with a known gap field; returns the grid and truth."""
    rng = np.random.default_rng(seed)
    bias = np.linspace(-vmax, vmax, n_bias)
    gaps = gap_field(ny, nx, seed=seed)
    e, k = broadening_matrix(bias, temperature)
    p = np.stack([gaps.ravel(), np.full(gaps.size, gamma), np.full(gaps.size, 1e-9),
                  np.zeros(gaps.size)], axis=1)
    g = model(p, e, k).reshape(ny, nx, n_bias)
    g = g * (1 + noise * rng.standard_normal(g.shape))
    grid = xr.DataArray(
        g, dims=("y", "x", "bias"),
        coords={"y": ("y", (np.arange(ny) + 0.5) * pixel_m, {"units": "m"}),
                "x": ("x", (np.arange(nx) + 0.5) * pixel_m, {"units": "m"}),
                "bias": ("bias", bias, {"units": "V"})},
        name="dIdV", attrs={"units": "S", "provenance": ["synthetic Dynes grid"]})
    return grid, {"gap_eV": gaps, "gamma_eV": gamma, "temperature_K": temperature,
                  "scale": 1e-9}


def defect_map(n: int = 128, *, n_defects: int = 12, pixel_m: float = 0.4e-9,
               elongation: float = 2.5, angle_deg: float = 0.0, seed: int = 0,
               ) -> tuple[xr.DataArray, np.ndarray]:
    """A dI/dV map with C2 'dumbbell' bound states all oriented along one Fe–Fe direction,
    plus unidirectional (qx only) interference ripples; returns the map and the positions."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    z = 0.02 * rng.standard_normal((n, n))
    pos = []
    while len(pos) < n_defects:
        p = rng.uniform(10, n - 10, 2)
        if all(np.hypot(*(p - q)) > 14 for q in pos):
            pos.append(p)
    a = np.radians(angle_deg)
    for r, c in pos:
        u = (xx - c) * np.cos(a) + (yy - r) * np.sin(a)
        v = -(xx - c) * np.sin(a) + (yy - r) * np.cos(a)
        z += np.exp(-(u**2 / (2 * (1.5 * elongation) ** 2) + v**2 / (2 * 1.5**2)))
    z += 0.1 * np.cos(2 * np.pi * xx / 9.0)  # unidirectional QPI along x
    m = xr.DataArray(z, dims=("y", "x"),
                     coords={"y": ("y", (np.arange(n) + 0.5) * pixel_m, {"units": "m"}),
                             "x": ("x", (np.arange(n) + 0.5) * pixel_m, {"units": "m"})},
                     attrs={"units": "S", "provenance": []})
    return m, np.array(pos)


def write_grid(path: str | Path, grid: xr.DataArray, *, n_written: int | None = None) -> None:
    """Write a synthetic grid as a Nanonis ``.3ds`` (channel ``LI Demod 1 X (A)``)."""
    from supramap.io.nanonis_3ds import write_3ds

    write_3ds(path, {"LI Demod 1 X (A)": np.asarray(grid.values)},
              bias=np.asarray(grid["bias"].values), x_m=np.asarray(grid["x"].values),
              y_m=np.asarray(grid["y"].values), n_written=n_written)


def qpi_grid(n: int = 96, *, pixel_m: float = 0.4e-9, energies_eV=None, m_star: float = 2.5,
             e0_eV: float = -5e-3, angle_deg: float = 30.0, noise: float = 0.02,
             seed: int = 0) -> tuple[xr.DataArray, dict[str, Any]]:
    """dI/dV maps with standing waves of one parabolic band, E = E0 + ħ²q²/2m*, scattered off
    a step along *angle_deg* (decaying away from it); returns the (y, x, bias) grid and the
    truth (q per energy in rad/m)."""
    from supramap.sts.qpi import E_CHARGE, HBAR, M_E

    energies = np.linspace(5e-3, 30e-3, 6) if energies_eV is None else \
        np.asarray(energies_eV, dtype=float)
    x = np.arange(n) * pixel_m
    xx, yy = np.meshgrid(x, x)
    u = np.cos(np.radians(angle_deg)) * xx + np.sin(np.radians(angle_deg)) * yy
    q = np.sqrt(2 * m_star * M_E * (energies - e0_eV) * E_CHARGE) / HBAR
    rng = np.random.default_rng(seed)
    g = np.stack([1 + 0.2 * np.cos(qq * u) * np.exp(-u / 25e-9) + rng.normal(0, noise, (n, n))
                  for qq in q], axis=-1) * 1e-10
    grid = xr.DataArray(g, dims=("y", "x", "bias"),
                        coords={"y": ("y", x, {"units": "m"}), "x": ("x", x, {"units": "m"}),
                                "bias": ("bias", energies, {"units": "V"})},
                        attrs={"units": "A"})
    return grid, {"q_per_m": q.tolist(), "energies_eV": energies.tolist(),
                  "effective_mass_me": m_star, "E0_eV": e0_eV, "angle_deg": angle_deg}


def zbp_series(fields_T=(0.0, 0.5, 1.0, 2.0), *, temperature: float = 0.4,
               lockin_rms: float = 20e-6, fwhm0_eV: float = 40e-6,
               dfwhm_per_T: float = 25e-6, seed: int = 0,
               ) -> tuple[np.ndarray, list[np.ndarray], dict[str, Any]]:
    """dI/dV spectra (±1 mV) of a zero-bias peak whose intrinsic Lorentzian FWHM grows with
    field (FWHM0 + slope·B), on a flat background, broadened thermally and by the lock-in."""
    from supramap.sts.ingap import lorentzian

    bias = np.linspace(-1e-3, 1e-3, 201)
    e, k = broadening_matrix(bias, temperature, lockin_rms=lockin_rms, step=2e-6)
    rng = np.random.default_rng(seed)
    fwhm = [fwhm0_eV + dfwhm_per_T * b for b in fields_T]
    spectra = [(1.0 + k @ (2e-4 * lorentzian(e, 0.0, w))) * 1e-9 *
               (1 + 0.003 * rng.standard_normal(bias.size)) for w in fwhm]
    return bias, spectra, {"fields_T": list(fields_T), "fwhm_eV": fwhm,
                           "temperature_K": temperature, "lockin_rms_V": lockin_rms}
