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
import statistics
import subprocess
import sys
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
    write_sample_report(res, out, workers=workers)
    return t_analysis, time.perf_counter() - t1, sections


def cold_cli(toml: Path, out: Path, runs: int) -> None:
    """The command in new processes: default workers against --workers 1, pair by pair."""
    script = Path(sys.executable).with_name("supramap")  # the command users type
    exe = [str(script)] if script.exists() else [sys.executable, "-m", "supramap.cli.main"]

    def once(extra: list[str]) -> float:
        t = time.perf_counter()
        subprocess.run([*exe, "report", str(toml), "--out", str(out), *extra], check=True,
                       capture_output=True)
        return time.perf_counter() - t

    once([])  # warm the file cache (not counted)
    two, one = [], []
    for _ in range(runs):
        two.append(once([]))
        one.append(once(["--workers", "1"]))
    ratios = [a / b for a, b in zip(two, one)]
    m2 = statistics.median(two)
    print(f"cold CLI `supramap report` ({runs} pairs, median [min–max]):")
    print(f"  default (2 workers)   {m2:6.2f} s  [{min(two):.2f}–{max(two):.2f}]")
    print(f"  --workers 1 baseline  {statistics.median(one):6.2f} s  "
          f"[{min(one):.2f}–{max(one):.2f}]")
    print(f"  ratio default / baseline: median {statistics.median(ratios):.2f} "
          f"[{min(ratios):.2f}–{max(ratios):.2f}]")
    print(f"  goal < 10 s -> {'met' if m2 < 10 else 'NOT met'} ({m2:.2f} s)", flush=True)


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
