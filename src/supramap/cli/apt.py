"""``supramap apt composition | profile | compare | spectrum``."""

from __future__ import annotations

from pathlib import Path

import typer

from supramap.cli.common import (
    JSON_OPT,
    REPORT_OPT,
    call,
    option,
    present,
)

app = typer.Typer(help="Atom probe tomography.", no_args_is_help=True)

RANGE_OPT = typer.Option(..., "--range", help="Range file (.rrng or .rng).")
TOP_OPT = option("apt-composition", "exclude_top")
CAP_OPT = option("apt-composition", "exclude_cap")


@app.command()
def composition(
    needle: Path = typer.Argument(..., help="Ions (.pos, .epos, .apt)."),
    range_file: Path = RANGE_OPT,
    exclude_top: str = TOP_OPT,
    exclude_cap: str = CAP_OPT,
    background: bool = option("apt-composition", "background"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Ionic and atomic composition with counting errors."""
    present(call("apt-composition", needle, range=range_file, exclude_top=exclude_top,
                 exclude_cap=exclude_cap, background=background), json_path, report)


@app.command()
def profile(
    needle: Path = typer.Argument(..., help="Ions (.pos, .epos, .apt)."),
    range_file: Path = RANGE_OPT,
    bin_m: str = option("apt-profile", "bin"),
    ions_per_bin: int = option("apt-profile", "ions_per_bin"),
    cylinder: str = option("apt-profile", "cylinder"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """1-D concentration profile along the needle or a user cylinder."""
    present(call("apt-profile", needle, range=range_file, bin=bin_m,
                 ions_per_bin=ions_per_bin, cylinder=cylinder), json_path, report)


@app.command()
def compare(
    a: Path = typer.Argument(..., help="Needle A (.pos, .epos, .apt)."),
    b: Path = typer.Argument(..., help="Needle B."),
    range_file: Path = RANGE_OPT,
    exclude_top: str = TOP_OPT,
    exclude_cap: str = CAP_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Compositions and ratios (Fe/Te, Se/Te, Fe/(Se+Te)) of two needles with significance."""
    present(call("apt-compare", a, b, range=range_file, exclude_top=exclude_top,
                 exclude_cap=exclude_cap), json_path, report)


@app.command()
def spectrum(
    needle: Path = typer.Argument(..., help="Ions (.pos, .epos, .apt)."),
    range_file: Path = typer.Option(None, "--range", help="Range file to draw and check."),
    bin_da: str = option("apt-spectrum", "bin_da"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Mass spectrum; with ranges, the peaks no range covers."""
    present(call("apt-spectrum", needle, range=range_file, bin_da=bin_da), json_path, report)
