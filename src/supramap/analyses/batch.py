"""One declared analysis over many files, on local processes or a dask.distributed cluster
(``supramap batch``; from Python :func:`run_batch`).

Each file runs the analysis' own command (``python -m supramap GROUP CMD FILE [options]
--json OUT``) in a child process, so a batch gives the numbers of the single command by
construction, and a file that hangs a C parser or exhausts memory can be stopped (killed at
its time limit) without losing the worker.  The cost is one interpreter start per file (about
a second), small beside an analysis.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def batchable() -> list[str]:
    """The analyses a batch can run (one input file each)."""
    from supramap.analyses.catalog import REGISTRY

    return [a.name for a in REGISTRY if a.batch]


def analysis_argv(analysis: str, path: str, options: list[str], json_out: str) -> list[str]:
    """The command line one batch file runs: ``GROUP CMD FILE [options] --json OUT`` (and
    the analysis' own required output, such as the gap map's NetCDF, beside the JSON)."""
    from supramap.analyses.catalog import REGISTRY

    decl = REGISTRY[analysis]
    argv = [*decl.command, path, *options, "--json", json_out]
    for p in decl.parameters:
        if p.output and p.suffix and p.flag not in options:
            argv += [p.flag, json_out[: -len(".json")] + p.suffix]
    return argv


def run_one(path: str, analysis: str, options: list[str], timeout_s: float,
            json_out: str) -> dict[str, Any]:
    """One file of a batch (runs on a dask worker): the analysis' command in a child process,
    its ``--json`` (numbers, warnings, provenance) written to *json_out* and returned with
    ``ok``; an error is returned (``ok`` False, ``error`` one line naming the file), never
    raised."""
    import subprocess
    import sys

    argv = analysis_argv(analysis, path, options, json_out)
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


def result_names(files: list[str]) -> dict[str, str]:
    """A distinct result name per input: the path below the inputs' common folder with ``/``
    as ``__`` (two ``scan.bcrf`` in different folders must not overwrite each other)."""
    parents = [os.path.dirname(os.path.abspath(f)) for f in files]
    root = os.path.commonpath(parents)
    return {f: os.path.relpath(os.path.abspath(f), root).replace(os.sep, "__") for f in files}


def run_batch(analysis: str, files: list[str], out: Path, *, options: list[str] = (),
              scheduler: str | None = None, workers: int = 2, timeout_s: float = 600.0,
              started: Callable[[str], None] | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """Run *analysis* on every file; write one JSON per file and ``table.csv`` (the headline
    numbers, warnings count and error per file) into *out*; return the results sorted by
    file.  *options* are the analysis' command-line options (``["--threshold", "2uA"]``).
    *started* hears which cluster runs the batch (the scheduler address or the local workers
    and their number); *progress* ``(done, total)``."""
    import logging
    import shutil
    import tempfile

    from dask.distributed import Client, LocalCluster, as_completed

    from supramap.analyses.catalog import REGISTRY
    from supramap.fileutil import atomic_write_json, atomic_write_text

    options = [str(a) for a in options]
    names = result_names(files)
    cluster = None if scheduler else LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
        silence_logs=logging.CRITICAL)  # worker chatter is not the user's business
    client = Client(scheduler or cluster)
    n_workers = len(client.scheduler_info().get("workers", {}))
    if started is not None:
        started(f"{analysis} on {len(files)} file(s): "
                + (f"dask scheduler {scheduler}, {n_workers} worker(s)" if scheduler else
                   f"local cluster of {n_workers} worker process(es)"))
    results = []
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scratch = tempfile.mkdtemp(prefix=".batch-", dir=out)
    try:
        futs = [client.submit(run_one, f, analysis, options, timeout_s,
                              os.path.join(scratch, names[f] + ".json"), pure=False)
                for f in files]
        for fut in as_completed(futs):
            r = fut.result()
            results.append(r)
            atomic_write_json(out / (names[r["file"]] + ".json"), r)
            for side in Path(scratch).glob(names[r["file"]] + ".*"):
                if side.suffix != ".json":  # the analysis' own outputs (gap-map NetCDF)
                    os.replace(side, out / side.name)
            if progress is not None:
                progress(len(results), len(files))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        shutil.rmtree(scratch, ignore_errors=True)
    results.sort(key=lambda r: r["file"])
    keys = ["file", "ok", *REGISTRY[analysis].headline, "n_warnings", "error"]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")  # quoting: paths and errors hold commas
    writer.writerow(keys)
    for r in results:
        row = {**r, "n_warnings": len(r.get("warnings") or [])}
        writer.writerow(["" if row.get(k) is None else _cell(row.get(k, "")) for k in keys])
    atomic_write_text(out / "table.csv", buf.getvalue())
    return results


def _cell(v):
    """A CSV cell: lists and dicts as JSON."""
    return json.dumps(v) if isinstance(v, (list, dict)) else v
