"""Levelling, row alignment, scars, profiles, registration."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from supramap.data import make_image
from supramap.errors import AnalysisError, RegistrationError
from supramap.spm import (
    align_rows,
    crop,
    mark_scars,
    plane_level,
    poly_level,
    profile,
    register,
    remove_scars,
    shift_image,
)
from supramap.synth.cafm import ScanSpec, make_sample, scan


def _img(values, dx=10e-9):
    return make_image(values, dx=dx, units="m", name="height")


def test_plane_level_removes_a_plane_exactly():
    y, x = np.mgrid[0:40, 0:50]
    rng = np.random.default_rng(0)
    bumps = rng.standard_normal((40, 50)) * 1e-10
    img = _img(3e-9 * x - 2e-9 * y + 5e-8 + bumps)
    out = plane_level(img)
    ref = plane_level(_img(bumps))
    np.testing.assert_allclose(out.values, ref.values, atol=1e-18)
    assert out.attrs["units"] == "m"
    assert out.attrs["provenance"][-1].startswith("poly_level(order=1")
    assert img.attrs["provenance"] == []  # input untouched


def test_poly_level_with_mask_ignores_features():
    y, x = np.mgrid[0:60, 0:60] / 60
    bg = 2e-9 * x**2 - 1e-9 * x * y + 3e-9 * y
    feature = np.zeros_like(bg)
    feature[20:30, 20:30] = 5e-9
    mask = feature > 0
    out = poly_level(_img(bg + feature), 2, mask=mask)
    np.testing.assert_allclose(out.values[~mask], 0, atol=1e-20)
    np.testing.assert_allclose(out.values[mask], 5e-9, rtol=1e-9)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float64, (8, 9), elements=st.floats(-1e3, 1e3)))
def test_levelling_is_idempotent(z):
    once = plane_level(_img(z))
    twice = plane_level(once)
    np.testing.assert_allclose(twice.values, once.values, atol=1e-9 * (1 + np.abs(z).max()))


@pytest.mark.parametrize("method", ["median", "median_diff", "poly"])
def test_align_rows_removes_row_offsets(method):
    rng = np.random.default_rng(1)
    surface = np.zeros((50, 64))
    surface[:, 30:34] = 1e-9  # a feature crossing every row
    offsets = rng.normal(0, 5e-9, 50)[:, None]
    out = align_rows(_img(surface + offsets), method)
    residual = out.values - out.values.mean(axis=1, keepdims=True)
    expected = surface - surface.mean(axis=1, keepdims=True)
    np.testing.assert_allclose(residual, expected, atol=1e-15)


def test_align_rows_poly_removes_row_tilts():
    rng = np.random.default_rng(2)
    u = np.linspace(-1, 1, 40)
    tilts = rng.normal(0, 1e-9, (30, 1)) * u + rng.normal(0, 1e-9, (30, 1))
    out = align_rows(_img(tilts), "poly", order=1)
    np.testing.assert_allclose(out.values, 0, atol=1e-20)


def test_align_rows_rejects_unknown_method():
    with pytest.raises(AnalysisError, match="unknown"):
        align_rows(_img(np.zeros((4, 4))), "mean")


def _rough(shape=(128, 160), seed=3):
    rng = np.random.default_rng(seed)
    from scipy import ndimage

    # Smooth roughness plus white measurement noise of the same rms, as in a real scan.
    # (On noiseless smooth images Gwyddion's marker also flags ridges: it is line-local.)
    smooth = ndimage.gaussian_filter(rng.standard_normal(shape), 2) * 1e-9
    return smooth + smooth.std() * rng.standard_normal(shape)


def test_scar_removal_leaves_unscarred_image_unchanged():
    img = _img(_rough())
    assert not mark_scars(img).values.any()
    np.testing.assert_array_equal(remove_scars(img).values, img.values)


def test_planted_scars_are_marked_and_removed():
    z = _rough()
    rms = np.sqrt(np.mean(np.diff(z, axis=0) ** 2))
    scarred = z.copy()
    planted = np.zeros(z.shape, bool)
    for row, c0, length, width, sign in [(20, 10, 60, 1, 1), (70, 40, 90, 1, -1),
                                         (100, 0, 30, 1, 1)]:
        scarred[row:row + width, c0:c0 + length] += sign * 4 * rms
        planted[row:row + width, c0:c0 + length] = True
    marked = mark_scars(_img(scarred)).values
    assert marked.dtype == bool
    recall = (marked & planted).sum() / planted.sum()
    false_pos = (marked & ~planted).sum() / planted.sum()
    assert recall > 0.95
    assert false_pos < 0.05
    fixed = remove_scars(_img(scarred)).values
    err_before = np.abs(scarred - z)[planted].mean()
    err_after = np.abs(fixed - z)[planted].mean()
    assert err_after < 0.25 * err_before
    np.testing.assert_array_equal(fixed[~marked], scarred[~marked])


def test_short_scars_are_kept_below_min_length():
    z = _rough()
    rms = np.sqrt(np.mean(np.diff(z, axis=0) ** 2))
    z[50, 10:20] += 5 * rms  # 10 px < 16 px default
    assert not mark_scars(_img(z)).values[50].any()
    assert mark_scars(_img(z), min_length=8).values[50, 10:20].all()


def test_crop_uses_physical_coordinates():
    img = _img(np.arange(100.0).reshape(10, 10), dx=1e-9)
    out = crop(img, x=(2e-9, 5e-9), y=(0, 3e-9))
    assert out.shape == (3, 3)
    assert float(out.x[0]) == pytest.approx(2.5e-9)
    with pytest.raises(AnalysisError):
        crop(img, x=(2e-9, 2.1e-9))


def test_box_profile_of_a_ramp():
    y, x = np.mgrid[0:50, 0:80]
    img = _img(x * 1.0, dx=1e-9)
    p = profile(img, (10.5e-9, 25e-9), (60.5e-9, 25e-9), width=8e-9)
    np.testing.assert_allclose(p.values, 10 + p["distance"].values / 1e-9, atol=1e-9)
    assert p["distance"].attrs["units"] == "m"
    assert p.attrs["units"] == "m"
    diag = profile(img, (10.5e-9, 10.5e-9), (40.5e-9, 40.5e-9), width=4e-9)
    np.testing.assert_allclose(diag.values, 10 + diag["distance"].values / 1e-9 / np.sqrt(2),
                               atol=1e-9)


def test_profile_outside_is_nan():
    img = _img(np.ones((10, 10)), dx=1e-9)
    p = profile(img, (5e-9, 5e-9), (30e-9, 5e-9))
    assert np.isnan(p.values[-1]) and p.values[0] == 1


@pytest.mark.parametrize("drift", [(0.0, 0.0), (1.37, -0.62), (-3.41, 2.27), (7.8, 5.1)])
def test_registration_recovers_subpixel_drift(drift):
    sample = make_sample(4)
    p = 16e-9
    a = scan(sample, ScanSpec(8.0, shape=(256, 256), origin_m=(1e-6, 1e-6), scars=0))
    sy, sx = drift
    b = scan(sample, ScanSpec(8.0, shape=(256, 256), origin_m=(1e-6 + sx * p, 1e-6 + sy * p),
                              scars=0, seed=1))
    reg = register(a["topography"], b["topography"])
    # B's frame moved by (sy, sx): its content must move back by that to overlay A.
    assert reg.shift_px == pytest.approx((sy, sx), abs=0.2)
    assert reg.shift_m == pytest.approx((sy * p, sx * p), abs=0.2 * p)


def test_registration_errors():
    a = _img(_rough((32, 32)))
    with pytest.raises(RegistrationError, match="shapes"):
        register(a, _img(_rough((32, 40))))
    with pytest.raises(RegistrationError, match="pixel sizes"):
        register(a, _img(_rough((32, 32)), dx=20e-9))


def test_shift_image_moves_content_and_marks_uncovered():
    z = np.zeros((20, 20))
    z[5, 5] = 1
    out = shift_image(_img(z), (2, 3))
    assert out.values[7, 8] == pytest.approx(1)
    assert np.isnan(out.values[0]).all() and np.isnan(out.values[:, :3]).all()


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 40), st.integers(1, 40), st.sampled_from([1, 3, 5, 7]),
       st.integers(1, 9), st.integers(0, 2**31 - 1))
def test_strip_extreme_filters_equal_scipy(ny, nx, size, strip, seed):
    """Square min/max filters (mode 'nearest') in strips equal scipy.ndimage's, with ±inf,
    ties, one-row and one-column images and strips shorter than the window."""
    import supramap.spm.extreme as ex

    rng = np.random.default_rng(seed)
    z = rng.integers(0, 4, (ny, nx)).astype(float)
    z[rng.random((ny, nx)) < 0.05] = np.inf
    z[rng.random((ny, nx)) < 0.05] = -np.inf
    old = ex.STRIP_ROWS
    ex.STRIP_ROWS = strip
    try:
        np.testing.assert_array_equal(ex.minimum_filter(z, size),
                                      ndimage.minimum_filter(z, size=size, mode="nearest"))
        np.testing.assert_array_equal(ex.maximum_filter(z, size),
                                      ndimage.maximum_filter(z, size=size, mode="nearest"))
    finally:
        ex.STRIP_ROWS = old
