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
) -> None:
    """Run every analysis the description calls for and write the sample report."""
    from supramap.correlate import load_sample
    from supramap.correlate.workflow import run_sample
    from supramap.report.sample import write_sample_report

    if check:
        return _check(sample)
    if out is None:
        raise UsageError("give --out DIR for the report (or --check to validate only)")
    s = load_sample(sample)
    RUN["inputs"] = _sample_inputs(s)
    with progress_bar(f"analysing {len(s.measurements)} measurements") as progress:
        task = progress.add_task("analysing", total=len(s.measurements) + 1)

        def step(what: str) -> None:
            progress.update(task, description=what)
            progress.advance(task)

        res = run_sample(s, progress=step)
    page = write_sample_report(res, out, provenance=cli_provenance())
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


def _batchable() -> list[str]:
    from supramap.analyses.catalog import REGISTRY

    return [a.name for a in REGISTRY if a.batch]


def _analysis_argv(analysis: str, path: str, extra: list[str], json_out: str) -> list[str]:
    """The command line one batch file runs: ``GROUP CMD FILE [options] --json OUT`` (and
    the analysis' own required output, such as the gap map's NetCDF, beside the JSON)."""
    from supramap.analyses.catalog import REGISTRY

    decl = REGISTRY[analysis]
    argv = [*decl.command, path, *extra, "--json", json_out]
    for p in decl.parameters:
        if p.output and p.suffix and p.flag not in extra:
            argv += [p.flag, json_out[: -len(".json")] + p.suffix]
    return argv


def _batch_one(path: str, analysis: str, extra: list[str], timeout_s: float,
               json_out: str) -> dict:
    """One file of a batch (runs on a dask worker): the analysis' own command, in a child
    process, writing its ``--json`` (numbers, warnings, provenance) to *json_out*.

    A child process, not a thread: a file that hangs a C parser or exhausts memory can only be
    stopped by killing it, and the dask worker (a daemon process, which may not fork
    multiprocessing children) survives.  The cost is one interpreter start per file (~1 s),
    small beside an analysis.  The numbers are those of ``supramap GROUP CMD FILE --json``
    by construction.  Errors are returned, not raised.
    """
    import json
    import os
    import subprocess
    import sys

    argv = _analysis_argv(analysis, path, extra, json_out)
    try:
        run = subprocess.run([sys.executable, "-m", "supramap", *argv], capture_output=True,
                             text=True, timeout=timeout_s,
                             env={**os.environ, "COLUMNS": "200"})
    except subprocess.TimeoutExpired:
        return {"file": path, "ok": False,
                "error": f"TimeoutError: {path}: no result within the {timeout_s:g} s limit "
                         "per file (--timeout-s)"}
    if run.returncode in (0, 3) and os.path.exists(json_out):
        with open(json_out) as fh:
            return {"file": path, "ok": True, **json.load(fh)}
    lines = [ln for ln in run.stderr.strip().splitlines() if ln.strip()]
    why = next((ln.removeprefix("supramap: error: ") for ln in reversed(lines)
                if ln.startswith("supramap: error:")), None)
    if why is None:
        last = (lines or [f"exit code {run.returncode}"])[-1]
        why = f"ChildProcessError: {path}: the analysis died ({last[:200]})"
    elif path not in why:
        why = f"{path}: {why}"
    return {"file": path, "ok": False, "error": why}


def _result_names(files: list[str]) -> dict[str, str]:
    """A distinct result name per input: the path below the inputs' common folder with ``/``
    as ``__`` (two ``scan.bcrf`` in different folders must not overwrite each other)."""
    import os

    parents = [os.path.dirname(os.path.abspath(f)) for f in files]
    root = os.path.commonpath(parents)
    return {f: os.path.relpath(os.path.abspath(f), root).replace(os.sep, "__") for f in files}


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
    import csv
    import io
    import logging
    import math
    import os
    import tempfile

    from supramap.analyses.catalog import REGISTRY
    from supramap.fileutil import atomic_write_json, atomic_write_text

    extra = [str(a) for a in ctx.args]
    name = ALIASES.get(analysis, analysis)
    if name not in _batchable():
        raise UsageError(f"--analysis must be one of {', '.join(_batchable())}, got "
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
    names = _result_names(files)
    decl = REGISTRY[name]
    from dask.distributed import Client, LocalCluster, as_completed

    cluster = (
        None
        if scheduler
        else LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=logging.CRITICAL,  # worker chatter is not the user's business
        )
    )
    client = Client(scheduler or cluster)
    n_workers = len(client.scheduler_info().get("workers", {}))
    console.print(f"{name} on {len(files)} file(s): "
                  + (f"dask scheduler {scheduler}, {n_workers} worker(s)" if scheduler else
                     f"local cluster of {n_workers} worker process(es)"))
    results = []
    out.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".batch-", dir=out)
    try:
        futs = [client.submit(_batch_one, f, name, extra, timeout_s,
                              os.path.join(scratch, names[f] + ".json"), pure=False)
                for f in files]
        with progress_bar(f"{name} on {len(files)} files") as progress:
            task = progress.add_task(f"{name} on {len(files)} files", total=len(files))
            for fut in as_completed(futs):
                r = fut.result()
                results.append(r)
                atomic_write_json(out / (names[r["file"]] + ".json"), r)
                for side in Path(scratch).glob(names[r["file"]] + ".*"):
                    if side.suffix != ".json":  # the analysis' own outputs (gap-map NetCDF)
                        os.replace(side, out / side.name)
                progress.advance(task)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    results.sort(key=lambda r: r["file"])
    keys = ["file", "ok", *decl.headline, "n_warnings", "error"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")  # quoting: paths and errors hold commas
    writer.writerow(keys)
    for r in results:
        row = {**r, "n_warnings": len(r.get("warnings") or [])}
        writer.writerow(["" if row.get(k) is None else _cell(row.get(k, "")) for k in keys])
    atomic_write_text(out / "table.csv", buf.getvalue())
    failed = [r for r in results if not r["ok"]]
    print_table(
        f"Batch {name}",
        [(Path(r["file"]).name, "ok" if r["ok"] else r["error"]) for r in results],
    )
    if failed:
        raise _Partial(f"{len(failed)} of {len(results)} files failed (see {out / 'table.csv'})")


def _cell(v):
    """A CSV cell: lists and dicts as JSON."""
    import json

    return json.dumps(v) if isinstance(v, (list, dict)) else v


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
    argv = _analysis_argv(analysis, first, extra, "check.json")[2:]
    try:
        command.make_context(f"supramap {group} {cmd}", argv)
    except typer.Exit:
        pass
