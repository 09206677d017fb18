"""``supramap apt composition | profile | compare | spectrum``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from supramap.cli.common import (
    JSON_OPT,
    REPORT_OPT,
    UsageError,
    call,
    emit_warnings,
    figure_report,
    option,
    present,
    print_table,
    write_json,
)

app = typer.Typer(help="Atom probe tomography.", no_args_is_help=True)

RANGE_OPT = typer.Option(..., "--range", help="Range file (.rrng or .rng).")
TOP_OPT = option("apt-composition", "exclude_top")
CAP_OPT = option("apt-composition", "exclude_cap")


def _needle(path: Path):
    from supramap.analyses.library import needle

    return needle(path)


def _ranges(path: Path):
    from supramap.io.apt import read_ranges

    return read_ranges(path)


def _excluded_nm(ions, table, top: float | None, cap: str | None) -> tuple[float, str]:
    from supramap.analyses.library import excluded_nm

    return excluded_nm(ions, table, top, cap)


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
    needle: Path = typer.Argument(...),
    range_file: Path = RANGE_OPT,
    bin_m: str = option("apt-profile", "bin"),
    ions_per_bin: int = option("apt-profile", "ions_per_bin"),
    cylinder: str = option("apt-profile", "cylinder"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """1-D concentration profile along the needle or a user cylinder."""
    from supramap.apt import depth_profile

    ions, table = _needle(needle), _ranges(range_file)
    cyl = None
    if cylinder is not None:
        v = [t * 1e9 for t in cylinder]  # nm
        if len(v) != 8 or not all(np.isfinite(v)) or v[6] <= 0 or v[7] <= 0 \
                or not any(v[3:6]):
            raise UsageError(
                "--cylinder must be 8 numbers 'cx,cy,cz,ux,uy,uz,radius,length' "
                "(m) with a non-zero axis and positive radius and length"
            )
        cyl = {"centre": v[:3], "axis": v[3:6], "radius": v[6], "length": v[7]}
    if ions_per_bin is not None and ions_per_bin < 1:
        raise UsageError(f"--ions-per-bin must be a positive number of ions, got {ions_per_bin}")
    prof = depth_profile(ions, table, bin_nm=bin_m * 1e9, ions_per_bin=ions_per_bin, cylinder=cyl)
    d = {"file": str(needle), **prof.to_dict()}
    print_table(
        f"Profile of {needle.name}",
        [("bins", str(prof.depth_nm.size)), ("elements", ", ".join(prof.fractions))],
    )
    write_json(json_path, d)
    from supramap.report import apt as fig

    figure_report(
        report,
        f"APT profile — {needle.name}",
        lambda: [(fig.profile_figure(prof), "Concentration profile", "profile.png")],
    )


@app.command()
def compare(
    a: Path = typer.Argument(...),
    b: Path = typer.Argument(...),
    range_file: Path = RANGE_OPT,
    exclude_top: str = TOP_OPT,
    exclude_cap: str = CAP_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Compositions and ratios (Fe/Te, Se/Te, Fe/(Se+Te)) of two needles with significance."""
    from supramap.apt import compare_compositions, composition

    table = _ranges(range_file)
    comps = []
    for p in (a, b):
        ions = _needle(p)
        depth, _ = _excluded_nm(ions, table, exclude_top, exclude_cap)
        comps.append(composition(ions, table, min_depth_nm=depth))
    d = {"file_a": str(a), "file_b": str(b), **compare_compositions(*comps)}
    print_table(
        f"{a.name} vs {b.name}",
        [
            (
                k,
                f"{v['a']:.4f} ± {v['a_sigma']:.4f} vs {v['b']:.4f} ± {v['b_sigma']:.4f} "
                f"(z = {v['z']:.1f})",
            )
            for k, v in d["ratios"].items()
        ],
    )
    write_json(json_path, d)
    from supramap.report import apt as fig

    figure_report(
        report,
        f"APT comparison — {a.name} vs {b.name}",
        lambda: [(fig.comparison_figure(d, (a.stem, b.stem)), "Ratios", "ratios.png")],
    )


@app.command()
def spectrum(
    needle: Path = typer.Argument(...),
    range_file: Path = typer.Option(None, "--range", help="Range file to draw and check."),
    bin_da: str = option("apt-spectrum", "bin_da"),
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Mass spectrum; with ranges, the peaks no range covers."""
    from supramap.apt import mass_spectrum

    ions = _needle(needle)
    table = _ranges(range_file) if range_file else None
    spec = mass_spectrum(ions, bin_width=bin_da, table=table)
    d = {
        "file": str(needle),
        "bin_da": bin_da,
        "n_ions": int(spec.counts.sum()),
        "n_ions_not_binned": spec.n_outside,
        "unranged_peaks_da": spec.unranged_peaks,
    }
    if spec.n_outside:
        from supramap.quality import warn

        emit_warnings([warn("apt.invalid_mq",
                            f"{spec.n_outside} ions have a non-finite, negative or > 1000 Da "
                            "m/q (corrupt values) and are not in the spectrum",
                            n_ions=spec.n_outside)])
    print_table(
        f"Mass spectrum of {needle.name}",
        [
            ("ions", str(d["n_ions"])),
            ("unranged peaks (Da)", ", ".join(f"{p:.2f}" for p in spec.unranged_peaks) or "none"),
        ],
    )
    write_json(json_path, d)
    from supramap.report import apt as fig

    figure_report(
        report,
        f"Mass spectrum — {needle.name}",
        lambda: [(fig.spectrum_figure(spec, table), "Mass spectrum", "spectrum.png")],
    )
