"""Image Metrology BCR/BCRF reader and writer."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supramap.data import make_image
from supramap.errors import FormatError
from supramap.io import read, read_image
from supramap.io.bcr import read_bcr, write_bcr


def test_fingerprint_real_bcrf(shared):
    """Facts of ../shared/data/README.md (SurfaceTopography's bcrf-1.bcrf)."""
    ds = read(shared / "bcr" / "bcrf-1.bcrf")
    assert ds.attrs["format"] == "bcr"
    img = ds["height"]
    assert img.shape == (600, 960)
    assert img.attrs["units"] == "m"
    assert img.attrs["bcr_fileformat"] == "bcrf_unicode"
    assert img.attrs["void_pixels"] == 0
    z = img.values
    assert np.isfinite(z).all()
    assert z.mean() == pytest.approx(50.631546e-6, rel=1e-7)
    assert z.std() == pytest.approx(0.024560e-6, rel=1e-4)
    assert z.min() == pytest.approx(49.36861e-6, rel=1e-7)
    assert z.max() == pytest.approx(51.592369e-6, rel=1e-7)
    dx = float(img.x[1] - img.x[0])
    assert dx * 960 == pytest.approx(1777404e-9, rel=1e-9)
    assert float(img.y[1] - img.y[0]) * 600 == pytest.approx(1110878e-9, rel=1e-9)
    assert float(img.x[0]) - dx / 2 == pytest.approx(10359500e-9)


def _image(rng, shape=(17, 23), units="A", scale=1e-6):
    values = (rng.standard_normal(shape) * scale).astype(np.float32).astype(float)
    return make_image(values, dx=15e-9, dy=17e-9, x0=1e-6, y0=-2e-6, units=units,
                      name="current", attrs={"bias_V": 0.1})


@pytest.mark.parametrize("fmt", ["bcrf", "bcrf_unicode"])
@pytest.mark.parametrize("intel", [0, 1])
def test_float_round_trip_is_exact(tmp_path, fmt, intel):
    rng = np.random.default_rng(1)
    img = _image(rng)
    img.values[3, 4] = np.nan
    write_bcr(tmp_path / "a.bcrf", img, fileformat=fmt, intelmode=intel)
    back = read_image(tmp_path / "a.bcrf")
    np.testing.assert_array_equal(back.values, img.values)
    np.testing.assert_allclose(back.x.values, img.x.values, rtol=1e-12)
    np.testing.assert_allclose(back.y.values, img.y.values, rtol=1e-12)
    assert back.attrs["units"] == "A"
    assert back.attrs["bias_V"] == pytest.approx(0.1)
    assert back.attrs["void_pixels"] == 1


@pytest.mark.parametrize("fmt", ["bcrstm", "bcrstm_unicode"])
def test_int16_round_trip_exact_on_quantised_data(tmp_path, fmt):
    rng = np.random.default_rng(2)
    counts = rng.integers(-32000, 32000, size=(9, 11)).astype(float)
    counts[0, 0] = 32766  # the peak fixes bit2nm = 1 nm exactly
    img = make_image(counts * 1e-9, dx=1e-8, units="m", name="height")
    write_bcr(tmp_path / "a.bcr", img, fileformat=fmt, zunit="nm")
    back = read_image(tmp_path / "a.bcr")
    # The stored integers come back exactly; metres differ from nm·1e-9 by float rounding only.
    np.testing.assert_array_equal(np.rint(back.values / 1e-9), counts)
    np.testing.assert_allclose(back.values, img.values, rtol=1e-15)


def test_units_are_converted_to_si(tmp_path):
    img = _image(np.random.default_rng(3))
    write_bcr(tmp_path / "a.bcrf", img, zunit="nA")
    back = read_image(tmp_path / "a.bcrf")
    assert back.attrs["units"] == "A"
    np.testing.assert_allclose(back.values, img.values, rtol=1e-6)


def _header(**fields):
    base = {"fileformat": "bcrf", "headersize": 2048, "xpixels": 4, "ypixels": 3,
            "xlength": 40, "ylength": 30, "intelmode": 1}
    base.update(fields)
    text = "".join(f"{k} = {v}\n" for k, v in base.items() if v is not None)
    return text.ljust(2048).encode("latin-1")


def _write(tmp_path, head, n_values=12, name="bad.bcrf"):
    p = tmp_path / name
    p.write_bytes(head + np.zeros(n_values, "<f4").tobytes())
    return p


def test_minimal_header_reads(tmp_path):
    img = read_image(_write(tmp_path, _header()))
    assert img.shape == (3, 4)
    assert img.attrs["units"] == "m"  # zunit defaults to nm


@pytest.mark.parametrize(("fields", "message"), [
    ({"xpixels": None}, "xpixels"),
    ({"xpixels": "abc"}, "xpixels"),
    ({"xpixels": -4}, "impossible image size"),
    ({"ypixels": 2.5}, "ypixels"),
    ({"intelmode": 7}, "intelmode"),
    ({"fileformat": "bcrzip"}, "fileformat"),
    ({"headersize": 999999}, "headersize"),
    ({"xlength": 0}, "scan size"),
    ({"xlength": "nan"}, "scan size"),
    ({"xunit": "nA"}, "xunit"),
    ({"ypixels": 30}, "promises"),
])
def test_bad_header_values_name_the_field(tmp_path, fields, message):
    p = _write(tmp_path, _header(**fields))
    with pytest.raises(FormatError, match=message) as info:
        read(p)
    assert str(p) in str(info.value)


def test_truncated_data(tmp_path):
    p = _write(tmp_path, _header(), n_values=5)
    with pytest.raises(FormatError, match="only 20 bytes"):
        read(p)


def test_truncated_header(tmp_path):
    p = tmp_path / "t.bcrf"
    p.write_bytes(_header()[:100])
    with pytest.raises(FormatError, match=str(p)):
        read(p)


def test_unicode_header_with_ascii_format_is_refused(tmp_path):
    text = "fileformat = bcrf\nheadersize = 2048\nxpixels = 1\nypixels = 1\n".ljust(2048)
    p = tmp_path / "u.bcrf"
    p.write_bytes(text.encode("utf-16-le") + b"\0" * 4)
    with pytest.raises(FormatError, match="encoding"):
        read(p)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(tail=st.binary(max_size=300), cut=st.integers(min_value=0, max_value=2100))
def test_garbage_gives_format_error_or_valid_image(tmp_path, tail, cut):
    p = tmp_path / "fuzz.bcrf"
    p.write_bytes((_header() + np.ones(12, "<f4").tobytes())[:cut] + tail)
    try:
        img = read_bcr(p)
    except FormatError as exc:
        assert str(p) in str(exc)
    else:
        assert img["height"].shape == (3, 4)
