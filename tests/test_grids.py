"""Spectroscopic grids: .3ds reader, grid operations, batched gap maps, QPI, defects."""

from __future__ import annotations

import numpy as np
import pytest

from supramap.errors import AnalysisError, FormatError
from supramap.io import read
from supramap.io.nanonis_3ds import read_3ds, write_3ds
from supramap.sts.defects import defect_spectra, find_defects, group_defects
from supramap.sts.gapmap import batched_lm, coherence_gap_map, gap_map
from supramap.sts.grid import line_cut, maps_at, normalise, region_average
from supramap.sts.qpi import anisotropy, fourier, lawler_fujita, q_line_cut, symmetrise
from supramap.synth.sts import defect_map, dynes_grid, write_grid


def test_real_grid_fingerprint(shared):
    ds = read(shared / "nanonis" / "NanonisReader_STS_grid_lockin.3ds")
    assert ds.attrs["format"] == "3ds"
    assert ds["Current"].dims == ("y", "x", "bias")
    assert ds["Current"].shape == (30, 30, 200)
    assert ds["bias"].values[0] == pytest.approx(-0.22, rel=1e-6)
    assert ds["bias"].values[-1] == pytest.approx(0.22, rel=1e-6)
    assert set(ds.data_vars) >= {"Current", "LockinX", "LockinY", "Bias_m"}
    assert len([v for v in ds.data_vars if v.startswith("param ")]) == 10
    assert "Delay before measuring (s)" not in ds.attrs["header"]
    assert float(ds["Current"].mean()) == pytest.approx(4.67224e-11, rel=1e-5)
    assert float(ds["LockinX"].mean()) == pytest.approx(1.05346, rel=1e-5)
    assert float(ds["LockinY"].mean()) == pytest.approx(1.18617, rel=1e-5)
    assert float(ds["param X"][0, 0]) == pytest.approx(8.09911e-8, rel=1e-5)
    assert float(ds["param Y"][0, 0]) == pytest.approx(6.329924e-7, rel=1e-6)
    assert ds["Current"].attrs["units"] == "A"
    lazy = read_3ds(shared / "nanonis" / "NanonisReader_STS_grid_lockin.3ds", chunks=8)
    assert float(lazy["LockinX"].mean()) == pytest.approx(1.05346, rel=1e-5)


def test_grid_write_read_and_incomplete(tmp_path):
    g, _ = dynes_grid(6, 5, n_bias=40)
    write_grid(tmp_path / "a.3ds", g)
    back = read(tmp_path / "a.3ds")
    np.testing.assert_allclose(back["LI Demod 1 X"].values,
                               g.values.astype(np.float32), rtol=1e-7)
    np.testing.assert_allclose(back["bias"].values, g["bias"].values, rtol=1e-6)
    np.testing.assert_allclose(back["x"].values, g["x"].values, rtol=1e-6)
    write_grid(tmp_path / "b.3ds", g, n_written=17)
    part = read(tmp_path / "b.3ds")
    flat = part["LI Demod 1 X"].values.reshape(30, 40)
    assert np.isfinite(flat[:17]).all() and np.isnan(flat[17:]).all()
    assert part.attrs["points_measured"] == 17


@pytest.mark.parametrize(("old", "new", "message"), [
    (b'Grid dim="5 x 6"', b'Grid dim="5 by 6"', "Grid dim"),
    (b"# Parameters (4 byte)=5", b"# Parameters (4 byte)=7", "parameter names"),
    (b"Points=40", b"Points=x", "integers"),
    (b":HEADER_END:", b":HEADER_XXX:", "HEADER_END"),
])
def test_bad_grid_headers(tmp_path, old, new, message):
    g, _ = dynes_grid(6, 5, n_bias=40)
    write_grid(tmp_path / "a.3ds", g)
    raw = (tmp_path / "a.3ds").read_bytes()
    assert old in raw
    (tmp_path / "c.3ds").write_bytes(raw.replace(old, new, 1))
    with pytest.raises(FormatError, match=message):
        read(tmp_path / "c.3ds")


def test_truncated_grid_without_any_point(tmp_path):
    g, _ = dynes_grid(4, 4, n_bias=40)
    write_grid(tmp_path / "a.3ds", g)
    raw = (tmp_path / "a.3ds").read_bytes()
    cut = raw.index(b":HEADER_END:") + 14 + 100
    (tmp_path / "t.3ds").write_bytes(raw[:cut])
    with pytest.raises(FormatError, match="no complete grid point"):
        read(tmp_path / "t.3ds")


