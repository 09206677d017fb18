"""Benchmark: start-up time of the command line (``--version``, ``--help``, ``sts --help``) and
of ``info`` on a small file, against a bare ``python -c pass`` measured in the same run.

Goal (issue #14): ``supramap --help`` under 0.5 s; ``info`` as close to ``import xarray`` (its
floor: every reader returns xarray objects) as possible; heavy libraries (xarray, scipy, lmfit,
matplotlib, dask) load only when a command needs them.  Issue #27: an analysis command's fixed
cost (``sts fit`` on a 101-point spectrum, ``sts gapmap`` on an 8 × 8 grid) under 1 s.

    python benchmarks/startup.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def best(argv: list[str], repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return min(times)


def _tiny_spectroscopy(d: Path) -> tuple[Path, Path]:
    """A 101-point Nanonis bias spectrum (.dat) and an 8 × 8 × 101 grid (.3ds) of a 1.4 meV
    Dynes gap at 1 K, 0.5 % noise."""
    from supramap.io.nanonis_3ds import write_3ds

    bias = np.linspace(-5e-3, 5e-3, 101)
    z = bias + 1j * 50e-6
    g = np.abs(np.real(z / np.sqrt(z * z - (1.4e-3) ** 2 + 0j)))
    g = g * (1 + 0.005 * np.random.default_rng(0).standard_normal(g.size))
    spec = d / "small.dat"
    spec.write_text("\n".join(["Experiment\tbias spectroscopy\t", "", "[DATA]",
                                "Bias calc (V)\tLI Demod 1 X (A)"] +
                               [f"{b:.7E}\t{x * 1e-9:.7E}" for b, x in zip(bias, g)]) + "\n")
    grid = d / "small.3ds"
    write_3ds(grid, {"LI Demod 1 X (A)": np.broadcast_to(g * 1e-9, (8, 8, g.size)).copy()},
              bias=bias, x_m=np.arange(8) * 1e-9, y_m=np.arange(8) * 1e-9)
    return spec, grid


def main() -> None:
    py = sys.executable
    # Byte-compile supramap first, as a first run on a user's machine does by itself: with
    # PYTHONDONTWRITEBYTECODE set (some sandboxes and CI images) every start would compile the
    # CLI modules from source again (~40 ms more), which no user sees.
    import compileall

    import supramap

    compileall.compile_dir(Path(supramap.__file__).parent, quiet=1)
    cli = [py, "-m", "supramap"]
    with tempfile.TemporaryDirectory() as d:
        from supramap.data import make_image
        from supramap.io.bcr import write_bcr

        f = Path(d) / "small.bcrf"
        write_bcr(f, make_image(np.zeros((64, 64)), dx=1e-8, units="A"))
        spec, grid = _tiny_spectroscopy(Path(d))
        rows = [("python -c pass", [py, "-c", "pass"]),
                ("supramap --version", cli + ["--version"]),
                ("supramap --help", cli + ["--help"]),
                ("supramap sts --help", cli + ["sts", "--help"]),
                ("python -c 'import xarray'", [py, "-c", "import xarray"]),
                ("supramap info small.bcrf", cli + ["info", str(f)]),
                ("supramap sts fit small.dat", cli + ["sts", "fit", str(spec), "--temperature",
                                                      "1"]),
                ("supramap sts gapmap small.3ds", cli + ["sts", "gapmap", str(grid),
                                                         "--temperature", "1", "--out",
                                                         str(Path(d) / "gap.nc")])]
        base = None
        for name, argv in rows:
            t = best(argv)
            base = base or t
            print(f"{name:28s}{t:7.3f} s  ({t - base:+.3f} s over bare python)")
            if name.startswith("supramap sts ") and "help" not in name:
                # A 101-point spectrum or an 8 × 8 grid: the work is milliseconds, the rest is
                # what every run of the command pays.
                print(f"{'':28s}goal: an analysis command's fixed cost < 1 s -> "
                      f"{'met' if t < 1.0 else 'NOT met'}")
        read = subprocess.run([py, "-c", "import sys, supramap.io as io; io.read(sys.argv[1]); "
                               "print('dask' in sys.modules)", str(f)],
                              capture_output=True, text=True).stdout.strip()
        print(f"reading a file imports dask: {read}  ('info' cannot start faster than "
              "'import xarray', the floor above)")
    loaded = subprocess.run([py, "-c", "import sys, supramap.cli.main; print(' '.join(m for m in "
                             "('xarray', 'scipy', 'lmfit', 'matplotlib', 'dask', 'pandas') if m "
                             "in sys.modules))"], capture_output=True, text=True).stdout.strip()
    print(f"heavy modules loaded by importing the CLI: {loaded or 'none'}")


if __name__ == "__main__":
    main()
