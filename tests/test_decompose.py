"""Unsupervised decomposition of grids (issue #15 §4) on grids built here with known truth:
three regions of different gap for k-means, a two-phase mixture with known weights for PCA and
NMF."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("sklearn", reason="scikit-learn (extra 'ml') not installed")

from supramap.errors import AnalysisError  # noqa: E402
from supramap.sts.decompose import decompose_grid  # noqa: E402

BIAS = np.linspace(-5e-3, 5e-3, 121)


def _dynes(e, delta, gamma=5e-5):
    z = e + 1j * gamma
    return np.abs(np.real(z / np.sqrt(z * z - delta * delta)))


def _grid(values):
    ny, nx, _ = values.shape
    return xr.DataArray(values, dims=("y", "x", "bias"),
                        coords={"y": np.arange(ny) * 1e-9, "x": np.arange(nx) * 1e-9,
                                "bias": BIAS}, attrs={"units": "S"})


def _regions(noise=0.03, seed=0):
    region = np.zeros((30, 40), int)
    region[:, 15:28] = 1
    region[10:20, 28:] = 2
    spectra = np.array([_dynes(BIAS, 1.0e-3), _dynes(BIAS, 1.6e-3), np.ones_like(BIAS)])
    g = spectra[region] + np.random.default_rng(seed).normal(0, noise, (30, 40, BIAS.size))
    return _grid(g), region


def test_kmeans_finds_the_three_regions_by_silhouette():
    grid, region = _regions()
    res = decompose_grid(grid, method="kmeans")
    assert res.n_components == 3 and res.criterion == "largest mean silhouette"
    assert max(res.scores, key=res.scores.get) == 3
    lab = res.labels.values
    for k in range(3):  # every true region is one cluster, and clusters differ
        assert (lab[region == k] == np.bincount(lab[region == k]).argmax()).mean() == 1.0
    assert len({np.bincount(lab[region == k]).argmax() for k in range(3)}) == 3
    # Ordered by zero-bias conductance: the larger gap (lowest G(0)) first, metal last.
    assert np.bincount(lab[region == 2]).argmax() == 2


def test_pca_and_nmf_recover_a_two_phase_mixture():
    w = np.tile(np.linspace(0, 1, 40), (30, 1))
    s0, s1 = _dynes(BIAS, 1.0e-3), _dynes(BIAS, 1.6e-3)
    g = w[..., None] * s0 + (1 - w[..., None]) * s1
    g += np.random.default_rng(1).normal(0, 0.01, g.shape)
    pca = decompose_grid(_grid(g), method="pca")
    assert pca.n_components == 1 and pca.explained[0] > 0.95  # centred: one direction
    # A PCA score map has zero mean by construction: its share is the variance it explains
    # (it was once the mean score, 1e-25, which differed between runs in its first digit).
    assert abs(float(pca.maps.values[0].mean())) < 1e-12 * float(np.abs(pca.maps.values).max())
    assert pca.to_dict()["component_share"] == pca.explained
    nmf = decompose_grid(_grid(g), method="nmf")
    assert nmf.n_components == 2
    corr = [abs(np.corrcoef(nmf.maps.values[i].ravel(), w.ravel())[0, 1]) for i in range(2)]
    assert min(corr) > 0.999
    # The component spectra are the two end members (up to scale), one each.
    for s in (s0, s1):
        best = max(np.corrcoef(nmf.components.values[i], s)[0, 1] for i in range(2))
        assert best > 0.999


def test_nan_spectra_are_left_out_and_bad_requests_refused():
    grid, _ = _regions()
    g = grid.values.copy()
    g[0, :5] = np.nan
    res = decompose_grid(_grid(g), method="kmeans", n_components=3)
    assert np.isnan(res.maps.values[:, 0, :5]).all() and (res.labels.values[0, :5] == -1).all()
    assert any("left out" in n for n in res.notes)
    with pytest.raises(AnalysisError, match="method"):
        decompose_grid(grid, method="ica")
    with pytest.raises(AnalysisError, match="n_components"):
        decompose_grid(grid, method="pca", n_components=99)
    with pytest.raises(AnalysisError, match="no finite value"):
        decompose_grid(_grid(np.full((4, 4, BIAS.size), np.nan)))


def test_cli_decompose_on_a_written_grid(tmp_path, capsys):
    import json

    from supramap.cli.main import main
    from supramap.io.nanonis_3ds import write_3ds

    grid, region = _regions(noise=0.02)
    write_3ds(tmp_path / "g.3ds", {"LI Demod 1 X (A)": grid.values}, bias=BIAS,
              x_m=grid.x.values, y_m=grid.y.values)
    assert main(["sts", "decompose", str(tmp_path / "g.3ds"), "--json",
                 str(tmp_path / "d.json"), "--report", str(tmp_path / "rep")]) == 0
    d = json.loads((tmp_path / "d.json").read_text())
    assert d["n_components"] == 3
    assert sorted(d["component_share"]) == pytest.approx(
        sorted(np.bincount(region.ravel()) / region.size), abs=1e-9)
    assert (tmp_path / "rep" / "decomposition.png").exists()
    capsys.readouterr()
    assert main(["sts", "decompose", str(tmp_path / "g.3ds"), "--components", "abc"]) == 2
    assert "--components" in capsys.readouterr().err


def test_clusters_compared_with_the_gap_map(tmp_path):
    """The three regions' gaps (1.0, 1.6 meV and a flat, gapless one) are what the gap map of
    each k-means cluster gives; the clusters carry almost all of the gap map's variance."""
    from supramap.sts.decompose import compare_clusters

    g, region = _regions()
    dec = decompose_grid(g, method="kmeans")
    truth = np.array([1.0e-3, 1.6e-3, np.nan])[region]
    gap = xr.DataArray(truth + np.random.default_rng(1).normal(0, 2e-6, truth.shape),
                       dims=("y", "x"))
    cmp = compare_clusters(dec.labels, gap, name="gap", units="eV")
    means = sorted(r["mean"] for r in cmp["clusters"])
    assert means == pytest.approx([1.0e-3, 1.6e-3], rel=1e-3)  # the flat region has no gap
    assert cmp["eta_squared"] > 0.99
    unrelated = xr.DataArray(np.random.default_rng(2).normal(1e-3, 1e-4, truth.shape),
                             dims=("y", "x"))
    assert compare_clusters(dec.labels, unrelated)["eta_squared"] < 0.05
    with pytest.raises(AnalysisError, match="same pixels"):
        compare_clusters(dec.labels, gap[:5])


