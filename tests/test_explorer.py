"""The grid explorer (`supramap sts explore`), driven in headless Chromium as a user drives it:
real mouse clicks (plain, shift, ctrl) on the map, the CSV export button, the layer menu.

Each test checks what the page shows against the grid written in the test (numpy), that the
markers are drawn (red pixels in the screenshot where the click was), that every panel's axes
carry units, and that the browser logged no error.  Screenshots are kept in
``build/test-artefacts/explorer/`` (or ``$SUPRAMAP_TEST_ARTEFACTS``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from supramap.cli.main import main

ARTEFACTS = Path(os.environ.get("SUPRAMAP_TEST_ARTEFACTS",
                                Path(__file__).resolve().parents[1] / "build" / "test-artefacts"))


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or \
        shutil.which("google-chrome")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright (test extra) is not installed")
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium on this machine and `make test` could not install it "
                    "(apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=exe, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Page:
    """One explorer page open in the browser, with the map's frame located on screen."""

    def __init__(self, browser, path: Path, name: str):
        self.page = browser.new_page(viewport={"width": 1250, "height": 1000},
                                     accept_downloads=True)
        self.name = name
        self.log: list[str] = []
        self.page.on("console", lambda m: self.log.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.log.append(f"pageerror: {e}"))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_function("window.SMX !== undefined && window.SMX.map", timeout=30000)
        self.box = self.frame("mapfig")

    def frame(self, name: str) -> dict:
        return self.page.evaluate("""(name) => {
          const f = Bokeh.documents[0].get_model_by_name(name), v = Bokeh.index.get_one(f);
          const r = v.el.getBoundingClientRect(), b = v.frame.bbox;
          return {left: r.left + b.left, top: r.top + b.top, w: b.width, h: b.height,
                  x0: f.x_range.start, x1: f.x_range.end, y0: f.y_range.start,
                  y1: f.y_range.end}; }""", name)

    def at(self, x: float, y: float, name: str = "mapfig") -> tuple[float, float]:
        """Screen position of the data point (x, y) of a panel, by Bokeh's own scales."""
        return tuple(self.page.evaluate("""([name, x, y]) => {
          const f = Bokeh.documents[0].get_model_by_name(name), v = Bokeh.index.get_one(f);
          const r = v.canvas_view.el.getBoundingClientRect();
          return [r.left + v.frame.x_scale.compute(x), r.top + v.frame.y_scale.compute(y)];
          }""", [name, x, y]))

    def click(self, x: float, y: float, key: str | None = None) -> None:
        sx, sy = self.at(x, y)
        if key:
            self.page.keyboard.down(key)
        self.page.mouse.click(sx, sy)
        if key:
            self.page.keyboard.up(key)
        self.page.wait_for_timeout(450)  # two clicks closer than this are a double tap

    def js(self, expr: str):
        return self.page.evaluate(expr)

    def model(self, name: str, attr: str):
        return self.page.evaluate(
            f"(() => {{ const m = Bokeh.documents[0].get_model_by_name({name!r}); "
            f"return JSON.parse(JSON.stringify(m.{attr})); }})()")

    def shot(self, tag: str) -> np.ndarray:
        ARTEFACTS.joinpath("explorer").mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / "explorer" / f"{self.name}_{tag}.png"
        self.page.screenshot(path=str(path))
        import imageio.v3 as iio

        return iio.imread(path)

    def errors(self) -> list[str]:
        return [m for m in self.log if m.startswith(("error", "pageerror"))]


def _red_near(img: np.ndarray, sx: float, sy: float, r: int = 6) -> bool:
    """A marker (pure red lines) drawn within *r* px of the screen point."""
    y, x = int(round(sy)), int(round(sx))
    patch = img[max(y - r, 0):y + r + 1, max(x - r, 0):x + r + 1, :3].astype(int)
    red = (patch[..., 0] > 200) & (patch[..., 1] < 60) & (patch[..., 2] < 60)
    return bool(red.any())


