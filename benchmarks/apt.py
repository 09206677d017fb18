"""Benchmark: composition and a 1-D depth profile of a 50-million-ion ``.pos`` file.

Each measurement runs in a child process so its peak resident memory (``ru_maxrss``, which
counts the pages of the memory-mapped file it touched) is its own.  The baseline is a plain
``np.fromfile`` read of the same file in the same run.  The file is built by stacking a
simulated one-million-ion needle 50 times along z.

Goal (issue #6): under 10 s and peak memory under 1.5 × the file size.

    python benchmarks/apt.py [--ions 50000000] [--keep]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
import numpy as np
path, rng, mode = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
if mode == "fromfile":
    a = np.fromfile(path, dtype=">f4").reshape(-1, 4)
    out = {"n": int(a.shape[0])}
else:
    from supramap.apt import composition, depth_profile
    from supramap.io import read
    from supramap.io.apt import read_ranges
    ions, table = read(path), read_ranges(rng)
    c = composition(ions, table, min_depth_nm=25)
    p = depth_profile(ions, table, bin_nm=1.0)
    out = {"n": c.n_ions, "Fe": c.atomic["Fe"][0], "bins": int(p.depth_nm.size)}
out["seconds"] = time.perf_counter() - t0
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def build(path: Path, n_ions: int, folder: Path) -> Path:
    from supramap.io.apt import write_rrng
    from supramap.synth.apt import NOMINAL, Needle, range_table, simulate

    block = 1_000_000
    sim = simulate(Needle("bench", NOMINAL, n_atoms=block, length_nm=120.0))
    base = np.stack([sim["x"], sim["y"], sim["z"], sim["m"]], axis=1).astype(np.float32)
    with open(path, "wb") as fh:
        for k in range(int(np.ceil(n_ions / block))):
            chunk = base.copy()
            chunk[:, 2] += 120.0 * k
            fh.write(chunk[: min(block, n_ions - k * block)].astype(">f4").tobytes())
    write_rrng(folder / "ranges.rrng", range_table())
    return folder / "ranges.rrng"


def run(path: Path, rng: Path, mode: str) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(rng), mode],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ions", type=int, default=50_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the generated file")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="supramap-apt-bench-"))
    path = folder / "needle.pos"
    t0 = time.perf_counter()
    rng = build(path, args.ions, folder)
    size_mb = path.stat().st_size / 2**20
    print(f"{args.ions:,} ions, {size_mb:.0f} MB written in {time.perf_counter() - t0:.1f} s")
    base = run(path, rng, "fromfile")
    ours = run(path, rng, "supramap")
    print(f"{'':34s}{'time (s)':>10s}{'peak MB':>10s}{'× file':>8s}")
    print(f"{'np.fromfile (read only)':34s}{base['seconds']:10.2f}{base['peak_mb']:10.0f}"
          f"{base['peak_mb'] / size_mb:8.2f}")
    print(f"{'supramap composition + profile':34s}{ours['seconds']:10.2f}{ours['peak_mb']:10.0f}"
          f"{ours['peak_mb'] / size_mb:8.2f}")
    ok = ours["seconds"] < 10 and ours["peak_mb"] < 1.5 * size_mb
    print(f"goal < 10 s and < 1.5 × file size: {'met' if ok else 'NOT met'}; "
          f"Fe = {100 * ours['Fe']:.2f} at.% over {ours['bins']} depth bins")
    if not args.keep:
        for f in folder.iterdir():
            f.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
