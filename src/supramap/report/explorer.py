"""A self-contained HTML page to explore a spectroscopic grid: the dI/dV map at any bias (or a
map layer: levelled topography, fitted Δ, Γ, ...), the spectrum of the pixel clicked (with its
fitted model when a gap map is given), the mean spectrum of a region (shift-click two
corners) and the spectra along a line (ctrl- or alt-click its two ends).

Drawn with Bokeh (standalone output, its JavaScript inlined: the page works offline from the
file system): every panel has axes with ticks and units, zoom, pan and a hover read-out; the
clicked pixel, region and line are marked on the map; a range slider sets the colours; the
shown spectrum exports as CSV.  The click logic is ``explorer_js.LIBRARY``.

Size: the grid is embedded quantised per spectrum (``lo + q·step``, 16 bits when the page
stays within :data:`DATA_BUDGET` bytes, else 8 bits: at most 1/510 of each spectrum's own range
off), decimated in x/y beyond ``max_pixels`` spectra and along the bias beyond the budget —
the page states each.  A 128² × 401 grid makes a ~10 MB page (``benchmarks/explorer.py``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr

#: Bytes of quantised grid data a page may hold (before base64, which adds a third).
DATA_BUDGET = 7_000_000


def decimation(ny: int, nx: int, max_pixels: int = 128 * 128) -> int:
    """Every how many pixels the page keeps, so that it holds at most *max_pixels* spectra."""
    return int(np.ceil(np.sqrt(ny * nx / max_pixels))) if ny * nx > max_pixels else 1


@dataclass
class Quantised:
    """A ``(ny, nx, nb)`` grid as ``lo[y, x] + q[y, x, k] · step[y, x]``."""

    q: np.ndarray
    lo: np.ndarray
    step: np.ndarray
    bits: int

    def values(self) -> np.ndarray:
        return self.lo[..., None] + self.q.astype(np.float64) * self.step[..., None]


def quantise(g: np.ndarray, budget: int = DATA_BUDGET) -> Quantised:
    """Quantise each spectrum to 16 bits when ``g.size`` 16-bit numbers fit *budget*, else to
    8 bits: the error is at most half a step, 1/131070 or 1/510 of that spectrum's range.
    A spectrum with a NaN keeps NaN for every point (``lo`` NaN)."""
    g = np.asarray(g, dtype=np.float64)
    bits = 16 if 2 * g.size <= budget else 8
    top = 2 ** bits - 1
    with np.errstate(invalid="ignore"):
        lo = np.min(g, axis=-1)
        span = np.max(g, axis=-1) - lo
    # lo and step as the page stores them (float32), so that q is rounded against them
    lo = lo.astype(np.float32)
    step = np.where(span > 0, span / top, 1.0).astype(np.float32)
    with np.errstate(invalid="ignore"):
        q = np.rint((g - lo[..., None]) / step[..., None].astype(np.float64))
    q = np.nan_to_num(q, nan=0.0).clip(0, top).astype(np.uint16 if bits == 16 else np.uint8)
    return Quantised(q, lo, step, bits)


def _level(values: np.ndarray) -> np.ndarray:
    """A topography layer without its plane (the tilt of the sample dominates it otherwise)."""
    from supramap.spm.level import polynomial_background

    ok = np.isfinite(values)
    if ok.sum() < 3 or min(values.shape) < 2:
        return values - np.nanmedian(values) if ok.any() else values
    return values - polynomial_background(np.where(ok, values, 0.0), 1, ok)


def _display(name: str, values: np.ndarray, units: str) -> tuple[str, np.ndarray, str]:
    """A layer as shown: topography levelled, lengths in nm, its name saying so."""
    v = np.asarray(values, dtype=np.float64)
    if name.lower().startswith("topography"):
        v = _level(v)
        name = f"{name}, plane levelled"
    if units == "m":
        return name, v * 1e9, "nm"
    return name, v, units


def explorer_document(grid: xr.DataArray, *, gap_eV: np.ndarray | None = None,
                      maps: dict[str, tuple[np.ndarray, str]] | None = None,
                      fit: xr.Dataset | None = None, title: str = "Grid explorer",
                      angle_deg: float | None = None, positions=None,
                      max_pixels: int = 128 * 128, budget: int = DATA_BUDGET):
    """The explorer as a Bokeh layout (see :func:`write_explorer`): ``(layout, facts, ready)``;
    facts holds the decimation, the quantisation and the angle; *ready* is the callback that
    draws the first map when the document is ready."""
    from bokeh.layouts import column, row
    from bokeh.models import (
        Button,
        CheckboxGroup,
        ColorBar,
        ColumnDataSource,
        CustomJS,
        CustomJSHover,
        CustomJSTickFormatter,
        Div,
        HoverTool,
        Legend,
        LegendItem,
        LinearColorMapper,
        RangeSlider,
        Select,
        Slider,
    )
    from bokeh.plotting import figure

    from supramap.report.explorer_js import LIBRARY
    from supramap.sts.grid import check_grid

    check_grid(grid)
    ny0, nx0, nb0 = grid.shape
    step = decimation(ny0, nx0, max_pixels)
    g = np.asarray(grid.values[::step, ::step], dtype=np.float64)
    ny, nx = g.shape[:2]
    bias = np.asarray(grid["bias"].values, dtype=float)
    bstep = max(1, int(np.ceil(ny * nx * nb0 / budget)))  # 8-bit data beyond the budget
    if bstep > 1:
        g, bias = g[..., ::bstep], bias[::bstep]
    nb = bias.size
    qd = quantise(g, budget)
    units = str(grid.attrs.get("units", ""))
    value_label = _value_label(units)
    if angle_deg is None:
        angle_deg = float(grid.attrs.get("grid_angle_deg", 0.0) or 0.0)
    x = np.asarray(grid["x"].values[::step], dtype=float) * 1e9
    y = np.asarray(grid["y"].values[::step], dtype=float) * 1e9
    dx = float(x[1] - x[0]) if nx > 1 else float(step)
    dy = float(y[1] - y[0]) if ny > 1 else float(step)
    cx, cy = float(np.mean(grid["x"].values)) * 1e9, float(np.mean(grid["y"].values)) * 1e9
    rotated = abs(angle_deg) > 1e-9
    if rotated:  # shown in the grid's own frame, centred: the scanner's x, y would be wrong
        x, y = x - cx, y - cy
    ox, oy = (0.0, 0.0) if rotated else (cx, cy)
    # The scanner's X, Y of a point shown at (x, y): X = ax + bx·x + cx·y, Y likewise — from
    # the positions the instrument recorded with each point when given (a real 45° Nanonis
    # grid's points lie 0.11 nm off its header's centre), else from the centre and angle.
    th = np.deg2rad(angle_deg)
    c, s = np.cos(th), np.sin(th)
    affine = [[cx - ox * c - oy * s, c, s], [cy + ox * s - oy * c, -s, c]]
    if positions is not None:
        px, py = (np.asarray(v, dtype=float)[::step, ::step] * 1e9 for v in positions)
        ok = np.isfinite(px) & np.isfinite(py)
        if ok.sum() >= 3 and px.shape == (ny, nx):
            yy, xx = np.meshgrid(y, x, indexing="ij")
            a = np.stack([np.ones(ok.sum()), xx[ok], yy[ok]], axis=1)
            fitted = [np.linalg.lstsq(a, v[ok], rcond=None)[0] for v in (px, py)]
            if np.linalg.matrix_rank(a) == 3:
                affine = [[float(t) for t in f] for f in fitted]

    layers = []
    cols: dict[str, np.ndarray] = {"lo": qd.lo.ravel(), "step": qd.step.ravel()}
    for name, (arr, lunits) in dict(maps or {}).items():
        a = np.asarray(arr, dtype=float)
        if a.shape != (ny0, nx0):
            raise ValueError(f"map layer {name!r} has shape {a.shape}, the grid {(ny0, nx0)}")
        shown, vals, u = _display(str(name), a, str(lunits))
        cols[f"L{len(layers)}"] = vals[::step, ::step].astype(np.float32).ravel()
        layers.append({"name": shown, "units": u, "label": f"{shown} ({u})" if u else shown})
    if gap_eV is not None:
        gm = np.asarray(gap_eV, dtype=float)
        if not any(la["name"].startswith("Δ") for la in layers):
            cols[f"L{len(layers)}"] = (gm[::step, ::step] * 1e3).astype(np.float32).ravel()
            layers.append({"name": "Δ (fitted gap)", "units": "meV",
                           "label": "Δ (fitted gap) (meV)"})
        cols["gap"] = (gm[::step, ::step] * 1e3).astype(np.float32).ravel()
    fit_meta = None
    if fit is not None:
        from supramap.sts.gapmap import broadening_kernel

        conv = np.asarray(fit["converged"].values, bool)
        for key in ("delta", "gamma", "scale", "offset"):
            v = np.where(conv, np.asarray(fit[key].values, float), np.nan)
            cols[f"fit_{key}"] = v[::step, ::step].astype(np.float64).ravel()
        t_k = float(fit.attrs.get("temperature_K", 1.0))
        fb = np.asarray(grid["bias"].values, dtype=float)
        de = min(float(np.median(np.abs(np.diff(fb)))), 8.617e-5 * t_k / 2)
        u, kern = broadening_kernel(t_k, float(fit.attrs.get("lockin_rms_V", 0.0)), de)
        span = float(np.abs(fb).max()) + float(u[-1])
        fit_meta = {"kernel": [float(k) for k in kern], "u0": float(u[0]), "du": de,
                    "e0": -span, "de": de, "ne": int(2 * span / de) + 1}

    what = "dI/dV"
    facts = {"shape": [ny0, nx0, nb0], "decimation": step, "bias_decimation": bstep,
             "bits": qd.bits, "angle_deg": angle_deg,
             "max_error": f"≤ 1/{2 * (2 ** qd.bits - 1)} of each spectrum's range"}
    quant = (f"stored with {qd.bits} bits per spectrum (values within "
             f"1/{2 * (2 ** qd.bits - 1)} of each spectrum's range)")
    meta = {"ny": ny, "nx": nx, "nb": nb, "bias_mV": (bias * 1e3).tolist(),
            "x": x.tolist(), "y": y.tolist(), "dx": dx, "dy": dy, "cx": cx, "cy": cy,
            "affine": affine, "rotated": rotated, "units": units,
            "value_label": value_label, "what": what, "layers": layers, "fit": fit_meta,
            "gap": gap_eV is not None, "cut_width": int(max(nx, ny)), "title": title,
            "source": str(grid.attrs.get("source_file", grid.name or "")),
            "quantisation": quant,
            "csv_column": "dIdV_S" if units in ("S", "A/V") else
            (f"lockin_{units}" if units else "value")}

    qsrc = ColumnDataSource({"q": qd.q.ravel()}, name="grid")
    psrc = ColumnDataSource(cols, name="pixels")
    mid = nb // 2
    vals = qd.values()
    img = vals[:, :, mid].copy()  # the page redraws it when ready; drawn here for the ranges
    imsrc = ColumnDataSource({"image": [img], "x": [x[0] - dx / 2], "y": [y[0] - dy / 2],
                              "dw": [abs(dx) * nx], "dh": [abs(dy) * ny]}, name="map")
    mapper = LinearColorMapper(palette="Viridis256", nan_color="#bbbbbb")
    frame = "along the grid from its centre " if rotated else ""
    side = 400
    aspect = (ny * abs(dy)) / max(nx * abs(dx), 1e-30)
    mw, mh = (side, max(160, int(side * aspect))) if aspect <= 1 else \
        (max(160, int(side / aspect)), side)
    mapfig = figure(frame_width=mw, frame_height=mh,  # the grid's own aspect
                    tools="pan,wheel_zoom,box_zoom,reset,save",
                    x_axis_label=f"x {frame}(nm)" if rotated else "x (nm)",
                    y_axis_label=f"y {frame}(nm)" if rotated else "y (nm)",
                    x_range=(float(x[0] - dx / 2), float(x[-1] + dx / 2)),
                    y_range=(float(y[0] - dy / 2), float(y[-1] + dy / 2)), name="mapfig")
    mapfig.toolbar.logo = None
    ren = mapfig.image("image", x="x", y="y", dw="dw", dh="dh", source=imsrc,
                       color_mapper=mapper)
    cbar = ColorBar(color_mapper=mapper, title=value_label, title_text_font_size="11pt",
                    major_label_text_font_size="10pt")
    cbar.name = "cbar"
    mapfig.add_layout(cbar, "right")
    pending = ColumnDataSource({"x": [], "y": []}, name="pending")
    pix = ColumnDataSource({"x": [], "y": []}, name="pixel")
    region = ColumnDataSource({"left": [], "right": [], "bottom": [], "top": []}, name="region")
    line = ColumnDataSource({"x0": [], "y0": [], "x1": [], "y1": []}, name="line")
    mapfig.scatter("x", "y", source=pending, marker="circle", size=14, fill_alpha=0,
                   line_color="white", line_width=2.5)
    mapfig.scatter("x", "y", source=pix, marker="x", size=16, line_color="red", line_width=3)
    mapfig.quad(left="left", right="right", bottom="bottom", top="top", source=region,
                fill_alpha=0, line_color="red", line_width=2.5)
    mapfig.segment("x0", "y0", "x1", "y1", source=line, line_color="red", line_width=3)
    tips = [("x, y", "$x{0.00} nm, $y{0.00} nm"), ("value", "@image{custom}")]
    fmt = {"@image": CustomJSHover(code="const u = window.SMX ? window.SMX.units : '';"
                                        "return Number.isFinite(value) ? "
                                        "Number(value.toPrecision(4)) + ' ' + u : '–';")}
    if rotated:
        tips.append(("scanner X, Y", "$sx{custom}"))
        (a0, a1, a2), (b0, b1, b2) = affine
        fmt["$sx"] = CustomJSHover(code=(
            "const u = special_vars.x, v = special_vars.y;"
            f"return ({a0!r} + {a1!r} * u + {a2!r} * v).toFixed(2) + ', ' + "
            f"({b0!r} + {b1!r} * u + {b2!r} * v).toFixed(2) + ' nm';"))
    mapfig.add_tools(HoverTool(renderers=[ren], tooltips=tips, formatters=fmt))

    whole = np.isfinite(vals).all(axis=-1)
    mean = vals[whole].mean(axis=0) if whole.any() else np.zeros(nb)
    spec = ColumnDataSource({"bias_mV": bias * 1e3, "v": mean, "fit": np.full(nb, np.nan)},
                            name="spectrum")
    specfig = figure(width=520, height=370, tools="pan,wheel_zoom,box_zoom,reset,save",
                     x_axis_label="bias (mV)", y_axis_label=value_label, name="specfig",
                     title="mean of all spectra (click a pixel of the map)")
    specfig.toolbar.logo = None
    dataline = specfig.line("bias_mV", "v", source=spec, line_width=2, color="#1f77b4")
    fitline = specfig.line("bias_mV", "fit", source=spec, line_width=2, color="#ff7f0e",
                           line_dash="dashed", visible=False)
    legend = Legend(items=[LegendItem(label=f"mean of {int(whole.sum())} spectra",
                                      renderers=[dataline]),
                           LegendItem(label="fit", renderers=[fitline], visible=False)],
                    orientation="horizontal", label_text_font_size="10pt", name="legend")
    specfig.add_layout(legend, "below")  # never over the curve
    specfig.add_tools(HoverTool(renderers=[dataline], mode="vline", tooltips=[
        ("bias", "@bias_mV{0.000} mV"), ("value", "@v{0.0000e} " + (units or "")),
        ("fit", "@fit{0.0000e}")]))

    cutw = int(max(nx, ny))
    cutsrc = ColumnDataSource({"image": [np.full((nb, cutw), np.nan)], "x": [0.0],
                               "y": [float(bias.min() * 1e3)], "dw": [1.0],
                               "dh": [float(np.ptp(bias) * 1e3) or 1.0]}, name="cut")
    cutmapper = LinearColorMapper(palette="Viridis256", nan_color="#ffffff")
    cutfig = figure(width=520, height=260, tools="pan,wheel_zoom,box_zoom,reset,save",
                    x_range=(0.0, 1.0), y_range=(float(bias.min() * 1e3),
                                                 float(bias.max() * 1e3) + 1e-9),
                    x_axis_label="distance along the line (nm)", y_axis_label="bias (mV)",
                    visible=False, name="cutfig", title="spectra along the line")
    cutfig.toolbar.logo = None
    cutren = cutfig.image("image", x="x", y="y", dw="dw", dh="dh", source=cutsrc,
                          color_mapper=cutmapper)
    cutfig.add_layout(ColorBar(color_mapper=cutmapper, title=value_label,
                               title_text_font_size="10pt"), "right")
    cutfig.add_tools(HoverTool(renderers=[cutren], tooltips=[
        ("distance", "$x{0.00} nm"), ("bias", "$y{0.000} mV"), ("value", "@image{0.000e}")]))

    for f in (mapfig, specfig, cutfig):
        for ax in (f.xaxis, f.yaxis):
            ax.axis_label_text_font_size = "12pt"
            ax.major_label_text_font_size = "10pt"
        f.title.text_font_size = "12pt"

    b_lo, b_hi = float(bias.min() * 1e3), float(bias.max() * 1e3)
    db = (b_hi - b_lo) / max(nb - 1, 1) or 1.0
    energy = Slider(start=b_lo, end=b_hi, step=db, value=float(bias[mid] * 1e3),
                    title="bias (mV)", width=mw + 60, format="0[.]000", name="energy")
    layer = Select(title="map", value=f"{what} at the bias",
                   options=[f"{what} at the bias"] + [la["name"] for la in layers],
                   name="layer", width=300)
    crange = RangeSlider(start=0, end=1, value=(0, 1), step=0.01, title="colour range",
                         width=mw + 60, name="crange",
                         format=CustomJSTickFormatter(code="return Number.isFinite(tick) ? "
                                                      "Number(tick.toPrecision(3)) + '' : '';"))
    keep = CheckboxGroup(labels=["keep the colour range when the bias or map changes"],
                         active=[], name="keep")
    exportbtn = Button(label="Export the shown spectrum (CSV)", disabled=True, name="export",
                    width=300)
    status = Div(text="Click a pixel for its spectrum; shift-click two corners for the mean "
                      "spectrum of a region; ctrl- or alt-click two points for the spectra "
                      "along a line.", name="status", width=520)
    args = dict(meta=meta, qsrc=qsrc, psrc=psrc, imsrc=imsrc, mapper=mapper, cbar=cbar,
                mapfig=mapfig, spec=spec, specfig=specfig, dataline=dataline, fitline=fitline,
                legend=legend, cutsrc=cutsrc, cutmapper=cutmapper, cutfig=cutfig,
                pending=pending, pix=pix, region=region, line=line, energy=energy,
                layer=layer, crange=crange, keep=keep, exportbtn=exportbtn, status=status)

    def cb(code: str) -> CustomJS:
        return CustomJS(args=args, code=LIBRARY + "\n" + code)

    call = "smx({" + ", ".join(args) + "})"  # every callback hands the page's models over
    energy.js_on_change("value", cb(call + ".draw();"))
    layer.js_on_change("value", cb(call + ".draw();"))
    crange.js_on_change("value", cb(call + ".range();"))
    exportbtn.js_on_event("button_click", cb(call + ".download();"))
    mapfig.js_on_event("tap", cb(call + ".tap(cb_obj.x, cb_obj.y, cb_obj.modifiers);"))

    note_bits = [f"{ny0} × {nx0} pixels × {nb0} bias points"]
    if step > 1:
        note_bits.append(f"shown decimated by {step} in x and y (every {step}th pixel)")
    if bstep > 1:
        note_bits.append(f"every {bstep}th bias point kept")
    note_bits.append(quant)
    note_bits.append("values are " + value_label)
    if gap_eV is not None:
        note_bits.append("Δ from the gap map")
    if rotated:
        note_bits.append(f"the grid is rotated by {angle_deg:g}° in the scanner frame: the map "
                         "is drawn in the grid's own frame (x along the fast axis, from the "
                         "grid's centre); the hover and the line under the spectrum give the "
                         "scanner X, Y")
    head = Div(text=f"<h2 style='margin:0'>{html.escape(title)}</h2><p style='color:#555;"
                    f"max-width:1000px'>{html.escape('; '.join(note_bits))}.</p>",
               name="note", width=1050)
    layout = column(head, row(column(layer, energy, crange, keep, mapfig),
                              column(specfig, row(exportbtn), status, cutfig)))
    facts["layers"] = [la["name"] for la in layers]
    return layout, facts, cb(call + ";")  # the last: draws the first map once the page is ready


def explorer_html(grid: xr.DataArray, **kw) -> tuple[str, dict]:
    """The explorer page as one HTML string (Bokeh's JavaScript inlined) and its facts."""
    from bokeh.document import Document
    from bokeh.embed import file_html
    from bokeh.events import DocumentReady
    from bokeh.resources import INLINE

    layout, facts, ready = explorer_document(grid, **kw)
    doc = Document()
    doc.add_root(layout)
    doc.js_on_event(DocumentReady, ready)
    page = file_html(doc, INLINE, title=kw.get("title", "Grid explorer"))
    return page, facts


def write_explorer(grid: xr.DataArray, out_dir: str | Path, *, gap_eV: np.ndarray | None = None,
                   maps: dict[str, tuple[np.ndarray, str]] | None = None,
                   fit: xr.Dataset | None = None, title: str = "Grid explorer",
                   max_pixels: int = 128 * 128, angle_deg: float | None = None,
                   positions: tuple[np.ndarray, np.ndarray] | None = None) -> Path:
    """Write ``out_dir/index.html`` exploring a ``(y, x, bias)`` grid; returns its path.

    *maps* adds map layers of the same pixels, ``name → (array, units)``: the topography
    recorded with the grid (shown plane-levelled, in nm), fitted parameters (Δ, Γ, ...), a
    registered cAFM map.  A fitted gap (*gap_eV*) becomes the layer "Δ (fitted gap)" in meV
    as well.  *fit*, a gap map (:func:`supramap.sts.gapmap.gap_map` data: delta, gamma, scale,
    offset, converged and its temperature and lock-in attrs), draws each clicked pixel's
    fitted spectrum over the data: the page evaluates the thermally broadened Dynes model from
    the parameters.  *angle_deg* (default: the grid's ``grid_angle_deg``) is the grid's
    rotation in the scanner frame; *positions*, the scanner X, Y (m) recorded with each point,
    give the scanner position of a rotated grid's pixels (else the angle and centre do)."""
    from supramap.fileutil import atomic_write_text

    page, _ = explorer_html(grid, gap_eV=gap_eV, maps=maps, fit=fit, title=title,
                            max_pixels=max_pixels, angle_deg=angle_deg, positions=positions)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    atomic_write_text(path, page)
    return path


def _value_label(units: str | None) -> str:
    """What the page's values are: a conductance in S, else a lock-in signal in arbitrary
    units (its channel unit said), never "dI/dV in A"."""
    from supramap.report.sts import conductance_label

    return conductance_label(units)
