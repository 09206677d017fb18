"""Defects and QPI on maps generated here (dumbbells, noise, scan-line glitches, uniaxial
waves), not by supramap.synth."""

from __future__ import annotations

import numpy as np
import pytest

from supramap.data import make_image
from supramap.quality import codes
from supramap.sts.defects import axial_mean, detect_defects

RNG = np.random.default_rng(33)


def _dumbbells(n=256, k=11, angle_deg=0.0, sep=6.0, sigma=2.0, amp=1.0, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n].astype(float)
    z = np.zeros((n, n))
    centres = []
    a = np.radians(angle_deg)
    while len(centres) < k:
        c = rng.uniform(20, n - 20, 2)
        if all(np.hypot(*(c - q)) > 30 for q in centres):
            centres.append(c)
    for cy, cx in centres:
        for s in (-0.5, 0.5):  # two lobes along the axis
            ly, lx = cy + s * sep * np.sin(a), cx + s * sep * np.cos(a)
            z += amp * np.exp(-((yy - ly) ** 2 + (xx - lx) ** 2) / (2 * sigma**2))
    return z, np.array(centres)


def test_dumbbells_counted_once_with_their_axis():
    z, centres = _dumbbells(angle_deg=0.0)
    z = z + 1e-9 * np.mgrid[:256, :256][1] + RNG.normal(0, 0.02, z.shape)  # tilt + noise
    r = detect_defects(make_image(z, dx=1e-10))
    assert len(r.defects) == len(centres)
    assert min(r.orientation_mean_deg, 180 - r.orientation_mean_deg) < 5
    assert r.orientation_order > 0.9
    for d in r.defects:
        assert d.elongation > 1.5


def test_axial_statistics_wrap_at_180():
    mean, order = axial_mean(np.array([178.0, 2.0, 179.0, 1.0]))
    assert min(mean, 180 - mean) < 1.0 and order > 0.99
    mean, order = axial_mean(np.array([0.0, 90.0]))
    assert order < 1e-9


def test_noisy_map_gives_few_detections_and_scan_lines_are_rejected():
    z, centres = _dumbbells(k=3, amp=1.0, seed=4)
    z = z + RNG.normal(0, 0.2, z.shape)  # 20 % noise: 342 detections before
    z[100, 30:140] += 3.0  # scan-line glitches (shorter than half a line)
    z[160:162, 10:120] += 3.0
    r = detect_defects(make_image(z, dx=1e-10))
    assert len(r.defects) <= len(centres) + 1
    assert len(r.defects) >= len(centres) - 1
    assert r.rejected_lines >= 2 and "defects.scan_lines" in codes(r.warnings)


def test_pure_noise_map_finds_nothing_and_says_so():
    r = detect_defects(make_image(RNG.normal(0, 1, (128, 128)), dx=1e-10))
    assert r.defects == [] and "defects.none" in codes(r.warnings)


# ---- QPI -------------------------------------------------------------------------------------

def _wave_map(n=256, dx=0.2e-9, lam=2.0e-9, angle_deg=0.0, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n] * dx
    a = np.radians(angle_deg)
    z = np.cos(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / lam)
    return make_image(z + rng.normal(0, noise, z.shape), dx=dx, units="A/V")


@pytest.mark.parametrize("noise", [0.0, 0.01])
def test_uniaxial_wave_anisotropy_is_one(noise):
    from supramap.sts.qpi import anisotropy, fourier

    f = fourier(_wave_map(noise=noise))
    qmax = float(np.abs(f.qx).max())
    assert anisotropy(f, q_min=0.05 * qmax, q_max=0.9 * qmax) > 0.97


def test_q_vector_subpixel_in_nm_and_lattice_units():
    from supramap.sts.qpi import fourier, q_peaks

    lam = 2.3e-9  # not a whole number of FFT pixels: 256 × 0.2 nm / 2.3 nm = 22.26
    f = fourier(_wave_map(lam=lam, angle_deg=0.0, noise=0.01))
    pk = q_peaks(f, lattice_m=0.38e-9)
    assert pk, "no peak found"
    q_true = 2 * np.pi / lam
    assert pk[0]["q"] == pytest.approx(q_true, rel=0.01)
    assert pk[0]["q_per_nm"] == pytest.approx(q_true * 1e-9, rel=0.01)
    assert pk[0]["q_2pi_over_a"] == pytest.approx(0.38 / 2.3, rel=0.01)
    assert min(pk[0]["angle_deg"], 180 - pk[0]["angle_deg"]) < 1


# ---- gap maps ---------------------------------------------------------------------------------

def _grid(good_fraction, n=12, seed=0):
    import xarray as xr

    from supramap.sts.lineshapes import dynes, nis_conductance

    rng = np.random.default_rng(seed)
    bias = np.linspace(-6e-3, 6e-3, 121)
    g_sc = nis_conductance(bias, lambda e: dynes(e, 1.5e-3, 0.05e-3), 1.5)
    good = rng.random((n, n)) < good_fraction
    vals = np.where(good[..., None], g_sc[None, None, :], 1.0)
    vals = vals + rng.normal(0, 0.01, vals.shape)
    return xr.DataArray(vals, dims=("y", "x", "bias"),
                        coords={"y": np.arange(n) * 1e-9, "x": np.arange(n) * 1e-9,
                                "bias": bias}, attrs={"units": ""})


