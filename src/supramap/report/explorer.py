"""A self-contained HTML page to explore a spectroscopic grid: a dI/dV map at the energy of a
slider, the spectrum of the pixel clicked (with its fitted gap when a gap map is given) and the
mean spectrum of a region (shift-click two corners).

Written without a plotting library on purpose: the page must work offline from the file
system, and Bokeh's standalone output inlines ~1 MB of JavaScript per page, while this page is a
few kB of script plus the data.  The data are embedded as base64 float32 (decimated by an
integer factor when the grid is larger than ``max_pixels``, which the page states).
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import numpy as np
import xarray as xr

PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}
#wrap{{display:flex;gap:2em;flex-wrap:wrap}}#wrap>div{{max-width:490px}}
pre{{white-space:pre-wrap;word-break:break-all;font-size:.75em;color:#555}}
#cbar-label{{display:block}}canvas{{image-rendering:pixelated;cursor:crosshair;
border:1px solid #999}}svg{{border:1px solid #999;background:#fff}}.note{{color:#555;
font-size:.9em}}</style></head><body><h1>{title}</h1>
<p class="note">{note}</p>
<div id="wrap"><div><label>map <select id="layer"></select></label>
<label>energy <input id="energy" type="range" min="0" max="{nb1}" value="{mid}"></label>
<span id="elabel"></span><br><canvas id="map" width="{cw}" height="{ch}"></canvas>
<canvas id="cbar" width="16" height="{ch}"></canvas><span id="cbar-label" class="note"></span>
<br><span class="note">x {x0:.3g} … {x1:.3g} nm (left → right), y {y0:.3g} … {y1:.3g} nm
(top → bottom).<br>Click a pixel for its spectrum; shift-click two corners for the mean
spectrum of a region; ctrl-click (or alt-click) two points for the spectra along the line.
</span></div>
<div><svg id="spec" width="480" height="320"></svg><pre id="spectrum-data">{{}}</pre>
<canvas id="cut" width="480" height="200"></canvas><div id="cut-label" class="note"></div>
<pre id="cut-data">{{}}</pre></div>
</div>
<script>
const D = {data};
function f32(b64) {{ const s = atob(b64); const u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return new Float32Array(u.buffer); }}
const G = f32(D.grid), NY = D.ny, NX = D.nx, NB = D.nb, S = D.scale;
const gap = D.gap ? f32(D.gap) : null;
const cv = document.getElementById('map'), ctx = cv.getContext('2d');
function val(iy, ix, k) {{ return G[(iy * NX + ix) * NB + k]; }}
const LAYERS = (D.layers || []).map(l => ({{name: l.name, units: l.units, v: f32(l.data)}}));
const sel = document.getElementById('layer');
for (const [i, name] of [['-1', 'dI/dV at the energy'], ...LAYERS.map((l, i) =>
    [String(i), l.name])]) {{
  const o = document.createElement('option'); o.value = i; o.textContent = name;
  sel.appendChild(o); }}
function colour(t) {{ return [68 + 185 * t, 1 + 230 * t, 84 + 30 * (1 - t)]; }}
function paint(canvas, w, h, at) {{
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < w * h; i++) {{ const v = at(i); if (isFinite(v)) {{
    lo = Math.min(lo, v); hi = Math.max(hi, v); }} }}
  const c2 = canvas.getContext('2d'), img = c2.createImageData(w, h);
  for (let i = 0; i < w * h; i++) {{
    const v = at(i), ok = isFinite(v), t = ok && hi > lo ? (v - lo) / (hi - lo) : 0;
    const c = ok ? colour(t) : [170, 170, 170];
    img.data[4 * i] = c[0]; img.data[4 * i + 1] = c[1]; img.data[4 * i + 2] = c[2];
    img.data[4 * i + 3] = 255; }}
  const off = document.createElement('canvas'); off.width = w; off.height = h;
  off.getContext('2d').putImageData(img, 0, 0);
  c2.imageSmoothingEnabled = false; c2.drawImage(off, 0, 0, canvas.width, canvas.height);
  return [lo, hi];
}}
function drawMap(k) {{
  const li = +sel.value, layer = li >= 0 ? LAYERS[li] : null;
  const [lo, hi] = layer ? paint(cv, NX, NY, i => layer.v[i])
                         : paint(cv, NX, NY, i => G[i * NB + k] * S);
  const units = layer ? layer.units : D.units;
  const cb = document.getElementById('cbar'), cc = cb.getContext('2d');
  for (let y = 0; y < cb.height; y++) {{ const c = colour(1 - y / (cb.height - 1));
    cc.fillStyle = 'rgb(' + c.map(Math.round).join(',') + ')'; cc.fillRect(0, y, cb.width, 1); }}
  document.getElementById('cbar-label').textContent = hi.toPrecision(3) + ' (top) … ' +
    lo.toPrecision(3) + ' (bottom) ' + units + (layer ? ' — ' + layer.name :
    ' — dI/dV at ' + D.bias_mV[k].toFixed(3) + ' mV');
  document.getElementById('elabel').textContent = (D.bias_mV[k]).toFixed(3) + ' meV';
}}
const FIT = D.fit ? {{p: f32(D.fit.params), k: D.fit.kernel, u0: D.fit.u0, du: D.fit.du,
                     e0: D.fit.e0, de: D.fit.de, ne: D.fit.ne}} : null;
function dynes(e, dl, g) {{  // Re[(E + iΓ)/√((E + iΓ)² − Δ²)], the branch of the gap map
  const a = e * e - g * g - dl * dl, b = 2 * e * g, r = Math.hypot(a, b);
  const p = Math.sqrt(Math.max((r + a) / 2, 0));
  const q = (b < 0 ? -1 : 1) * Math.sqrt(Math.max((r - a) / 2, 0));
  return r > 0 ? (e < 0 ? -1 : 1) * (e * p + g * q) / r : 1; }}
function fitted(iy, ix) {{  // scale · ∫ N(E) k(E − V) dE + offset at every bias
  if (!FIT) return null;
  const o = 4 * (iy * NX + ix), dl = FIT.p[o], g = FIT.p[o + 1], sc = FIT.p[o + 2],
    off = FIT.p[o + 3];
  if (![dl, g, sc, off].every(isFinite)) return null;
  const n = new Float64Array(FIT.ne);
  for (let j = 0; j < FIT.ne; j++) n[j] = dynes(FIT.e0 + j * FIT.de, dl, g);
  const out = [];
  for (let i = 0; i < NB; i++) {{
    const v = D.bias_mV[i] / 1e3; let acc = 0;
    for (let j = 0; j < FIT.ne; j++) {{
      const t = (FIT.e0 + j * FIT.de - v - FIT.u0) / FIT.du, m = Math.floor(t);
      if (m < 0 || m + 1 >= FIT.k.length) continue;
      acc += n[j] * (FIT.k[m] + (t - m) * (FIT.k[m + 1] - FIT.k[m])); }}
    out.push(sc * acc * FIT.de + off); }}
  return out; }}
function showSpectrum(iy, ix) {{
  const ys = []; for (let k = 0; k < NB; k++) ys.push(val(iy, ix, k));
  const fin = ys.filter(isFinite), lo = Math.min(...fin), hi = Math.max(...fin);
  const b0 = D.bias_mV[0], b1 = D.bias_mV[NB - 1];
  const pts = ys.map((y, k) => [40 + 430 * (D.bias_mV[k] - b0) / (b1 - b0),
    290 - 270 * (hi > lo ? (y - lo) / (hi - lo) : 0.5)]);
  const d = pts.map((p, k) => (k ? 'L' : 'M') + p[0].toFixed(1) + ' ' + p[1].toFixed(1)).join('');
  const g = gap ? gap[iy * NX + ix] : NaN;
  const fit = fitted(iy, ix);  // in the grid's units; the drawn curve shares the data's scale
  const fd = fit ? fit.map((y, k) => (k ? 'L' : 'M') + (40 + 430 * (D.bias_mV[k] - b0) /
    (b1 - b0)).toFixed(1) + ' ' + (290 - 270 * (hi > lo ? (y / S - lo) / (hi - lo) : 0.5))
    .toFixed(1)).join('') : '';
  document.getElementById('spec').innerHTML =
    '<path d="' + d + '" fill="none" stroke="#1f77b4" stroke-width="1.5"/>' +
    (fit ? '<path d="' + fd + '" fill="none" stroke="#ff7f0e" stroke-width="1.2" ' +
     'stroke-dasharray="4 3"/><text x="330" y="314" font-size="12" fill="#ff7f0e">' +
     '-- fit, Γ = ' + (FIT.p[4 * (iy * NX + ix) + 1] * 1e3).toFixed(3) + ' meV</text>' : '') +
    '<text x="40" y="314" font-size="12">bias ' + b0.toFixed(2) + ' … ' + b1.toFixed(2) +
    ' mV</text><text x="40" y="14" font-size="12">x = ' + D.x_nm[ix].toFixed(2) +
    ' nm, y = ' + D.y_nm[iy].toFixed(2) + ' nm' + (isFinite(g) ? ', Δ = ' +
    g.toFixed(3) + ' meV' : '') + '; dI/dV ' + (lo * S).toPrecision(3) + ' … ' +
    (hi * S).toPrecision(3) + ' ' + D.units + '</text>';
  document.getElementById('spectrum-data').textContent = JSON.stringify(
    {{iy: iy, ix: ix, first: ys.slice(0, 5).map(v => v * S), gap_meV: isFinite(g) ? g : null,
      fit_first: fit ? fit.slice(0, 5) : null}});
}}
let corner = null, lineStart = null;
function showCut(a, b) {{
  // Pixels along the line a → b (one per pixel step, nearest pixel, repeats dropped).
  const n = Math.max(Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1])) + 1, pts = [];
  for (let i = 0; i < n; i++) {{
    const t = n > 1 ? i / (n - 1) : 0;
    const p = [Math.round(a[0] + t * (b[0] - a[0])), Math.round(a[1] + t * (b[1] - a[1]))];
    if (!pts.length || pts[pts.length - 1][0] !== p[0] || pts[pts.length - 1][1] !== p[1])
      pts.push(p); }}
  const cut = document.getElementById('cut');
  // Rows: bias (top = highest); columns: position along the line.
  const [lo, hi] = paint(cut, pts.length, NB,
    i => {{ const col = i % pts.length, row = Math.floor(i / pts.length);
           return val(pts[col][0], pts[col][1], NB - 1 - row) * S; }});
  const dist = Math.hypot((D.x_nm[b[1]] - D.x_nm[a[1]]), (D.y_nm[b[0]] - D.y_nm[a[0]]));
  document.getElementById('cut-label').textContent = 'spectra along the line: ' +
    dist.toFixed(2) + ' nm (left → right), bias ' + D.bias_mV[NB - 1].toFixed(2) + ' (top) … ' +
    D.bias_mV[0].toFixed(2) + ' mV (bottom); dI/dV ' + lo.toPrecision(3) + ' … ' +
    hi.toPrecision(3) + ' ' + D.units;
  document.getElementById('cut-data').textContent = JSON.stringify(
    {{points: pts, length_nm: dist, first: pts.map(p => val(p[0], p[1], 0) * S)}});
}}
function showRegion(a, b) {{
  const y0 = Math.min(a[0], b[0]), y1 = Math.max(a[0], b[0]);
  const x0 = Math.min(a[1], b[1]), x1 = Math.max(a[1], b[1]);
  const mean = new Array(NB).fill(0); let n = 0;
  for (let iy = y0; iy <= y1; iy++) for (let ix = x0; ix <= x1; ix++) {{
    let ok = true; for (let k = 0; k < NB; k++) if (!isFinite(val(iy, ix, k))) ok = false;
    if (!ok) continue; n++; for (let k = 0; k < NB; k++) mean[k] += val(iy, ix, k); }}
  for (let k = 0; k < NB; k++) mean[k] /= Math.max(n, 1);
  const b0 = D.bias_mV[0], b1 = D.bias_mV[NB - 1];
  const lo = Math.min(...mean), hi = Math.max(...mean);
  const d = mean.map((y, k) => (k ? 'L' : 'M') + (40 + 430 * (D.bias_mV[k] - b0) /
    (b1 - b0)).toFixed(1) + ' ' + (290 - 270 * (hi > lo ? (y - lo) / (hi - lo) : 0.5))
    .toFixed(1)).join('');
  document.getElementById('spec').innerHTML = '<path d="' + d +
    '" fill="none" stroke="#d62728" stroke-width="1.5"/><text x="40" y="14" ' +
    'font-size="12">mean of ' + n + ' spectra, x ' + D.x_nm[x0].toFixed(2) + '…' +
    D.x_nm[x1].toFixed(2) + ' nm, y ' + D.y_nm[y0].toFixed(2) + '…' + D.y_nm[y1].toFixed(2) +
    ' nm</text>';
  document.getElementById('spectrum-data').textContent = JSON.stringify(
    {{region: [y0, x0, y1, x1], n: n, first: mean.slice(0, 5).map(v => v * S)}});
}}
cv.addEventListener('click', (ev) => {{
  const r = cv.getBoundingClientRect();
  const ix = Math.min(NX - 1, Math.floor((ev.clientX - r.left) / r.width * NX));
  const iy = Math.min(NY - 1, Math.floor((ev.clientY - r.top) / r.height * NY));
  // Ctrl- or alt-click twice: the two ends of a line cut.
  if (ev.ctrlKey || ev.altKey) {{
    if (lineStart === null) {{ lineStart = [iy, ix]; return; }}
    showCut(lineStart, [iy, ix]); lineStart = null; return;
  }}
  lineStart = null;
  // Shift-click twice: the two corners of a region whose spectra are averaged.
  if (ev.shiftKey) {{
    if (corner === null) {{ corner = [iy, ix]; return; }}
    showRegion(corner, [iy, ix]); corner = null; return;
  }}
  corner = null;
  showSpectrum(iy, ix);
}});
const slider = document.getElementById('energy');
slider.addEventListener('input', () => drawMap(+slider.value));
sel.addEventListener('change', () => drawMap(+slider.value));
drawMap(+slider.value);
</script></body></html>
"""


