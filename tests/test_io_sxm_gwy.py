"""Nanonis .sxm and Gwyddion .gwy readers, and the format registry."""

from __future__ import annotations

import numpy as np
import pytest

from supramap.data import make_image
from supramap.errors import ChannelError, FormatError, UnknownFormatError
from supramap.io import describe, find_reader, read, read_image
from supramap.io.sxm import write_sxm


def test_fingerprint_fese_sxm(shared):
    ds = read(shared / "nanonis" / "FeSe_topography.sxm")
    assert set(ds.data_vars) == {f"{c}_{d}" for c in ("Z", "Current", "LIY_1_omega",
                                                        "LIY_n_omega")
                                 for d in ("forward", "backward")}
    z = ds["Z_forward"]
    assert z.shape == (224, 224)
    assert z.attrs["units"] == "m"
    assert z.attrs["scan_dir"] == "down"
    assert z.attrs["scan_angle_deg"] == pytest.approx(45.0)
    assert float(z.x[1] - z.x[0]) * 224 == pytest.approx(20e-9)
    assert float(z.mean()) == pytest.approx(-1.15688e-7, rel=1e-5)
    assert float(z.std()) == pytest.approx(6.04696e-11, rel=1e-4)
    assert float(ds["Current_forward"].mean()) == pytest.approx(4.53318e-10, rel=1e-5)
    assert ds["Current_forward"].attrs["units"] == "A"
    assert ds.attrs["bias_V"] == pytest.approx(0.045)


def test_fingerprint_au_sxm(shared):
    ds = read(shared / "nanonis" / "Au_mica_2023_Y_A_diPAMY_195.sxm")
    assert set(ds.data_vars) == {"Z_forward", "Z_backward", "Current_forward",
                                 "Current_backward"}
    cur = ds["Current_forward"]
    assert cur.shape == (256, 256)
    assert float(cur.x[1] - cur.x[0]) * 256 == pytest.approx(4e-9)
    assert cur.attrs["scan_angle_deg"] == pytest.approx(135.1)
    assert float(cur.mean()) == pytest.approx(-6.02051e-10, rel=1e-5)
    assert float(cur.std()) == pytest.approx(1.31752e-9, rel=1e-5)


@pytest.mark.parametrize("channel", ["Z", "LIY_1_omega"])
def test_forward_and_backward_overlay_on_real_file(shared, channel):
    from supramap.spm import align_rows, plane_level

    ds = read(shared / "nanonis" / "FeSe_topography.sxm")
    f = align_rows(plane_level(ds[f"{channel}_forward"]), "median").values.ravel()
    b = align_rows(plane_level(ds[f"{channel}_backward"]), "median").values
    same = np.corrcoef(f, b.ravel())[0, 1]
    mirrored = np.corrcoef(f, b[:, ::-1].ravel())[0, 1]
    assert same > 0.4
    assert same > mirrored + 0.3


def _pattern(shape=(6, 8)):
    ny, nx = shape
    return np.arange(ny * nx, dtype=np.float32).reshape(shape).astype(float)


@pytest.mark.parametrize("scan_dir", ["up", "down"])
def test_sxm_round_trip_and_orientation(tmp_path, scan_dir):
    fwd = make_image(_pattern(), dx=1e-9, x0=-4e-9, y0=-3e-9, units="A", name="I")
    bwd = make_image(_pattern() + 0.5, dx=1e-9, x0=-4e-9, y0=-3e-9, units="A", name="I")
    z = make_image(_pattern() * 1e-10, dx=1e-9, x0=-4e-9, y0=-3e-9, units="m", name="Z")
    p = tmp_path / "s.sxm"
    write_sxm(p, {"Current": (fwd, bwd), "Z": (z, None)}, scan_dir=scan_dir, bias_V=0.1)
    ds = read(p)
    assert list(ds.data_vars) == ["Current_forward", "Current_backward", "Z_forward"]
    np.testing.assert_array_equal(ds["Current_forward"].values, fwd.values)
    np.testing.assert_array_equal(ds["Current_backward"].values, bwd.values)
    np.testing.assert_array_equal(ds["Z_forward"].values,
                                  z.values.astype(np.float32).astype(float))
    np.testing.assert_allclose(ds["Z_forward"].x.values, z.x.values, atol=1e-20)
    # Stored in scan order: the first line written is the top (down) or bottom (up) row.
    raw = p.read_bytes()
    first = np.frombuffer(raw, ">f4", count=8, offset=raw.index(b"\x1a\x04") + 2)
    expected_row = 0 if scan_dir == "down" else 5
    np.testing.assert_array_equal(first, fwd.values[expected_row])


