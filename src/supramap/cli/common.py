"""Helpers shared by the CLI commands: reading inputs, parsing options, output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from supramap.errors import SupramapError
from supramap.fileutil import atomic_write_json, to_jsonable
from supramap.quality import QualityWarning, as_warnings, warnings_to_list

console = Console(stderr=False, highlight=False)

#: The output options every analysis command takes.
JSON_OPT = typer.Option(None, "--json", help="Write the results as JSON here.")
REPORT_OPT = typer.Option(None, "--report", help="Write an HTML report into this folder.")


class UsageError(SupramapError):
    """Bad command-line values (a clear one-line message, exit code 2)."""


def option(analysis: str, name: str, *, default=None, required: bool = False):
    """The typer option of a declared parameter (:mod:`supramap.analyses.catalog`): its flags,
    its ``--help`` with the unit, kind, bounds and default, and the grammar's conversion
    (``4.2K``, ``300mK``, ``4.2``; a unit of another kind refused naming the option)."""
    from supramap.analyses.catalog import REGISTRY
    from supramap.analyses.registry import ParameterError, convert

    p = REGISTRY[analysis].parameter(name)

    def parse(value):
        if value is None or (isinstance(value, (list, tuple)) and not value):
            return None
        try:
            return convert(p, value)
        except ParameterError as exc:
            raise UsageError(str(exc)) from None

    if default is None and p.default is not None:
        default = p.default if p.kind in ("flag", "integer", "choice") else str(p.default)
    return typer.Option(... if required else default, *p.flags or (p.flag,),
                        help=p.help_text(), callback=parse)


def given(analysis: str, name: str, *, required: bool = False):
    """The typer option of a declared input given by a flag (``--tip``, ``--gapmap`` ...)."""
    from supramap.analyses.catalog import REGISTRY

    i = next(i for i in REGISTRY[analysis].inputs if i.name == name)
    return typer.Option(... if required else None, i.flag, help=f"{i.help} ({i.kinds}).")


#: Warnings emitted by the running command (for --json, --report and --strict).
EMITTED: list[QualityWarning] = []
#: Set by ``supramap --strict``: any warning makes the command exit with code 3.
STRICT = {"on": False}


def reset_warnings() -> None:
    """Forget the warnings and tables of a previous command (the CLI runs in-process in
    tests)."""
    EMITTED.clear()


def emit_warnings(*sources: Any) -> list[QualityWarning]:
    """Print the quality warnings of results (objects with ``.warnings`` or sequences of
    :class:`~supramap.quality.QualityWarning`) after the table, one marked line each, and
    record them for ``--json``, ``--report`` and ``--strict``."""
    found: list[QualityWarning] = []
    for src in sources:
        if src is None:
            continue
        items = getattr(src, "warnings", None)
        if items is None and isinstance(src, (list, tuple)):
            items = src
        found.extend(w for w in items or () if isinstance(w, QualityWarning))
    new = [w for w in as_warnings(found) if w not in EMITTED]
    for w in new:
        EMITTED.append(w)
        line = Text("WARNING ", style="bold yellow")
        line.append(f"[{w.code}] ", style="yellow")
        line.append(w.message)  # Text: file-derived strings are never parsed as markup
        console.print(line, soft_wrap=True)
    return new


#: The running command (set by ``supramap.cli.main``): argv, start time, the command path
#: and its parameters as click resolved them (defaults included).
RUN: dict[str, Any] = {}
#: Options that name outputs (never inputs of the provenance block).
OUTPUT_OPTIONS = ("--json", "--out", "--report", "--nexus", "--islands", "--masks")


def cli_provenance() -> dict[str, Any] | None:
    """The provenance block of the running command: supramap's version and commit, the
    command line, every parameter as resolved (with the declared unit), each input file's
    path, size and SHA-256, start time, duration, library versions."""
    import time

    if "argv" not in RUN:
        return None
    from supramap.analyses.catalog import REGISTRY
    from supramap.provenance import block

    path = RUN.get("path", ())
    name = "-".join(path)
    decl = REGISTRY.analyses.get(name)
    params: dict[str, Any] = {}
    inputs: list[Path] = []
    for opts, key, value in RUN.get("params", []):
        if any(o in OUTPUT_OPTIONS for o in opts):
            continue
        for v in value if isinstance(value, (list, tuple)) else [value]:
            if isinstance(v, Path) and v.is_file():
                inputs.append(v)
        declared = None
        if decl is not None:
            declared = next((p for p in decl.parameters
                             if p.name == key or set(opts) & {p.flag, *p.flags}), None)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, (list, tuple)):
            value = [str(v) if isinstance(v, Path) else v for v in value]
        key = declared.name if declared is not None else key
        params[key] = ({"value": value, "unit": declared.unit}
                       if declared is not None and declared.physical else value)
    for extra in RUN.get("inputs", []):
        if Path(extra).is_file() and Path(extra) not in inputs:
            inputs.append(Path(extra))
    return block(analysis=name if decl is not None else None,
                 command=["supramap", *RUN["argv"]], parameters=params, inputs=inputs,
                 started=RUN["started"], duration_s=time.time() - RUN["started"])


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    """Write *payload* to *path* atomically when a path is given; ``"warnings"`` holds every
    warning the command emitted (an empty list when there was none) and ``"provenance"`` how
    the output was made (:func:`cli_provenance`)."""
    if path is not None:
        payload = dict(payload)
        merged = as_warnings([*EMITTED])
        payload["warnings"] = warnings_to_list(merged)
        prov = cli_provenance()
        if prov is not None:
            payload["provenance"] = prov
        atomic_write_json(path, payload)
        console.print(f"JSON written to {path}")


def present(out, json_path: Path | None, report: Path | None,
            extra: dict[str, Any] | None = None) -> None:
    """Show an analysis' :class:`~supramap.analyses.outcome.Outcome` as every command does:
    its notes and table on the terminal, its warnings, ``--json`` (numbers + *extra* +
    warnings + provenance) and ``--report``."""
    for line in out.notes:
        console.print(Text(line))
    print_table(out.title, out.rows)
    for line in out.epilogue:
        console.print(Text(line))
    emit_warnings(out)
    write_json(json_path, {**out.values, **(extra or {})})
    if report is not None:
        out.provenance = cli_provenance() or out.provenance
        console.print(f"Report: {out.report(report, warnings=EMITTED)}")


def call(analysis: str, *inputs, **params):
    """Run a declared analysis from a command (:func:`supramap.analyses.outcome.run`)."""
    from supramap.analyses.outcome import run

    return run(analysis, *inputs, command=["supramap", *RUN.get("argv", [])], **params)


#: "<step>: done in N s" lines of the steps a command ran while its output was not a terminal;
#: printed to standard error when the command succeeds (a failing one prints its one error
#: line only).
SUMMARIES: list[str] = []


def busy(description: str):
    """A transient spinner for a step that may take seconds, drawn on a terminal; when the
    output is redirected (a log, a batch job) rich draws nothing, so one line saying how long
    the step took goes to standard error at the end instead (standard output stays the
    results)."""
    import time

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    class _Busy:
        def __enter__(self):
            self.t0 = time.perf_counter()
            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"),
                                     TimeElapsedColumn(), console=console, transient=True)
            self.progress.__enter__()
            self.progress.add_task(description, total=None)
            return self

        def __exit__(self, exc_type, *exc):
            out = self.progress.__exit__(exc_type, *exc)
            if exc_type is None and not console.is_terminal:
                SUMMARIES.append(f"{description}: done in {time.perf_counter() - self.t0:.1f} s")
            return out

    return _Busy()


def progress_bar(summary: str, *, auto_refresh: bool = True):
    """rich's transient progress bar; when the output is not a terminal (nothing is drawn)
    one line "<summary>: done in N s" goes to standard error when the command ends.

    ``auto_refresh=False``: no refresh thread (the caller calls ``refresh()``), for work that
    forks processes — a fork while another thread holds a lock deadlocks the child."""
    import time

    from rich.progress import Progress

    class _Bar(Progress):
        #: What the summary line says (a command may name the work once it knows its size).
        summary_text = summary

        def __enter__(self):
            self._t0 = time.perf_counter()
            return super().__enter__()

        def __exit__(self, exc_type, *exc):
            out = super().__exit__(exc_type, *exc)
            if exc_type is None and not console.is_terminal:
                SUMMARIES.append(f"{self.summary_text}: done in "
                                 f"{time.perf_counter() - self._t0:.1f} s")
            return out

    return _Bar(console=console, transient=True, auto_refresh=auto_refresh)


def print_table(title: str, rows: list[tuple[str, Any]]) -> None:
    """A two-column rich table."""
    table = Table(title=escape(title), show_header=True, header_style="bold")
    table.add_column("quantity")
    table.add_column("value")
    for k, v in rows:
        # Escaped: channel names such as "Height [retrace]" or file-derived text must never be
        # read as rich markup.
        table.add_row(escape(str(k)), escape(v if isinstance(v, str)
                                             else json.dumps(to_jsonable(v))))
    console.print(table)


