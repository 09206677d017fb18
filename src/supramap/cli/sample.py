"""``supramap report``, ``supramap export`` and ``supramap batch``."""

from __future__ import annotations

import glob as globmod
from pathlib import Path

import typer
from rich.progress import Progress

from supramap.cli.common import UsageError, console, print_table, write_json


def report(
    sample: Path = typer.Argument(..., help="Sample description (TOML)."),
    out: Path = typer.Option(..., "--out", help="Report folder (index.html, summary.json)."),
) -> None:
    """Run every analysis the description calls for and write the sample report."""
    from supramap.correlate import load_sample
    from supramap.correlate.workflow import run_sample
    from supramap.report.sample import write_sample_report

    s = load_sample(sample)
    with Progress(console=console, transient=True) as progress:
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
    with Progress(console=console, transient=True) as progress:
        progress.add_task("analysing", total=None)
        res = run_sample(s)
    export_nexus(res, nexus)
    console.print(f"NeXus written to {nexus}")
    if not res.ok:
        raise _Partial("; ".join(f"{k}: {v}" for k, v in res.errors.items()))


ANALYSES = ("cafm", "sts-gapmap")


def _batch_one(path: str, analysis: str, temperature: float) -> dict:
    """One file of a batch (runs on a dask worker); errors are returned, not raised."""
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


def batch(
    pattern: str = typer.Argument(..., metavar="GLOB", help="Files, e.g. 'data/*.bcrf'."),
    analysis: str = typer.Option(..., "--analysis", help="cafm or sts-gapmap."),
    out: Path = typer.Option(..., "--out", help="Folder for one JSON per file and a table."),
    scheduler: str = typer.Option(None, "--scheduler", help="dask scheduler address."),
    workers: int = typer.Option(2, "--workers", help="Local workers without --scheduler."),
    temperature: float = typer.Option(1.0, "--temperature", help="For sts-gapmap (K)."),
) -> None:
    """Run one analysis over many files on dask.distributed; failures do not stop it."""
    from dask.distributed import Client, LocalCluster, as_completed

    from supramap.fileutil import atomic_write_text

    if analysis not in ANALYSES:
        raise UsageError(f"--analysis must be one of {', '.join(ANALYSES)}")
    files = sorted(globmod.glob(pattern))
    if not files:
        raise UsageError(f"no file matches {pattern!r}")
    if workers < 1:
        raise UsageError("--workers must be at least 1")
    cluster = (
        None
        if scheduler
        else LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
        )
    )
    client = Client(scheduler or cluster)
    results = []
    try:
        futs = [client.submit(_batch_one, f, analysis, temperature, pure=False) for f in files]
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"{analysis} on {len(files)} files", total=len(files))
            for fut in as_completed(futs):
                r = fut.result()
                results.append(r)
                write_json(out / (Path(r["file"]).name + ".json"), r)
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
    )
    lines = [",".join(keys)] + [",".join(str(r.get(k, "")) for k in keys) for r in results]
    atomic_write_text(out / "table.csv", "\n".join(lines) + "\n")
    failed = [r for r in results if not r["ok"]]
    print_table(
        f"Batch {analysis}",
        [(Path(r["file"]).name, "ok" if r["ok"] else r["error"]) for r in results],
    )
    if failed:
        raise _Partial(f"{len(failed)} of {len(results)} files failed (see {out / 'table.csv'})")
