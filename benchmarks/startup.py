"""Benchmark: start-up time of the command line (``--version``, ``--help``, ``sts --help``) and
of ``info`` on a small file, against a bare ``python -c pass`` measured in the same run.

Goal (issue #14): ``supramap --help`` under 0.5 s; ``info`` as close to ``import xarray`` (its
floor: every reader returns xarray objects) as possible; heavy libraries (xarray, scipy, lmfit,
matplotlib, dask) load only when a command needs them.

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
        rows = [("python -c pass", [py, "-c", "pass"]),
                ("supramap --version", cli + ["--version"]),
                ("supramap --help", cli + ["--help"]),
                ("supramap sts --help", cli + ["sts", "--help"]),
                ("python -c 'import xarray'", [py, "-c", "import xarray"]),
                ("supramap info small.bcrf", cli + ["info", str(f)])]
        base = None
        for name, argv in rows:
            t = best(argv)
            base = base or t
            print(f"{name:28s}{t:7.3f} s  ({t - base:+.3f} s over bare python)")
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