def _grid_file(tmp_path: Path):
    """A grid whose every spectrum is distinct, with a tilted topography in the parameters."""
    from supramap.io import read
    from supramap.io.nanonis_3ds import write_3ds

    ny, nx, nb = 8, 10, 21
    iy, ix, k = np.meshgrid(np.arange(ny), np.arange(nx), np.arange(nb), indexing="ij")
    g = (1 + 0.1 * iy + 0.01 * ix + 1e-3 * k ** 1.5) * 1e-9
    z = (np.arange(ny)[:, None] * 2 + np.arange(nx)[None, :]) * 1e-11  # a plane: 20 pm/row
    z = z + np.where((iy[..., 0] == 4) & (ix[..., 0] == 6), 3e-11, 0)  # one 30 pm adatom
    write_3ds(tmp_path / "g.3ds", {"LI Demod 1 X (A)": g}, bias=np.linspace(-5e-3, 5e-3, nb),
              x_m=np.arange(nx) * 1e-9, y_m=np.arange(ny) * 1e-9)
    # The writer leaves Z at 0; put the topography into the parameter block (the 5th value of
    # each point: Sweep Start, Sweep End, X, Y, Z) as an instrument would.
    raw = bytearray((tmp_path / "g.3ds").read_bytes())
    start = raw.index(b":HEADER_END:\r\n") + len(b":HEADER_END:\r\n")
    rec = 5 + nb
    for n_pt, zv in enumerate(z.ravel()):
        off = start + 4 * (n_pt * rec + 4)
        raw[off:off + 4] = np.array(zv, ">f4").tobytes()
    (tmp_path / "g.3ds").write_bytes(bytes(raw))
    np.testing.assert_allclose(read(tmp_path / "g.3ds")["param Z"].values, z, rtol=1e-6)
    return g, z, np.linspace(-5, 5, nb)


