"""Entry point: ``supramap [--version] COMMAND ...``.

Every error a user can cause (bad file, bad option value) is printed as one line on stderr
with exit code 2; tracebacks are kept for genuine bugs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from supramap import __version__
from supramap.cli import apt, bulk, cafm, network, sts
from supramap.cli import rerun as rerun_cli
from supramap.cli import sample as sample_cli
from supramap.cli.common import (
    EMITTED,
    OUTPUT_OPTIONS,
    RUN,
    STRICT,
    SUMMARIES,
    UsageError,
    console,
    print_table,
    progress_bar,
    reset_warnings,
    write_json,
)
from supramap.errors import SupramapError
from supramap.fileutil import output_problem, path_kind

app = typer.Typer(
    name="supramap",
    help="See where a material superconducts: SPM readers, image processing and "
    "conductive-AFM heterogeneity analysis.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(cafm.app, name="cafm")
app.add_typer(network.app, name="network")
app.add_typer(bulk.app, name="bulk")
app.add_typer(sts.app, name="sts")
app.add_typer(apt.app, name="apt")
app.command("report")(sample_cli.report)
app.command("export")(sample_cli.export)
app.command("rerun")(rerun_cli.rerun)
# Options after --analysis NAME that batch does not know are the analysis' own options.
app.command("batch", context_settings={"allow_extra_args": True,
                                       "ignore_unknown_options": True})(sample_cli.batch)


def _version(value: bool) -> None:
    if value:
        console.print(f"supramap {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Exit with code 3 when the analysis raised any quality warning."
    ),
    figures: str = typer.Option(
        "png", "--figures", help="Report figures as png, svg (text kept as text) or pdf; "
                                 "accepted after any command too."),
    dpi: int = typer.Option(110, "--dpi", min=50, max=1200,
                            help="Resolution of PNG report figures (50…1200)."),
) -> None:
    """supramap command-line tool.

    Exit codes: 0 success; 1 some items of a report/batch failed; 2 bad input (one line
    'supramap: error: ...'); 3 with --strict, the result carries quality warnings.
    """
    STRICT["on"] = strict
    from supramap.report.html import FIGURE_FORMATS, set_figures

    if figures not in FIGURE_FORMATS:
        raise UsageError(f"--figures must be one of {', '.join(FIGURE_FORMATS)}, got "
                         f"{figures!r}")
    set_figures(figures, dpi)


@app.command()
def info(
    file: Path = typer.Argument(..., help="An instrument file (BCR/BCRF, .gwy, .sxm)."),
    json_path: Path = typer.Option(None, "--json", help="Write the summary as JSON here."),
) -> None:
    """Format, channels, shape, physical size, units and key metadata of a file."""
    from supramap.io import describe
    from supramap.units import si_prefix

    summary = describe(file)
    rows = [("format", summary["format"])]
    for c in summary.get("coordinates", []):
        if c["name"] in ("x", "y"):
            continue
        rows.append((f"{c['name']} (axis)", f"{c['size']} points, {c['min']:.4g} … "
                                            f"{c['max']:.4g} {c['units'] or ''}".rstrip()))
    for ch in summary["channels"]:
        size = ""
        if "x_size" in ch and "y_size" in ch:
            size = f", {si_prefix(ch['x_size'], 'm')} × {si_prefix(ch['y_size'], 'm')}"
        shape = (f"{' × '.join(map(str, ch['shape']))} px" if len(ch["shape"]) == 2
                 else f"{' × '.join(map(str, ch['shape']))} points along "
                      f"{', '.join(ch['dims'])}")
        if not size and len(ch["shape"]) == 2 and ch.get("dims") == ["y", "x"]:
            size = ", pixel size not recorded (uncalibrated image)"
        extra = []
        if "bias_V" in ch:
            extra.append(f"bias {ch['bias_V']:g} V")
        if "temperature_K" in ch:
            extra.append(f"T {ch['temperature_K']:g} K")
        if "scan_speed_m_per_s" in ch:
            extra.append(f"scan {si_prefix(ch['scan_speed_m_per_s'], 'm')}/s")
        if "direction" in ch:
            extra.append(str(ch["direction"]))
        rows.append((ch["name"], f"{shape}{size}, units {ch['units'] or '-'}"
                     + ("; " + ", ".join(extra) if extra else "")))
    for k, v in summary["metadata"].items():
        if k not in ("format",):
            rows.append((k, str(v)))
    print_table(str(file), rows)
    write_json(json_path, summary)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo-output"), "--out", help="Folder for data and report."),
    seed: int = typer.Option(0, min=0, max=2**32 - 1, help="Seed of the virtual sample (≥ 0)."),
) -> None:
    """Generate the virtual sample, analyse it through the readers, write the HTML report."""
    from supramap.report.demo import run_demo

    # No refresh thread: the demo's analyses and figures run in forked processes.
    with progress_bar("demo", auto_refresh=False) as progress:
        task = progress.add_task("demo", total=None)

        def step(what: str, done: int, total: int) -> None:
            progress.update(task, description=what, completed=done, total=total or None)
            progress.refresh()

        report = run_demo(out, seed=seed, command=["supramap", *RUN["argv"]], progress=step)
    console.print(f"Report: {report.resolve()}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (callable from tests)."""
    import logging
    import warnings

    # Third-party libraries talk on stderr on a corrupt file (tifffile logs each bad tag, Pillow
    # warns "Tag data larger than file"); the user gets our one error line instead.  Python
    # warnings raised by supramap itself stay visible.
    tiff_log = logging.getLogger("tifffile")
    level = tiff_log.level
    tiff_log.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.filterwarnings("default", module=r"supramap")
            return _main(argv)
    finally:
        tiff_log.setLevel(level)


