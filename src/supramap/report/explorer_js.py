"""The grid explorer's browser side: one JavaScript function, ``smx(a)``, that every Bokeh
callback of the page calls with the page's models (``a``) and that keeps the page's state.

Bokeh draws the panels (axes with ticks, zoom, pan, hover, colour bars); this code only turns
clicks into the spectra they select, from the quantised grid the page embeds: value =
``lo[pixel] + q · step[pixel]``.  The state of the last action is kept in ``window.SMX.shown``
(what is plotted, in the grid's units), never printed on the page.
"""

LIBRARY = r"""
function smx(a) {
  if (window.SMX) return window.SMX;
  const M = a.meta, NY = M.ny, NX = M.nx, NB = M.nb;
  const Q = a.qsrc.data.q, P = a.psrc.data, B = M.bias_mV;
  const X = M.x, Y = M.y, DX = M.dx, DY = M.dy;
  const S = {shown: null, pending: null, corner: null, lineStart: null};
  const spectrum = (iy, ix) => {
    const p = iy * NX + ix, lo = P.lo[p], st = P.step[p], out = new Array(NB);
    for (let k = 0; k < NB; k++) out[k] = lo + Q[p * NB + k] * st;
    return out; };
  const fmt = (v, n) => Number.isFinite(v) ? Number(v.toPrecision(n || 4)).toString() : '–';
  // The scanner's X, Y of a point shown at (x, y) (the grid's own frame when it is rotated):
  // an affine map, from the positions the file recorded or from its centre and angle.
  const scanner = (xd, yd) => { const [p, q] = M.affine;
    return [p[0] + p[1] * xd + p[2] * yd, q[0] + q[1] * xd + q[2] * yd]; };
  const where = (iy, ix) => {
    let t = 'x = ' + fmt(X[ix]) + ' nm, y = ' + fmt(Y[iy]) + ' nm';
    if (M.rotated) { const [sx, sy] = scanner(X[ix], Y[iy]);
      t += ' (scanner X = ' + fmt(sx) + ' nm, Y = ' + fmt(sy) + ' nm)'; }
    return t; };
  const status = (t) => { a.status.text = t; };
  // --- the map -----------------------------------------------------------------------------
  const layerValues = () => {
    const li = a.layer.options.indexOf(a.layer.value) - 1, img = new Float64Array(NY * NX);
    if (li < 0) {
      let k = 0, best = Infinity;
      for (let i = 0; i < NB; i++) { const d = Math.abs(B[i] - a.energy.value);
        if (d < best) { best = d; k = i; } }
      for (let p = 0; p < NY * NX; p++) img[p] = P.lo[p] + Q[p * NB + k] * P.step[p];
      return {v: img, units: M.units, label: M.value_label, k: k,
              title: M.what + ' at ' + (B[k] >= 0 ? '+' : '') + B[k].toFixed(3) + ' mV'}; }
    const L = M.layers[li], col = P['L' + li];
    for (let p = 0; p < NY * NX; p++) img[p] = col[p];
    return {v: img, units: L.units, label: L.label, k: null, title: L.name}; };
  const quantile = (arr, q) => {
    const f = Array.from(arr).filter(Number.isFinite).sort((s, t) => s - t);
    if (!f.length) return NaN;
    const i = q * (f.length - 1), j = Math.floor(i);
    return f[j] + (i - j) * ((f[Math.min(j + 1, f.length - 1)]) - f[j]); };
  S.draw = () => {
    const L = layerValues(), img = a.imsrc.data.image[0];
    for (let p = 0; p < NY * NX; p++) img[p] = L.v[p];
    a.imsrc.change.emit();
    a.mapfig.title.text = L.title;
    a.cbar.title = L.label;
    S.units = L.units;
    const lo = quantile(L.v, 0), hi = quantile(L.v, 1);
    if (!a.keep.active.length && Number.isFinite(lo)) {
      const span = hi > lo ? hi - lo : Math.abs(hi) || 1;
      const p1 = quantile(L.v, 0.01), p99 = quantile(L.v, 0.99);
      a.crange.start = lo - (hi > lo ? 0 : span / 2);
      a.crange.end = hi + (hi > lo ? 0 : span / 2);
      a.crange.step = (a.crange.end - a.crange.start) / 400;
      a.crange.value = p99 > p1 ? [p1, p99] : [a.crange.start, a.crange.end];
      a.crange.title = 'colour range (' + (L.units || 'no unit') + ')'; }
    a.mapper.low = a.crange.value[0]; a.mapper.high = a.crange.value[1];
    S.map = {title: L.title, units: L.units, low: a.mapper.low, high: a.mapper.high,
             k: L.k, values: Array.from(L.v)};
  };
  S.range = () => { a.mapper.low = a.crange.value[0]; a.mapper.high = a.crange.value[1];
    if (S.map) { S.map.low = a.mapper.low; S.map.high = a.mapper.high; } };
  // --- the fitted model of a pixel (Dynes through the thermal and lock-in kernel) ------------
  const F = M.fit;
  const dynes = (e, dl, g) => {  // Re[(E + iΓ)/√((E + iΓ)² − Δ²)], the gap map's branch
    const re = e * e - g * g - dl * dl, im = 2 * e * g, r = Math.hypot(re, im);
    const p = Math.sqrt(Math.max((r + re) / 2, 0));
    const q = (im < 0 ? -1 : 1) * Math.sqrt(Math.max((r - re) / 2, 0));
    return r > 0 ? (e < 0 ? -1 : 1) * (e * p + g * q) / r : 1; };
  const fitted = (iy, ix) => {
    if (!F) return null;
    const p = iy * NX + ix, dl = P.fit_delta[p], g = P.fit_gamma[p], sc = P.fit_scale[p],
      off = P.fit_offset[p];
    if (![dl, g, sc, off].every(Number.isFinite)) return null;
    const n = new Float64Array(F.ne);
    for (let j = 0; j < F.ne; j++) n[j] = dynes(F.e0 + j * F.de, dl, g);
    const out = [];
    for (let i = 0; i < NB; i++) {
      const v = B[i] / 1e3; let acc = 0;
      for (let j = 0; j < F.ne; j++) {
        const t = (F.e0 + j * F.de - v - F.u0) / F.du, m = Math.floor(t);
        if (m < 0 || m + 1 >= F.kernel.length) continue;
        acc += n[j] * (F.kernel[m] + (t - m) * (F.kernel[m + 1] - F.kernel[m])); }
      out.push(sc * acc * F.de + off); }
    return out; };
  // --- what a click shows ------------------------------------------------------------------
  const nan = () => new Array(NB).fill(NaN);
  const show = (values, fit, title, legend, shown) => {
    a.spec.data = {bias_mV: B.slice(), v: values, fit: fit || nan()};
    a.specfig.title.text = title;
    a.dataline.visible = true;
    a.fitline.visible = !!fit;
    a.legend.items[0].label = {value: legend};
    a.legend.items[1].visible = !!fit;
    if (fit) a.legend.items[1].label = {value: 'Dynes fit, Δ = ' + fmt(shown.gap_meV) +
      ' meV, Γ = ' + fmt(shown.gamma_meV) + ' meV'};
    S.shown = Object.assign({values: values, fit: fit}, shown);
    a.exportbtn.disabled = false; };
  const clearMarks = () => {
    a.pending.data = {x: [], y: []};
    a.pix.data = {x: [], y: []};
    a.region.data = {left: [], right: [], bottom: [], top: []};
    a.line.data = {x0: [], y0: [], x1: [], y1: []}; };
  S.pixel = (iy, ix) => {
    const p = iy * NX + ix;
    const gap = F ? P.fit_delta[p] * 1e3 : (M.gap ? P.gap[p] : NaN);
    const fit = fitted(iy, ix);
    clearMarks();
    a.pix.data = {x: [X[ix]], y: [Y[iy]]};
    show(spectrum(iy, ix), fit, 'pixel (' + iy + ', ' + ix + '): x = ' + fmt(X[ix], 3) +
      ', y = ' + fmt(Y[iy], 3) + ' nm' + (Number.isFinite(gap) ? ', Δ = ' + fmt(gap, 3) +
      ' meV' : ''), 'pixel (row ' + iy + ', column ' + ix + ')',
      {kind: 'pixel', iy: iy, ix: ix, x_nm: X[ix], y_nm: Y[iy],
       scanner_nm: scanner(X[ix], Y[iy]), gap_meV: gap,
       gamma_meV: F ? P.fit_gamma[p] * 1e3 : NaN});
    status('Spectrum of ' + where(iy, ix) + '. Shift-click two corners for a region, ' +
           'ctrl- or alt-click two points for a line.'); };
  S.region = (c0, c1) => {
    const y0 = Math.min(c0[0], c1[0]), y1 = Math.max(c0[0], c1[0]);
    const x0 = Math.min(c0[1], c1[1]), x1 = Math.max(c0[1], c1[1]);
    const mean = new Array(NB).fill(0); let n = 0;
    for (let iy = y0; iy <= y1; iy++) for (let ix = x0; ix <= x1; ix++) {
      const s = spectrum(iy, ix); if (!s.every(Number.isFinite)) continue;
      n++; for (let k = 0; k < NB; k++) mean[k] += s[k]; }
    for (let k = 0; k < NB; k++) mean[k] = n ? mean[k] / n : NaN;
    clearMarks();
    a.region.data = {left: [X[x0] - DX / 2], right: [X[x1] + DX / 2],
                     bottom: [Y[y0] - DY / 2], top: [Y[y1] + DY / 2]};
    const what = 'x ' + fmt(X[x0]) + '…' + fmt(X[x1]) + ' nm, y ' + fmt(Y[y0]) + '…' +
      fmt(Y[y1]) + ' nm';
    show(mean, null, 'mean of ' + n + ' spectra, ' + what, 'mean of ' + n + ' spectra',
         {kind: 'region', region: [y0, x0, y1, x1], n: n});
    status('Mean spectrum of the region ' + what + ' (' + n + ' pixels).'); };
  S.cut = (p0, p1) => {
    // Pixels along the line p0 → p1: one per pixel step along the longer axis, nearest pixel.
    const n = Math.max(Math.abs(p1[0] - p0[0]), Math.abs(p1[1] - p0[1])) + 1, pts = [];
    for (let i = 0; i < n; i++) {
      const t = n > 1 ? i / (n - 1) : 0;
      const q = [Math.round(p0[0] + t * (p1[0] - p0[0])), Math.round(p0[1] + t * (p1[1] - p0[1]))];
      const last = pts[pts.length - 1];
      if (!last || last[0] !== q[0] || last[1] !== q[1]) pts.push(q); }
    const len = Math.hypot(X[p1[1]] - X[p0[1]], Y[p1[0]] - Y[p0[0]]);
    const step = pts.length > 1 ? len / (pts.length - 1) : DX;
    const img = a.cutsrc.data.image[0], W = M.cut_width;  // rows: bias, columns: position
    img.fill(NaN);
    const lo = Math.min(...B), hi = Math.max(...B), asc = B[NB - 1] >= B[0];
    for (let c = 0; c < pts.length; c++) {
      const s = spectrum(pts[c][0], pts[c][1]);
      for (let k = 0; k < NB; k++) img[(asc ? k : NB - 1 - k) * W + c] = s[k]; }
    const db = NB > 1 ? (hi - lo) / (NB - 1) : 1;
    a.cutsrc.data.x = [-step / 2]; a.cutsrc.data.dw = [W * step];
    a.cutsrc.data.y = [lo - db / 2]; a.cutsrc.data.dh = [NB * db];
    a.cutsrc.change.emit();
    a.cutfig.x_range.start = -step / 2; a.cutfig.x_range.end = len + step / 2;
    a.cutfig.y_range.start = lo - db / 2; a.cutfig.y_range.end = hi + db / 2;
    const fin = [];
    for (let c = 0; c < pts.length; c++) for (let k = 0; k < NB; k++) {
      const v = img[k * W + c]; if (Number.isFinite(v)) fin.push(v); }
    if (fin.length) { a.cutmapper.low = Math.min(...fin); a.cutmapper.high = Math.max(...fin); }
    a.cutfig.title.text = 'spectra along the line, ' + fmt(len) + ' nm';
    a.cutfig.visible = true;
    const mid = pts[Math.floor(pts.length / 2)];
    S.cutShown = {points: pts, length_nm: len,
                  first: pts.map(q => spectrum(q[0], q[1])[0])};
    S.pixel(mid[0], mid[1]);  // clears the marks: the line is drawn after it
    a.line.data = {x0: [X[p0[1]]], y0: [Y[p0[0]]], x1: [X[p1[1]]], y1: [Y[p1[0]]]};
    status('Spectra along the line from ' + where(p0[0], p0[1]) + ' to ' +
           where(p1[0], p1[1]) + ': ' + pts.length + ' pixels, ' + fmt(len) +
           ' nm (panel below); the spectrum panel shows its middle pixel.'); };
  S.tap = (x, y, mods) => {
    const ix = Math.round((x - X[0]) / DX) + 0, iy = Math.round((y - Y[0]) / DY) + 0;
    if (!(ix >= 0 && ix < NX && iy >= 0 && iy < NY)) {
      status('That point is outside the grid.'); return; }
    const mark = () => { a.pending.data = {x: [X[ix]], y: [Y[iy]]}; };
    if (mods && (mods.ctrl || mods.alt)) {
      S.corner = null;
      if (!S.lineStart) { S.lineStart = [iy, ix]; mark();
        status('Line starts at ' + where(iy, ix) + ': ctrl- or alt-click its other end.');
        return; }
      const p0 = S.lineStart; S.lineStart = null; S.cut(p0, [iy, ix]); return; }
    S.lineStart = null;
    if (mods && mods.shift) {
      if (!S.corner) { S.corner = [iy, ix]; mark();
        status('First corner at ' + where(iy, ix) + ': shift-click the opposite corner.');
        return; }
      const c0 = S.corner; S.corner = null; S.region(c0, [iy, ix]); return; }
    S.corner = null;
    S.pixel(iy, ix); };
  // --- export ------------------------------------------------------------------------------
  S.csv = () => {
    const s = S.shown; if (!s) return null;
    const head = ['# supramap grid explorer: ' + M.title, '# source: ' + M.source];
    if (s.kind === 'pixel') head.push('# pixel (row ' + s.iy + ', column ' + s.ix + '), ' +
      where(s.iy, s.ix));
    else head.push('# mean of ' + s.n + ' spectra, rows ' + s.region[0] + '…' + s.region[2] +
      ', columns ' + s.region[1] + '…' + s.region[3]);
    head.push('# values: ' + M.value_label + (M.quantisation ? '; ' + M.quantisation : ''));
    const cols = ['bias_mV', M.csv_column].concat(s.fit ? ['fit_' + M.csv_column] : []);
    const rows = B.map((b, k) => [b, s.values[k]].concat(s.fit ? [s.fit[k]] : [])
      .map(v => Number.isFinite(v) ? v.toPrecision(7) : 'nan').join(','));
    return head.join('\n') + '\n' + cols.join(',') + '\n' + rows.join('\n') + '\n'; };
  S.download = () => {
    const text = S.csv(); if (text === null) { status('Click a pixel or a region first.');
      return; }
    const s = S.shown, name = s.kind === 'pixel' ? 'spectrum_row' + s.iy + '_col' + s.ix +
      '.csv' : 'spectrum_rows' + s.region[0] + '-' + s.region[2] + '_cols' + s.region[1] +
      '-' + s.region[3] + '.csv';
    const url = URL.createObjectURL(new Blob([text], {type: 'text/csv'}));
    const link = document.createElement('a');
    link.href = url; link.download = name; document.body.appendChild(link); link.click();
    setTimeout(() => { URL.revokeObjectURL(url); link.remove(); }, 1000);
    status('Exported ' + name + '.'); };
  window.SMX = S;
  S.draw();
  return S;
}
"""