def decimation(ny: int, nx: int, max_pixels: int = 128 * 128) -> int:
    """Every how many pixels the page keeps, so that it holds at most *max_pixels* spectra."""
    return int(np.ceil(np.sqrt(ny * nx / max_pixels))) if ny * nx > max_pixels else 1


def write_explorer(grid: xr.DataArray, out_dir: str | Path, *, gap_eV: np.ndarray | None = None,
                   maps: dict[str, tuple[np.ndarray, str]] | None = None,
                   fit: xr.Dataset | None = None,
                   title: str = "Grid explorer", max_pixels: int = 128 * 128) -> Path:
    """Write ``out_dir/index.html`` exploring a ``(y, x, bias)`` grid; returns its path.

    *maps* adds map layers of the same pixels, ``name → (array, units)``: the topography
    recorded with the grid, fitted parameters (Δ, Γ, ...), a registered cAFM map.  A fitted
    gap (*gap_eV*) becomes the layer "Δ (fitted gap)" in meV as well.  *fit*, a gap map
    (:func:`supramap.sts.gapmap.gap_map` data: delta, gamma, scale, offset, converged and its
    temperature and lock-in attrs), draws each clicked pixel's fitted spectrum over the data:
    the page evaluates the thermally broadened Dynes model from the parameters."""
    from supramap.fileutil import atomic_write_text
    from supramap.sts.grid import check_grid

    check_grid(grid)
    ny, nx, nb = grid.shape
    step = decimation(ny, nx, max_pixels)
    g = np.asarray(grid.values[::step, ::step], dtype=np.float64)
    scale = float(np.nanmax(np.abs(g))) or 1.0
    data = (g / scale).astype(np.float32)
    payload = {
        "ny": int(data.shape[0]), "nx": int(data.shape[1]), "nb": int(nb), "scale": scale,
        "units": str(grid.attrs.get("units", "")),
        "bias_mV": (np.asarray(grid["bias"].values, dtype=float) * 1e3).tolist(),
        "x_nm": (np.asarray(grid["x"].values[::step], dtype=float) * 1e9).tolist(),
        "y_nm": (np.asarray(grid["y"].values[::step], dtype=float) * 1e9).tolist(),
        "grid": base64.b64encode(np.ascontiguousarray(data).tobytes()).decode(),
    }
    layers = dict(maps or {})
    if gap_eV is not None:
        gm = (np.asarray(gap_eV, dtype=float)[::step, ::step] * 1e3).astype(np.float32)
        payload["gap"] = base64.b64encode(np.ascontiguousarray(gm).tobytes()).decode()
        layers.setdefault("Δ (fitted gap)", (np.asarray(gap_eV, dtype=float) * 1e3, "meV"))
    if fit is not None:
        from supramap.sts.gapmap import broadening_kernel

        conv = np.asarray(fit["converged"].values, bool)
        par = np.stack([np.where(conv, np.asarray(fit[k].values, float), np.nan)
                        for k in ("delta", "gamma", "scale", "offset")], axis=-1)
        t_k = float(fit.attrs.get("temperature_K", 1.0))
        bias = np.asarray(grid["bias"].values, dtype=float)
        de = min(float(np.median(np.abs(np.diff(bias)))), 8.617e-5 * t_k / 2)
        u, kern = broadening_kernel(t_k, float(fit.attrs.get("lockin_rms_V", 0.0)), de)
        span = float(np.abs(bias).max()) + float(u[-1])
        payload["fit"] = {
            "params": base64.b64encode(np.ascontiguousarray(
                par[::step, ::step], dtype=np.float32).tobytes()).decode(),
            "kernel": kern.tolist(), "u0": float(u[0]), "du": de,
            "e0": -span, "de": de, "ne": int(2 * span / de) + 1}
    payload["layers"] = []
    for name, (arr, units) in layers.items():
        a = np.asarray(arr, dtype=float)
        if a.shape != (ny, nx):
            raise ValueError(f"map layer {name!r} has shape {a.shape}, the grid {(ny, nx)}")
        a = np.ascontiguousarray(a[::step, ::step], dtype=np.float32)
        payload["layers"].append({"name": str(name), "units": str(units),
                                  "data": base64.b64encode(a.tobytes()).decode()})
    note = (f"{ny} × {nx} pixels × {nb} bias points"
            + (f"; shown decimated by {step} (every {step}th pixel)" if step > 1 else "")
            + "; values are " + html.escape(_value_label(payload["units"]))
            + (", Δ from the gap map" if gap_eV is not None else ""))
    side = 384
    cw = side if data.shape[1] >= data.shape[0] else int(side * data.shape[1] / data.shape[0])
    ch = side if data.shape[0] >= data.shape[1] else int(side * data.shape[0] / data.shape[1])
    page = PAGE.format(title=html.escape(title), note=note, cw=cw, ch=ch, nb1=nb - 1,
                       mid=nb // 2, data=json.dumps(payload),
                       x0=payload["x_nm"][0], x1=payload["x_nm"][-1],
                       y0=payload["y_nm"][0], y1=payload["y_nm"][-1])
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
