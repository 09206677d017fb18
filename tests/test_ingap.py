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