def test_clicks_show_the_grids_spectra_with_markers_units_and_csv(browser, tmp_path):
    """A pixel, a region (shift), a line (ctrl): the spectra shown are the grid's own
    (within the page's stated 16-bit quantisation), each is marked on the map, the CSV export
    holds what is shown, the topography layer is levelled, the colour range follows the
    slider, every axis names its unit, and the browser logs no error."""
    g, z, bias_mv = _grid_file(tmp_path)
    assert main(["sts", "explore", str(tmp_path / "g.3ds"), "--out", str(tmp_path / "ex"),
                 "--json", str(tmp_path / "e.json")]) == 0
    info = json.loads((tmp_path / "e.json").read_text())
    assert info["page_bytes"] < 2.5e6  # Bokeh inlined (~1.7 MB) and a small grid
    pg = Page(browser, tmp_path / "ex" / "index.html", "clicks")
    # 16-bit steps of each spectrum's range, and float32 (the file's and the page's)
    tol = dict(rtol=2.5e-7, atol=np.ptp(g, axis=-1).max() / 131070)

    # Axes: every panel names quantity and unit; the grid's lock-in signal is "arb. u.".
    assert pg.model("mapfig", "below[0].axis_label") == "x (nm)"
    assert pg.model("mapfig", "left[0].axis_label") == "y (nm)"
    assert pg.model("specfig", "below[0].axis_label") == "bias (mV)"
    assert "arb. u." in pg.model("specfig", "left[0].axis_label")
    assert pg.model("cutfig", "below[0].axis_label") == "distance along the line (nm)"
    assert pg.model("cutfig", "left[0].axis_label") == "bias (mV)"

    # A pixel: row 2, column 7 (y = 2 nm, x = 7 nm).
    pg.click(7, 2)
    shown = pg.js("window.SMX.shown")
    assert (shown["kind"], shown["iy"], shown["ix"]) == ("pixel", 2, 7)
    np.testing.assert_allclose(shown["values"], g[2, 7], **tol)
    assert pg.model("pixel", "data.x") == [pytest.approx(7)]
    assert pg.model("pixel", "data.y") == [pytest.approx(2)]
    img = pg.shot("pixel")
    assert _red_near(img, *pg.at(7, 2))

    # CSV export of the shown spectrum, through the button.
    with pg.page.expect_download() as dl:
        pg.page.get_by_text("Export the shown spectrum (CSV)").click()
    assert dl.value.suggested_filename == "spectrum_row2_col7.csv"
    text = Path(dl.value.path()).read_text()
    assert "# pixel (row 2, column 7), x = 7 nm, y = 2 nm" in text
    assert "g.3ds" in text and "lock-in signal in A" in text
    lines = [ln for ln in text.splitlines() if not ln.startswith("#")]
    assert lines[0] == "bias_mV,lockin_A"
    csv = np.array([[float(v) for v in ln.split(",")] for ln in lines[1:]])
    np.testing.assert_allclose(csv[:, 0], bias_mv, atol=1e-6)
    np.testing.assert_allclose(csv[:, 1], g[2, 7], rtol=1e-6, atol=tol["atol"])

    # A region: shift-click two corners; the first click says what to do next.
    pg.click(1, 5, "Shift")
    assert "shift-click the opposite corner" in pg.model("status", "text")
    assert pg.model("pending", "data.x") == [pytest.approx(1)]
    pg.click(3, 3, "Shift")
    shown = pg.js("window.SMX.shown")
    assert shown["kind"] == "region" and shown["region"] == [3, 1, 5, 3] and shown["n"] == 9
    np.testing.assert_allclose(shown["values"], g[3:6, 1:4].mean(axis=(0, 1)), **tol)
    region = pg.model("region", "data")
    assert {k: v[0] for k, v in region.items()} == pytest.approx(
        {"left": 0.5, "right": 3.5, "bottom": 2.5, "top": 5.5})
    img = pg.shot("region")
    assert _red_near(img, *pg.at(0.5, 4)) and _red_near(img, *pg.at(3.5, 4))

    # A line: ctrl-click its two ends, (row 0, column 0) → (row 3, column 9).
    pg.click(0, 0, "Control")
    assert "other end" in pg.model("status", "text")
    pg.click(9, 3, "Control")
    cut = pg.js("window.SMX.cutShown")
    assert len(cut["points"]) == 10 and cut["points"][0] == [0, 0] and cut["points"][-1] == [3, 9]
    assert cut["length_nm"] == pytest.approx(np.hypot(9, 3), rel=1e-6)
    np.testing.assert_allclose(cut["first"], [g[a, b, 0] for a, b in cut["points"]], **tol)
    assert pg.model("cutfig", "visible") is True
    img = pg.shot("line")
    assert _red_near(img, *pg.at(4.5, 1.5))
    box = pg.frame("cutfig")  # the line-cut panel shows data (not blank)
    patch = img[int(box["top"]) + 5:int(box["top"] + box["h"]) - 5,
                int(box["left"]) + 5:int(box["left"] + box["w"]) - 5, :3]
    assert patch.std() > 10

    # The topography layer: levelled (the 20 pm/row plane removed: the adatom stands out).
    layers = pg.model("layer", "options")
    assert layers[:2] == ["dI/dV at the bias", "topography (Z), plane levelled"]
    pg.page.get_by_role("combobox").select_option(layers[1])
    pg.page.wait_for_timeout(300)
    shown_map = pg.js("window.SMX.map")
    assert shown_map["units"] == "nm" and "topography" in shown_map["title"]
    topo = np.array(shown_map["values"]).reshape(8, 10)
    assert np.unravel_index(np.argmax(topo), topo.shape) == (4, 6)
    np.testing.assert_allclose(np.delete(topo.ravel(), 46), np.median(topo), atol=1e-3)
    assert pg.model("cbar", "title") == "topography (Z), plane levelled (nm)"

    # The colour range control sets the colour mapper.
    pg.js("(() => { const r = Bokeh.documents[0].get_model_by_name('crange'); "
          "r.value = [0, 0.01]; })()")
    pg.page.wait_for_timeout(200)
    assert pg.js("[window.SMX.map.low, window.SMX.map.high]") == [0, 0.01]
    pg.shot("topography")
    assert pg.errors() == []


