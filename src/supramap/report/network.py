"""Figures and report section of the four-probe network simulation."""

from __future__ import annotations

from functools import partial

from supramap.report._backend import headless  # noqa: E402

headless()

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.colors import ListedColormap, LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402

from supramap.network.measure import verdict  # noqa: E402, F401 — re-exported
from supramap.report.figures import add_scale_bar  # noqa: E402
from supramap.report.html import Report  # noqa: E402
from supramap.units import si_prefix  # noqa: E402

ROLE_COLOURS = {
    "joins current contacts": "#d62728",
    "joins voltage contacts": "#ff7f0e",
    "touches a contact": "#2ca02c",
    "isolated": "#1f77b4",
}


def _contacts(ax, result) -> None:
    for c in result.contacts:
        ax.add_patch(Rectangle((c.c0 - 0.5, c.r0 - 0.5), c.c1 - c.c0, c.r1 - c.r0,
                               facecolor="gold", edgecolor="black", lw=0.8, zorder=5))
        ax.annotate(c.name, (c.c0, c.r0), color="black", fontsize=9, zorder=6,
                    bbox=dict(boxstyle="round,pad=0.1", fc="gold", lw=0))


def clusters_figure(result, image: xr.DataArray) -> Figure:
    """Superconducting clusters coloured by their role, and the contacts."""
    roles = result.sc_cluster_role
    lab = result.sc_clusters
    names = list(ROLE_COLOURS)
    code = np.zeros(lab.shape, dtype=int)
    if roles:
        lut = np.zeros(lab.max() + 1, dtype=int)
        for cl, role in roles.items():
            lut[cl] = names.index(role) + 1
        code = lut[lab]
    cmap = ListedColormap(["#eeeeee"] + [ROLE_COLOURS[n] for n in names])
    fig, ax = plt.subplots(figsize=(5.8, 5.0), constrained_layout=True)
    ax.imshow(code, cmap=cmap, vmin=-0.5, vmax=len(names) + 0.5, interpolation="nearest")
    _contacts(ax, result)
    add_scale_bar(ax, image, color="black")
    ax.set_xticks([])
    ax.set_yticks([])
    present = sorted(set(roles.values()), key=names.index)
    ax.legend(handles=[Patch(color=ROLE_COLOURS[r], label=r) for r in present]
              + [Patch(color="gold", label="contact")], fontsize=9, loc="lower left")
    ax.set_title(f"Superconducting clusters ({100 * result.sc_fraction:.1f} % of the area)",
                 fontsize=9)
    return fig


def potential_figure(result, image: xr.DataArray) -> Figure:
    """Potential as a fraction of the voltage across the current contacts (0 at the sink, 1 at
    the source). With point contacts most of the drop happens next to them, so the colours
    span the 2–98 % range of the map's values and the equipotentials are drawn at its deciles:
    the current-path structure in the bulk of the map reads at a glance."""
    fig, ax = plt.subplots(figsize=(5.6, 4.6), constrained_layout=True)
    v = np.asarray(result.potential_V, dtype=float)
    lo, hi = np.nanmin(v), np.nanmax(v)
    frac = (v - lo) / (hi - lo) if hi > lo else np.zeros_like(v)
    finite = frac[np.isfinite(frac)]
    c_lo, c_hi = (np.percentile(finite, [2, 98]) if finite.size else (0.0, 1.0))
    im = ax.imshow(frac, cmap="coolwarm", vmin=c_lo, vmax=max(c_hi, c_lo + 1e-6),
                   interpolation="nearest")
    levels = np.unique(np.quantile(finite, np.linspace(0.1, 0.9, 9))) if finite.size else []
    if hi > lo and len(levels) > 1:
        ax.contour(np.where(np.isfinite(frac), frac, np.nan), levels=levels, colors="k",
                   linewidths=0.4, alpha=0.6)
    _contacts(ax, result)
    add_scale_bar(ax, image)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046).set_label(
        "potential (fraction of the contact voltage)", fontsize=9)
    ax.set_title(f"Potential: {si_prefix(hi - lo, 'V')} across the contacts at 1 A", fontsize=10)
    return fig