def test_grid_operations():
    g, truth = dynes_grid(8, 10, n_bias=101)
    maps = maps_at(g, [-2e-3, 0.0, 2e-3])
    assert maps.dims == ("energy", "y", "x") and maps.sizes["energy"] == 3
    lin = maps_at(g, [1e-3], method="linear")
    assert lin.shape == (1, 8, 10)
    with pytest.raises(AnalysisError, match="leave the bias range"):
        maps_at(g, [1.0])
    n = normalise(g)
    outer = np.abs(g["bias"].values) >= 0.9 * np.abs(g["bias"].values).max()
    np.testing.assert_allclose(np.nanmean(n.values[..., outer], axis=-1), 1.0, rtol=1e-9)
    cut = line_cut(g, [(g.x.values[0], g.y.values[0]), (g.x.values[-1], g.y.values[-1])])
    assert cut.dims == ("distance", "bias")
    np.testing.assert_allclose(cut.values[0], g.values[0, 0], rtol=1e-9)
    mask = np.zeros((8, 10), bool)
    mask[:2, :2] = True
    avg = region_average(g, mask)
    np.testing.assert_allclose(avg.values, g.values[:2, :2].reshape(4, -1).mean(0))
    with pytest.raises(AnalysisError):
        region_average(g, np.zeros((8, 10), bool))


def test_gap_map_recovers_gap_field_within_1_percent():
    g, truth = dynes_grid(24, 24, noise=0.01)
    res = gap_map(g, temperature=truth["temperature_K"])
    conv = res.data["converged"].values
    assert conv.mean() > 0.95
    rel = np.abs(res.data["delta"].values / truth["gap_eV"] - 1)
    assert rel[conv].max() < 0.01
    d = res.to_dict()
    assert set(d) >= {"shape", "median_gap_eV", "fraction_converged", "seconds"}
    assert res.data["delta"].attrs["units"] == "eV"
    assert (res.data["delta_stderr"].values[conv] > 0).all()


def test_batched_fit_is_the_same_pixel_by_pixel_across_chunk_edges():
    """Pixels are evaluated in chunks of CHUNK; a partial last chunk (and any batch size) must
    give each pixel the fit it gets alone."""
    from supramap.sts.gapmap import CHUNK

    g, truth = dynes_grid(24, 24, noise=0.01, seed=5)
    b = g["bias"].values
    spectra = g.values.reshape(-1, b.size)[: CHUNK + 5]
    together = batched_lm(b, spectra, truth["temperature_K"])
    for i in (0, CHUNK - 1, CHUNK, CHUNK + 4):
        alone = batched_lm(b, spectra[i:i + 1], truth["temperature_K"])
        # BLAS rounds a 1-row product differently from a 128-row one (float32), so the LM
        # path may differ by an iteration; the fitted values may not.
        np.testing.assert_allclose(together.params[i, :3], alone.params[0, :3], rtol=1e-4)
        assert together.params[i, 3] == pytest.approx(alone.params[0, 3],
                                                      abs=1e-4 * alone.params[0, 2])


def test_batched_fit_agrees_with_per_pixel_curve_fit():
    from scipy.optimize import curve_fit

    from supramap.sts.gapmap import broadening_matrix, model

    g, truth = dynes_grid(4, 4, noise=0.01, seed=3)
    b = g["bias"].values
    spectra = g.values.reshape(-1, b.size)
    res = batched_lm(b, spectra, truth["temperature_K"])
    e, k = broadening_matrix(b, truth["temperature_K"])

    def f(v, delta, gamma, scale, offset):
        return model(np.array([[delta, gamma, scale, offset]]), e, k)[0]

    for i in range(0, 16, 3):
        p, _ = curve_fit(f, b, spectra[i], p0=res.params[i] * 1.05)
        assert res.params[i, 0] == pytest.approx(p[0], rel=0.01)
        assert res.params[i, 1] == pytest.approx(p[1], rel=0.05)


def test_nan_spectra_are_flagged_not_fatal():
    g, truth = dynes_grid(6, 6)
    vals = g.values.copy()
    vals[2, 3, :] = np.nan
    vals[4, 1, 10] = np.nan
    res = gap_map(g.copy(data=vals), temperature=1.0)
    conv = res.data["converged"].values
    assert not conv[2, 3] and not conv[4, 1]
    assert np.isnan(res.data["delta"].values[2, 3])
    assert conv.sum() >= 30


def test_coherence_gap_map_is_close():
    g, truth = dynes_grid(8, 8, noise=0.0, temperature=0.3, gamma=0.02e-3, n_bias=601)
    c = coherence_gap_map(g)
    assert c.attrs["units"] == "eV"
    np.testing.assert_allclose(c.values, truth["gap_eV"], rtol=0.05)


def test_dask_workers_agree(tmp_path):
    from threadpoolctl import threadpool_info

    g, truth = dynes_grid(16, 16)
    a = gap_map(g, temperature=1.0)
    before = [p["num_threads"] for p in threadpool_info()]
    b = gap_map(g, temperature=1.0, workers=2, rows_per_task=4)
    assert b.workers == 2
    # The run limits BLAS to one thread for its workers and gives the setting back.
    assert [p["num_threads"] for p in threadpool_info()] == before
    # Same algorithm; float32 kernels in another process may round differently.
    np.testing.assert_allclose(b.data["delta"].values, a.data["delta"].values, rtol=1e-4)