def test_sxm_unscanned_lines_stay_nan(tmp_path):
    v = _pattern()
    v[4:] = np.nan
    img = make_image(v, dx=1e-9, units="A")
    write_sxm(tmp_path / "n.sxm", {"Current": (img, None)})
    back = read_image(tmp_path / "n.sxm")
    assert np.isnan(back.values[4:]).all() and np.isfinite(back.values[:4]).all()


def _good_sxm(tmp_path):
    img = make_image(_pattern(), dx=1e-9, units="A")
    p = tmp_path / "g.sxm"
    write_sxm(p, {"Current": (img, img)})
    return p


def test_sxm_truncated_data(tmp_path):
    p = _good_sxm(tmp_path)
    p.write_bytes(p.read_bytes()[:-10])
    with pytest.raises(FormatError, match="holds only"):
        read(p)


def test_sxm_truncated_header(tmp_path):
    p = _good_sxm(tmp_path)
    p.write_bytes(p.read_bytes()[:120])
    with pytest.raises(FormatError, match="SCANIT_END"):
        read(p)


@pytest.mark.parametrize(("old", "new", "message"), [
    (b"       8       6", b"       8       x", "SCAN_PIXELS"),
    (b"       8       6", b"       0       6", "SCAN_PIXELS"),
    (b":SCAN_DIR:\ndown", b":SCAN_DIR:\nleft", "SCAN_DIR"),
    (b"FLOAT", b"INT32", "SCANIT_TYPE"),
])
def test_sxm_bad_header_values(tmp_path, old, new, message):
    p = _good_sxm(tmp_path)
    raw = p.read_bytes()
    assert old in raw
    p.write_bytes(raw.replace(old, new, 1))
    with pytest.raises(FormatError, match=message):
        read(p)


def test_fingerprint_gwy(shared):
    ds = read(shared / "gwy" / "test.gwy")
    assert list(ds.data_vars) == ["Test"]
    img = ds["Test"]
    assert img.shape == (128, 128)
    assert img.attrs["title"] == "Test"
    assert float(img.x[1] - img.x[0]) * 128 == pytest.approx(128.0)
    assert float(img.mean()) == pytest.approx(5.152968e-4, rel=1e-6)
    assert float(img.std()) == pytest.approx(1.877113e-4, rel=1e-6)


def test_gwyo_is_refused_clearly(shared):
    p = shared / "gwy" / "GwiddionReader_chip.gwy"
    with pytest.raises(FormatError, match="GWYO") as info:
        read(p)
    assert str(p) in str(info.value)


@pytest.mark.parametrize("cut", [4, 20, 300, 1000])
def test_truncated_gwy(shared, tmp_path, cut):
    p = tmp_path / "cut.gwy"
    p.write_bytes((shared / "gwy" / "test.gwy").read_bytes()[:cut])
    with pytest.raises(FormatError, match=str(p)):
        read(p)


def test_sniffing_uses_bytes_not_suffix(tmp_path, shared):
    p = tmp_path / "really_bcr.sxm"
    p.write_bytes((shared / "bcr" / "bcrf-1.bcrf").read_bytes())
    assert find_reader(p).name == "bcr"
    assert read(p).attrs["format"] == "bcr"


@pytest.mark.parametrize("content", [b"", b"hello world, not an SPM file" * 10, b"\x00" * 64])
def test_unknown_or_empty_files(tmp_path, content):
    p = tmp_path / "x.dat"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=str(p)):
        read(p)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(FormatError, match="no such file"):
        read(tmp_path / "nope.bcrf")
    with pytest.raises(FormatError, match="directory"):
        read(tmp_path)


def test_unknown_format_error_type(tmp_path):
    p = tmp_path / "x.txt"
    p.write_text("just text\n")
    with pytest.raises(UnknownFormatError):
        read(p)


