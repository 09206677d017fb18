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
#wrap{{display:flex;gap:2em;flex-wrap:wrap}}canvas{{image-rendering:pixelated;cursor:crosshair;
border:1px solid #999}}svg{{border:1px solid #999;background:#fff}}.note{{color:#555;
font-size:.9em}}</style></head><body><h1>{title}</h1>
<p class="note">{note}</p>
<div id="wrap"><div><canvas id="map" width="{cw}" height="{ch}"></canvas><br>
<label>energy <input id="energy" type="range" min="0" max="{nb1}" value="{mid}"></label>
<span id="elabel"></span><br><span class="note">click a pixel for its spectrum;
shift-click two corners for the mean spectrum of a region</span></div>
<div><svg id="spec" width="480" height="320"></svg><pre id="spectrum-data">{{}}</pre></div>
</div>
<script>
const D = {data};
function f32(b64) {{ const s = atob(b64); const u = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) u[i] = s.charCodeAt(i); return new Float32Array(u.buffer); }}
const G = f32(D.grid), NY = D.ny, NX = D.nx, NB = D.nb, S = D.scale;
const gap = D.gap ? f32(D.gap) : null;
const cv = document.getElementById('map'), ctx = cv.getContext('2d');
function val(iy, ix, k) {{ return G[(iy * NX + ix) * NB + k]; }}
function drawMap(k) {{
  let lo = Infinity, hi = -Infinity;
  for (let i = 0; i < NY * NX; i++) {{ const v = G[i * NB + k]; if (isFinite(v)) {{
    lo = Math.min(lo, v); hi = Math.max(hi, v); }} }}
  const img = ctx.createImageData(NX, NY);
  for (let i = 0; i < NY * NX; i++) {{
    const v = G[i * NB + k], t = isFinite(v) && hi > lo ? (v - lo) / (hi - lo) : 0;
    img.data[4 * i] = 68 + 185 * t; img.data[4 * i + 1] = 1 + 230 * t;
    img.data[4 * i + 2] = 84 + 30 * (1 - t); img.data[4 * i + 3] = 255; }}
  const off = document.createElement('canvas'); off.width = NX; off.height = NY;
  off.getContext('2d').putImageData(img, 0, 0);
  ctx.imageSmoothingEnabled = false; ctx.drawImage(off, 0, 0, cv.width, cv.height);
  document.getElementById('elabel').textContent = (D.bias_mV[k]).toFixed(3) + ' meV';
}}
function showSpectrum(iy, ix) {{
  const ys = []; for (let k = 0; k < NB; k++) ys.push(val(iy, ix, k));
  const fin = ys.filter(isFinite), lo = Math.min(...fin), hi = Math.max(...fin);
  const b0 = D.bias_mV[0], b1 = D.bias_mV[NB - 1];
  const pts = ys.map((y, k) => [40 + 430 * (D.bias_mV[k] - b0) / (b1 - b0),
    290 - 270 * (hi > lo ? (y - lo) / (hi - lo) : 0.5)]);
  const d = pts.map((p, k) => (k ? 'L' : 'M') + p[0].toFixed(1) + ' ' + p[1].toFixed(1)).join('');
  const g = gap ? gap[iy * NX + ix] : NaN;
  document.getElementById('spec').innerHTML =
    '<path d="' + d + '" fill="none" stroke="#1f77b4" stroke-width="1.5"/>' +
    '<text x="40" y="314" font-size="12">bias ' + b0.toFixed(2) + ' … ' + b1.toFixed(2) +
    ' mV</text><text x="40" y="14" font-size="12">x = ' + D.x_nm[ix].toFixed(2) +
    ' nm, y = ' + D.y_nm[iy].toFixed(2) + ' nm' + (isFinite(g) ? ', Δ = ' +
    g.toFixed(3) + ' meV' : '') + '; dI/dV ' + lo.toPrecision(3) + ' … ' +
    hi.toPrecision(3) + ' ' + D.units + '</text>';
  document.getElementById('spectrum-data').textContent = JSON.stringify(
    {{iy: iy, ix: ix, first: ys.slice(0, 5).map(v => v * S), gap_meV: isFinite(g) ? g : null}});
}}
let corner = null;
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
drawMap(+slider.value);
</script></body></html>
"""


def write_explorer(grid: xr.DataArray, out_dir: str | Path, *, gap_eV: np.ndarray | None = None,
                   title: str = "Grid explorer", max_pixels: int = 128 * 128) -> Path:
    """Write ``out_dir/index.html`` exploring a ``(y, x, bias)`` grid; returns its path."""
    from supramap.fileutil import atomic_write_text
    from supramap.sts.grid import check_grid

    check_grid(grid)
    ny, nx, nb = grid.shape
    step = int(np.ceil(np.sqrt(ny * nx / max_pixels))) if ny * nx > max_pixels else 1
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
    if gap_eV is not None:
        gm = (np.asarray(gap_eV, dtype=float)[::step, ::step] * 1e3).astype(np.float32)
        payload["gap"] = base64.b64encode(np.ascontiguousarray(gm).tobytes()).decode()
    note = (f"{ny} × {nx} pixels × {nb} bias points"
            + (f"; shown decimated by {step} (every {step}th pixel)" if step > 1 else "")
            + "; values are dI/dV in " + html.escape(payload["units"] or "arb. units")
            + (", Δ from the gap map" if gap_eV is not None else ""))
    side = 384
    cw = side if data.shape[1] >= data.shape[0] else int(side * data.shape[1] / data.shape[0])
    ch = side if data.shape[0] >= data.shape[1] else int(side * data.shape[0] / data.shape[1])
    page = PAGE.format(title=html.escape(title), note=note, cw=cw, ch=ch, nb1=nb - 1,
                       mid=nb // 2, data=json.dumps(payload))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "index.html"
    atomic_write_text(path, page)
    return path