def test_in_process_threads_equal_one_thread(monkeypatch):
    """In process, blocks of rows are fitted on a thread per core (two here): each block is
    fitted alone, so the map is the same, bit for bit, as on one thread, and BLAS's thread
    setting is given back."""
    from threadpoolctl import threadpool_info

    from supramap import parallel
    from supramap.sts import gapmap as gm

    g, truth = dynes_grid(40, 16, n_bias=101)
    monkeypatch.setattr(gm, "BLOCK_SPECTRA", 64)  # 10 blocks of 4 rows
    before = [p["num_threads"] for p in threadpool_info()]
    monkeypatch.setattr(parallel, "cores", lambda: 2)
    two = gap_map(g, temperature=1.0)
    assert two.workers == 2
    assert [p["num_threads"] for p in threadpool_info()] == before
    monkeypatch.setattr(parallel, "cores", lambda: 1)
    one = gap_map(g, temperature=1.0)
    assert one.workers == 1
    for name in ("delta", "gamma", "converged"):
        np.testing.assert_array_equal(two.data[name].values, one.data[name].values)
    np.testing.assert_allclose(two.data["delta"].values, truth["gap_eV"], rtol=0.02)


def test_gap_map_errors():
    g, _ = dynes_grid(4, 4, n_bias=40)
    with pytest.raises(AnalysisError):
        gap_map(g.isel(bias=slice(0, 5)), temperature=1.0)
    with pytest.raises(AnalysisError):
        gap_map(g, temperature=0.0)
    with pytest.raises(AnalysisError):
        gap_map(g.transpose("bias", "y", "x"), temperature=1.0)


def test_qpi_anisotropy_and_symmetrisation():
    from supramap.data import make_image

    n = 128
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    ripples = np.cos(2 * np.pi * xx / 9.0) + 0.05 * np.random.default_rng(0).standard_normal(
        (n, n))  # unidirectional QPI along x
    m = make_image(ripples, dx=0.4e-9, units="S")
    f = fourier(m)
    assert f.dims == ("qy", "qx")
    qmax = float(np.abs(f.qx).max())
    a = anisotropy(f, q_min=0.05 * qmax, q_max=0.9 * qmax)
    assert a > 0.3  # unidirectional ripples along x
    s = symmetrise(f, "c4")
    assert abs(anisotropy(s, q_min=0.05 * qmax, q_max=0.9 * qmax)) < 0.05
    cut = q_line_cut(f, 0.0)
    q_peak = float(cut.q[np.argmax(cut.values[5:]) + 5])
    assert q_peak == pytest.approx(2 * np.pi / (9 * 0.4e-9), rel=0.1)


def test_lawler_fujita_removes_drift():
    n = 96
    yy, xx = np.mgrid[0:n, 0:n].astype(float)
    ux = 1.5 * np.sin(2 * np.pi * yy / n)  # slow drift along x
    kx, ky = 12, 12
    ideal = np.cos(2 * np.pi * kx * xx / n) + np.cos(2 * np.pi * ky * yy / n)
    drifted = np.cos(2 * np.pi * kx * (xx + ux) / n) + np.cos(2 * np.pi * ky * yy / n)
    from supramap.data import make_image

    m = make_image(drifted, dx=1e-10, units="m")
    fixed, u = lawler_fujita(m, [(0, kx), (ky, 0)], sigma_px=4)
    inner = (slice(15, -15), slice(15, -15))
    err_before = np.abs(drifted - ideal)[inner].mean()
    err_after = np.abs(fixed.values - ideal)[inner].mean()
    assert err_after < 0.3 * err_before


def test_defects_found_with_c2_orientation():
    m, pos = defect_map(128, n_defects=10, angle_deg=0.0, elongation=2.5)
    found = find_defects(m, threshold=0.2, min_sigma_px=1.5)
    assert len(found) == len(pos)
    for d in found:
        assert d.elongation > 1.4
        assert min(d.orientation_deg, 180 - d.orientation_deg) < 15
    g, _ = dynes_grid(32, 32)
    spectra = defect_spectra(g, found[:4])
    assert spectra.shape == (4, g.sizes["bias"])
    grouped = group_defects(found[:4], spectra, 2)
    assert {d.group for d in grouped} <= {0, 1}


def test_write_3ds_rejects_nothing_but_reads_back_params(tmp_path):
    g, _ = dynes_grid(3, 3, n_bias=20)
    write_3ds(tmp_path / "p.3ds", {"Current (A)": g.values}, bias=g["bias"].values,
              x_m=g["x"].values, y_m=g["y"].values, extra_params={"Temp (K)": np.full((3, 3),
                                                                                      4.2)})
    ds = read(tmp_path / "p.3ds")
    np.testing.assert_allclose(ds["param Temp"].values, 4.2, rtol=1e-6)
