"""Benchmark: ``supramap report`` on the demo's virtual sample (every measurement analysed,
correlated, and the HTML report with its figures written), with the measurements analysed on
two threads (the default) against one thread, in the same run; then the time per section.

Goal (issue #16): < 10 s for the whole report.

    python benchmarks/report.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from supramap.correlate.sample import load_sample
from supramap.correlate.workflow import run_sample
from supramap.report.sample import write_sample_report
from supramap.synth.full import write_full_sample


def one(sample, out: Path, workers: int) -> tuple[float, float, dict[str, float]]:
    sections: dict[str, float] = {}
    last = [time.perf_counter()]

    def step(what: str) -> None:
        now = time.perf_counter()
        sections[what] = now - last[0]
        last[0] = now

    t0 = time.perf_counter()
    res = run_sample(sample, progress=step, workers=workers)
    t_analysis = time.perf_counter() - t0
    t1 = time.perf_counter()
    write_sample_report(res, out)
    return t_analysis, time.perf_counter() - t1, sections


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "virtual_sample"
        write_full_sample(data)
        sample = load_sample(data / "sample.toml")
        print(f"demo sample: {len(sample.measurements)} measurements")
        rows = []
        for workers in (1, 2):
            a, r, sections = one(sample, Path(d) / f"report{workers}", workers)
            rows.append((workers, a, r, sections))
            print(f"{workers} thread(s): analysis {a:.1f} s + report {r:.1f} s = {a + r:.1f} s",
                  flush=True)
        (_, a1, r1, _), (_, a2, r2, sections) = rows
        print(f"two threads vs one: {(a1 + r1) / (a2 + r2):.2f}× on the whole; goal < 10 s -> "
              f"{'met' if a2 + r2 < 10 else 'NOT met'} ({a2 + r2:.1f} s)")
        print("progress steps (two threads; completion order, so overlapping work shows as "
              "the gap since the previous step):")
        for what, t in sections.items():
            print(f"  {t:6.2f} s  {what}")


if __name__ == "__main__":
    main()
