"""Benchmark: full cAFM analysis at several map sizes versus a naive baseline.

Prints, per size, wall time (best of 3) and peak traced memory (tracemalloc; numpy reports its
buffers to it) of ``supramap.conduction.analyze`` — noise, threshold, levels, islands, edges —
current only and with a topography (artefact check), next to a straightforward implementation
measured in the same run (EM on every conducting pixel instead of on a histogram, one boolean
mask per island, one interpolation call per edge profile at every boundary pixel), the ratio,
the agreement of the two (fraction, islands) and the exponent of time against pixel count.

Maps are generated here with numpy (islands = a smoothed random field above its 70 % quantile,
two current levels, Gaussian noise), so 4096² and 8192² are quick to make.

Goals (issue #16): 4096² under 8 s and 1 GB, linear in pixels; 8192² runs.

    python benchmarks/cafm.py [--sizes 1024,2048,4096] [--naive-max 2048]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from scipy import ndimage
from scipy.special import logsumexp

from supramap.conduction import analyze
from supramap.data import make_image


def naive_analysis(current: np.ndarray, pixel: float) -> dict:
    """The same quantities computed the obvious way (the baseline)."""
    v = current
    med = np.median(v)
    sigma = 1.4826 * np.median(np.abs(v - med))
    cand = v > med + 10 * sigma
    vals = v[cand]
    best = None
    for k in range(1, 6):  # EM on every conducting pixel
        mu = np.quantile(vals, (np.arange(k) + 0.5) / k)
        var = np.full(k, vals.var() / k**2)
        w = np.full(k, 1 / k)
        for _ in range(100):
            logp = -0.5 * np.log(2 * np.pi * var) - (vals[:, None] - mu) ** 2 / (2 * var) \
                + np.log(w)
            lse = logsumexp(logp, axis=1)
            r = np.exp(logp - lse[:, None])
            nk = r.sum(0)
            w, mu = nk / vals.size, (r * vals[:, None]).sum(0) / nk
            var = (r * (vals[:, None] - mu) ** 2).sum(0) / nk + 1e-30
        bic = -2 * lse.sum() + (3 * k - 1) * np.log(vals.size)
        if best is None or bic < best[0]:
            best = (bic, np.sort(mu))
    thr = 0.5 * best[1][0]
    mask = v > thr
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    islands = []
    for k in range(1, n + 1):  # one full-size mask per island
        rows, cols = np.nonzero(labels == k)
        islands.append((rows.size * pixel**2, v[rows, cols].mean(), v[rows, cols].max()))
    boundary = mask & ~ndimage.binary_erosion(mask)
    smooth = ndimage.gaussian_filter(v, 1.0)
    gy, gx = np.gradient(smooth)
    widths = []
    t = np.arange(-5, 5.01, 0.25)
    for r0, c0 in zip(*np.nonzero(boundary)):  # one interpolation call per profile
        g = np.hypot(gy[r0, c0], gx[r0, c0])
        if g == 0:
            continue
        prof = ndimage.map_coordinates(v, [r0 - t * gy[r0, c0] / g, c0 - t * gx[r0, c0] / g],
                                       order=1)
        lo, hi = np.median(prof[-6:]), np.median(prof[:6])
        with np.errstate(invalid="ignore", divide="ignore"):
            q = (prof - lo) / (hi - lo)
        i90, i10 = np.argmax(q < 0.9), np.argmax(q < 0.1)
        widths.append((t[i10] - t[i90]) * pixel)
    return {"fraction": mask.mean(), "levels": best[1], "n_islands": n,
            "edge": float(np.median(widths))}


def timed(fn, *args, repeat: int = 1, **kwargs):
    best = np.inf
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args, **kwargs)
        best = min(best, time.perf_counter() - t0)
    return best, out


def peak_memory(fn, *args, **kwargs) -> float:
    tracemalloc.start()
    fn(*args, **kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def make_map(n: int, seed: int = 0):
    """Current (A) and topography (m) maps of n × n pixels of 8 nm."""
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.normal(size=(n, n)).astype(np.float32), n / 128)
    lo, hi = np.quantile(field[::4, ::4], [0.7, 0.9])
    cur = np.where(field > lo, 2e-6, 0.0) + rng.normal(0, 2e-9, (n, n))
    cur[field > hi] = 4e-6
    topo = rng.normal(0, 1e-10, (n, n)) + np.linspace(0, 1e-8, n)[None, :]
    del field
    return (make_image(cur, dx=8e-9, units="A"), make_image(topo, dx=8e-9, units="m"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024,2048,4096")
    parser.add_argument("--naive-max", type=int, default=2048,
                        help="largest size the naive baseline runs at")
    args = parser.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    analyze(make_map(64)[0])  # warm imports and caches
    print(f"{'size':>6s}{'analyze s':>11s}{'+topo s':>9s}{'peak MB':>9s}{'naive s':>9s}"
          f"{'naive MB':>10s}{'speed-up':>10s}  agreement")
    times = []
    for n in sizes:
        cur, topo = make_map(n)
        t_core, res = timed(analyze, cur, repeat=3 if n <= 2048 else 1)
        t_topo, _ = timed(analyze, cur, topography=topo)
        mem = peak_memory(analyze, cur)
        times.append(t_core)
        row = f"{n:6d}{t_core:11.2f}{t_topo:9.2f}{mem:9.0f}"
        if n <= args.naive_max:
            t_naive, naive = timed(naive_analysis, cur.values, 8e-9)
            m_naive = peak_memory(naive_analysis, cur.values, 8e-9)
            agree = (f"fraction {res.conducting_fraction:.4f} vs {naive['fraction']:.4f}, "
                     f"islands {res.n_islands} vs {naive['n_islands']}")
            row += f"{t_naive:9.2f}{m_naive:10.0f}{t_naive / t_core:9.1f}×  {agree}"
        else:
            row += f"{'—':>9s}{'—':>10s}{'—':>10s}  fraction {res.conducting_fraction:.4f}"
        print(row, flush=True)
        del cur, topo
    if len(sizes) >= 2:
        px = np.array(sizes, float) ** 2
        slope = np.polyfit(np.log(px), np.log(times), 1)[0]
        print(f"time ∝ pixels^{slope:.2f} over {sizes[0]}²…{sizes[-1]}² (1.00 = linear)")
    if 4096 in sizes:
        i = sizes.index(4096)
        print(f"library 4096²: {times[i]:.1f} s")
        cold_cli(4096)


def cold_cli(n: int) -> None:
    """As users run it: ``supramap cafm analyze MAP.bcrf --json OUT`` on an n² current map (a
    BCRF written here), new processes, beside the library time above."""
    import tempfile
    from pathlib import Path

    from _cold import cold_runs, supramap_command

    from supramap.io.bcr import write_bcr

    cur, _ = make_map(n)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "map.bcrf"
        write_bcr(path, cur.astype(np.float32), zunit="A")
        del cur
        t_med, t_min, t_max, peak = cold_runs(
            [*supramap_command(), "cafm", "analyze", str(path), "--json", str(Path(d) / "o.json")])
    print(f"cold CLI `supramap cafm analyze` {n}² (3 runs): median {t_med:.1f} s "
          f"[{t_min:.1f}–{t_max:.1f}], peak RSS {peak:.2f} GB; goal < 8 s and < 1 GB -> "
          f"{'met' if t_med < 8 and peak < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
