"""Conduction analysis recovers the virtual sample's truth."""

from __future__ import annotations

import numpy as np
import pytest

from supramap.conduction import (
    analyze,
    compare,
    estimate_noise,
    find_levels,
    line_edge_width,
    temperature_series,
)
from supramap.data import make_image
from supramap.errors import AnalysisError
from supramap.io import read_image
from supramap.spm import align_rows, plane_level
from supramap.synth.cafm import ScanSpec, make_sample, scan


def _scan_files(folder, label, direction="for"):
    return {c: read_image(folder / f"{label}_{direction}_{c}.bcrf")
            for c in ("current", "topography", "deflection")}


@pytest.fixture(scope="module")
def first_8k(virtual_sample):
    folder, truth = virtual_sample
    maps = _scan_files(folder, "01_8K")
    result = analyze(maps["current"], topography=maps["topography"],
                     deflection=maps["deflection"])
    scan_truth = next(s for s in truth["scans"] if s["label"] == "01_8K")
    return result, truth, scan_truth


def test_conducting_fraction_within_001(first_8k):
    result, _, t = first_8k
    assert result.conducting_fraction == pytest.approx(t["conducting_fraction"], abs=0.01)
    lo, hi = result.conducting_fraction_interval
    assert lo <= result.conducting_fraction <= hi


def test_current_levels_within_3_percent(first_8k):
    result, truth, _ = first_8k
    assert len(result.levels.levels_A) == 2
    np.testing.assert_allclose(result.levels.levels_A, truth["levels_A"], rtol=0.03)
    assert sum(result.levels.fractions) == pytest.approx(1.0)


def test_edge_width_within_one_pixel(first_8k):
    result, truth, _ = first_8k
    assert result.edges.median_m == pytest.approx(truth["edge_width_m"], abs=truth["pixel_m"])
    assert result.edges.widths_m.size > 100


def test_islands_and_stripes(first_8k):
    result, truth, t = first_8k
    assert result.n_islands == t["n_regions"]
    # The three drawn stripes are long capsules (length ≥ 2 µm, half-width ≤ 140 nm).
    stripes = [i for i in result.islands if i.is_stripe]
    assert len(stripes) == 3
    for s in stripes:
        assert s.elongation > 5
        assert 0 <= s.orientation_deg < 180
    areas = sum(i.area_m2 for i in result.islands)
    frame = np.prod(t and truth["shape"]) * truth["pixel_m"] ** 2
    assert areas / frame == pytest.approx(result.conducting_fraction, rel=1e-9)
    for isl in result.islands:
        assert isl.max_current_A >= isl.mean_current_A > result.threshold_A


def test_island_orientation_matches_truth(first_8k):
    result, truth, _ = first_8k
    stripes = [c for c in truth["islands"]
               if np.hypot(c["x1"] - c["x0"], c["y1"] - c["y0"]) > 1.5e-6]
    measured = sorted(i.orientation_deg for i in result.islands if i.is_stripe)
    expected = sorted(np.degrees(np.arctan2(c["y1"] - c["y0"], c["x1"] - c["x0"])) % 180
                      for c in stripes)
    np.testing.assert_allclose(measured, expected, atol=2.0)


def test_noise_floor_and_dynamic_range(first_8k):
    result, truth, _ = first_8k
    # The insulating matrix has Gaussian noise σ = noise_A; the floor is offset + 3σ.
    assert result.noise.sigma_A == pytest.approx(truth["noise_A"], rel=0.05)
    assert result.noise.floor_A == pytest.approx(3 * truth["noise_A"], rel=0.05)
    expected = np.log10(max(truth["levels_A"]) / (3 * truth["noise_A"]))
    assert result.dynamic_range_decades == pytest.approx(expected, abs=0.05)
    assert result.dynamic_range_decades > 4.5


def test_artefact_check_clears_independent_topography(first_8k):
    result, _, _ = first_8k
    a = result.artefacts
    assert set(a.correlations) == {"topography", "topography_slope", "deflection"}
    assert a.max_abs_rho < 0.2
    assert a.verdict.startswith("The current is not explained")


def test_artefact_check_flags_topographic_current():
    sample = make_sample(1)
    s = scan(sample, ScanSpec(8.0, shape=(128, 128), scars=0))
    topo = s["topography"]
    # A "current" that is just the (levelled) topography: the classic cAFM artefact.
    flat = align_rows(plane_level(topo), "median").values
    fake = make_image(1e-6 * (flat - flat.min()) / np.ptp(flat) + 1e-9,
                      dx=16e-9, units="A", attrs={"bias_V": 0.1})
    result = analyze(fake, topography=topo)
    assert result.artefacts.max_abs_rho > 0.5
    assert result.artefacts.verdict.startswith("Warning")


