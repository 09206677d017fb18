"""In-gap peak fits (issue #15 §2): spectra built here by explicit numerical convolution of a
known intrinsic peak with −f′ and the lock-in kernel (not through supramap's broadening
matrix); the fit must return the intrinsic width and energy, and split peaks must be told from
one by the BIC."""

from __future__ import annotations

import json

import numpy as np
import pytest

from supramap.errors import AnalysisError
from supramap.sts.ingap import fano, fit_in_gap, gaussian, lorentzian

K_B = 8.617333262e-5
BIAS = np.linspace(-1e-3, 1e-3, 201)


def _measured(dos, temperature, lockin_rms, noise=0.003, seed=0):
    """dI/dV(V) = ∫ dos(E) (−f′ ⊛ lock-in)(E − V) dE on a 0.5 µeV grid, by np.convolve."""
    de = 0.5e-6
    e = np.arange(-3e-3, 3e-3 + de / 2, de)
    u = np.arange(-400, 401) * de
    x = u / (2 * K_B * temperature)
    thermal = 1 / (4 * K_B * temperature * np.cosh(np.clip(x, -300, 300)) ** 2)
    kern = thermal
    if lockin_rms:
        a = np.sqrt(2) * lockin_rms
        li = np.where(np.abs(u) < a, 2 * np.sqrt(np.clip(a * a - u * u, 0, None)) /
                      (np.pi * a * a), 0.0)
        kern = np.convolve(thermal, li, mode="same") * de
    g = np.convolve(dos(e), kern, mode="same") * de
    out = np.interp(BIAS, e, g) + 1.0
    return out + np.random.default_rng(seed).normal(0, noise, BIAS.size)


@pytest.mark.parametrize("shape,fwhm", [("lorentzian", 60e-6), ("gaussian", 80e-6)])
def test_intrinsic_width_recovered_under_thermal_and_lockin_broadening(shape, fwhm):
    f = {"lorentzian": lorentzian, "gaussian": gaussian}[shape]
    g = _measured(lambda e: 2e-4 * f(e, 10e-6, fwhm), 0.4, 20e-6)
    r = fit_in_gap(BIAS, g, temperature=0.4, lockin_rms=20e-6, shape=shape)
    assert r.n_peaks == 1 and not r.split
    assert r.fwhm_eV[0] == pytest.approx(fwhm, rel=0.05)
    assert r.energies_eV[0] == pytest.approx(10e-6, abs=2e-6)
    assert r.weights[0] == pytest.approx(2e-4, rel=0.05)
    assert r.apparent_fwhm_eV > 1.5 * fwhm  # the broadening the fit removes
    assert abs(r.fwhm_eV[0] - fwhm) < 4 * r.fwhm_err_eV[0] + 0.02 * fwhm


def test_split_peaks_found_by_bic_and_one_peak_stays_one():
    two = _measured(lambda e: 2e-4 * (lorentzian(e, -120e-6, 60e-6) +
                                      lorentzian(e, 120e-6, 60e-6)), 0.4, 20e-6)
    r2 = fit_in_gap(BIAS, two, temperature=0.4, lockin_rms=20e-6)
    assert r2.split and r2.bic[2] < r2.bic[1]
    assert r2.energies_eV == pytest.approx([-120e-6, 120e-6], abs=3e-6)
    one = _measured(lambda e: 2e-4 * lorentzian(e, 0.0, 60e-6), 0.4, 20e-6)
    r1 = fit_in_gap(BIAS, one, temperature=0.4, lockin_rms=20e-6)
    assert not r1.split and r1.bic[1] < r1.bic[2]


def test_fano_and_custom_lineshape():
    g = _measured(lambda e: 2e-4 * fano(e, 0.0, 100e-6, 3.0), 0.3, 0.0, noise=0.001)
    r = fit_in_gap(BIAS, g, temperature=0.3, shape="fano", peaks=1)
    assert r.fwhm_eV[0] == pytest.approx(100e-6, rel=0.08)
    assert r.extra["fano_q"][0] == pytest.approx(3.0, rel=0.15)

    def sech(e, e0, fwhm):  # any callable f(E, e0, fwhm) of unit weight
        s = fwhm / (2 * np.arccosh(2.0))
        return 1 / (np.pi * s * np.cosh((e - e0) / s))

    g = _measured(lambda e: 2e-4 * sech(e, 0.0, 150e-6), 0.3, 0.0, noise=0.001)
    r = fit_in_gap(BIAS, g, temperature=0.3, shape=sech, peaks=1)
    assert r.shape == "sech" and r.fwhm_eV[0] == pytest.approx(150e-6, rel=0.05)


