"""Cold command timing for the benchmarks: a command run as users run it (a new process each
time, imports included) against a baseline command, in alternating pairs in the same run."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path


def supramap_command() -> list[str]:
    """The ``supramap`` command of this environment (the script users type)."""
    script = Path(sys.executable).with_name("supramap")
    return [str(script)] if script.exists() else [sys.executable, "-m", "supramap.cli.main"]


def once(cmd: list[str]) -> float:
    """Wall time (s) of *cmd* run once in a new process."""
    t = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t


def cold_pairs(label: str, cmd: list[str], baseline_label: str, baseline: list[str],
               runs: int = 5, goal_s: float | None = None) -> float:
    """Run *cmd* and *baseline* alternately *runs* times (after one untimed run of each, which
    warms the file cache); print medians, ranges and the median of the pair ratios; return
    the median of *cmd*."""
    once(cmd)
    once(baseline)
    a, b = [], []
    for _ in range(runs):
        a.append(once(cmd))
        b.append(once(baseline))
    ratios = [x / y for x, y in zip(a, b)]
    ma = statistics.median(a)
    print(f"cold CLI ({runs} pairs, median [min–max]):")
    print(f"  {label:34s} {ma:6.2f} s  [{min(a):.2f}–{max(a):.2f}]")
    print(f"  {baseline_label:34s} {statistics.median(b):6.2f} s  [{min(b):.2f}–{max(b):.2f}]")
    print(f"  ratio (time / baseline time): median {statistics.median(ratios):.2f} "
          f"[{min(ratios):.2f}–{max(ratios):.2f}]")
    if goal_s is not None:
        print(f"  goal < {goal_s:g} s -> {'met' if ma < goal_s else 'NOT met'} ({ma:.2f} s)",
              flush=True)
    return ma


def cold_runs(cmd: list[str], runs: int = 3) -> tuple[float, float, float, float]:
    """Run *cmd* *runs* times in new processes (after one untimed run); returns the median,
    min and max wall time (s) and the largest peak RSS (GB) of the process, read by GNU time
    (``/usr/bin/time -f %M``; NaN where it is missing)."""
    import math
    import shutil

    gnu_time = shutil.which("time") or "/usr/bin/time"
    have_time = Path(gnu_time).exists()
    subprocess.run(cmd, check=True, capture_output=True)
    walls, peaks = [], []
    for _ in range(runs):
        t = time.perf_counter()
        full = [gnu_time, "-f", "%M", *cmd] if have_time else cmd
        out = subprocess.run(full, capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - t)
        peaks.append(int(out.stderr.split()[-1]) / 1024**2 if have_time else math.nan)
    return statistics.median(walls), min(walls), max(walls), max(peaks)
