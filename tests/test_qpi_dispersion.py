"""QPI dispersion (issue #15 §3): a grid whose standing waves follow a known band, written here;
the tracked branch and the fitted E(q) must give the band's mass and bottom back."""

from __future__ import annotations

import json

import numpy as np
import pytest

from supramap.errors import AnalysisError
from supramap.sts.qpi import E_CHARGE, HBAR, M_E, fit_dispersion

ENERGIES = np.linspace(5e-3, 40e-3, 8)


def _grid(tmp_path, m_star=2.5, e0=-5e-3, angle_deg=0.0):
    from supramap.io.nanonis_3ds import write_3ds

    n, px = 128, 0.4e-9
    x = np.arange(n) * px
    xx, yy = np.meshgrid(x, x)
    u = np.cos(np.radians(angle_deg)) * xx + np.sin(np.radians(angle_deg)) * yy
    q = np.sqrt(2 * m_star * M_E * (ENERGIES - e0) * E_CHARGE) / HBAR
    rng = np.random.default_rng(0)
    g = np.stack([1 + 0.2 * np.cos(qq * u) * np.exp(-xx / 30e-9) + rng.normal(0, 0.02, (n, n))
                  for qq in q], axis=-1)
    p = tmp_path / "qpi.3ds"
    write_3ds(p, {"LI Demod 1 X (A)": g}, bias=ENERGIES, x_m=x, y_m=x)
    return p, q


def test_fit_dispersion_exact_limits():
    q = np.linspace(1e9, 3e9, 8)
    par = fit_dispersion(-0.01 + HBAR**2 * q**2 / (2 * 3.0 * M_E) / E_CHARGE, q)
    assert par["model"] == "parabolic" and par["effective_mass_me"] == pytest.approx(3.0)
    assert par["E0_eV"] == pytest.approx(-0.01)
    lin = fit_dispersion(0.002 + 3e5 * HBAR * q / E_CHARGE, q)
    assert lin["model"] == "linear" and lin["velocity_m_per_s"] == pytest.approx(3e5)
    hole = fit_dispersion(0.05 - HBAR**2 * q**2 / (2 * 1.5 * M_E) / E_CHARGE, q,
                          model="parabolic")
    assert hole["effective_mass_me"] == pytest.approx(-1.5)  # hole-like band: m* < 0
    with pytest.raises(AnalysisError, match="three"):
        fit_dispersion([0.0, 1.0], [1e9, 2e9])


@pytest.mark.parametrize("angle", [0.0, 30.0])
def test_qpi_command_recovers_the_band(tmp_path, capsys, angle):
    from supramap.cli.main import main

    p, q_true = _grid(tmp_path, angle_deg=angle)
    energies = ",".join(f"{e * 1e3:.6g}meV" for e in ENERGIES)
    assert main(["sts", "qpi", str(p), "--energy", energies, "--json",
                 str(tmp_path / "q.json"), "--report", str(tmp_path / "rep")]) == 0
    d = json.loads((tmp_path / "q.json").read_text())
    fit = d["dispersion_fit"]
    assert fit["model"] == "parabolic" and fit["n_points"] == 8
    assert fit["effective_mass_me"] == pytest.approx(2.5, rel=0.05)
    assert fit["E0_eV"] == pytest.approx(-5e-3, abs=1e-3)
    got = np.array([pt["q_per_nm"] for pt in d["dispersion"]])
    np.testing.assert_allclose(got, q_true * 1e-9, rtol=0.03)
    assert (tmp_path / "rep" / "dispersion.png").exists()


def test_linecuts_follow_the_band(tmp_path):
    """E–q cuts along the band's direction peak at the band's q at every energy (sub-pixel,
    within 3 %); a cut at 90° to it finds no such dispersing peak."""
    from supramap.cli.main import main

    p, q_true = _grid(tmp_path, angle_deg=30.0)
    energies = ",".join(f"{e * 1e3:.6g}meV" for e in ENERGIES)
    assert main(["sts", "qpi", str(p), "--energy", energies, "--linecut", "30,120", "--json",
                 str(tmp_path / "q.json"), "--report", str(tmp_path / "rep")]) == 0
    d = json.loads((tmp_path / "q.json").read_text())
    along, across = d["linecuts"]
    assert along["direction_deg"] == 30 and len(along["intensity_over_median"]) == 8
    np.testing.assert_allclose(along["peak_q_per_nm"], q_true * 1e-9, rtol=0.03)
    peak_along = np.max(along["intensity_over_median"], axis=1)
    peak_across = np.max(across["intensity_over_median"], axis=1)
    assert (peak_along > 5 * peak_across).all()
    assert (tmp_path / "rep" / "linecuts.png").exists()
    assert main(["sts", "qpi", str(p), "--energy", "5meV", "--linecut", "30"]) == 2