def test_units_and_json_keys(first_8k):
    result, _, _ = first_8k
    d = result.to_dict()
    for key in ("noise_floor_A", "threshold_A", "conducting_fraction",
                "conducting_fraction_interval", "n_islands", "islands", "levels_A",
                "level_fractions", "edge_width_m", "dynamic_range_decades", "pixel_size_m",
                "shape", "topography_correlation"):
        assert key in d
    assert d["pixel_size_m"] == pytest.approx([16e-9, 16e-9])
    assert d["islands"][0]["area_m2"] > 0


def test_user_threshold_and_negative_bias():
    sample = make_sample(2, bias_V=-0.1)
    s = scan(sample, ScanSpec(8.0, shape=(192, 192), scars=0))
    cur = s["current"]
    assert np.nanmin(cur.values) < -1e-6  # conduction shows as negative current
    auto = analyze(cur)
    assert auto.polarity == -1
    assert auto.conducting_fraction == pytest.approx(s["truth"]["conducting_fraction"],
                                                     abs=0.01)
    user = analyze(cur, threshold=1e-9)
    assert user.threshold_source == "user"
    assert user.threshold_A == 1e-9
    assert user.conducting_fraction > auto.conducting_fraction  # low cut takes the edge tails


def test_non_conducting_map():
    sample = make_sample(0)
    s = scan(sample, ScanSpec(35.0, shape=(128, 128), scars=0))
    r = analyze(s["current"])
    assert r.levels.levels_A == ()
    assert r.conducting_fraction == 0.0
    assert r.n_islands == 0
    assert np.isnan(r.edges.median_m)


@pytest.mark.parametrize("bad", ["lots", float("nan")])
def test_bad_threshold(bad):
    img = make_image(np.random.default_rng(0).normal(size=(16, 16)) * 1e-11, dx=1e-8,
                     units="A")
    with pytest.raises(AnalysisError, match="threshold"):
        analyze(img, threshold=bad)


def test_wrong_units_and_empty_maps():
    with pytest.raises(AnalysisError, match="units"):
        analyze(make_image(np.zeros((8, 8)), dx=1e-8, units="m"))
    with pytest.raises(AnalysisError, match="no valid pixel"):
        analyze(make_image(np.full((8, 8), np.nan), dx=1e-8, units="A"))


def test_noise_estimate_ignores_conducting_minority():
    rng = np.random.default_rng(5)
    v = rng.normal(2e-12, 30e-12, 200_000)
    v[:60_000] = rng.uniform(1e-7, 5e-6, 60_000)  # 30 % conducting
    n = estimate_noise(v)
    assert n.offset_A == pytest.approx(2e-12, abs=1e-12)
    assert n.sigma_A == pytest.approx(30e-12, rel=0.03)


@pytest.mark.parametrize("means", [(3.5e-6,), (3.5e-6, 5.5e-6), (1e-6, 2.2e-6, 4e-6)])
def test_find_levels_chooses_k_by_bic(means):
    rng = np.random.default_rng(6)
    samples = np.concatenate([rng.normal(m, 0.03 * m, 20_000) for m in means])
    lv = find_levels(samples)
    assert len(lv.levels_A) == len(means)
    np.testing.assert_allclose(lv.levels_A, means, rtol=0.005)
    np.testing.assert_allclose(lv.fractions, 1 / len(means), atol=0.01)


def test_line_edge_width_on_analytic_edge():
    from scipy.special import erfc

    sigma = 20e-9
    x = (np.arange(200) + 0.5) * 4e-9
    edge = 5e-6 * 0.5 * erfc((x - 400e-9) / (np.sqrt(2) * sigma))
    img = make_image(np.tile(edge, (30, 1)), dx=4e-9, units="A")
    w = line_edge_width(img, (100e-9, 60e-9), (700e-9, 60e-9), width=40e-9)
    assert w == pytest.approx(2 * 1.2815516 * sigma, rel=0.03)
    # The same line drawn the other way gives the same width.
    assert line_edge_width(img, (700e-9, 60e-9), (100e-9, 60e-9)) == pytest.approx(w, rel=0.03)
    with pytest.raises(AnalysisError, match="edge"):  # along the plateau: nothing to measure
        line_edge_width(img, (700e-9, 10e-9), (700e-9, 110e-9))


def test_forward_backward_comparison_at_20k(virtual_sample):
    folder, truth = virtual_sample
    fwd, bwd = _scan_files(folder, "02_20K", "for"), _scan_files(folder, "02_20K", "bac")
    c = compare(fwd["current"], bwd["current"], topography_a=fwd["topography"],
                topography_b=bwd["topography"])
    t = truth["comparisons"]["forward_backward_20K"]
    assert c.shift_px == pytest.approx(t["shift_px"], abs=0.2)
    for key in ("persistent_fraction", "vanished_fraction", "appeared_fraction"):
        assert getattr(c, key) == pytest.approx(t[key], abs=0.02), key
    assert c.spot_diameter_m == pytest.approx(t["spot_diameter_m"], abs=truth["pixel_m"])
    assert c.spots_only_a > 0 and c.spots_only_b > 0
    assert c.registration_quality > 0.95


