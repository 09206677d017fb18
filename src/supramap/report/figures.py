"""Figures of cAFM analyses: maps with physical scale bars, histograms, overlays, profiles.

Each function takes results and returns a :class:`matplotlib.figure.Figure`; saving is the
caller's business.  The Agg backend is used so no display is needed.
"""

from __future__ import annotations

from supramap.report._backend import headless  # noqa: E402

headless()

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib import patheffects  # noqa: E402
from matplotlib.colors import ListedColormap, LogNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar  # noqa: E402

from supramap.units import si_prefix  # noqa: E402


def nice_length(span: float) -> float:
    """A 1-2-5 × 10^n length close to a fifth of *span*."""
    target = span / 5
    if target <= 0 or not np.isfinite(target):
        return span
    exp = np.floor(np.log10(target))
    for m in (5, 2, 1):
        if m * 10**exp <= target:
            return float(m * 10**exp)
    return float(10**exp)


def add_scale_bar(ax, image: xr.DataArray, color: str = "white") -> None:
    """Draw a physical scale bar (data coordinates are pixels)."""
    dx = float(abs(image.x[1] - image.x[0]))
    width = dx * image.sizes["x"]
    length = nice_length(width)
    bar = AnchoredSizeBar(ax.transData, length / dx, si_prefix(length, "m"), "lower right",
                          pad=0.4, color=color, frameon=True, size_vertical=max(
                              image.sizes["y"] / 150, 1), fontproperties={"size": 9})
    # A translucent dark box behind the bar: readable on bright and dark maps alike.
    bar.patch.set(facecolor="black", alpha=0.45, edgecolor="none")
    ax.add_artist(bar)


#: Below this many islands the size figure shows each island (a cumulative count), not bins.
FEW_ISLANDS = 40


def island_sizes_figure(result) -> Figure:
    """Distributions of the islands' equivalent diameter (nm, log axis) and elongation:
    histograms, or with fewer than :data:`FEW_ISLANDS` islands every island as a step of the
    count of islands at least that large."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.4, 3.2), constrained_layout=True)
    d = np.array([i.equivalent_diameter_m for i in result.islands]) * 1e9
    el = np.array([i.elongation for i in result.islands])
    few = d.size < FEW_ISLANDS
    if few and d.size:
        # A handful of islands: every one shown (a count of islands at least this large),
        # not a histogram of three bins.
        for ax, v, colour in ((a, np.sort(d), "C0"), (b, np.sort(el), "C1")):
            ax.step(v, np.arange(v.size, 0, -1), where="post", color=colour)
            ax.plot(v, np.arange(v.size, 0, -1), "o", ms=4, color=colour)
        a.set_xscale("log")
    elif d.size:
        bins = np.logspace(np.log10(max(d.min(), 1e-3)), np.log10(d.max() * 1.01),
                           min(30, max(5, d.size // 3)))
        a.hist(d, bins=bins, color="C0")
        a.set_xscale("log")
        b.hist(el, bins=min(30, max(5, el.size // 3)), color="C1")
    if d.size:
        b.axvline(3, color="0.4", ls="--", lw=1, label="stripe ≥ 3")
        b.legend(fontsize=9)
        from matplotlib.ticker import LogFormatter, MaxNLocator

        # Plain numbers on the log axis (not 4×10²), whole islands on the counts.
        a.xaxis.set_major_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.3)))
        a.xaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False,
                                                 minor_thresholds=(2, 0.3)))
        for ax in (a, b):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    a.set_xlabel("equivalent diameter (nm)")
    a.set_ylabel("islands at least this large" if few else "islands")
    b.set_xlabel("elongation (major / minor axis)")
    b.set_ylabel("islands at least this elongated" if few else "islands")
    a.set_title(f"{d.size} islands", fontsize=9)
    return fig


PREFIXES = (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3), ("", 1.0), ("m", 1e-3),
            ("µ", 1e-6), ("n", 1e-9), ("p", 1e-12), ("f", 1e-15))


def display_unit(values: np.ndarray, unit: str) -> tuple[float, str]:
    """Scale factor and prefixed unit so the values read as 0.1–1000 (e.g. nm, µA)."""
    finite = np.abs(values[np.isfinite(values)])
    if not unit or finite.size == 0:
        return 1.0, unit
    peak = float(np.percentile(finite, 99.5)) or float(finite.max())
    for prefix, factor in PREFIXES:
        if peak >= factor:
            return factor, prefix + unit
    return 1.0, unit


def display_range(z: np.ndarray, image: xr.DataArray) -> tuple[float, float]:
    """Colour range of a map: the percentiles in ``attrs["display_clip"]`` (set by the image
    commands' ``--clip LO,HI``), 0.5–99.5 % by default.  Display only: data are untouched."""
    lo_p, hi_p = image.attrs.get("display_clip", (0.5, 99.5))
    if not np.isfinite(z).any():
        return 0.0, 1.0
    lo, hi = np.nanpercentile(z, [lo_p, hi_p])
    return float(lo), float(max(hi, lo + 1e-300))


def show_map(ax, image: xr.DataArray, *, title: str, cmap: str = "afmhot", log: bool = False,
             floor: float | None = None, label: str | None = None) -> None:
    """imshow *image* with scale bar and colour bar; ``log`` uses |values| on a log scale."""
    z = np.asarray(image.values, dtype=float)
    unit = image.attrs.get("units", "")
    if log:
        mag = np.abs(z)
        lo = floor if floor and floor > 0 else max(np.nanpercentile(mag, 1), 1e-15)
        im = ax.imshow(np.clip(mag, lo, None), cmap=cmap,
                       norm=LogNorm(vmin=lo, vmax=max(np.nanmax(mag), lo * 10)),
                       interpolation="nearest")
    else:
        factor, unit = display_unit(z, unit)
        z = z / factor
        lo, hi = display_range(z, image)
        im = ax.imshow(z, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    add_scale_bar(ax, image)
    cb = ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    cb.set_label(label or (f"|{image.name or 'value'}| ({unit})" if log
                           else f"{image.name or 'value'} ({unit})"), fontsize=9)
    cb.ax.tick_params(labelsize=9)


def maps_figure(current: xr.DataArray, result, topography: xr.DataArray | None = None,
                deflection: xr.DataArray | None = None) -> Figure:
    """Topography, deflection, current (linear) and current (log) side by side."""
    panels = [p for p in (topography, deflection) if p is not None]
    n = len(panels) + 2
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.8), constrained_layout=True)
    i = 0
    if topography is not None:
        show_map(axes[i], topography, title="Topography (plane-levelled)", cmap="copper")
        i += 1
    if deflection is not None:
        show_map(axes[i], deflection, title="Deflection", cmap="gray")
        i += 1
    cur = current.copy(data=result.oriented_current)
    cur.name = "current"
    show_map(axes[i], cur, title="Current (linear)", cmap="inferno")
    show_map(axes[i + 1], cur, title="Current (log)", cmap="inferno", log=True,
             floor=max(result.noise.sigma_A, 1e-15))
    return fig