def test_bad_requests_are_refused():
    g = _measured(lambda e: 2e-4 * lorentzian(e, 0.0, 60e-6), 0.4, 0.0)
    with pytest.raises(AnalysisError, match="shape"):
        fit_in_gap(BIAS, g, temperature=0.4, shape="voigt")
    with pytest.raises(AnalysisError, match="temperature"):
        fit_in_gap(BIAS, g, temperature=0.0)
    with pytest.raises(AnalysisError, match="12"):
        fit_in_gap(BIAS, g, temperature=0.4, window_eV=2e-5)


def test_cli_series_against_field(tmp_path, capsys):
    from supramap.cli.main import main

    files = []
    for k, split in enumerate([0.0, 60e-6, 120e-6]):
        dos = (lambda e, s=split: 2e-4 * lorentzian(e, 0.0, 60e-6)) if split == 0 else \
            (lambda e, s=split: 2e-4 * (lorentzian(e, -s, 60e-6) + lorentzian(e, s, 60e-6)))
        g = _measured(dos, 0.4, 20e-6, seed=k)
        p = tmp_path / f"s{k}.csv"
        p.write_text("bias_V,dIdV\n" + "".join(f"{b:.8e},{v:.8e}\n" for b, v in zip(BIAS, g)))
        files.append(str(p))
    assert main(["sts", "ingap", *files, "-p", "0,1,2", "--temperature", "0.4",
                 "--lockin-rms", "20e-6", "--json", str(tmp_path / "i.json"),
                 "--report", str(tmp_path / "rep")]) == 0
    d = json.loads((tmp_path / "i.json").read_text())
    assert [f["n_peaks"] for f in d["fits"]] == [1, 2, 2]
    assert d["fits"][2]["energies_eV"] == pytest.approx([-120e-6, 120e-6], abs=5e-6)
    assert all(f["fwhm_eV"][0] == pytest.approx(60e-6, rel=0.1) for f in d["fits"])
    assert (tmp_path / "rep" / "ingap.png").exists()


def _sis_measured(sample_dos, delta_t=1.37e-3, gamma_t=2e-5, temperature=0.5, noise=0.002,
                  seed=0):
    """dI/dV of a Dynes-tip junction built here from the current, not from supramap's
    kernel: I(V) = ∫ N_t(E − eV) N_s(E) [f(E − eV) − f(E)] dE on a 1 µeV grid, differentiated
    numerically; sampled every 20 µV over ±3 mV."""
    def n_tip(e):
        z = e + 1j * gamma_t
        return np.abs(np.real(z / np.sqrt(z * z - delta_t**2)))

    def fermi(e):
        return 0.5 * (1 - np.tanh(e / (2 * K_B * temperature)))

    e = np.arange(-8e-3, 8e-3, 1e-6)
    vf = np.arange(-3e-3, 3e-3 + 1e-9, 5e-6)
    ns = sample_dos(e)
    cur = np.array([np.trapezoid(n_tip(e - v) * ns * (fermi(e - v) - fermi(e)), e) for v in vf])
    g = np.gradient(cur, vf)[::4]
    g = g * (1 + noise * np.random.default_rng(seed).standard_normal(g.size))
    return vf[::4], g


