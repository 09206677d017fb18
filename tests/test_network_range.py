"""Four-probe across the whole range of superconducting fraction, p = 0.3 … 1.0: minority, near
and above the 2-D site-percolation threshold (0.593), majority and fully superconducting.

The truth is this file's own resistor network: every pixel a node, bonds of two half pixels in
series, superconducting pixels and contact pads a conductance 1e9 × the normal sheet's (no
node contraction, no multigrid: a direct sparse solve).  The command under test reads a current
map written as a BCRF file, as a user runs it.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve

from supramap.cli.main import main
from supramap.data import make_image
from supramap.io.bcr import write_bcr

RS = 1000.0      # Ω per square of the normal phase
BIG = 1e9        # superconductor / contact conductance relative to the normal sheet


def _own_vdp(sc: np.ndarray) -> tuple[float, float]:
    """R_AB,CD and R_BC,DA of single-pixel corner contacts A (top left), B (top right),
    C (bottom right), D (bottom left)."""
    ny, nx = sc.shape
    g = np.where(sc, BIG, 1.0) / RS
    for r, c in ((0, 0), (0, nx - 1), (ny - 1, nx - 1), (ny - 1, 0)):
        g[r, c] = BIG / RS
    idx = np.arange(ny * nx).reshape(ny, nx)
    rows, cols, vals = [], [], []
    for a, b, ga, gb in ((idx[:, :-1], idx[:, 1:], g[:, :-1], g[:, 1:]),
                         (idx[:-1, :], idx[1:, :], g[:-1, :], g[1:, :])):
        bond = 2 * ga * gb / (ga + gb)  # two half pixels in series
        rows += [a.ravel(), b.ravel(), a.ravel(), b.ravel()]
        cols += [b.ravel(), a.ravel(), a.ravel(), b.ravel()]
        vals += [-bond.ravel(), -bond.ravel(), bond.ravel(), bond.ravel()]
    lap = sparse.csr_matrix((np.concatenate(vals), (np.concatenate(rows),
                                                    np.concatenate(cols))), shape=(ny * nx,) * 2)
    corner = [idx[0, 0], idx[0, nx - 1], idx[ny - 1, nx - 1], idx[ny - 1, 0]]
    keep = np.ones(ny * nx, bool)
    ground = idx[ny // 2, nx // 2]
    keep[ground] = False
    red = lap[keep][:, keep].tocsc()

    def r(src, snk, plus, minus):
        i = np.zeros(ny * nx)
        i[corner[src]], i[corner[snk]] = 1.0, -1.0
        v = np.zeros(ny * nx)
        v[keep] = spsolve(red, i[keep])
        return v[corner[plus]] - v[corner[minus]]

    return r(0, 1, 3, 2), r(1, 2, 0, 3)


def _maps(p: float, shape=(40, 40), seed=1):
    rng = np.random.default_rng(seed)
    if p >= 1:
        return np.ones(shape, bool)
    return rng.random(shape) < p


def _run(tmp_path, sc: np.ndarray, capsys, extra=()):
    rng = np.random.default_rng(7)
    cur = np.where(sc, 2e-6, 0.0) + rng.normal(0, 3e-10, sc.shape)
    f = tmp_path / "map.bcrf"
    write_bcr(f, make_image(cur, dx=50e-9, units="A"))
    j = tmp_path / "fp.json"
    code = main([str(x) for x in ["network", "fourprobe", f, "--normal-sheet-resistance", RS,
                                  "--json", j, *extra]])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(j.read_text())


@pytest.mark.parametrize("p", [0.3, 0.45, 0.56, 0.63, 0.8, 1.0])
def test_fourprobe_on_site_maps_across_percolation(tmp_path, capsys, p):
    sc = _maps(p)
    d = _run(tmp_path, sc, capsys)
    assert d["sc_fraction"] == pytest.approx(sc.mean(), abs=1e-9)
    r1, r2 = _own_vdp(sc)
    got = d["resistances_ohm"]
    for mine, key in ((r1, "R_AB,CD"), (r2, "R_BC,DA")):
        assert got[key] == pytest.approx(mine, rel=0.01, abs=1e-4 * RS)
    # Above percolation a superconducting path joins the contacts: zero, not the normal sheet.
    lab, _ = ndimage.label(sc)
    spans = bool(set(lab[0][lab[0] > 0]) & set(lab[-1][lab[-1] > 0]))
    if spans and p > 0.6:
        assert abs(got["R_AB,CD"]) < 1e-4 * RS


def test_fourprobe_on_a_smooth_majority_map(tmp_path, capsys):
    field = ndimage.gaussian_filter(np.random.default_rng(5).normal(size=(48, 48)), 4)
    sc = field > np.quantile(field, 0.35)  # 65 % superconducting
    for extra in ((), ("--threshold", "1e-6")):
        d = _run(tmp_path, sc, capsys, extra)
        assert d["sc_fraction"] == pytest.approx(0.65, abs=0.01)
        r1, _ = _own_vdp(sc)
        assert d["resistances_ohm"]["R_AB,CD"] == pytest.approx(r1, rel=0.01, abs=1e-4 * RS)
