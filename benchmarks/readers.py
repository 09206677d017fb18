"""Benchmark: supramap's readers against the peers' on the same files.

Nanonis ``.sxm`` and ``.3ds`` against nanonispy2 (``pip install supramap[bench]``), Gwyddion
``.gwy`` against gwyfile used directly (supramap reads through it and adds coordinates,
units and checks).  Real files from ``../shared/data`` when present, and large files written
here (a 2048² four-channel scan, a 128² × 401 three-channel grid, a 2048² Gwyddion field).
Times are the best of 5 warm reads; peak memory is tracemalloc's, for one read.  Ratio > 1
means supramap is faster / smaller.  Beside each real (small) file, the floor of supramap's data
model measured in the same run: building the xarray Dataset of the arrays already read (public
xarray API, nothing else).  Then, as users run it, the cold command ``supramap info FILE``
against a fresh Python reading the file with the peer, with ``import xarray`` as the floor.

Goals (issue #16): ≥ 1× the peers on the same file (time), memory no more than theirs; (issue
#27): within 2× of the peers' time on small files, ≤ 1.2× their memory on large ones.

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
import xarray as xr

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


def dataset_floor(ds: xr.Dataset):
    """Building *ds* again from its arrays, coordinates and attrs (xarray's public
    constructor): what any reader returning this Dataset pays, whatever it reads."""
    data = {k: (v.dims, v.values, v.attrs) for k, v in ds.data_vars.items()}
    coords = {k: (v.dims, v.values, v.attrs) for k, v in ds.coords.items()}
    attrs = dict(ds.attrs)
    return lambda: xr.Dataset(data, coords=coords, attrs=attrs)


PEER_SCRIPT = {
    ".sxm": "import sys, nanonispy2 as n; n.read.Scan(sys.argv[1]).signals",
    ".3ds": ("import sys, warnings, nanonispy2 as n; warnings.simplefilter('ignore'); "
             "n.read.Grid(sys.argv[1], header_override={'Delay before measuring (s)': '0', "
             "'Start time': '', 'End time': '', 'Comment': '', 'User': ''}).signals"),
    ".gwy": ("import sys, gwyfile; [f.data for f in gwyfile.util.get_datafields("
             "gwyfile.load(sys.argv[1])).values()]"),
}


def cold(small: list[tuple[str, Path]]) -> None:
    """As users run it: ``supramap info FILE`` and a fresh Python reading the file with the
    peer, alternating, 5 pairs after one untimed run of each (medians)."""
    import statistics
    import sys

    from _cold import once, supramap_command

    floor = [sys.executable, "-c", "import xarray"]
    print()
    print("cold, as users run it (5 pairs, medians): `supramap info FILE` against a new Python "
          "reading FILE with the peer; `python -c 'import xarray'` is supramap's floor")
    print(f"{'file':34s}{'info s':>8s}{'peer s':>8s}{'×':>6s}{'xarray s':>10s}  goal ≤ 2×")
    for name, path in small:
        peer_cmd = [sys.executable, "-c", PEER_SCRIPT[path.suffix], str(path)]
        ours_cmd = [*supramap_command(), "info", str(path)]
        for cmd in (ours_cmd, peer_cmd, floor):
            once(cmd)
        a, b, c = [], [], []
        for _ in range(5):
            a.append(once(ours_cmd))
            b.append(once(peer_cmd))
            c.append(once(floor))
        ratio = statistics.median(x / y for x, y in zip(a, b))
        print(f"{name:34s}{statistics.median(a):8.2f}{statistics.median(b):8.2f}{ratio:6.1f}"
              f"{statistics.median(c):10.2f}  {'met' if ratio <= 2 else 'NOT met'}", flush=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        files = make_files(Path(tmp))
        print(f"{'file':34s}{'MB':>7s}{'ours s':>9s}{'peer s':>9s}{'×':>6s}{'ours MB':>9s}"
              f"{'peer MB':>9s}  peer; #27 goal")
        small = []
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
            if mb < 4:  # small: time within 2× of the peer's
                small.append((name, path))
                verdict = f"time {t_ours / t_peer:.1f}× ≤ 2×: " + \
                    ("met" if t_ours <= 2 * t_peer else "NOT met")
            else:  # large: memory within 1.2× of the peer's
                verdict = f"memory {m_ours / m_peer:.2f}× ≤ 1.2×: " + \
                    ("met" if m_ours <= 1.2 * m_peer else "NOT met")
            print(f"{name:34s}{mb:7.1f}{t_ours:9.4f}{t_peer:9.4f}{t_peer / t_ours:6.2f}"
                  f"{m_ours:9.1f}{m_peer:9.1f}  {label}; {verdict}", flush=True)
            if mb < 4:
                t_floor = best(dataset_floor(ours()))
                print(f"{'':34s}{'':7s}{t_floor:9.4f}  building its xarray Dataset alone: "
                      f"{t_floor / t_peer:.1f}× the peer's whole read", flush=True)
        if small:
            cold(small)


if __name__ == "__main__":
    main()