def test_channel_selection(shared):
    p = shared / "nanonis" / "FeSe_topography.sxm"
    assert read_image(p, "current").name == "Current_forward"
    assert read_image(p, "Z_backward").name == "Z_backward"
    assert read_image(p, prefer_units="A").name == "Current_forward"
    with pytest.raises(ChannelError, match="no channel 'phase'"):
        read_image(p, "phase")


def test_describe(shared):
    d = describe(shared / "nanonis" / "Au_mica_2023_Y_A_diPAMY_195.sxm")
    assert d["format"] == "sxm"
    names = [c["name"] for c in d["channels"]]
    assert "Current_forward" in names
    cur = d["channels"][names.index("Current_forward")]
    assert cur["shape"] == [256, 256] and cur["units"] == "A"
    assert cur["x_size"] == pytest.approx(4e-9)


def _gwy(path, fields):
    """A Gwyddion file written by gwyfile (the reference library): title → (data, xreal,
    yreal, xoff, unit_xy, unit_z)."""
    from gwyfile.objects import GwyContainer, GwyDataField, GwySIUnit

    c = GwyContainer()
    for i, (title, (d, xreal, yreal, xoff, uxy, uz)) in enumerate(fields.items()):
        c[f"/{i}/data"] = GwyDataField(d, xreal=xreal, yreal=yreal, xoff=xoff,
                                       si_unit_xy=GwySIUnit(unitstr=uxy),
                                       si_unit_z=GwySIUnit(unitstr=uz))
        c[f"/{i}/data/title"] = title
    c.tofile(str(path))
    return path


def test_gwy_channels_on_one_grid_and_on_different_grids(tmp_path):
    """Channels of one size share the coordinates; channels of different sizes or offsets
    are aligned by xarray (NaN outside each one's own grid); units and metres as written."""
    pytest.importorskip("gwyfile")
    from supramap.io import read

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 6)), rng.normal(size=(4, 6))
    ds = read(_gwy(tmp_path / "one.gwy", {"Height": (a, 6e-6, 4e-6, 0.0, "um", "nm"),
                                          "Current": (b, 6e-6, 4e-6, 0.0, "um", "A")}))
    assert list(ds.data_vars) == ["Height", "Current"]
    np.testing.assert_allclose(ds["Height"].values, a * 1e-9)
    np.testing.assert_array_equal(ds["Current"].values, b)
    np.testing.assert_allclose(ds["x"].values, (np.arange(6) + 0.5) * 1e-6 * 1e-6)
    assert ds["x"].attrs["units"] == "m" and ds["Height"].attrs["units"] == "m"
    assert ds["Current"].attrs["provenance"] == ["read one.gwy channel Current"]

    c = rng.normal(size=(4, 3))
    two = read(_gwy(tmp_path / "two.gwy", {"Height": (a, 6.0, 4.0, 0.0, "m", "m"),
                                           "Small": (c, 3.0, 4.0, 3.0, "m", "A")}))
    np.testing.assert_allclose(two["x"].values, np.arange(6) + 0.5)
    np.testing.assert_array_equal(two["Small"].values[:, 3:], c)
    assert np.isnan(two["Small"].values[:, :3]).all()
    np.testing.assert_array_equal(two["Height"].values, a)


def test_gwy_with_an_infinite_size_is_refused(tmp_path):
    pytest.importorskip("gwyfile")
    from supramap.errors import FormatError
    from supramap.io import read

    p = _gwy(tmp_path / "inf.gwy", {"H": (np.ones((3, 3)), np.inf, 1.0, 0.0, "m", "m")})
    with pytest.raises(FormatError, match="not positive and finite"):
        read(p)


def test_gwy_whose_data_entries_are_no_data_fields_is_refused(tmp_path):
    pytest.importorskip("gwyfile")
    from gwyfile.objects import GwyContainer, GwySIUnit

    c = GwyContainer()
    c["/0/data"] = GwySIUnit(unitstr="m")   # a /0/data key holding something else
    c.tofile(str(tmp_path / "odd.gwy"))
    with pytest.raises(FormatError, match="no data field"):
        read(tmp_path / "odd.gwy")
