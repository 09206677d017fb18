"""``supramap report``, ``supramap export`` and ``supramap batch``."""

from __future__ import annotations

import glob as globmod
from pathlib import Path

import typer

from supramap.cli.common import (
    UsageError,
    console,
    print_table,
    progress_bar,
    write_json,
)


def report(
    sample: Path = typer.Argument(..., help="Sample description (TOML)."),
    out: Path = typer.Option(..., "--out", help="Report folder (index.html, summary.json)."),
) -> None:
    """Run every analysis the description calls for and write the sample report."""
    from supramap.correlate import load_sample
    from supramap.correlate.workflow import run_sample
    from supramap.report.sample import write_sample_report

    s = load_sample(sample)
    with progress_bar(f"analysing {len(s.measurements)} measurements") as progress:
        task = progress.add_task("analysing", total=len(s.measurements) + 1)

        def step(what: str) -> None:
            progress.update(task, description=what)
            progress.advance(task)

        res = run_sample(s, progress=step)
    page = write_sample_report(res, out)
    for line in res.verdict:
        console.print(line)
    console.print(f"Report: {page}")
    if not res.ok:
        problems = list(res.errors.items()) + [("description", p) for p in s.problems]
        raise _Partial("; ".join(f"{k}: {v}" for k, v in problems))


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
    reads = [Path(sample).resolve(), *(f for m in s.measurements for f in
                                       m.input_files(s.base))]
    if s.apt.get("ranges"):
        reads.append((s.base / s.apt["ranges"]).resolve())
    if target in reads:
        raise UsageError(f"{nexus}: --nexus would overwrite a file the sample reads; choose "
                         "another path")
    with progress_bar(f"analysing {len(s.measurements)} measurements") as progress:
        progress.add_task("analysing", total=None)
        res = run_sample(s)
    export_nexus(res, nexus)
    console.print(f"NeXus written to {nexus}")
    if not res.ok:
        raise _Partial("; ".join(f"{k}: {v}" for k, v in res.errors.items()))


ANALYSES = ("cafm", "sts-gapmap")


