"""Data model, units, errors and atomic writes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from supramap.data import like, make_image, pixel_size, with_provenance
from supramap.errors import AnalysisError, FormatError
from supramap.fileutil import atomic_open, atomic_write_json, to_jsonable
from supramap.units import parse_unit, si_prefix


def test_make_image_has_physical_coordinates_and_units():
    img = make_image(np.zeros((3, 4)), dx=2e-9, dy=3e-9, x0=1e-6, units="A", name="current")
    assert img.dims == ("y", "x")
    assert img.attrs["units"] == "A"
    assert img.x.attrs["units"] == "m" and img.y.attrs["units"] == "m"
    np.testing.assert_allclose(img.x.values, 1e-6 + (np.arange(4) + 0.5) * 2e-9)
    assert pixel_size(img) == pytest.approx((3e-9, 2e-9))
    assert img.attrs["provenance"] == []


@pytest.mark.parametrize("bad", [np.zeros(3), np.zeros((2, 2, 2))])
def test_make_image_rejects_non_2d(bad):
    with pytest.raises(AnalysisError):
        make_image(bad, dx=1e-9)


def test_make_image_rejects_bad_pixel_size():
    with pytest.raises(AnalysisError):
        make_image(np.zeros((2, 2)), dx=0.0)


def test_provenance_is_appended_without_touching_input():
    img = make_image(np.ones((2, 2)), dx=1e-9, units="m")
    out = with_provenance(img, "step", order=1)
    out2 = like(out, np.zeros((2, 2)), step="zeroed")
    assert img.attrs["provenance"] == []
    assert out.attrs["provenance"] == ['step{"order": 1}']
    assert out2.attrs["provenance"][-1] == "zeroed"
    assert out2.attrs["units"] == "m"
    assert float(img.sum()) == 4.0


@pytest.mark.parametrize(("text", "unit", "factor"), [
    ("nm", "m", 1e-9), ("um", "m", 1e-6), ("µm", "m", 1e-6), ("nA", "A", 1e-9),
    ("pA", "A", 1e-12), ("A", "A", 1.0), ("mV", "V", 1e-3), ("m", "m", 1.0),
    ("V", "V", 1.0), ("", "", 1.0), ("Å", "m", 1e-10), ("kOhm", "Ohm", 1e3),
])
def test_parse_unit(text, unit, factor):
    u, f = parse_unit(text)
    assert u == unit
    assert f == pytest.approx(factor)


def test_si_prefix():
    assert si_prefix(3.5e-6, "A") == "3.5 µA"
    assert si_prefix(4.1e-8, "m") == "41 nm"


def test_format_error_names_file():
    err = FormatError("/x/y.bcrf", "header has no 'xpixels' field")
    assert str(err) == "/x/y.bcrf: header has no 'xpixels' field"


def test_atomic_write_leaves_target_untouched_on_failure(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target, "w") as fh:
        fh.write("new")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert list(tmp_path.iterdir()) == [target]


def test_json_is_strict(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": np.float32(1.5), "n": np.nan,
                                           "arr": np.arange(3), "b": np.bool_(True)})
    data = json.loads((tmp_path / "a.json").read_text())
    assert data == {"x": 1.5, "n": None, "arr": [0, 1, 2], "b": True}
    assert to_jsonable((np.int64(2), float("inf"))) == [2, None]


def test_results_have_short_reprs_and_html_with_units_and_warnings():
    import numpy as np

    from supramap.conduction import analyze

    cur = np.random.default_rng(0).normal(0, 1e-9, (64, 64))
    cur[10:30, 10:40] += 1e-6
    from supramap.data import make_image

    r = analyze(make_image(cur, dx=1e-8, units="A"))
    text = repr(r)
    assert text.startswith("ConductionResult(") and len(text) <= 480
    assert "threshold_A=500 nA" in text and "np.float64" not in text
    page = r._repr_html_()
    assert "<table>" in page and "edge_width_m" in page and "8 nm" in page


def test_single_command_report_shows_the_result_table_and_the_figure(tmp_path):
    """`sts gapmap --report`: the page carries the numbers the terminal printed (with units)
    besides the gap-map figure."""
    import numpy as np

    from supramap.cli.main import main
    from supramap.io.nanonis_3ds import write_3ds
    from supramap.sts.gapmap import broadening_matrix, model

    bias = np.linspace(-4e-3, 4e-3, 161)
    e, k = broadening_matrix(bias, 1.0)
    params = np.tile([1.4e-3, 5e-5, 1.0, 0.0], (36, 1))
    g = model(params, e, k).reshape(6, 6, -1)
    write_3ds(tmp_path / "g.3ds", {"LI Demod 1 X (A)": g}, bias=bias,
              x_m=np.arange(6) * 1e-9, y_m=np.arange(6) * 1e-9)
    assert main(["sts", "gapmap", str(tmp_path / "g.3ds"), "--out", str(tmp_path / "o.nc"),
                 "--temperature", "1", "--report", str(tmp_path / "rep")]) == 0
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "median gap (converged pixels)" in page and "1.4000 meV" in page
    assert 'src="gap_map.png"' in page and (tmp_path / "rep" / "gap_map.png").exists()


def test_report_tables_never_show_raw_floats_booleans_or_bookkeeping(tmp_path):
    from supramap.report.html import Report

    rep = Report("t", tmp_path / "r")
    rep.table([("edge_width_m", 4.2345678e-8), ("zero_resistance", False),
               ("seconds", 12.3456789), ("ratio", 108.23477650079622),
               ("warnings", []), ("levels_A", [1.5e-6, 3.2e-6])], header=["q", "v"])
    page = rep.write().read_text()
    assert "42.3 nm" in page and ">no<" in page and "108.2" in page
    assert "108.23477650079622" not in page and "False" not in page and "seconds" not in page
    assert "1.5 µA, 3.2 µA" in page.replace("[", "").replace("]", "")