def histogram_figure(result) -> Figure:
    """Histogram of log10 |current| with noise floor, threshold and levels marked."""
    z = result.oriented_current
    mag = np.abs(z[np.isfinite(z)])
    floor = max(result.noise.sigma_A * 1e-2, 1e-16)
    logs = np.log10(np.maximum(mag, floor))
    fig, ax = plt.subplots(figsize=(6.5, 3.6), constrained_layout=True)
    ax.hist(logs, bins=300, color="0.35", log=True)
    ax.axvline(np.log10(result.noise.floor_A), color="tab:blue", ls="--",
               label=f"noise floor {si_prefix(result.noise.floor_A, 'A')}")
    ax.axvline(np.log10(result.threshold_A), color="tab:red",
               label=f"threshold {si_prefix(result.threshold_A, 'A')}")
    for k, lvl in enumerate(result.levels.levels_A):
        ax.axvline(np.log10(lvl), color="tab:green", ls=":",
                   label=f"level {k + 1}: {si_prefix(lvl, 'A')} "
                         f"({100 * result.levels.fractions[k]:.0f} %)")
    ax.set_xlabel("log10 |current / A|")
    ax.set_ylabel("pixels")
    ax.set_title(f"Current histogram — conducting fraction "
                 f"{100 * result.conducting_fraction:.2f} %", fontsize=9)
    ax.legend(fontsize=9, loc="upper center")
    return fig


def islands_figure(current: xr.DataArray, result) -> Figure:
    """Log-current map with island outlines; stripes in cyan, islands in lime."""
    fig, ax = plt.subplots(figsize=(5.2, 4.4), constrained_layout=True)
    cur = current.copy(data=result.oriented_current)
    cur.name = "current"
    show_map(ax, cur, title=f"{result.n_islands} islands "
                            f"({sum(i.is_stripe for i in result.islands)} stripes)",
             cmap="gray", log=True, floor=max(result.noise.sigma_A, 1e-15))
    labels = result.labels
    stripe = {i.label for i in result.islands if i.is_stripe}
    if labels.max() > 0:
        is_stripe = np.isin(labels, list(stripe)) if stripe else np.zeros(labels.shape, bool)
        ax.contour(labels > 0, levels=[0.5], colors="lime", linewidths=0.6)
        if is_stripe.any():
            ax.contour(is_stripe, levels=[0.5], colors="cyan", linewidths=0.8)
        for isl in result.islands[:200]:
            col = (isl.centroid_x_m - float(current.x[0])) / result.pixel_size_m[1]
            row = (isl.centroid_y_m - float(current.y[0])) / result.pixel_size_m[0]
            # Yellow on a black outline: readable on the bright islands and the dark matrix.
            ax.text(col, row, str(isl.label), color="yellow", fontsize=9, ha="center",
                    va="center", fontweight="bold",
                    path_effects=[patheffects.withStroke(linewidth=2, foreground="black")])
    return fig


