"""Figures of atom-probe analyses."""

from __future__ import annotations

from supramap.report._backend import headless  # noqa: E402

headless()

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from supramap.apt.isotopes import ion_label  # noqa: E402
from supramap.errors import AnalysisError  # noqa: E402

COLOURS = {"Fe": "#c51b7d", "Se": "#1a9641", "Te": "#2c7bb6", "O": "#d7191c"}


_SUPERSCRIPT_DIGITS = "⁰¹²³⁴⁵⁶⁷⁸⁹"


def _label_groups(ranges) -> list[tuple[str, float, float, str]]:
    """(label, low, high, colour) per run of ranges of one ion and charge state (isotopes
    within 3 Da of each other), in order of mass-to-charge; the label names the ion and
    charge (``Fe²⁺``), or the isotope too when the run is one range (``⁵⁶Fe²⁺``)."""
    out: list[list] = []
    for r in sorted(ranges, key=lambda r: r.low):
        label = r.ion
        if r.composition:
            try:
                label = ion_label(r.composition, r.low, r.high) or r.ion
            except AnalysisError:  # an element periodictable does not know
                label = r.ion
        key = label.lstrip(_SUPERSCRIPT_DIGITS)
        colour = COLOURS.get(next(iter(r.composition), ""), "0.3")
        if out and out[-1][0] == key and r.low - out[-1][2] < 3.0:
            out[-1][2] = max(out[-1][2], r.high)
            out[-1][4] += 1
        else:
            out.append([key, r.low, r.high, colour, 1, label])
    # A lone isotope keeps its mass number (⁵⁶Fe²⁺): it names that peak exactly.
    return [(g[5] if g[4] == 1 else g[0], g[1], g[2], g[3]) for g in out]


def spectrum_figure(spec, table=None) -> Figure:
    """Mass spectrum (log counts) with ranges shaded and unranged peaks marked."""
    fig, ax = plt.subplots(figsize=(9, 3.4), constrained_layout=True)
    ax.semilogy(spec.centres, np.maximum(spec.counts, 0.5), lw=0.6, color="k")
    if table is not None:
        top = float(np.max(spec.counts)) if np.size(spec.counts) else 1.0
        for r in table.ranges:
            el = next(iter(r.composition), "")
            ax.axvspan(r.low, r.high, color=COLOURS.get(el, "0.6"), alpha=0.35, lw=0)
        # One horizontal label per ion and charge state over its isotopes (⁵⁴,⁵⁶,⁵⁷,⁵⁸Fe²⁺
        # → "Fe²⁺" over 27–29 Da): per-isotope labels were vertical, small and overlapping.
        # Labels closer than 6 Da to the previous one go one row higher.
        last_mid, row = -np.inf, 0
        for key, low, high, colour in _label_groups(table.ranges):
            mid = 0.5 * (low + high)
            row = (row + 1) % 2 if mid - last_mid < 6 else 0
            ax.text(mid, top * 1.6 * 5**row, key, ha="center", va="bottom", fontsize=10,
                    color=colour, bbox={"facecolor": "white", "edgecolor": "none",
                                        "alpha": 0.8, "pad": 1})
            last_mid = mid
        ax.set_ylim(0.5, top * 60)
    for p in spec.unranged_peaks:
        ax.axvline(p, color="orange", ls=":", lw=1)
    ax.set_xlabel("mass-to-charge (Da)")
    ax.set_ylabel("counts")
    if table is None:
        ax.set_ylim(0.5, None)
    ax.set_title("Mass spectrum" + (f" — {len(spec.unranged_peaks)} unranged peaks"
                                    if spec.unranged_peaks else ""), fontsize=9)
    return fig


def atom_map_figure(ions, table, *, max_points: int = 40_000, seed: int = 0) -> Figure:
    """3-D atom map (subsampled scatter, one colour per element) and two projections."""
    from supramap.apt.analysis import assign

    n = ions.sizes["ion"]
    pick = np.sort(np.random.default_rng(seed).choice(n, size=min(max_points, n), replace=False))
    x = np.asarray(ions["x"].data[pick], float)
    y = np.asarray(ions["y"].data[pick], float)
    z = np.asarray(ions["z"].data[pick], float)
    idx = assign(np.asarray(ions["mass_to_charge"].data[pick], float), table)
    fig = plt.figure(figsize=(11, 4.2), constrained_layout=True)
    ax3 = fig.add_subplot(1, 3, 1, projection="3d")
    axs = [fig.add_subplot(1, 3, 2), fig.add_subplot(1, 3, 3)]
    for el in table.elements:
        sel = np.array([k >= 0 and el in table.ranges[k].composition for k in idx]) if \
            idx.size else np.zeros(0, bool)
        c = COLOURS.get(el, None)
        ax3.scatter(x[sel], y[sel], -z[sel], s=0.3, color=c, label=el)
        axs[0].scatter(x[sel], -z[sel], s=0.2, color=c)
        axs[1].scatter(x[sel], y[sel], s=0.2, color=c)
    ax3.set_xlabel("x (nm)")
    ax3.set_ylabel("y (nm)")
    ax3.set_zlabel("−depth (nm)")
    ax3.legend(markerscale=15, fontsize=9)
    axs[0].set_xlabel("x (nm)")
    axs[0].set_ylabel("−depth (nm)")
    axs[1].set_xlabel("x (nm)")
    axs[1].set_ylabel("y (nm)")
    axs[0].set_title("side projection", fontsize=9)
    axs[1].set_title("top projection", fontsize=9)
    return fig


def profile_figure(prof, cap_nm: float | None = None, label: str = "") -> Figure:
    """Concentration profiles with counting errors."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6), constrained_layout=True)
    for el, f in prof.fractions.items():
        ax.errorbar(prof.depth_nm, 100 * f, yerr=100 * prof.sigmas[el], fmt="-", lw=1,
                    color=COLOURS.get(el), label=el, elinewidth=0.5)
    if cap_nm:
        ax.axvspan(0, cap_nm, color="0.85", label="excluded cap")
    ax.set_xlabel("depth from apex (nm)")
    ax.set_ylabel("at. %")
    ax.legend(fontsize=9)
    ax.set_title(f"1-D concentration profile {label}", fontsize=9)
    return fig


def comparison_figure(cmp: dict, labels: tuple[str, str]) -> Figure:
    """Ratios of two needles with error bars."""
    names = list(cmp["ratios"])
    fig, ax = plt.subplots(figsize=(6, 3.4), constrained_layout=True)
    xs = np.arange(len(names))
    for k, (key, lab) in enumerate((("a", labels[0]), ("b", labels[1]))):
        vals = [cmp["ratios"][n][key] for n in names]
        errs = [cmp["ratios"][n][f"{key}_sigma"] for n in names]
        ax.bar(xs + (k - 0.5) * 0.38, vals, 0.38, yerr=errs, label=lab, capsize=3)
    ax.set_xticks(xs)
    ax.set_xticklabels(names)
    ax.set_ylabel("atomic ratio")
    ax.legend(fontsize=9)
    return fig