def test_superconducting_tip_is_folded_in():
    """A 60 µeV Lorentzian sample state at +150 µeV seen through a Pb-like tip (Δ = 1.37 meV,
    0.5 K): it appears at ±(Δ_tip + 150 µeV), broadened; fitted through the SIS kernel the
    intrinsic energy, width and weight come back."""
    from supramap.sts.models import TipModel

    b, g = _sis_measured(lambda e: 1.0 + 2e-4 * lorentzian(e, 150e-6, 60e-6))
    r = fit_in_gap(b, g, temperature=0.5, tip=TipModel(1.37e-3, 2e-5, 0.5))
    assert r.n_peaks == 1 and r.success
    assert r.energies_eV[0] == pytest.approx(150e-6, abs=3e-6)
    assert r.fwhm_eV[0] == pytest.approx(60e-6, rel=0.1)
    assert r.weights[0] == pytest.approx(2e-4, rel=0.05)
    # Without the tip the same spectrum reads as something else entirely.
    plain = fit_in_gap(b, g, temperature=0.5, peaks=1)
    assert abs(plain.energies_eV[0]) > 1e-3


def test_cli_ingap_with_a_tip(tmp_path):
    from supramap.cli.main import main
    from supramap.sts.models import TipModel

    b, g = _sis_measured(lambda e: 1.0 + 2e-4 * lorentzian(e, 0.0, 60e-6), seed=1)
    p = tmp_path / "s.csv"
    p.write_text("bias_V,dIdV\n" + "".join(f"{x:.8e},{v:.8e}\n" for x, v in zip(b, g)))
    TipModel(1.37e-3, 2e-5, 0.5).save(tmp_path / "tip.json")
    assert main(["sts", "ingap", str(p), "--tip", str(tmp_path / "tip.json"), "--json",
                 str(tmp_path / "i.json")]) == 0
    d = json.loads((tmp_path / "i.json").read_text())
    assert d["temperature_K"] == 0.5 and d["tip"].endswith("tip.json")
    assert d["fits"][0]["fwhm_eV"][0] == pytest.approx(60e-6, rel=0.1)
    assert main(["sts", "ingap", str(p), "--tip", str(tmp_path / "tip.json"),
                 "--temperature", "1"]) == 2


def _ingap_grid_data(ny=5, nx=7, tip=False):
    """A grid whose in-gap Lorentzian widens along x (40 → 100 µeV) and moves along y
    (−50 → +50 µeV), each spectrum built by explicit convolution here."""
    import xarray as xr

    w = np.linspace(40e-6, 100e-6, nx)
    e0 = np.linspace(-50e-6, 50e-6, ny)
    g = np.empty((ny, nx, BIAS.size))
    for i in range(ny):
        for j in range(nx):
            g[i, j] = _measured(lambda e, a=e0[i], b=w[j]: 2e-4 * lorentzian(e, a, b), 0.4,
                                20e-6, seed=i * nx + j)
    grid = xr.DataArray(g * 1e-9, dims=("y", "x", "bias"),
                        coords={"y": np.arange(ny) * 1e-9, "x": np.arange(nx) * 1e-9,
                                "bias": BIAS}, attrs={"units": "S"})
    return grid, e0, w


def test_grid_fits_recover_the_maps_and_agree_with_single_fits():
    from supramap.sts.ingap_grid import fit_in_gap_grid

    grid, e0, w = _ingap_grid_data()
    ds = fit_in_gap_grid(grid, temperature=0.4, lockin_rms=20e-6)
    assert ds["converged"].values.all()
    np.testing.assert_allclose(ds["fwhm_1"].values, np.broadcast_to(w, (5, 7)), rtol=0.06)
    np.testing.assert_allclose(ds["energy_1"].values, np.broadcast_to(e0[:, None], (5, 7)),
                               atol=3e-6)
    assert (ds["fwhm_1_stderr"].values > 0).all()
    one = fit_in_gap(BIAS, grid.values[2, 3], temperature=0.4, lockin_rms=20e-6, peaks=1)
    assert float(ds["fwhm_1"][2, 3]) == pytest.approx(one.fwhm_eV[0], rel=1e-3)
    assert float(ds["energy_1"][2, 3]) == pytest.approx(one.energies_eV[0], abs=1e-7)