def edges_figure(result) -> Figure:
    """Normalised current across island boundaries and the 10–90 % width distribution."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.4), constrained_layout=True)
    e = result.edges
    if e.profiles.size:
        t_nm = e.distance_m * 1e9
        from matplotlib.collections import LineCollection

        # One artist for the 100 grey profiles (100 Line2D took 0.3 s to draw).
        shown = e.profiles[:100]
        a.add_collection(LineCollection(
            np.stack([np.broadcast_to(t_nm, shown.shape), shown], axis=-1), colors="0.6",
            linewidths=0.4))
        a.plot(t_nm, np.median(e.profiles, axis=0), color="tab:red", lw=2, label="median")
        a.axhline(0.9, color="k", ls=":", lw=0.8)
        a.axhline(0.1, color="k", ls=":", lw=0.8)
        a.legend(fontsize=9)
    a.set_xlabel("distance along outward normal (nm)")
    a.set_ylabel("normalised current")
    a.set_title("Edge profiles", fontsize=9)
    if e.widths_m.size:
        b.hist(e.widths_m * 1e9, bins=40, color="0.4")
        b.axvline(e.median_m * 1e9, color="tab:red", label=f"median {e.median_m * 1e9:.1f} nm")
        b.legend(fontsize=9)
    b.set_xlabel("10–90 % width (nm)")
    b.set_ylabel("profiles")
    b.set_title(f"Edge width ({e.widths_m.size} of {e.n_profiles} profiles)", fontsize=9)
    return fig


def comparison_figure(comparison, image_a: xr.DataArray, labels: tuple[str, str] = ("A", "B"),
                      ) -> Figure:
    """Conducting in both maps (black), only in A (red) and only in B (blue) on white, with a
    legend that names the maps; spots too small to see at the page's size (median under 60
    pixels) are also ringed in their colour."""
    from matplotlib.patches import Patch
    from scipy import ndimage as ndi

    ma, mb = comparison.mask_a, comparison.mask_b
    code = np.zeros(ma.shape, dtype=int)
    code[ma & mb] = 1
    code[ma & ~mb] = 2
    code[~ma & mb] = 3
    colours = ["#ffffff", "#222222", "#d62728", "#1f5fd6"]
    fig, ax = plt.subplots(figsize=(5.8, 5.0), constrained_layout=True)
    ax.imshow(code, cmap=ListedColormap(colours), vmin=-0.5, vmax=3.5,
              interpolation="nearest")
    lab, n = ndi.label(code > 0)
    if n:
        sizes = np.bincount(lab.ravel())[1:]
        if np.median(sizes) < 60:
            centres = ndi.center_of_mass(code > 0, lab, range(1, n + 1))
            idx = range(1, n + 1)
            # A spot seen in both maps (even if shifted a little) is ringed as persistent.
            kind = np.where(ndi.maximum(code == 1, lab, idx), 1, ndi.maximum(code, lab, idx))
            for (cy, cx), k in zip(centres, kind):
                ax.plot(cx, cy, "o", ms=9, mfc="none", mec=colours[int(k)], mew=1.2)
    for side in ax.spines.values():
        side.set_color("0.6")
    ax.set_xticks([])
    ax.set_yticks([])
    add_scale_bar(ax, image_a)
    a, b = (_short(x) for x in labels)
    ax.legend(handles=[Patch(color=colours[1], label="both"),
                       Patch(color=colours[2], label=f"only {a}"),
                       Patch(color=colours[3], label=f"only {b}")],
              loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=3, fontsize=9,
              frameon=False)
    ax.set_title(f"Conducting areas: IoU {comparison.iou:.2f}", fontsize=10)
    return fig


def _short(name: str, n: int = 28) -> str:
    """A file name short enough for a legend."""
    return name if len(name) <= n else name[: n - 1] + "…"


def series_figure(series) -> Figure:
    """Conducting fraction against temperature, the maps joined by arrows in acquisition
    order (a re-cooled map at an earlier temperature is a second point there, labelled with
    its place in the sequence)."""
    fig, ax = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    t = np.asarray(series.temperatures_K, dtype=float)
    f = np.asarray(series.conducting_fraction) * 100
    ax.plot(t, f, "o", color="tab:red", zorder=3)
    for i in range(len(t) - 1):
        ax.annotate("", xy=(t[i + 1], f[i + 1]), xytext=(t[i], f[i]),
                    arrowprops={"arrowstyle": "->", "color": "0.45", "lw": 1.0,
                                "shrinkA": 5, "shrinkB": 5,
                                "connectionstyle": "arc3,rad=0.15"})
    for i, (ti, fi) in enumerate(zip(t, f)):
        ax.annotate(f"#{i + 1}", (ti, fi), textcoords="offset points", xytext=(6, 4),
                    fontsize=9)
    ax.margins(x=0.1, y=0.12)  # room for the labels at the extremes
    ax.set_xlabel("T (K)")
    ax.set_ylabel("conducting fraction (%)")
    title = "Conduction vs temperature"
    if series.vanishing_temperature_K is not None:
        title += f": vanishes at {series.vanishing_temperature_K:g} K"
    ax.set_title(title, fontsize=10)
    return fig
