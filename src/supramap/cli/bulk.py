"""``supramap bulk transport | susceptibility | heat | loop``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import typer

from supramap.cli.common import (
    JSON_OPT,
    REPORT_OPT,
    UsageError,
    call,
    console,
    emit_warnings,
    new_report,
    option,
    present,
    print_table,
    write_json,
)

app = typer.Typer(help="Bulk characterisation from Quantum Design files.", no_args_is_help=True)

LENGTH = option("bulk-transport", "length")
WIDTH = option("bulk-transport", "width")
THICK = option("bulk-transport", "thickness")
COLUMNS_OPT = option("bulk-transport", "columns")


def _moment_columns():
    from supramap.io.qd import MOMENT_COLUMNS

    return MOMENT_COLUMNS


def _read(path: Path, mapping: str | None = None):
    """A Quantum Design .dat or a renamed CSV/TXT table (library: ``qd_table``)."""
    from supramap.analyses.library import qd_table

    return qd_table(path, mapping)


def _column(ds, path: Path, names: tuple[str, ...], units: tuple[str, ...], what: str,
            chosen: str | None = None) -> np.ndarray:
    from supramap.analyses.library import qd_column

    return qd_column(ds, path, names, units, what, chosen)


def _comment_rows(ds) -> list:
    from supramap.analyses.library import comment_rows

    return comment_rows(ds)


def _pct(value: float) -> str:
    return "n/a (see warnings)" if not np.isfinite(value) else f"{100 * value:.1f} %"


def _num(value: float, unit: str, fmt: str = ".4g") -> str:
    return "n/a (see warnings)" if not np.isfinite(value) else f"{value:{fmt}} {unit}"


def _mm(name: str, value: float | None, need: str) -> float:
    if value is None:
        raise UsageError(f"--{name}-mm is needed for {need}")
    if not (np.isfinite(value) and 0 < value <= 1000):
        raise UsageError(f"--{name}-mm must be a positive length up to 1000 mm, got {value}")
    return value * 1e-3


@app.command()
def transport(
    file: Path = typer.Argument(..., help="PPMS resistivity .dat"),
    column: str = typer.Option(None, "--column", help="Resistance column (default: Bridge 1)."),
    length_mm: str = LENGTH,
    width_mm: str = WIDTH,
    thickness_mm: str = THICK,
    columns: str = COLUMNS_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Tc criteria, residual resistivity, RRR, normal state; critical fields for ρ(H)."""
    from supramap.bulk import analyze_field_sweeps, analyze_transport, resistivity

    ds = _read(file, columns)
    t = _column(ds, file, ("Temperature", "Sample Temp"), ("K",), "temperature")
    names = ("Bridge 1 Resistivity", "Resistance", "Resistivity")
    r = _column(ds, file, names, ("ohm", "ohm m"), "resistance", column)
    from supramap.io.qd import pick_column

    picked = column if column is not None else pick_column(ds, names, ("ohm", "ohm m"))
    # The column's unit says what it is: Ω·m (from Ohm-cm or Ohm-m) is already a
    # resistivity, whatever the name; Ω is a resistance that needs the geometry for ρ.
    column_unit = ds[picked].attrs.get("units", "") if picked in ds else ""
    is_resistivity = column_unit == "ohm m"
    h = ds["Magnetic Field"].values if "Magnetic Field" in ds else np.zeros_like(t)
    ok = np.isfinite(t) & np.isfinite(r)
    sweep = np.nanmax(np.abs(h[ok])) - np.nanmin(np.abs(h[ok])) > 0.05 and np.ptp(t[ok]) < 2.0
    d: dict = {"file": str(file)}
    if sweep:
        res = analyze_field_sweeps(h, r, t)
        d.update({"sweep": "field", **res.to_dict()})
        print_table(
            f"Critical fields from {file.name}",
            [
                (f"{tk:.2f} K", f"Hc 90/50/10/zero = {a:.3f} / {b:.3f} / {c:.3f} / {z:.3f} T")
                for tk, a, b, c, z in zip(
                    res.temperatures_K, res.hc_90_T, res.hc_50_T, res.hc_10_T, res.hc_zero_T
                )
            ],
        )
    else:
        units = "ohm m" if is_resistivity else "ohm"
        geometry_given = any(v is not None for v in (length_mm, width_mm, thickness_mm))
        if is_resistivity and geometry_given:
            console.print(f"Column {picked!r} is a resistivity ({ds[picked].attrs.get('column')}):"
                          " the sample geometry is not used.")
        if not is_resistivity and geometry_given:
            r = resistivity(
                r,
                length=_mm("length", length_mm, "ρ"),
                width=_mm("width", width_mm, "ρ"),
                thickness=_mm("thickness", thickness_mm, "ρ"),
            )
            units = "ohm m"
        res = analyze_transport(t, r, units=units)
        d.update({"sweep": "temperature", **res.to_dict(),
                  "column": picked, "column_quantity": "resistivity" if is_resistivity
                  else "resistance", "column_unit": column_unit})
        d.setdefault("rho0_ohm_m", None)
        print_table(
            f"Transport of {file.name}",
            [
                ("input", f"{picked} ({'resistivity' if is_resistivity else 'resistance'}"
                          f", {ds[picked].attrs.get('raw_unit') or column_unit})"
                 if picked in ds else str(picked)),
                (
                    "Tc onset / 90 / 50 / 10 / zero (K)",
                    " / ".join(
                        f"{d[k]:.3f}"
                        for k in ("Tc_onset_K", "Tc_90_K", "Tc_mid_K", "Tc_10_K", "Tc_zero_K")
                    ) if res.has_transition else "no superconducting transition",
                ),
                ("width 10–90 % (K)", _num(d["transition_width_K"], "K", ".3f")),
                (
                    "ρ0" if units == "ohm m" else "R0",
                    f"{res.rho0 * (1e8 if units == 'ohm m' else 1):.4g} "
                    f"{'µΩ cm' if units == 'ohm m' else 'Ω'}",
                ),
                ("RRR", f"{d['RRR']:.3g}"),
                ("normal state", d["normal_state"]),
            ],
        )
        if units == "ohm" and not geometry_given:
            console.print(
                "No sample geometry given: resistance analysed; give --length-mm, "
                "--width-mm and --thickness-mm for ρ."
            )
        emit_warnings(res, _comment_rows(ds))
    write_json(json_path, d)
    if report is not None:
        from supramap.report import bulk as fig

        rep = new_report(f"Transport — {file.name}", report)
        fig.table_section(rep, "Transport", d)
        if sweep:
            rep.figure(
                fig.field_sweep_figure(h, r, t, res),
                "ρ(µ0H) and critical fields",
                name="field_sweeps.png",
            )
        else:
            rep.figure(fig.transport_figure(t[ok], r[ok], res, units), "ρ(T)", name="transport.png")
        console.print(f"Report: {rep.write()}")