def _analyse_one(path: str, analysis: str, temperature: float) -> dict:
    """The analysis of one batch file (in the child process); errors are returned."""
    try:
        if analysis == "cafm":
            from supramap.conduction import analyze
            from supramap.io import read_image

            d = analyze(read_image(path, prefer_units="A")).to_dict()
            d.pop("islands", None)
        else:
            from supramap.io import read
            from supramap.sts.gapmap import gap_map

            ds = read(path)
            name = next(n for n in ds.data_vars if ds[n].dims == ("y", "x", "bias"))
            d = gap_map(ds[name], temperature=temperature).to_dict()
        return {"file": path, "ok": True, **d}
    except Exception as exc:  # reported per file, the batch goes on
        return {"file": path, "ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _batch_child() -> None:
    """Entry of the child process: ``ANALYSIS TEMPERATURE PATH`` → one JSON line on stdout."""
    import json
    import sys
    import warnings

    warnings.simplefilter("ignore")
    analysis, temperature, path = sys.argv[1], float(sys.argv[2]), sys.argv[3]
    sys.stdout.write(json.dumps(_analyse_one(path, analysis, temperature), default=str) + "\n")


def _batch_one(path: str, analysis: str, temperature: float, timeout_s: float) -> dict:
    """One file of a batch (runs on a dask worker), in its own child process.

    A child process, not a thread: a file that hangs a C parser or exhausts memory can only be
    stopped by killing it, and the dask worker (a daemon process, which may not fork
    multiprocessing children) survives.  The cost is one interpreter start per file (~1 s),
    small beside an analysis.  Errors are returned, not raised.
    """
    import json
    import subprocess
    import sys

    code = "from supramap.cli.sample import _batch_child; _batch_child()"
    try:
        run = subprocess.run([sys.executable, "-c", code, analysis, repr(temperature), path],
                             capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"file": path, "ok": False,
                "error": f"TimeoutError: {path}: no result within the {timeout_s:g} s limit "
                         "per file (--timeout-s)"}
    lines = [ln for ln in run.stdout.splitlines() if ln.startswith("{")]
    if run.returncode != 0 or not lines:
        why = (run.stderr.strip().splitlines() or [f"exit code {run.returncode}"])[-1]
        return {"file": path, "ok": False,
                "error": f"ChildProcessError: {path}: the analysis died ({why[:200]})"}
    return json.loads(lines[-1])


def _result_names(files: list[str]) -> dict[str, str]:
    """A distinct result name per input: the path below the inputs' common folder with ``/``
    as ``__`` (two ``scan.bcrf`` in different folders must not overwrite each other)."""
    import os

    parents = [os.path.dirname(os.path.abspath(f)) for f in files]
    root = os.path.commonpath(parents)
    return {f: os.path.relpath(os.path.abspath(f), root).replace(os.sep, "__") for f in files}


def batch(
    pattern: str = typer.Argument(..., metavar="GLOB", help="Files, e.g. 'data/*.bcrf'."),
    analysis: str = typer.Option(..., "--analysis", help="cafm or sts-gapmap."),
    out: Path = typer.Option(..., "--out", help="Folder for one JSON per file and a table."),
    scheduler: str = typer.Option(None, "--scheduler", help="dask scheduler address."),
    workers: int = typer.Option(2, "--workers",
                                help="Local worker processes without --scheduler (1 or more: "
                                     "each file runs in its own process with --timeout-s)."),
    temperature: float = typer.Option(1.0, "--temperature", help="For sts-gapmap (K)."),
    timeout_s: float = typer.Option(600.0, "--timeout-s",
                                    help="Time limit per file in seconds (default 600); a "
                                         "file that exceeds it is reported as failed."),
) -> None:
    """Run one analysis over many files on dask.distributed; failures do not stop it."""
    import csv
    import io
    import logging
    import math

    from dask.distributed import Client, LocalCluster, as_completed

    from supramap.fileutil import atomic_write_text

    if analysis not in ANALYSES:
        raise UsageError(f"--analysis must be one of {', '.join(ANALYSES)}")
    files = sorted(globmod.glob(pattern, recursive=True))  # `**` reaches every sub-folder
    if not files:
        raise UsageError(f"no file matches {pattern!r}")
    if workers < 1:
        raise UsageError("--workers must be at least 1: batch runs every file in a worker "
                         "process (its time limit needs one); unlike sts gapmap, 0 does not "
                         "mean in-process here")
    if not (math.isfinite(timeout_s) and timeout_s > 0):
        raise UsageError("--timeout-s must be a positive number of seconds")
    if not (math.isfinite(temperature) and temperature > 0):
        raise UsageError("--temperature must be a positive number of kelvin")
    names = _result_names(files)
    cluster = (
        None
        if scheduler
        else LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
            silence_logs=logging.CRITICAL,  # worker chatter is not the user's business
        )
    )
    client = Client(scheduler or cluster)
    results = []
    try:
        futs = [client.submit(_batch_one, f, analysis, temperature, timeout_s, pure=False)
                for f in files]
        with progress_bar(f"{analysis} on {len(files)} files") as progress:
            task = progress.add_task(f"{analysis} on {len(files)} files", total=len(files))
            for fut in as_completed(futs):
                r = fut.result()
                results.append(r)
                write_json(out / (names[r["file"]] + ".json"), r)
                progress.advance(task)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    results.sort(key=lambda r: r["file"])
    keys = ["file", "ok"] + (
        ["conducting_fraction", "n_islands", "edge_width_m"]
        if analysis == "cafm"
        else ["median_gap_eV", "fraction_converged"]
    ) + ["n_warnings", "error"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")  # quoting: paths and errors hold commas
    writer.writerow(keys)
    for r in results:
        row = {**r, "n_warnings": len(r.get("warnings") or [])}
        writer.writerow(["" if row.get(k) is None else row.get(k, "") for k in keys])
    atomic_write_text(out / "table.csv", buf.getvalue())
    failed = [r for r in results if not r["ok"]]
    print_table(
        f"Batch {analysis}",
        [(Path(r["file"]).name, "ok" if r["ok"] else r["error"]) for r in results],
    )
    if failed:
        raise _Partial(f"{len(failed)} of {len(results)} files failed (see {out / 'table.csv'})")