def test_cli_ingap_on_a_grid(tmp_path):
    import xarray as xr

    from supramap.cli.main import main
    from supramap.io.nanonis_3ds import write_3ds

    grid, e0, w = _ingap_grid_data(4, 5)
    write_3ds(tmp_path / "g.3ds", {"LI Demod 1 X (A)": grid.values}, bias=BIAS,
              x_m=grid["x"].values, y_m=grid["y"].values)
    assert main(["sts", "ingap", str(tmp_path / "g.3ds"), "--temperature", "0.4",
                 "--lockin-rms", "20e-6", "--out", str(tmp_path / "m.nc"), "--json",
                 str(tmp_path / "m.json"), "--report", str(tmp_path / "rep")]) == 0
    with xr.open_dataset(tmp_path / "m.nc") as ds:
        np.testing.assert_allclose(ds["fwhm_1"].values, np.broadcast_to(w, (4, 5)), rtol=0.06)
    d = json.loads((tmp_path / "m.json").read_text())
    assert d["fraction_converged"] == 1.0
    # 20 spectra with constant noise: the noise model says so (weights stay equal).
    assert d["noise_model"].startswith("constant noise σ")
    assert (tmp_path / "rep" / "ingap_maps.png").exists()
    assert main(["sts", "ingap", str(tmp_path / "g.3ds")]) == 2  # --out is needed


def test_grid_fits_through_a_superconducting_tip():
    import xarray as xr

    from supramap.sts.ingap_grid import fit_in_gap_grid
    from supramap.sts.models import TipModel

    widths = [50e-6, 80e-6]
    spectra = [_sis_measured(lambda e, w=w: 1.0 + 2e-4 * lorentzian(e, 100e-6, w), seed=i)
               for i, w in enumerate(widths)]
    b = spectra[0][0]
    grid = xr.DataArray(np.stack([g for _, g in spectra])[None], dims=("y", "x", "bias"),
                        coords={"y": [0.0], "x": [0.0, 1e-9], "bias": b}, attrs={"units": "S"})
    ds = fit_in_gap_grid(grid, tip=TipModel(1.37e-3, 2e-5, 0.5))
    assert ds["converged"].values.all() and ds.attrs["temperature_K"] == 0.5
    np.testing.assert_allclose(ds["fwhm_1"].values[0], widths, rtol=0.1)
    np.testing.assert_allclose(ds["energy_1"].values[0], 100e-6, atol=3e-6)


def test_grid_warnings_on_a_real_grid_without_in_gap_peaks(shared, tmp_path):
    """The real Nanonis lock-in grid (±220 mV, no superconducting gap) has no in-gap state:
    the per-pixel fit must say so instead of printing peak maps as if measured; a grid with
    real in-gap peaks gets none of these warnings."""
    from supramap.io import read
    from supramap.sts.ingap_grid import fit_in_gap_grid, grid_warnings

    ds = read(shared / "nanonis" / "NanonisReader_STS_grid_lockin.3ds")
    g = ds["LockinX"].isel(y=slice(0, 10))  # 300 of the 900 spectra keep the test short
    res = fit_in_gap_grid(g, temperature=4.0)
    codes = {w.code for w in grid_warnings(res, g["bias"].values)}
    assert {"ingap.grid_few_converged", "ingap.peak_too_wide", "ingap.wide_sweep"} <= codes
    # A single real spectrum over ±2 V: whatever peaks the fit finds, it says they cannot be
    # in-gap states.
    from supramap.sts.spectra import load_spectrum

    b, gg, _ = load_spectrum(shared / "nanonis" / "NanonisReader_BiasSpectroscopy.dat")
    one = fit_in_gap(b, gg, temperature=4.0)
    assert "ingap.wide_sweep" in {w.code for w in one.warnings}
    grid, _, _ = _ingap_grid_data(3, 3)
    good = fit_in_gap_grid(grid, temperature=0.4, lockin_rms=20e-6)
    assert grid_warnings(good, grid["bias"].values) == []


def test_grid_with_an_aborted_row_keeps_nan_there():
    from supramap.sts.ingap_grid import fit_in_gap_grid

    grid, _, w = _ingap_grid_data(3, 4)
    vals = grid.values.copy()
    vals[2, 1:] = np.nan  # an aborted measurement: the last row stopped after one pixel
    ds = fit_in_gap_grid(grid.copy(data=vals), temperature=0.4, lockin_rms=20e-6)
    assert np.isnan(ds["fwhm_1"].values[2, 1:]).all() and not ds["converged"].values[2, 1:].any()
    np.testing.assert_allclose(ds["fwhm_1"].values[:2], np.broadcast_to(w, (2, 4)), rtol=0.06)