@app.command()
def susceptibility(
    file: Path = typer.Argument(..., help="MPMS ZFC/FC .dat"),
    length_mm: str = LENGTH,
    width_mm: str = WIDTH,
    thickness_mm: str = THICK,
    shape: str = typer.Option(
        "prism", "--shape", help="prism or ellipsoid (semi-axes = half the dimensions)."
    ),
    columns: str = COLUMNS_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """Volume susceptibility, demagnetisation correction, shielding and Meissner fractions.
    The field is taken along the thickness."""
    from supramap.bulk import (
        analyze_susceptibility,
        demag_ellipsoid,
        demag_prism,
        identify_branches,
    )
    from supramap.bulk import volume_susceptibility as chi_of

    a = _mm("length", length_mm, "the sample volume and demagnetisation")
    b = _mm("width", width_mm, "the sample volume and demagnetisation")
    c = _mm("thickness", thickness_mm, "the sample volume and demagnetisation")
    if shape not in ("prism", "ellipsoid"):
        raise UsageError(f"--shape must be prism or ellipsoid, got {shape!r}")
    n = demag_prism(a, b, c) if shape == "prism" else demag_ellipsoid(a / 2, b / 2, c / 2)
    volume = a * b * c if shape == "prism" else 4 / 3 * np.pi * a * b * c / 8
    ds = _read(file, columns)
    t = _column(ds, file, ("Temperature",), ("K",), "temperature")
    m = _column(
        ds, file, _moment_columns(), ("A m2",), "moment"
    )
    h = _column(ds, file, ("Magnetic Field",), ("T",), "field")
    chi = chi_of(m, h, volume)
    br = identify_branches(t, h, ds.attrs.get("comments"))
    zfc, fc = br.zfc, br.fc
    res = analyze_susceptibility(
        None if zfc is None else t[zfc],
        None if zfc is None else chi[zfc],
        None if fc is None else t[fc],
        None if fc is None else chi[fc],
        demag_factor=n,
        notes=br.warnings,
    )
    d = {"file": str(file), "shape": shape, "volume_m3": volume,
         "branches": {"how": br.how, "fc_measured_on": br.fc_mode,
                      "zfc_rows": 0 if zfc is None else len(zfc),
                      "fc_rows": 0 if fc is None else len(fc)},
         **res.to_dict()}
    print_table(
        f"Susceptibility of {file.name}",
        [
            ("demagnetisation factor", f"{res.demag_factor:.4f}"),
            ("shielding fraction (ZFC)", _pct(res.shielding_fraction)),
            (f"Meissner fraction (FC{', cooling' if br.fc_mode == 'cooling' else ''})",
             _pct(res.meissner_fraction)),
            ("Tc onset (2 % of the corrected drop)", _num(res.Tc_onset_K, "K", ".3f")),
            ("branches", f"{br.how}; ZFC {0 if zfc is None else len(zfc)} rows, FC "
                         f"{0 if fc is None else len(fc)} rows"),
        ],
    )
    emit_warnings(res, _comment_rows(ds))
    write_json(json_path, d)
    if report is not None:
        from supramap.report import bulk as fig

        rep = new_report(f"Susceptibility — {file.name}", report)
        fig.table_section(rep, "Susceptibility", d)
        main = zfc if zfc is not None else fc
        rep.figure(
            fig.susceptibility_figure(
                t[main], chi[main], None if fc is None or zfc is None else t[fc],
                None if fc is None or zfc is None else chi[fc], n
            ),
            "ZFC / FC susceptibility",
            name="susceptibility.png",
        )
        console.print(f"Report: {rep.write()}")


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
    length_mm: str = LENGTH,
    width_mm: str = WIDTH,
    thickness_mm: str = THICK,
    columns: str = COLUMNS_OPT,
    json_path: Path = JSON_OPT,
    report: Path = REPORT_OPT,
) -> None:
    """ΔM(H) and the Bean critical current of a rectangular slab (field along the thickness)."""
    from supramap.bulk import analyze_loop

    a = _mm("length", length_mm, "the Bean critical current")
    b = _mm("width", width_mm, "the Bean critical current")
    c = _mm("thickness", thickness_mm, "the sample volume")
    ds = _read(file, columns)
    h = _column(ds, file, ("Magnetic Field",), ("T",), "field")
    m = _column(
        ds, file, _moment_columns(), ("A m2",), "moment"
    )
    ok = np.isfinite(h) & np.isfinite(m)
    res = analyze_loop(h[ok], m[ok], volume=a * b * c, a=a, b=b)
    d = {"file": str(file), **res.to_dict()}
    print_table(
        f"M(H) loop of {file.name}",
        [
            (
                "self-field Jc",
                f"{res.jc_self_field:.4g} A/m² = {res.jc_self_field * 1e-4:.4g} A/cm²"
                if np.isfinite(res.jc_self_field) else "n/a (see warnings)",
            ),
            ("branches", str(res.n_branches)),
            ("median ΔM / noise", f"{res.hysteresis_over_noise:.3g}"),
        ],
    )
    emit_warnings(res, _comment_rows(ds))
    write_json(json_path, d)
    if report is not None:
        from supramap.report import bulk as fig

        rep = new_report(f"M(H) loop — {file.name}", report)
        fig.table_section(rep, "Critical current", d)
        rep.figure(
            fig.loop_figure(h[ok], m[ok], a * b * c, res), "M(H) and Jc(µ0H)", name="loop.png"
        )
        console.print(f"Report: {rep.write()}")