def _main(argv: list[str] | None) -> int:
    import time

    reset_warnings()
    STRICT["on"] = False
    argv = _hoist_root_options(list(sys.argv[1:] if argv is None else argv))
    SUMMARIES.clear()
    RUN.clear()
    RUN.update(argv=[str(a) for a in (sys.argv[1:] if argv is None else argv)],
               started=time.time())
    clash = _output_over_input(list(sys.argv[1:] if argv is None else argv))
    if clash:
        _error_line(clash)
        return 2
    try:
        result = _command().main(args=argv, prog_name="supramap", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        _error_line("aborted")
        return 130
    except SupramapError as exc:
        _error_line(_with_file(str(exc), list(sys.argv[1:] if argv is None else argv)))
        return 2
    except sample_cli._Partial as exc:
        _error_line(f"some items failed: {exc}")
        return 1
    except OSError as exc:
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _error_line(f"{where}{exc.strerror or exc}")
        return 2
    except Exception as exc:
        # Usage errors of the command-line parser (missing argument, bad option value).
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            # One line, as for every other bad input (not click's multi-line usage block).
            _error_line(exc.format_message())
            return int(exc.exit_code)
        raise
    code = int(result) if isinstance(result, int) else 0
    if code == 0 and SUMMARIES:
        print("\n".join(SUMMARIES), file=sys.stderr)
    if code == 0 and STRICT["on"] and EMITTED:
        _error_line(f"--strict: {len(EMITTED)} quality warning(s): "
                    + "; ".join(w.code for w in EMITTED))
        return 3
    return code


_COMMAND: list = []


def _command():
    """The click command of the app, built once, with flags shown as flags in --help
    (typer prints a ``<bool>`` metavar after every flag, as if it took a value)."""
    if not _COMMAND:
        cmd = typer.main.get_command(app)

        def walk(c):
            for p in c.params:
                if getattr(p, "is_flag", False):  # typer ships its own click: duck-typed
                    p.metavar = " "
            original = c.get_help_option

            def help_option(ctx, _original=original):
                opt = _original(ctx)
                if opt is not None:
                    opt.metavar = " "
                return opt

            c.get_help_option = help_option
            if not getattr(c, "commands", None):
                # A leaf command: record its resolved parameters for the provenance block.
                original_invoke = c.invoke

                def invoke(ctx, _original=original_invoke):
                    RUN["path"] = tuple(ctx.command_path.split()[1:])
                    RUN["params"] = [(tuple(p.opts), p.name, _as_paths(p, ctx.params[p.name]))
                                     for p in ctx.command.params if p.name in ctx.params]
                    return _original(ctx)

                c.invoke = invoke
            for sub in getattr(c, "commands", {}).values():
                walk(sub)

        walk(cmd)
        _COMMAND.append(cmd)
    return _COMMAND[0]


def _as_paths(param, value):
    """A path parameter's value as ``Path`` (lists element-wise): typer converts it only when
    calling the command (before 0.29) or already when parsing (0.29), and the provenance
    block tells input files by their type."""
    if value is None or not type(getattr(param, "type", None)).__name__.endswith("Path"):
        return value
    if isinstance(value, (list, tuple)):
        return type(value)(Path(v) for v in value)
    return Path(value)


#: Root options a user may also write after the command (``cafm analyze F --report R
#: --figures svg``): moved in front of it before parsing.
ROOT_VALUE_OPTIONS = ("--figures", "--dpi")


def _hoist_root_options(argv: list[str]) -> list[str]:
    """*argv* with ``--figures X`` / ``--dpi N`` (or ``--figures=X``) moved to the front."""
    front, rest, i = [], [], 0
    while i < len(argv):
        tok = str(argv[i])
        if tok.partition("=")[0] in ROOT_VALUE_OPTIONS:
            take = 1 if "=" in tok else 2
            front += [str(a) for a in argv[i:i + take]]
            i += take
            continue
        rest.append(argv[i])
        i += 1
    return front + rest


def _output_over_input(argv: list[str]) -> str | None:
    """Refuse, before any work, an output path that is one of the command's input files (the
    analysis would destroy its own input)."""
    outputs, inputs = [], []
    skip = False
    for i, tok in enumerate(map(str, argv)):
        if skip:
            skip = False
            continue
        name, eq, value = tok.partition("=")
        if name in OUTPUT_OPTIONS:
            if eq:
                outputs.append((name, value))
            elif i + 1 < len(argv):
                outputs.append((name, str(argv[i + 1])))
                skip = True
            continue
        p = Path(value if eq else tok)
        kind = path_kind(p)
        if kind == "file":
            inputs.append(p)
        elif kind == "special" and not tok.startswith("-"):
            return (f"{p}: not a regular file (a FIFO, socket or device): supramap reads "
                    "regular files only")
    for name, value in outputs:
        problem = output_problem(value, inputs, name)
        if problem:
            return problem
    from supramap.errors import OutputError
    from supramap.report.html import check_report_folder

    command = next((str(a) for a in argv if not str(a).startswith("-")), "")
    for name, value in outputs:
        if name in ("--json", "--nexus") and Path(value).is_dir():
            return f"{value}: {name} is an existing folder; give a file name"
        if name == "--report" or (name == "--out" and command == "report"):
            try:
                check_report_folder(value)
            except OutputError as exc:
                return str(exc)
    return None


def _with_file(message: str, argv: list) -> str:
    """Prefix an error with the input file(s) of the command when it names none, so every
    error line says which file it concerns (analysis errors often know only the data)."""
    inputs = [str(a) for a in argv if not str(a).startswith("-") and path_kind(Path(str(a)))
              == "file"]
    if not inputs or any(i in message for i in inputs):
        return message
    return f"{', '.join(inputs)}: {message}"


def _error_line(message: str) -> None:
    """One plain line on stderr (no wrapping, no markup)."""
    text = " ".join(message.split())
    print(f"supramap: error: {text}", file=sys.stderr)


def run() -> None:  # pragma: no cover - console-script wrapper
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
