"""Benchmark: full cAFM analysis of a 2048 × 2048 map versus a naive baseline.

Prints wall time and peak traced memory (tracemalloc; numpy reports its buffers to it) of
``supramap.conduction.analyze`` — noise, threshold, levels, islands, edges, artefact check on
topography and deflection — next to a straightforward implementation measured in the same run:
EM on every conducting pixel instead of on a histogram, one boolean mask per island, one
interpolation call per edge profile at every boundary pixel.

Goal (issue #2): under 5 s and under 1 GB on a 2-core machine.

    python benchmarks/cafm.py [--size 2048]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np
from scipy import ndimage
from scipy.special import logsumexp

from supramap.conduction import analyze
from supramap.conduction.noise import estimate_noise
from supramap.synth.cafm import ScanSpec, make_sample, scan


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    args = parser.parse_args()
    n = args.size
    pixel = 16e-9
    side = n * pixel
    sample = make_sample(1, size_m=side + 1.2e-6, n_islands=int(220 * (n / 2048) ** 2),
                         n_stripes=int(25 * (n / 2048) ** 2) + 1)
    t0 = time.perf_counter()
    s = scan(sample, ScanSpec(8.0, shape=(n, n), pixel_m=pixel))
    print(f"map {n} × {n} px simulated in {time.perf_counter() - t0:.1f} s; "
          f"true conducting fraction {s['truth']['conducting_fraction']:.4f}, "
          f"{s['truth']['n_regions']} islands")
    cur, topo, defl = s["current"], s["topography"], s["deflection"]
    estimate_noise(cur.values)  # warm imports and caches

    t_fast, res = timed(analyze, cur, topography=topo, deflection=defl, repeat=3)
    m_fast = peak_memory(analyze, cur, topography=topo, deflection=defl)
    t_core, _ = timed(analyze, cur, repeat=3)
    t_naive, naive = timed(naive_analysis, cur.values, pixel)
    m_naive = peak_memory(naive_analysis, cur.values, pixel)

    print()
    print(f"{'':38s}{'time (s)':>10s}{'peak MB':>10s}")
    print(f"{'supramap analyze (+topo, +deflection)':38s}{t_fast:10.2f}{m_fast:10.0f}")
    print(f"{'supramap analyze (current only)':38s}{t_core:10.2f}{'':>10s}")
    print(f"{'naive baseline (current only)':38s}{t_naive:10.2f}{m_naive:10.0f}")
    print(f"speed-up (current only) vs naive: {t_naive / t_core:.1f}×; "
          f"full analysis vs naive: {t_naive / t_fast:.1f}×")
    print(f"goal: < 5 s and < 1024 MB for the full analysis -> "
          f"{'met' if t_fast < 5 and m_fast < 1024 else 'NOT met'}")
    print()
    print(f"results: fraction {res.conducting_fraction:.4f} (naive {naive['fraction']:.4f}), "
          f"islands {res.n_islands} (naive {naive['n_islands']}), levels "
          f"{', '.join(f'{v * 1e6:.3f}' for v in res.levels.levels_A)} µA, edge "
          f"{res.edges.median_m * 1e9:.1f} nm (naive {naive['edge'] * 1e9:.1f} nm)")


if __name__ == "__main__":
    main()