@pytest.mark.parametrize("t_tip, t_err, determined", [(0.4, 0.03, True), (0.158, 2.5, True),
                                                      (0.4, float("nan"), False)])
def test_tip_temperature_uncertainty_is_carried_into_the_width(t_tip, t_err, determined):
    """A 50 µeV zero-bias state at 0.4 K seen through a Pb-like tip; the tip model's
    temperature is right, badly calibrated (0.158 ± 2.5 K) or not determined.  The 90 %
    interval of the intrinsic FWHM must hold the truth in every case."""
    from supramap.sts.models import TipModel

    b, g = _sis_measured(lambda e: 1.0 + 2e-4 * lorentzian(e, 0.0, 50e-6), temperature=0.4,
                         seed=4)
    tip = TipModel(1.37e-3, 2e-5, t_tip, temperature_err_K=t_err,
                   extra={"temperature_determined": determined})
    r = fit_in_gap(b, g, temperature=0.4, tip=tip, peaks=1)
    assert abs(r.fwhm_eV[0] - 50e-6) <= 1.645 * r.fwhm_err_eV[0]
    assert "ingap.tip_temperature" in [w.code for w in r.warnings]


@pytest.mark.parametrize("lockin", [20e-6, 50e-6])
def test_doublet_does_not_depend_on_the_sweep_range(lockin):
    """A doublet at ±90 µeV on a sloped background: the whole ±1 mV sweep and a 0.5 mV window
    find the same two peaks (the issue saw one 369 µeV peak plus a spurious one)."""
    g = _measured(lambda e: 2e-4 * (lorentzian(e, -90e-6, 50e-6) + lorentzian(e, 90e-6, 50e-6))
                  + 0.3 * e, 0.4, lockin)
    whole = fit_in_gap(BIAS, g, temperature=0.4, lockin_rms=lockin)
    window = fit_in_gap(BIAS, g, temperature=0.4, lockin_rms=lockin, window_eV=0.5e-3)
    for r in (whole, window):
        assert r.n_peaks == 2
        assert r.energies_eV == pytest.approx([-90e-6, 90e-6], abs=3e-6)
        assert r.fwhm_eV == pytest.approx([50e-6, 50e-6], rel=0.1)


@pytest.mark.parametrize("shape,q", [("lorentzian", None), ("fano", 3.0)])
def test_batched_jacobian_gives_scipys_fit(shape, q):
    """The built-in shapes fit with a batched forward-difference Jacobian; a user's callable
    (the same function, wrapped) with scipy's own "2-point": the same fit and errors."""
    from supramap.sts.ingap import measurement_kernel

    b = np.linspace(-0.6e-3, 0.6e-3, 241)
    e, k, _ = measurement_kernel(b, 0.3)
    line = lorentzian(e, 0.08e-3, 0.06e-3) if q is None else fano(e, 0.08e-3, 0.06e-3, q)
    g = k @ (2e-4 * line) + 1.0 + 50 * b
    g = g + np.random.default_rng(3).normal(0, 2e-3, b.size)
    func = {"lorentzian": lorentzian, "fano": fano}[shape]

    def wrapped(*args):
        return func(*args)

    wrapped.__name__ = shape  # a callable named "fano" has its q fitted too
    a = fit_in_gap(b, g, temperature=0.3, shape=shape, peaks=1)
    c = fit_in_gap(b, g, temperature=0.3, shape=wrapped, peaks=1)
    np.testing.assert_allclose(a.energies_eV, c.energies_eV, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(a.fwhm_eV, c.fwhm_eV, rtol=1e-5)
    np.testing.assert_allclose(a.fwhm_err_eV, c.fwhm_err_eV, rtol=1e-3)
    assert a.fwhm_eV[0] == pytest.approx(0.06e-3, rel=0.1)
