"""Benchmark: per-island properties of a cAFM map — supramap's one-pass bincount moments
(``supramap.conduction.islands.region_moments``) against ``skimage.measure.regionprops_table``
with the same columns, measured in the same run, on the same labels; and the cold command a
user runs (``supramap cafm analyze MAP.bcrf``) on that map.

The map is the one ``benchmarks/cafm.py`` generates (islands = a smoothed random field above its
70 % quantile, two current levels, Gaussian noise), written as a BCRF file in a temporary folder.

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
from cafm import make_map, timed  # the cAFM benchmark's map and timer (same folder)
from skimage import measure

from supramap.conduction.islands import region_moments
from supramap.io.bcr import write_bcr

COLUMNS = ("label", "area", "centroid", "orientation", "axis_major_length",
           "axis_minor_length", "intensity_mean", "intensity_max")


def many_islands(n: int, seed: int = 0) -> np.ndarray:
    """The same levels on a field smoothed by 6 px only: thousands of small islands (the
    regime of the issue's 4096² map with 7,874 regions), where per-region work dominates."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    field = ndimage.gaussian_filter(rng.standard_normal((n, n)).astype(np.float32), 6)
    lo, hi = np.quantile(field[::8, ::8], [0.7, 0.9])
    cur = np.where(field > lo, 2e-6, 0.0) + rng.normal(0, 2e-9, (n, n))
    cur[field > hi] = 4e-6
    return cur


def compare(name: str, cur: np.ndarray) -> None:
    labels = measure.label(cur > 1e-6, connectivity=2)
    t_new, new = timed(region_moments, labels, cur, repeat=3)
    t_old, old = timed(measure.regionprops_table, labels, intensity_image=cur,
                       properties=COLUMNS, repeat=3)
    worst = max(float(np.max(np.abs(np.asarray(new[k], float) - np.asarray(old[k], float))
                           / np.maximum(np.abs(np.asarray(old[k], float)), 1e-30)))
                for k in old if k != "orientation")
    print(f"{name}: {int(labels.max())} islands")
    print(f"  region_moments      {t_new:8.3f} s")
    print(f"  regionprops_table   {t_old:8.3f} s   (baseline, same run)")
    print(f"  ratio               {t_old / t_new:8.1f} ×   largest relative difference "
          f"{worst:.1e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    args = parser.parse_args()
    image = make_map(args.size)[0]
    compare(f"{args.size}² map of benchmarks/cafm.py", image.values)
    compare(f"{args.size}² map, many small islands", many_islands(args.size))
    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "map.bcrf"
        write_bcr(f, image)
        exe = Path(sys.executable).with_name("supramap")
        t = time.perf_counter()
        done = subprocess.run([str(exe), "cafm", "analyze", str(f)], capture_output=True)
        cold = time.perf_counter() - t
        print(f"cold `supramap cafm analyze` on the first map: {cold:.1f} s "
              f"(exit {done.returncode})")


if __name__ == "__main__":
    main()
