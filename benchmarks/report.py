"""Benchmark: ``supramap report`` on the demo's virtual sample (every measurement analysed,
correlated, and the HTML report with its figures written).

First as users run it: the cold command ``supramap report sample.toml --out DIR`` (a new
process each time, imports included) with its default two worker processes against
``--workers 1`` (everything in one process, the baseline), in alternating pairs in the same
run: medians and the median of the pair ratios.  Then the library call in this process (warm
imports) on two workers against one, with the time per section.

Goal (issue #27): < 10 s for the whole cold command on a 2-core machine.

    python benchmarks/report.py [--runs 5]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _cold import cold_pairs, supramap_command

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
    write_sample_report(res, out, workers=workers)
    return t_analysis, time.perf_counter() - t1, sections


def cold_cli(toml: Path, out: Path, runs: int) -> None:
    """The command in new processes: default workers against --workers 1, pair by pair."""
    cmd = [*supramap_command(), "report", str(toml), "--out", str(out)]
    cold_pairs("supramap report (2 workers)", cmd, "--workers 1 (baseline)",
               [*cmd, "--workers", "1"], runs=runs, goal_s=10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        data = Path(d) / "virtual_sample"
        write_full_sample(data)
        sample = load_sample(data / "sample.toml")
        print(f"demo sample: {len(sample.measurements)} measurements")
        cold_cli(data / "sample.toml", Path(d) / "cli", args.runs)
        print("library, warm imports:")
        rows = []
        for workers in (1, 2):
            a, r, sections = one(sample, Path(d) / f"report{workers}", workers)
            rows.append((workers, a, r, sections))
            print(f"  {workers} worker(s): analysis {a:.1f} s + report {r:.1f} s = {a + r:.1f} s",
                  flush=True)
        (_, a1, r1, _), (_, a2, r2, sections) = rows
        print(f"  two workers vs one: {(a1 + r1) / (a2 + r2):.2f}× on the whole")
        print("progress steps (two workers; completion order, so overlapping work shows as "
              "the gap since the previous step):")
        for what, t in sections.items():
            print(f"  {t:6.2f} s  {what}")


if __name__ == "__main__":
    main()
