"""Benchmark: per-island properties of a cAFM map — supramap's one-pass bincount moments
(``supramap.conduction.islands.region_moments``) against ``skimage.measure.regionprops_table``
with the same columns, measured in the same run, on the same labels; and the cold command a
user runs (``supramap cafm analyze MAP.bcrf``) on that map.

The map is generated here with numpy (islands = a smoothed random field above its 70 % quantile,
two current levels, Gaussian noise) and written as a BCRF file in a temporary folder.

    python benchmarks/islands.py [--size 4096]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import ndimage
from skimage import measure

from supramap.conduction.islands import region_moments
from supramap.data import make_image
from supramap.io.bcr import write_bcr

COLUMNS = ("label", "area", "centroid", "orientation", "axis_major_length",
           "axis_minor_length", "intensity_mean", "intensity_max")


def make_map(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), 6)
    lo, hi = np.quantile(field[::8, ::8], [0.7, 0.9])
    cur = np.where(field > lo, 2e-6, 0.0) + rng.normal(0, 2e-9, (n, n))
    cur[field > hi] = 4e-6
    return cur


def best_of(fn, *args, repeat: int = 3) -> tuple[float, object]:
    best, out = np.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    args = parser.parse_args()
    cur = make_map(args.size)
    labels = measure.label(cur > 1e-6, connectivity=2)
    n = int(labels.max())
    t_new, new = best_of(region_moments, labels, cur)
    t_old, old = best_of(lambda lab, c: measure.regionprops_table(
        lab, intensity_image=c, properties=COLUMNS), labels, cur)
    worst = max(float(np.max(np.abs(np.asarray(new[k], float) - np.asarray(old[k], float))
                           / np.maximum(np.abs(np.asarray(old[k], float)), 1e-30)))
                for k in old if k != "orientation")
    print(f"{args.size}² map, {n} islands")
    print(f"  region_moments      {t_new:8.3f} s")
    print(f"  regionprops_table   {t_old:8.3f} s   (baseline, same run)")
    print(f"  speed-up            {t_old / t_new:8.1f} ×   largest relative difference "
          f"{worst:.1e}")
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "map.bcrf"
        write_bcr(f, make_image(cur, dx=8e-9, units="A"))
        exe = Path(sys.executable).with_name("supramap")
        t = time.perf_counter()
        done = subprocess.run([str(exe), "cafm", "analyze", str(f)], capture_output=True)
        cold = time.perf_counter() - t
        print(f"  cold `supramap cafm analyze` on it: {cold:.1f} s (exit {done.returncode})")


if __name__ == "__main__":
    main()
