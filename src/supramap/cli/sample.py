"""``supramap report``, ``supramap export`` and ``supramap batch``."""

from __future__ import annotations

import glob as globmod
from pathlib import Path

import typer
from rich.text import Text

from supramap.cli.common import (
    RUN,
    UsageError,
    cli_provenance,
    console,
    print_table,
    progress_bar,
)


def report(
    sample: Path = typer.Argument(..., help="Sample description (TOML)."),
    out: Path = typer.Option(None, "--out", help="Report folder (index.html, summary.json)."),
    check: bool = typer.Option(False, "--check", help="Only validate the description (keys, "
                               "types, units and bounds of the analyses' parameters, files) "
                               "and say where each problem is; run nothing."),
    workers: int = typer.Option(2, "--workers", min=1, max=64,
                                help="Processes for the analyses and the figures (1: all in "
                                     "this one)."),
) -> None:
    """Run every analysis the description calls for and write the sample report."""
    from supramap.correlate import load_sample
    from supramap.correlate.workflow import run_sample
    from supramap.report.sample import preload, write_sample_report

    if check:
        return _check(sample)
    if out is None:
        raise UsageError("give --out DIR for the report (or --check to validate only)")
    s = load_sample(sample)
    RUN["inputs"] = _sample_inputs(s)
    # No refresh thread: the analyses run in forked processes (supramap.parallel.can_fork).
    with progress_bar(f"analysing {len(s.measurements)} measurements",
                      auto_refresh=False) as progress:
        task = progress.add_task("analysing", total=len(s.measurements) + 1)

        def step(what: str) -> None:
            progress.update(task, description=what)
            progress.advance(task)
            progress.refresh()

        res = run_sample(s, progress=step, meanwhile=preload, workers=workers)
    page = write_sample_report(res, out, provenance=cli_provenance(), workers=workers)
    for line in res.verdict:
        console.print(line)
    console.print(f"Report: {page}")
    if not res.ok:
        problems = list(res.errors.items()) + [("description", p) for p in s.problems]
        raise _Partial("; ".join(f"{k}: {v}" for k, v in problems))


def _check(sample: Path) -> None:
    """``report --check``: every problem of the description with its line, one per line."""
    from supramap.correlate import load_sample
    from supramap.correlate.sample import locate

    s = load_sample(sample)
    text = sample.read_text(encoding="utf-8")
    found = list(s.problems) + [p if p.startswith("measurement ") else
                                f"measurement {m.id}: {p}" for m in s.measurements
                                for p in m.problems]
    for problem in found:
        line = locate(text, problem)
        console.print(Text(f"{sample}:{line}: {problem}" if line else f"{sample}: {problem}"),
                      soft_wrap=True)
    if found:
        raise UsageError(f"{sample}: {len(found)} problem(s) in the description (listed above)")
    console.print(f"{sample}: {len(s.measurements)} measurement(s), {len(s.sites)} site(s); "
                  "keys, units, bounds and files are valid", soft_wrap=True)


def _sample_inputs(s) -> list[Path]:
    """Every file a sample description reads (for the provenance block and overwrite
    checks)."""
    reads = [f for m in s.measurements for f in m.input_files(s.base)]
    if s.apt.get("ranges"):
        reads.append((s.base / s.apt["ranges"]).resolve())
    return reads


class _Partial(Exception):
    """Some items failed: the report is written, the exit code says so."""


def export(
    sample: Path = typer.Argument(..., help="Sample description (TOML)."),
    nexus: Path = typer.Option(..., "--nexus", help="NeXus/HDF5 file to write."),
) -> None:
    """Analyse the sample and export data and results as NeXus/HDF5."""
    from supramap.correlate import load_sample
    from supramap.correlate.workflow import run_sample
    from supramap.report.nexus import export_nexus

    s = load_sample(sample)
    target = nexus.resolve()
    reads = [Path(sample).resolve(), *_sample_inputs(s)]
    RUN["inputs"] = reads
    if target in reads:
        raise UsageError(f"{nexus}: --nexus would overwrite a file the sample reads; choose "
                         "another path")
    with progress_bar(f"analysing {len(s.measurements)} measurements") as progress:
        progress.add_task("analysing", total=None)
        res = run_sample(s)
    export_nexus(res, nexus, provenance=cli_provenance())
    console.print(f"NeXus written to {nexus}")
    if not res.ok:
        raise _Partial("; ".join(f"{k}: {v}" for k, v in res.errors.items()))