def test_gap_map_mostly_failing_warns_and_uses_converged_pixels():
    from supramap.sts.gapmap import gap_map

    res = gap_map(_grid(0.2), temperature=1.5, workers=0)
    d = res.to_dict()
    assert "gapmap.few_converged" in codes(res.warnings)
    assert d["median_gap_eV"] == pytest.approx(1.5e-3, rel=0.05)


def test_gap_map_clean_grid_has_no_warning():
    from supramap.sts.gapmap import gap_map

    res = gap_map(_grid(1.0), temperature=1.5, workers=0)
    assert res.warnings == ()
    assert res.to_dict()["fraction_converged"] > 0.95


def test_compare_without_topography_warns_registration_none():
    from scipy import ndimage as ndi

    from supramap.conduction import compare

    rng = np.random.default_rng(9)
    f = ndi.gaussian_filter(rng.normal(size=(128, 128)), 8) > 0.1
    cur = make_image(f * 2e-6 + rng.normal(0, 2e-9, f.shape), dx=1e-8, units="A")
    r = compare(cur, cur)
    assert "registration.none" in codes(r.warnings)
    assert r.persistent_fraction == pytest.approx(1.0)


def test_qpi_cli_says_anisotropy_is_not_reported_after_c4(tmp_path, capsys):
    import json

    from supramap.cli.main import main
    from supramap.io.bcr import write_bcr

    write_bcr(tmp_path / "w.bcrf", _wave_map(n=64).assign_attrs(units="A"))
    j = tmp_path / "q.json"
    assert main(["sts", "qpi", str(tmp_path / "w.bcrf"), "--symmetrize", "c4", "--json",
                 str(j)]) == 0
    d = json.loads(j.read_text())
    assert d["anisotropy"] is None
    assert "qpi.symmetrised" in [w["code"] for w in d["warnings"]]
    assert main(["sts", "qpi", str(tmp_path / "w.bcrf"), "--json", str(j)]) == 0
    d = json.loads(j.read_text())
    assert d["anisotropy"] > 0.9 and d["warnings"] == []
    assert d["energies"][0]["q_vectors"][0]["q_per_nm"] == pytest.approx(np.pi, rel=0.03)


def test_spiky_spectrum_warns_many_peaks():
    from supramap.sts import coherence_peaks

    v = np.linspace(-0.3, 0.3, 4001)
    g = 1 + RNG.normal(0, 0.01, v.size)
    for c in np.linspace(-0.28, 0.28, 12):  # twelve 5-point bursts: telegraph-like glitches
        g[np.abs(v - c) < 3e-4] += 0.5
    cp = coherence_peaks(v, g)
    assert "peaks.many" in codes(cp.warnings)


def test_orientation_mixture_is_two_populations(tmp_path, capsys):
    """30° and 120° dumbbells (two domains): two populations, not 'mean 75°, order 0'."""
    from supramap.cli.main import main
    from supramap.io.bcr import write_bcr

    z1, _ = _dumbbells(angle_deg=30.0, k=9, seed=1)
    z2, _ = _dumbbells(angle_deg=120.0, k=9, seed=2)
    z = np.zeros((256, 256))
    z[:, :128], z[:, 128:] = z1[:, :128], z2[:, 128:]
    z += RNG.normal(0, 0.02, z.shape)
    r = detect_defects(make_image(z, dx=1e-10))
    pops = sorted(r.populations, key=lambda p: p["mean_deg"])
    assert len(pops) == 2
    assert pops[0]["mean_deg"] == pytest.approx(30, abs=5)
    assert pops[1]["mean_deg"] == pytest.approx(120, abs=5)
    assert all(p["order"] > 0.9 for p in pops)
    f = tmp_path / "topo.bcrf"
    write_bcr(f, make_image(z * 1e-10, dx=1e-10, units="m"))
    assert main(["sts", "defects", str(f), "--json", str(tmp_path / "d.json")]) == 0
    out = capsys.readouterr().out
    assert "counter-clockwise on the screen" in out
    d = __import__("json").loads((tmp_path / "d.json").read_text())
    assert len(d["orientation_populations"]) == 2 and "orientation_convention" in d
    # --groups needs spectra: refused on a topograph with the reason.
    assert main(["sts", "defects", str(f), "--groups", "2"]) == 2
    assert "needs a spectroscopy grid" in capsys.readouterr().err


def test_one_orientation_is_one_population():
    z, _ = _dumbbells(angle_deg=45.0, k=12, seed=3)
    r = detect_defects(make_image(z + RNG.normal(0, 0.02, z.shape), dx=1e-10))
    assert len(r.populations) == 1 and r.populations[0]["mean_deg"] == pytest.approx(45, abs=5)