def test_bragg_peaks_calibrate_the_q_axes(tmp_path):
    """A square lattice (a = 0.38 nm) and a standing wave of known q on maps whose file says
    the pixels are 5 % (x) and 3 % (y) larger than they are: uncalibrated, q comes out 5 %
    short; calibrated on the Bragg peaks, within 1 %."""
    from supramap.cli.main import main
    from supramap.io.nanonis_3ds import write_3ds

    n, px, a = 128, 0.1e-9, 0.38e-9
    x = np.arange(n) * px
    xx, yy = np.meshgrid(x, x)
    q0 = 2 * np.pi / 2.0e-9  # a 2 nm standing wave along x
    lattice = 0.1 * (np.cos(2 * np.pi * xx / a) + np.cos(2 * np.pi * yy / a))
    rng = np.random.default_rng(3)
    energies = np.array([5e-3, 10e-3])
    g = np.stack([1 + 0.3 * np.cos(q0 * xx) + lattice + rng.normal(0, 0.02, (n, n))
                  for _ in energies], axis=-1)
    p = tmp_path / "lat.3ds"
    write_3ds(p, {"LI Demod 1 X (A)": g}, bias=energies, x_m=np.arange(n) * px * 1.05,
              y_m=np.arange(n) * px * 1.03)
    out = tmp_path / "q.json"
    assert main(["sts", "qpi", str(p), "--energy", "5meV", "--json", str(out)]) == 0
    raw = json.loads(out.read_text())["energies"][0]["q_vectors"][0]["q_per_nm"]
    assert raw == pytest.approx(q0 * 1e-9 / 1.05, rel=0.01)
    assert main(["sts", "qpi", str(p), "--energy", "5meV", "--bragg", "--lattice-m",
                 "0.38e-9", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    cal = d["bragg_calibration"]
    assert cal["scale_x"] == pytest.approx(1.05, rel=0.01)
    assert cal["scale_y"] == pytest.approx(1.03, rel=0.01)
    qv = d["energies"][0]["q_vectors"]
    wave = min(qv, key=lambda v: abs(v["q_per_nm"] - q0 * 1e-9))
    assert wave["q_per_nm"] == pytest.approx(q0 * 1e-9, rel=0.01)
    assert main(["sts", "qpi", str(p), "--energy", "5meV", "--bragg"]) == 2  # no lattice


def test_bragg_calibration_on_the_real_fese_topograph(shared, tmp_path):
    """The real FeSe topograph (20 nm, scan at 45°) resolves the Se lattice, a = 3.77 Å: its
    Bragg peaks are found and the scan's calibration agrees with it within 2 % (peaks at ±45°
    cannot separate x from y, so one factor is used)."""
    from supramap.cli.main import main

    out = tmp_path / "q.json"
    assert main(["sts", "qpi", str(shared / "nanonis" / "FeSe_topography.sxm"), "--channel",
                 "Z_forward", "--lattice-m", "3.77e-10", "--bragg", "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    cal = d["bragg_calibration"]
    assert cal["scale_x"] == pytest.approx(1.0, abs=0.02) and cal["scale_x"] == cal["scale_y"]
    bragg = [v for v in d["energies"][0]["q_vectors"] if v.get("q_2pi_over_a", 0) > 0.8]
    assert len(bragg) == 2
    assert all(v["q_2pi_over_a"] == pytest.approx(1.0, abs=0.01) for v in bragg)


# ---- rings from scattering, with and without a lattice (built here) -----------------------------

def _ring_maps(m_star=1.0, e0=-0.060, lattice_m=None, energies=None, seed=0, n=256,
               size=100e-9):
    """Maps whose Fourier power is a ring at the band's q(E) with random phases (QPI of many
    impurities), plus pixel noise and, optionally, a square lattice whose Bragg peaks and
    harmonics are 5–50× stronger than the ring per pixel."""
    from supramap.data import make_image

    rng = np.random.default_rng(seed)
    dx = size / n
    energies = np.linspace(-0.050, 0.0, 7) if energies is None else energies
    k = 2 * np.pi * np.fft.fftfreq(n, dx)
    kk = np.hypot(*np.meshgrid(k, k))
    x = (np.arange(n) + 0.5) * dx
    xx, yy = np.meshgrid(x, x)
    out = []
    for e in energies:
        q = np.sqrt(2 * abs(m_star) * M_E * np.sign(m_star) * (e - e0) * E_CHARGE) / HBAR
        phase = np.exp(2j * np.pi * rng.random(kk.shape))
        spec = np.exp(-(kk - q) ** 2 / (2 * 0.03e9 ** 2)) * phase
        z = np.real(np.fft.ifft2(spec))
        z = z / z.std() + 0.3 * rng.normal(size=z.shape)
        if lattice_m:
            u, v = 2 * np.pi * xx / lattice_m, 2 * np.pi * yy / lattice_m
            z = z + 3 * (np.cos(u) + np.cos(v)) + 1.5 * np.cos(u) * np.cos(v)
        out.append(make_image(z, dx=dx, units="S"))
    return list(energies), out


@pytest.mark.parametrize("lattice", [None, 1.0e-9])
def test_ring_dispersion_with_and_without_a_lattice(lattice):
    from supramap.quality import codes
    from supramap.sts.qpi import dispersion, fourier

    energies, maps = _ring_maps(lattice_m=lattice)
    points, fit, ws = dispersion(energies, [fourier(m) for m in maps])
    assert all(p["on_branch"] for p in points) and codes(ws) == []
    assert fit["model"] == "parabolic"
    assert fit["effective_mass_me"] == pytest.approx(1.0, rel=0.05)
    assert fit["E0_eV"] == pytest.approx(-0.060, abs=3e-3)


def test_hole_band_has_a_negative_mass():
    from supramap.sts.qpi import dispersion, fourier

    energies, maps = _ring_maps(m_star=-1.5, e0=0.02, energies=np.linspace(-0.04, 0.0, 6),
                                lattice_m=1.0e-9, seed=2)
    _, fit, _ = dispersion(energies, [fourier(m) for m in maps], model="parabolic")
    assert fit["effective_mass_me"] == pytest.approx(-1.5, rel=0.05)


def test_noise_only_maps_say_the_branch_is_not_there():
    from supramap.data import make_image
    from supramap.quality import codes
    from supramap.sts.qpi import dispersion, fourier

    rng = np.random.default_rng(4)
    maps = [make_image(rng.normal(size=(128, 128)), dx=0.4e-9, units="S") for _ in range(7)]
    points, fit, ws = dispersion(list(np.linspace(-0.03, 0.03, 7)), [fourier(m) for m in maps])
    assert "qpi.few_on_branch" in codes(ws)