def test_fitted_spectrum_equals_supramaps_model(browser, tmp_path):
    """With --gapmap the page evaluates the clicked pixel's fitted model (Dynes through the
    thermal kernel) in the browser: it must equal supramap's own model at that pixel."""
    import xarray as xr

    from supramap.sts.gapmap import broadening_matrix, model
    from supramap.synth.sts import dynes_grid, write_grid

    grid, truth = dynes_grid(6, 6, seed=4)
    write_grid(tmp_path / "g.3ds", grid)
    assert main(["sts", "gapmap", str(tmp_path / "g.3ds"), "--temperature",
                 str(truth["temperature_K"]), "--out", str(tmp_path / "g.nc")]) == 0
    assert main(["sts", "explore", str(tmp_path / "g.3ds"), "--out", str(tmp_path / "ex"),
                 "--gapmap", str(tmp_path / "g.nc"), "--json", str(tmp_path / "e.json")]) == 0
    info = json.loads((tmp_path / "e.json").read_text())
    assert info["fitted_spectra"] and info["decimation"] == 1 and info["shape"][:2] == [6, 6]
    assert {"Δ (fitted gap)", "Γ (fitted)", "Δ uncertainty (90 % half-width)"} <= \
        set(info["layers"])
    pg = Page(browser, tmp_path / "ex" / "index.html", "fit")
    x, y = grid["x"].values * 1e9, grid["y"].values * 1e9
    pg.click(x[3], y[2])
    shown = pg.js("window.SMX.shown")
    iy, ix = shown["iy"], shown["ix"]
    assert (iy, ix) == (2, 3)
    with xr.open_dataset(tmp_path / "g.nc") as gm:
        par = np.array([[float(gm[k][iy, ix]) for k in ("delta", "gamma", "scale", "offset")]])
    e, k = broadening_matrix(grid["bias"].values, truth["temperature_K"])
    want = model(par, e, k)[0]  # the page's evaluation: within 0.5 % of the curve's height
    np.testing.assert_allclose(shown["fit"], want, rtol=0, atol=5e-3 * np.abs(want).max())
    assert shown["gap_meV"] == pytest.approx(par[0, 0] * 1e3, rel=1e-6)
    assert pg.model("legend", "items[1].label.value").startswith("Dynes fit, Δ = ")
    assert pg.model("legend", "items[1].visible") is True
    pg.shot("fit")
    assert pg.errors() == []


def test_rotated_grid_gives_the_scanner_position_of_each_pixel(browser, shared, tmp_path):
    """A real 45° grid (Nanonis): the map is drawn in the grid's own frame and a clicked
    pixel's scanner X, Y equal the X, Y the instrument recorded for that point."""
    from supramap.io import read

    path = shared / "nanonis" / "NanonisReader_STS_grid_lockin.3ds"
    ds = read(path)
    assert main(["sts", "explore", str(path), "--out", str(tmp_path), "--channel", "LockinX",
                 "--json", str(tmp_path / "e.json")]) == 0
    assert json.loads((tmp_path / "e.json").read_text())["grid_angle_deg"] == 45
    pg = Page(browser, tmp_path / "index.html", "rotated")
    assert pg.model("mapfig", "below[0].axis_label") == "x along the grid from its centre (nm)"
    assert "rotated by 45°" in pg.model("note", "text")
    x = (ds["x"].values - np.mean(ds["x"].values)) * 1e9
    y = (ds["y"].values - np.mean(ds["y"].values)) * 1e9
    for iy, ix in ((0, 0), (0, 29), (29, 0), (17, 11)):
        pg.click(x[ix], y[iy])
        shown = pg.js("window.SMX.shown")
        assert (shown["iy"], shown["ix"]) == (iy, ix)
        np.testing.assert_allclose(shown["scanner_nm"], [ds["param X"].values[iy, ix] * 1e9,
                                                         ds["param Y"].values[iy, ix] * 1e9],
                                   atol=2e-3)
        assert "scanner X = " in pg.model("status", "text")
        spec = ds["LockinX"].values[iy, ix]
        np.testing.assert_allclose(shown["values"], spec, rtol=2.5e-7,
                                   atol=np.ptp(spec) / 131070)
    pg.shot("rotated")
    assert pg.errors() == []


