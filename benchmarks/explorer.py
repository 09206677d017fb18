"""Grid explorer page size and build time for a 128² × 401 grid (goal: page ≤ 12 MB).

Baseline in the same run: the grid as float32 base64, what the earlier hand-written page
embedded (its size alone, without any script).  Run: ``python benchmarks/explorer.py``.
"""

from __future__ import annotations

import base64
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from supramap.report.explorer import explorer_document, write_explorer


def main() -> None:
    rng = np.random.default_rng(0)
    bias = np.linspace(-0.01, 0.01, 401)
    g = ((1 + 0.05 * rng.standard_normal((128, 128, 1)) + bias ** 2 * 1e3
          + 0.01 * rng.standard_normal((128, 128, 401))) * 1e-9).astype(np.float32)
    grid = xr.DataArray(g, dims=("y", "x", "bias"),
                        coords={"y": np.arange(128) * 1e-9, "x": np.arange(128) * 1e-9,
                                "bias": bias}, attrs={"units": "S"})
    baseline = len(base64.b64encode(g.tobytes()))
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        page = write_explorer(grid, Path(tmp))
        dt = time.perf_counter() - t
        size = page.stat().st_size
    _, facts, _ = explorer_document(grid)
    print("grid 128 × 128 × 401")
    print(f"  page            {size / 1e6:6.2f} MB  (written in {dt:.2f} s; "
          f"{facts['bits']}-bit spectra, decimation {facts['decimation']}, "
          f"bias decimation {facts['bias_decimation']})")
    print(f"  float32 base64  {baseline / 1e6:6.2f} MB  (data alone, earlier page)")
    print(f"  goal ≤ 12 MB -> {'met' if size <= 12e6 else 'NOT met'}")


if __name__ == "__main__":
    main()