def test_cli_decompose_with_gapmap(tmp_path):
    import json

    from supramap.cli.main import main
    from supramap.synth.sts import dynes_grid, write_grid

    grid, truth = dynes_grid(16, 16, seed=2)
    write_grid(tmp_path / "g.3ds", grid)
    assert main(["sts", "gapmap", str(tmp_path / "g.3ds"), "--temperature", "1", "--out",
                 str(tmp_path / "g.nc")]) == 0
    assert main(["sts", "decompose", str(tmp_path / "g.3ds"), "--gapmap", str(tmp_path / "g.nc"),
                 "--json", str(tmp_path / "d.json")]) == 0
    d = json.loads((tmp_path / "d.json").read_text())
    cmp = d["gap_comparison"]
    assert cmp["quantity"] == "gap" and sum(r["n_pixels"] for r in cmp["clusters"]) > 200
    assert 0 <= cmp["eta_squared"] <= 1
    assert main(["sts", "decompose", str(tmp_path / "g.3ds"), "--method", "pca", "--gapmap",
                 str(tmp_path / "g.nc")]) == 2
    assert main(["sts", "decompose", str(tmp_path / "g.3ds"), "--gapmap",
                 str(tmp_path / "g.3ds")]) == 2


def test_cli_decompose_compared_with_a_registered_cafm_map(tmp_path):
    """A current map of a larger area, at another resolution but in the grid's frame, is
    insulating exactly over the gapless region: its current per cluster tells that cluster
    from the two gapped ones (η² ≈ 1); a map elsewhere is refused."""
    import json

    from supramap.cli.main import main
    from supramap.data import make_image
    from supramap.io.bcr import write_bcr
    from supramap.io.nanonis_3ds import write_3ds

    g, region = _regions(noise=0.02)
    write_3ds(tmp_path / "g.3ds", {"LI Demod 1 X (A)": g.values}, bias=BIAS,
              x_m=g["x"].values, y_m=g["y"].values)
    # 0.25 nm pixels from −5 to 45 nm: 3 µA everywhere but over the gapless region (rows
    # 10–19 nm, x ≥ 28 nm), which is insulating.
    n = 200
    xx = -5e-9 + (np.arange(n) + 0.5) * 0.25e-9
    cur = np.full((n, n), 3e-6)
    cur[(xx[:, None] >= 9.5e-9) & (xx[:, None] < 19.5e-9) & (xx[None, :] >= 27.5e-9)] = 1e-12
    write_bcr(tmp_path / "c.bcrf", make_image(cur, dx=0.25e-9, x0=-5e-9, y0=-5e-9, units="A"))
    assert main(["sts", "decompose", str(tmp_path / "g.3ds"), "--components", "3",
                 "--compare", str(tmp_path / "c.bcrf"), "--json", str(tmp_path / "d.json")]) == 0
    d = json.loads((tmp_path / "d.json").read_text())
    cmp = d["map_comparison"]
    assert cmp["units"] == "A" and cmp["eta_squared"] > 0.95
    means = sorted(r["mean"] for r in cmp["clusters"])
    assert means[0] < 1e-9 and means[-1] == pytest.approx(3e-6, rel=0.05)
    far = make_image(cur, dx=0.25e-9, x0=1e-6, y0=1e-6, units="A")
    write_bcr(tmp_path / "far.bcrf", far)
    assert main(["sts", "decompose", str(tmp_path / "g.3ds"), "--compare",
                 str(tmp_path / "far.bcrf")]) == 2
