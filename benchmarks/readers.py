"""Benchmark: supramap's readers against the peers' on the same files.

Nanonis ``.sxm`` and ``.3ds`` against nanonispy2 (``pip install supramap[bench]``), Gwyddion
``.gwy`` against gwyfile used directly (supramap reads through it and adds coordinates,
units and checks).  Real files from ``../shared/data`` when present, and large files written
here (a 2048² four-channel scan, a 128² × 401 three-channel grid, a 2048² Gwyddion field).
Times are the best of 5 warm reads; peak memory is tracemalloc's, for one read.  Ratio > 1
means supramap is faster / smaller.

Goal (issue #16): ≥ 1× the peers on the same file (time), memory no more than theirs.

    python benchmarks/readers.py
"""

from __future__ import annotations

import tempfile
import time
import tracemalloc
import warnings
from functools import partial
from pathlib import Path

import numpy as np

from supramap.data import make_image
from supramap.io import read
from supramap.io.nanonis_3ds import write_3ds
from supramap.io.sxm import write_sxm

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def best(fn, repeat: int = 5) -> float:
    fn()
    out = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out = min(out, time.perf_counter() - t0)
    return out


def peak(fn) -> float:
    tracemalloc.start()
    fn()
    _, p = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return p / 2**20


def make_files(d: Path) -> list[tuple[str, Path]]:
    rng = np.random.default_rng(0)
    n = 2048
    img = {name: (make_image(rng.standard_normal((n, n)).astype(np.float32), dx=1e-9,
                             units=u),
                  make_image(rng.standard_normal((n, n)).astype(np.float32), dx=1e-9,
                             units=u))
           for name, u in (("Z", "m"), ("Current", "A"), ("LIX", "A"), ("LIY", "A"))}
    write_sxm(d / "big.sxm", img)
    g = 128
    bias = np.linspace(-0.01, 0.01, 401)
    chans = {f"{c} (A)": rng.standard_normal((g, g, bias.size)).astype(np.float32)
             for c in ("Current", "LIX 1 omega", "LIY 1 omega")}
    write_3ds(d / "big.3ds", chans, bias=bias, x_m=np.arange(g) * 1e-9,
              y_m=np.arange(g) * 1e-9)
    import gwyfile
    from gwyfile.objects import GwyContainer, GwyDataField

    field = GwyDataField(rng.standard_normal((n, n)), xreal=2e-6, yreal=2e-6,
                         si_unit_xy="m", si_unit_z="m")
    GwyContainer({"/0/data": field, "/0/data/title": "Height"}).tofile(str(d / "big.gwy"))
    del gwyfile
    out = [("2048² × 4 ch × fwd/bwd", d / "big.sxm"), ("128² × 401 × 3 ch", d / "big.3ds"),
           ("2048² field", d / "big.gwy")]
    for rel in ("nanonis/FeSe_topography.sxm", "nanonis/NanonisReader_STS_grid_lockin.3ds",
                "gwy/test.gwy"):
        if (SHARED / rel).exists():
            out.append((f"real {Path(rel).name}", SHARED / rel))
    return out


def peer(path: Path):
    """The peer library's full read of *path* (all channels as arrays)."""
    if path.suffix == ".gwy":
        import gwyfile

        def run():
            obj = gwyfile.load(str(path))
            return [f.data for f in gwyfile.util.get_datafields(obj).values()]
        return "gwyfile", run
    try:
        import nanonispy2 as nap
    except ImportError:
        return None, None
    if path.suffix == ".sxm":
        def make():
            return nap.read.Scan(str(path))
    else:
        # nanonispy2 requires metadata keys that older files (the real one here) lack.
        override = {"Delay before measuring (s)": "0", "Start time": "", "End time": "",
                    "Comment": "", "User": ""}

        def make():
            return nap.read.Grid(str(path), header_override=override)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return make().signals
    return "nanonispy2", run


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp))
        print(f"{'file':34s}{'MB':>7s}{'ours s':>9s}{'peer s':>9s}{'×':>6s}{'ours MB':>9s}"
              f"{'peer MB':>9s}  peer")
        for name, path in files:
            mb = path.stat().st_size / 2**20
            ours = partial(read, path)
            t_ours = best(ours)
            m_ours = peak(ours)
            label, run = peer(path)
            if run is None:
                print(f"{name:34s}{mb:7.1f}{t_ours:9.4f}{'—':>9s}{'':>6s}{m_ours:9.1f}"
                      f"{'—':>9s}  (install supramap[bench] for nanonispy2)")
                continue
            t_peer = best(run)
            m_peer = peak(run)
            print(f"{name:34s}{mb:7.1f}{t_ours:9.4f}{t_peer:9.4f}{t_peer / t_ours:6.2f}"
                  f"{m_ours:9.1f}{m_peer:9.1f}  {label}", flush=True)


if __name__ == "__main__":
    main()