def current_figure(result, image: xr.DataArray) -> Figure:
    """Sheet current density (log) with streamlines; grey: superconductors (undetermined)."""
    j = result.current_density_A_per_m
    fig, ax = plt.subplots(figsize=(5.6, 4.6), constrained_layout=True)
    finite = j[np.isfinite(j) & (j > 0)]
    if finite.size:
        lo = max(np.percentile(finite, 1), finite.max() * 1e-6)
        im = ax.imshow(np.where(np.isfinite(j), np.clip(j, lo, None), np.nan), cmap="magma",
                       norm=LogNorm(vmin=lo, vmax=finite.max()), interpolation="nearest")
        fig.colorbar(im, ax=ax, fraction=0.046).set_label("|J| at 1 A (A/m)", fontsize=9)
    sc = np.where(np.isnan(j), 1.0, np.nan)
    ax.imshow(sc, cmap=ListedColormap(["#9e9e9e"]), interpolation="nearest")
    ny, nx = j.shape
    step = max(1, max(ny, nx) // 128)
    jx = np.nan_to_num(result.current_x)[::step, ::step]
    jy = np.nan_to_num(result.current_y)[::step, ::step]
    yy, xx = np.mgrid[0:ny:step, 0:nx:step]
    if np.hypot(jx, jy).max() > 0:
        ax.streamplot(xx[0], yy[:, 0], jx, jy, color="cyan", density=1.2, linewidth=0.5,
                      arrowsize=0.6)
    ax.set_xlim(-0.5, nx - 0.5)
    ax.set_ylim(ny - 0.5, -0.5)
    _contacts(ax, result)
    add_scale_bar(ax, image)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title("Current density (grey: superconducting, not resolved)", fontsize=9)
    return fig


def monte_carlo_figure(mc, reference: float) -> Figure:
    """Histogram of the apparent sheet resistance over random contact placements."""
    d = mc.to_dict()
    rs = mc.sheet_resistance_ohm[np.isfinite(mc.sheet_resistance_ohm)]
    fig, ax = plt.subplots(figsize=(6, 3.4), constrained_layout=True)
    if rs.size:
        ax.hist(rs, bins=30, color="0.4")
    ax.axvline(reference, color="tab:red", label=f"normal phase {reference:.3g} Ω/sq")
    ax.set_xlabel("apparent sheet resistance (Ω per square)")
    ax.set_ylabel("placements")
    fz = d["fraction_zero"]
    ax.set_title(f"{d['n']} random placements: zero in "
                 f"{100 * fz:.0f} %" if fz is not None else "no connected placement",
                 fontsize=9)
    ax.legend(fontsize=9)
    return fig


def network_section(report: Report, result, image: xr.DataArray, *, mc=None,
                    percolation=None, interval: dict | None = None,
                    prefix: str = "network_") -> None:
    """Verdict, numbers and figures of a four-probe simulation; *interval*: the 90 %
    intervals of :func:`supramap.network.measure.resistance_interval`."""
    report.heading(f"Four-probe simulation ({result.geometry})")
    report.paragraph(verdict(result), css="verdict")
    d = result.to_dict()
    rows = [(k, v) for k, v in d["resistances_ohm"].items()]
    rows += [("homogeneous " + k, v) for k, v in d["homogeneous_resistances_ohm"].items()]
    rows += [("superconducting fraction", f"{d['sc_fraction']:.4f}"),
             ("percolates between current / voltage contacts",
              f"{d['sc_percolates']} / {d['sc_percolates_voltage']}"),
             ("sheet resistance apparent / normal (Ω/sq)",
              f"{d['sheet_resistance_apparent_ohm']:.5g} / "
              f"{d['reference_sheet_resistance_ohm']:.5g}"),
             ("current fraction in superconductor", f"{d['current_fraction_in_sc']:.3f}"),
             ("solver relative residual", f"{d['residual']:.1e}")]
    for key, label, unit in (("R_apparent_interval_90_ohm", "R apparent", "Ω"),
                             ("sheet_resistance_apparent_interval_90_ohm",
                              "sheet resistance apparent", "Ω/sq")):
        if interval and interval.get(key):
            lo, hi = interval[key]
            rows.append((f"{label}, 90 % interval (threshold, tip, noise)",
                         f"{lo:.4g} … {hi:.4g} {unit}"))
    if percolation is not None:
        p = percolation.to_dict()
        rows += [("clusters (spanning x / y)",
                  f"{p['n_clusters']} ({p['spans_x']} / {p['spans_y']})"),
                 ("Bruggeman EMT sheet ratio for this fraction", f"{p['emt_sheet_ratio']:.3f}")]
    report.table(rows, header=["quantity", "value"])
    report.figure(partial(clusters_figure, result, image), "Clusters by role and contacts",
                  name=f"{prefix}clusters.png")
    if result.potential_V is not None:
        report.figure(partial(potential_figure, result, image), "Potential map: black lines at its "
                      "deciles, colours spanning its 2–98 % range",
                      name=f"{prefix}potential.png")
        report.figure(partial(current_figure, result, image), "Current density with streamlines",
                      name=f"{prefix}current.png")
    if mc is not None:
        report.figure(partial(monte_carlo_figure, mc, result.reference_sheet_resistance_ohm),
                      "Monte-Carlo over contact placements", name=f"{prefix}montecarlo.png")