def test_quantisation_keeps_each_spectrum_within_its_stated_error():
    from supramap.report.explorer import quantise

    rng = np.random.default_rng(1)
    g = rng.standard_normal((5, 7, 301)) * rng.uniform(1e-12, 1e-6, (5, 7, 1)) + 3e-9
    g[1, 2, 5] = np.nan
    for budget, bits in ((10**9, 16), (10**4, 8)):
        q = quantise(g, budget)
        assert q.bits == bits
        err = np.abs(q.values() - g)
        bound = np.broadcast_to(np.ptp(g, axis=-1, keepdims=True), g.shape) \
            / (2 * (2 ** bits - 1))
        ok = np.isfinite(g).all(axis=-1)
        # the bound, and float32 lo and step (a few 1e-8 of the values)
        assert (err[ok] <= bound[ok] * 1.001 + 1e-7 * np.abs(g[ok])).all()
        assert np.isnan(q.values()[1, 2]).all()  # a spectrum with a gap is not invented


def test_a_128_square_401_point_grid_makes_a_page_within_12_MB(tmp_path):
    """The issue's size: 128² × 401 spectra in ≤ 12 MB (8-bit per spectrum, stated)."""
    import xarray as xr

    from supramap.report.explorer import write_explorer

    rng = np.random.default_rng(0)
    bias = np.linspace(-0.01, 0.01, 401)
    # per-point noise, as measured data have: Bokeh's zlib cannot shrink it much
    g = (1 + 0.05 * rng.standard_normal((128, 128, 1)) + bias ** 2 * 1e3
         + 0.01 * rng.standard_normal((128, 128, 401))).astype(np.float32) * np.float32(1e-9)
    grid = xr.DataArray(g, dims=("y", "x", "bias"),
                        coords={"y": np.arange(128) * 1e-9, "x": np.arange(128) * 1e-9,
                                "bias": bias}, attrs={"units": "S"})
    from supramap.report.explorer import explorer_document

    page = write_explorer(grid, tmp_path)
    assert page.stat().st_size <= 12e6
    _, facts, _ = explorer_document(grid)
    assert facts["bits"] == 8 and facts["decimation"] == 1 and facts["bias_decimation"] == 1
    assert "401 bias points" in page.read_text() and "8 bits per spectrum" in page.read_text()


def test_explorer_displays_inline_in_jupyter():
    """``sts_explore(...).result`` shows the same page in a notebook (an iframe with it)."""
    import html

    import xarray as xr

    from supramap.analyses.sts import ExplorerPage

    g = xr.DataArray(np.ones((3, 4, 5)) + np.arange(5), dims=("y", "x", "bias"),
                     coords={"y": np.arange(3) * 1e-9, "x": np.arange(4) * 1e-9,
                             "bias": np.linspace(-1e-3, 1e-3, 5)}, attrs={"units": "S"})
    page = ExplorerPage(g, {}, None, None, "inline")
    out = page._repr_html_()
    assert out.startswith("<iframe srcdoc=") and "Bokeh" in html.unescape(out)
    assert "dI/dV (S)" in html.unescape(out)