ALIASES = {"cafm": "cafm-analyze"}


def batch(
    ctx: typer.Context,
    pattern: str = typer.Argument(..., metavar="GLOB", help="Files, e.g. 'data/*.bcrf' "
                                                            "('**' reaches every sub-folder)."),
    analysis: str = typer.Option(..., "--analysis", help="The analysis to run on each file: "
                                 "its name as `supramap GROUP CMD` with a dash (cafm-analyze, "
                                 "sts-gapmap, bulk-heat ...; see the README's table). Its "
                                 "options follow (--threshold 2uA, --temperature 4.2K)."),
    out: Path = typer.Option(..., "--out", help="Folder for one JSON per file and a table."),
    scheduler: str = typer.Option(None, "--scheduler", help="dask scheduler address "
                                                            "(default: local processes)."),
    workers: int = typer.Option(2, "--workers",
                                help="Local worker processes without --scheduler (1 or more: "
                                     "each file runs in its own process with --timeout-s)."),
    timeout_s: float = typer.Option(600.0, "--timeout-s",
                                    help="Time limit per file in seconds (default 600); a "
                                         "file that exceeds it is reported as failed."),
) -> None:
    """Run one analysis over many files on dask.distributed; failures do not stop it.

    Each file runs the analysis' own command (``supramap GROUP CMD FILE [options] --json``)
    in a child process, so a batch gives the numbers of the single command."""
    import math

    from supramap.analyses.batch import batchable, run_batch

    extra = [str(a) for a in ctx.args]
    name = ALIASES.get(analysis, analysis)
    if name not in batchable():
        raise UsageError(f"--analysis must be one of {', '.join(batchable())}, got "
                         f"{analysis!r}")
    files = sorted(globmod.glob(pattern, recursive=True))  # `**` reaches every sub-folder
    if not files:
        raise UsageError(f"no file matches {pattern!r}")
    if workers < 1:
        raise UsageError("--workers must be at least 1: batch runs every file in a worker "
                         "process (its time limit needs one); unlike sts gapmap, 0 does not "
                         "mean in-process here")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise UsageError("--timeout-s must be a positive number of seconds")
    _check_options(name, files[0], extra)
    with progress_bar(f"{name} on {len(files)} files") as progress:
        task = progress.add_task(f"{name} on {len(files)} files", total=len(files))
        results = run_batch(name, files, out, options=extra, scheduler=scheduler,
                            workers=workers, timeout_s=timeout_s, started=console.print,
                            progress=lambda d, t: progress.update(task, completed=d))
    print_table(f"Batch {name}", [(Path(r["file"]).name, "ok" if r["ok"] else r["error"])
                                  for r in results])
    failed = [r for r in results if not r["ok"]]
    if failed:
        raise _Partial(f"{len(failed)} of {len(results)} files failed (see {out / 'table.csv'})")


def _check_options(analysis: str, first: str, extra: list[str]) -> None:
    """Parse the analysis' options once before any work, as its own command would: a bad
    value or an option it does not have stops the batch with the command's one-line error."""
    import typer

    from supramap.analyses.catalog import REGISTRY
    from supramap.cli.main import _command

    group, cmd = REGISTRY[analysis].command
    root = _command()
    ctx_root = root.make_context("supramap", [group, cmd, "--help"], resilient_parsing=True)
    command = root.get_command(ctx_root, group).get_command(ctx_root, cmd)
    from supramap.analyses.batch import analysis_argv

    argv = analysis_argv(analysis, first, extra, "check.json")[2:]
    try:
        command.make_context(f"supramap {group} {cmd}", argv)
    except typer.Exit:
        pass
