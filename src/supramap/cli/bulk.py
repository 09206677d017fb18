"""``supramap bulk transport | susceptibility | heat | loop``."""

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

app = typer.Typer(help="Bulk characterisation from Quantum Design files.", no_args_is_help=True)

LENGTH = option("bulk-transport", "length")
WIDTH = option("bulk-transport", "width")
THICK = option("bulk-transport", "thickness")
COLUMNS_OPT = option("bulk-transport", "columns")


@app.command()
def transport(
    file: Path = typer.Argument(..., help="PPMS resistivity .dat"),
    column: str = option("bulk-transport", "column"),
    length: str = LENGTH,
    width: str = WIDTH,
    thickness: str = THICK,
    columns: str = COLUMNS_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Tc criteria, residual resistivity, RRR, normal state; critical fields for ρ(H)."""
    present(call("bulk-transport", file, column=column, length=length, width=width,
                 thickness=thickness, columns=columns), json_path, report)


@app.command()
def susceptibility(
    file: Path = typer.Argument(..., help="MPMS ZFC/FC .dat"),
    length: str = LENGTH,
    width: str = WIDTH,
    thickness: str = THICK,
    shape: str = option("bulk-susceptibility", "shape"),
    columns: str = COLUMNS_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Volume susceptibility, demagnetisation correction, shielding and Meissner fractions.
    The field is taken along the thickness."""
    present(call("bulk-susceptibility", file, length=length, width=width,
                 thickness=thickness, shape=shape, columns=columns), json_path, report)


@app.command()
def heat(
    file: Path = typer.Argument(..., help="PPMS heat-capacity .dat"),
    mass: str = option("bulk-heat", "mass"),
    molar_mass: str = option("bulk-heat", "molar_mass"),
    atoms: str = option("bulk-heat", "atoms"),
    window: str = option("bulk-heat", "window"),
    gamma_n: str = option("bulk-heat", "gamma_n"),
    columns: str = COLUMNS_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """γ, β, θ_D, superconducting volume fraction and the specific-heat jump."""
    present(call("bulk-heat", file, mass=mass, molar_mass=molar_mass, atoms=atoms,
                 window=window, gamma_n=gamma_n, columns=columns), json_path, report)


@app.command()
def loop(
    file: Path = typer.Argument(..., help="MPMS M(H) loop .dat"),
    length: str = LENGTH,
    width: str = WIDTH,
    thickness: str = THICK,
    columns: str = COLUMNS_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """ΔM(H) and the Bean critical current of a rectangular slab (field along the thickness)."""
    present(call("bulk-loop", file, length=length, width=width, thickness=thickness,
                 columns=columns), json_path, report)