def test_recooling_comparison(virtual_sample):
    folder, truth = virtual_sample
    a, b = _scan_files(folder, "01_8K"), _scan_files(folder, "04_8K_recooled")
    c = compare(a["current"], b["current"], topography_a=a["topography"],
                topography_b=b["topography"])
    t = truth["comparisons"]["recooling_8K"]
    assert c.shift_px == pytest.approx(t["shift_px"], abs=0.2)
    for key in ("persistent_fraction", "vanished_fraction", "appeared_fraction", "iou"):
        assert getattr(c, key) == pytest.approx(t[key], abs=0.02), key


def test_compare_requires_both_topographies(virtual_sample):
    folder, _ = virtual_sample
    a = _scan_files(folder, "01_8K")
    with pytest.raises(AnalysisError, match="both"):
        compare(a["current"], a["current"], topography_a=a["topography"])


def test_temperature_series(virtual_sample):
    folder, truth = virtual_sample
    labels = ["01_8K", "02_20K", "03_30K", "04_8K_recooled"]
    maps = [_scan_files(folder, lb) for lb in labels]
    s = temperature_series([m["current"] for m in maps], [8, 20, 30, 8],
                           topographies=[m["topography"] for m in maps])
    expected = [next(x for x in truth["scans"] if x["label"] == lb)["conducting_fraction"]
                for lb in labels]
    np.testing.assert_allclose(s.conducting_fraction, expected, atol=0.01)
    assert s.vanishing_temperature_K == truth["t_vanish_K"]
    assert s.returned_index == 3
    c = s.return_comparison
    assert len(c.islands_returned) == len(truth["returning_islands"])
    # The returned islands are the true returning ones: match by position.
    first = s.results[0]
    returned = [i for i in first.islands if i.label in c.islands_returned]
    true_centres = np.array([[(k["x0"] + k["x1"]) / 2, (k["y0"] + k["y1"]) / 2]
                             for j, k in enumerate(truth["islands"])
                             if j in truth["returning_islands"]])
    # Frame A's coordinates are the nominal frame: the sample's origin (0.15, 0.12) µm.
    for isl in returned:
        d = np.hypot(true_centres[:, 0] - isl.centroid_x_m, true_centres[:, 1] - isl.centroid_y_m)
        assert d.min() < 60e-9
    d = s.to_dict()
    assert d["temperatures_K"] == [8, 20, 30, 8]


def test_series_errors():
    img = make_image(np.zeros((8, 8)), dx=1e-8, units="A")
    with pytest.raises(AnalysisError, match="temperatures"):
        temperature_series([img, img], [8])
    with pytest.raises(AnalysisError, match="at least two"):
        temperature_series([img], [8])


def test_region_moments_equal_skimage_regionprops():
    """The islands' one-pass bincount moments give regionprops_table's numbers exactly
    (its conventions included: orientation of a symmetric region, 4√λ axis lengths)."""
    from scipy import ndimage
    from skimage import measure

    from supramap.conduction.islands import region_moments

    rng = np.random.default_rng(0)
    lab = measure.label(ndimage.gaussian_filter(rng.normal(size=(200, 200)), 3) > 0.3,
                        connectivity=2)
    lab[0, 0] = lab.max() + 1  # a single pixel
    cur = rng.normal(size=lab.shape)
    cols = ("label", "area", "centroid", "orientation", "axis_major_length",
            "axis_minor_length", "intensity_mean", "intensity_max")
    ref = measure.regionprops_table(lab, intensity_image=cur, properties=cols)
    got = region_moments(lab, cur)
    for key, want in ref.items():
        np.testing.assert_allclose(got[key], want, rtol=1e-10, atol=1e-12, err_msg=key)


def test_region_moments_count_nan_as_zero_and_inf_as_the_largest_float():
    from supramap.conduction.islands import region_moments

    lab = np.zeros((6, 6), int)
    lab[:2, :2], lab[3:, 3:], lab[0, 5] = 1, 2, 3
    cur = -np.ones((6, 6))
    cur[0, 0] = np.nan                      # region 1: max 0 (NaN counts as 0), mean −0.75
    cur[4, 4] = np.inf                      # region 2: max the largest float
    cur[0, 5] = np.nan                      # region 3: only NaN → 0
    got = region_moments(lab, cur)
    want = [np.nan_to_num(cur[lab == i]) for i in (1, 2, 3)]
    np.testing.assert_array_equal(got["intensity_max"], [w.max() for w in want])
    np.testing.assert_array_equal(got["intensity_mean"], [w.mean() for w in want])
