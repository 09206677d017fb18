"""Benchmark: gap map of a 128 × 128 × 401 grid of thermally broadened Dynes spectra.

The project's batched Levenberg–Marquardt (all pixels at once, one shared broadening kernel)
against a per-pixel ``scipy.optimize.curve_fit`` loop calling the project's own model function,
timed on a subset of pixels in the same run; then the same grid on dask.distributed with one
and with two single-threaded workers.

The one-pass (``noise="constant"``) fit is timed against the loop — both unweighted; the
default ``noise="auto"`` (noise model from the residuals, weighted refit when the noise grows
with the signal, as the synthetic grid's 1 % multiplicative noise does) is printed beside it.

Then the in-process default (row blocks of ``BLOCK_SPECTRA`` spectra) at 64², 128², 256² with
peak traced memory and the fitted exponent of time against pixels.

Goals (issue #16): 128² × 401 under 3 s on one core, ≥ 30× the per-pixel loop, linear in
pixels and < 1 GB at 256².

    python benchmarks/gapmap.py [--size 128] [--subset 64] [--skip-dask]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from _cold import cold_pairs, supramap_command
from scipy.optimize import curve_fit
from threadpoolctl import threadpool_limits

from supramap.sts.gapmap import broadening_matrix, gap_map, model, seed_parameters
from supramap.synth.sts import dynes_grid, write_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--subset", type=int, default=64)
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--dask-size", type=int, default=256)
    args = parser.parse_args()
    n = args.size
    grid, truth = dynes_grid(n, n, n_bias=401, noise=0.01)
    b = grid["bias"].values
    print(f"grid {n} × {n} × {b.size}, T = {truth['temperature_K']} K, 4 free parameters")

    from supramap import parallel

    cores = parallel.cores
    parallel.cores = lambda: 1  # one thread: the like-for-like figure against the loop
    t0 = time.perf_counter()
    # One unweighted pass (noise="constant"), as curve_fit does: the like-for-like figure.
    res = gap_map(grid, temperature=truth["temperature_K"], noise="constant")
    t_grid = time.perf_counter() - t0
    parallel.cores = cores
    t0 = time.perf_counter()
    res2 = gap_map(grid, temperature=truth["temperature_K"], noise="constant")  # thread/core
    t_default = time.perf_counter() - t0
    t0 = time.perf_counter()
    res3 = gap_map(grid, temperature=truth["temperature_K"])  # the default noise model
    t_auto = time.perf_counter() - t0
    conv = res.data["converged"].values
    rel = np.abs(res.data["delta"].values / truth["gap_eV"] - 1)
    print(f"supramap, whole grid in process on one thread: {t_grid:.1f} s "
          f"({t_grid / n / n * 1e3:.2f} ms per pixel); converged {conv.mean():.3f}; "
          f"max |ΔΔ/Δ| {rel[conv].max():.2e}")
    same = np.array_equal(res.data["delta"].values, res2.data["delta"].values, equal_nan=True)
    print(f"default ({res2.workers} thread(s), one per core): {t_default:.1f} s, "
          f"{t_grid / t_default:.2f}× one thread; same map: {same}")
    print(f"default noise model (auto: {res3.info['noise_model']['description']}): "
          f"{t_auto:.1f} s, {t_auto / t_default:.2f}× the one-pass fit")

    e, k = broadening_matrix(b, truth["temperature_K"])

    def f(v, delta, gamma, scale, offset):
        return model(np.array([[delta, gamma, scale, offset]]), e, k)[0]

    spectra = grid.values.reshape(-1, b.size)
    pick = np.random.default_rng(0).choice(n * n, args.subset, replace=False)
    p0 = seed_parameters(b, spectra[pick])
    with threadpool_limits(1):
        t0 = time.perf_counter()
        for i, j in enumerate(pick):
            curve_fit(f, b, spectra[j], p0=p0[i], maxfev=2000)
        t_loop = (time.perf_counter() - t0) / args.subset
    print(f"per-pixel curve_fit loop (same model function): {t_loop * 1e3:.2f} ms per pixel "
          f"-> {t_loop * n * n:.0f} s for the grid")
    print(f"speed-up per pixel: {t_loop / (t_grid / n / n):.1f}× (goal ≥ 30×); whole grid "
          f"{t_grid:.1f} s (goal < 3 s at 128²)")

    sizes, secs = [64, 128, 256], []
    print(f"{'size':>6s}{'time s':>9s}{'peak MB':>9s}")
    for m in sizes:
        gm, tr = dynes_grid(m, m, n_bias=401, noise=0.01)
        tracemalloc.start()
        t0 = time.perf_counter()
        gap_map(gm, temperature=tr["temperature_K"])
        secs.append(time.perf_counter() - t0)
        peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
        print(f"{m:6d}{secs[-1]:9.2f}{peak:9.0f}", flush=True)
    slope = np.polyfit(np.log(np.array(sizes, float) ** 2), np.log(secs), 1)[0]
    print(f"time ∝ pixels^{slope:.2f} (1.00 = linear)")
    with tempfile.TemporaryDirectory() as d:  # as users run it: the command, cold
        write_grid(Path(d) / "g.3ds", grid)
        cmd = [*supramap_command(), "sts", "gapmap", str(Path(d) / "g.3ds"), "--temperature",
               f"{truth['temperature_K']}K", "--out", str(Path(d) / "gap.nc")]
        print(f"`supramap sts gapmap` on the {n}² × {b.size} grid:")
        cold_pairs("default (in process, thread/core)", cmd, "--workers 2 (dask, 2 workers)",
                   [*cmd, "--workers", "2"], runs=3)
    if args.skip_dask:
        return

    # The workers on a grid big enough for them (at 128² the whole fit is 0.6 s).
    dgrid, dtruth = dynes_grid(args.dask_size, args.dask_size, n_bias=401, noise=0.01)
    print(f"dask grid {args.dask_size} × {args.dask_size} × 401")
    times = {}
    for workers in (1, 2):
        runs = [gap_map(dgrid, temperature=dtruth["temperature_K"], workers=workers)
                for _ in range(3)]
        times[workers] = min(r.seconds for r in runs)
        print(f"dask.distributed, {workers} worker(s): {times[workers]:.2f} s fitting, best "
              f"of 3 (+ {runs[0].info['startup_seconds']:.1f} s cluster start-up)")
    print(f"two workers vs one: {times[1] / times[2]:.2f}× (goal ≥ 1.6×)")


if __name__ == "__main__":
    main()
