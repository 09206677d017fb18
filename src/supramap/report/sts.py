"""Figures of tunnelling spectra."""

from __future__ import annotations

from supramap.report._backend import headless  # noqa: E402

headless()

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from supramap.quality import Z90  # noqa: E402

_PREFIXES = (("", 0), ("m", -3), ("µ", -6), ("n", -9), ("p", -12), ("f", -15))


def _base_unit(u: str) -> str:
    """``"nA"`` → ``"A"``, ``"µS"`` → ``"S"``; the unit itself when it has no such prefix."""
    if len(u) >= 2 and u[0] in "mµunpf" and u[1:] in ("A", "V", "S", "A/V"):
        return u[1:]
    return u


def conductance_label(units: str | None = "", *, what: str = "dI/dV") -> str:
    """An axis label for a conductance in the unit it really has: S (or A/V) is a conductance;
    a lock-in signal in A or V, or no unit, is one only after a calibration, so it is
    "arb. u." (with the channel's own unit said).  Never "dI/dV (A)".  A prefixed unit
    (``"nA"``, ``"µS"``, from :func:`signal_scale`) is kept as given."""
    u = (units or "").strip()
    base = _base_unit(u)
    if base in ("S", "A/V"):
        return f"{what} ({u if base == 'S' else 'S'})"
    if base in ("A", "V"):
        return f"{what} (arb. u.; lock-in signal in {u})"
    return f"{what} (arb. u.)"


def signal_scale(values, units: str | None) -> tuple[float, str]:
    """The factor and prefixed unit that put a signal in A, V or S into [1, 1000) of its unit
    (``1e-9 A`` → ``(1e9, "nA")``), so that an axis shows plain numbers and never an offset
    label such as "1e−9".  A signal in arbitrary units (no unit) is scaled the same way, its
    unit staying ``""``; any other unit is left as it is: ``(1.0, units)``."""
    u = (units or "").strip()
    base = "S" if u == "A/V" else u
    if base not in ("A", "V", "S", ""):
        return 1.0, u
    v = np.abs(np.asarray(values, dtype=float))
    v = v[np.isfinite(v)]
    top = float(v.max()) if v.size else 0.0
    if top == 0.0:
        return 1.0, base
    if not base:  # arbitrary units: any power of 1000 (values ≥ 1000 too)
        k = int(np.floor(np.log10(top * 1.0005) / 3))
        return 10.0 ** (-3 * k), ""
    for prefix, exponent in _PREFIXES:
        if top >= 10.0 ** exponent * 0.9995:
            return 10.0 ** -exponent, prefix + base
    return 10.0 ** -_PREFIXES[-1][1], _PREFIXES[-1][0] + base

def fit_figure(res) -> Figure:
    """Data, best fit and residuals."""
    fig, (a, b) = plt.subplots(2, 1, figsize=(6.5, 4.6), sharex=True, height_ratios=[3, 1],
                               constrained_layout=True)
    a.plot(res.bias * 1e3, res.data, ".", ms=2, color="k", label="data")
    if getattr(res, "success", True):
        a.plot(res.bias * 1e3, res.best_fit, "-", color="tab:red", label=f"{res.model} fit")
    else:
        # A failed fit is never drawn as a fit: a thin dashed line, labelled as failed.
        a.plot(res.bias * 1e3, res.best_fit, "--", lw=0.8, color="0.5",
               label=f"{res.model}: FIT FAILED (see warnings)")
        a.set_title("fit failed — the curve is not a description of the data", fontsize=9,
                    color="tab:red")
    a.set_ylabel(conductance_label())
    a.ticklabel_format(axis="y", useOffset=False)
    a.legend(fontsize=9)
    b.plot(res.bias * 1e3, res.residual, ".", ms=2, color="0.3")
    b.set_xlabel("bias (mV)")
    b.set_ylabel("residual (arb. u.)")
    b.ticklabel_format(axis="y", useOffset=False)
    return fig


def deconvolution_figure(res) -> Figure:
    """Recovered DOS and the re-convolved spectrum."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    a.plot(res.energy_eV * 1e3, res.dos, "-", color="tab:blue")
    for i, gp in enumerate(res.gaps_eV):
        a.axvline(gp * 1e3, color=f"C{i + 3}", lw=0.8, ls="--",
                  label=f"gap Δ{i + 1} = {gp * 1e3:.3g} meV")
    if len(res.gaps_eV):
        a.legend(fontsize=9)
    a.set_xlabel("E (meV)")
    a.set_ylabel("sample DOS N(E)/N₀")
    b.plot(res.bias * 1e3, res.data, ".", ms=2, color="k", label="data")
    b.plot(res.bias * 1e3, res.reconvolved, "-", color="tab:red", label="re-convolved")
    b.set_xlabel("bias (mV)")
    b.set_ylabel(conductance_label())
    b.legend(fontsize=9)
    return fig


def peaks_figure(bias, g, cp, zb) -> Figure:
    """Spectrum with coherence peaks and the zero-bias peak marked."""
    fig, ax = plt.subplots(figsize=(6.5, 3.6), constrained_layout=True)
    factor, _ = signal_scale(g, "")  # arbitrary units: plain numbers, no "1e−9" label
    g = np.asarray(g, dtype=float) * factor
    ax.plot(np.asarray(bias) * 1e3, g, "-", color="k", lw=0.8)
    # Only the ±E pairs that give the gaps are drawn (a spectrum with many small maxima must
    # not become a wall of lines); every other significant peak is a small tick on top.
    for i, pair in enumerate(cp.pairs[:4]):
        for e in (pair.get("minus_eV"), pair.get("plus_eV")):
            if e is not None:
                ax.axvline(e * 1e3, color=f"C{i + 3}", lw=0.8, ls="--")
        ax.plot([], [], color=f"C{i + 3}", ls="--", label=f"pair {i + 1}: Δ = "
                                                          f"{pair['gap_eV'] * 1e3:.3g} meV")
    if cp.positions_eV:
        ax.plot(np.asarray(cp.positions_eV) * 1e3, np.full(len(cp.positions_eV),
                                                           np.nanmax(g) * 1.02),
                "v", ms=3, color="tab:red", label="peaks above 7σ")
    if zb.present:
        ax.axvline(zb.position_eV * 1e3, color="tab:green", lw=1.0, label="ZBCP")
    if cp.pairs or cp.positions_eV or zb.present:
        ax.legend(fontsize=9)
    ax.set_xlabel("bias (mV)")
    ax.set_ylabel(conductance_label())
    return fig


def waterfall_figure(spectra, parameter, name: str) -> Figure:
    """Spectra offset by their parameter, each named at its right end (``0.5 T``); the
    offsets make the vertical scale meaningless, so it carries no tick values."""
    fig, ax = plt.subplots(figsize=(5.5, 5), constrained_layout=True)
    order = np.argsort(parameter)
    span = max(float(np.ptp(s[1])) for s in spectra) or 1.0
    label = axis_name(name)
    symbol, _, unit = label.rpartition(" (")
    unit = unit.rstrip(")")
    for k, i in enumerate(order):
        b, g = np.asarray(spectra[i][0]) * 1e3, np.asarray(spectra[i][1])
        line, = ax.plot(b, g + 0.6 * span * k, lw=0.9)
        ax.annotate(f"{parameter[i]:g} {unit}".strip(), (b[-1], g[-1] + 0.6 * span * k),
                    xytext=(4, 0), textcoords="offset points", va="center", fontsize=9,
                    color=line.get_color())
    ax.set_xlabel("bias (mV)")
    ax.set_ylabel(conductance_label() + ", offset for clarity")
    ax.set_yticks([])
    ax.margins(x=0.12)
    ax.set_title(f"Spectra by {symbol or label}, bottom to top", fontsize=10)
    return fig


def _extent_nm(da) -> list[float] | None:
    """imshow extent [x0, x1, y1, y0] in nm from an image's x, y coordinates (m)."""
    if "x" not in da.coords or "y" not in da.coords or da.sizes.get("x", 0) < 2:
        return None
    x = np.asarray(da["x"].values, dtype=float) * 1e9
    y = np.asarray(da["y"].values, dtype=float) * 1e9
    dx, dy = (x[1] - x[0]) / 2, (y[1] - y[0]) / 2
    return [x[0] - dx, x[-1] + dx, y[-1] + dy, y[0] - dy]


def maps_figure(maps) -> Figure:
    """dI/dV maps at several energies side by side, axes in nm, colour bars with the unit."""
    n = maps.sizes["energy"]
    fig, axes = plt.subplots(1, n, figsize=(3.4 * n, 3.3), constrained_layout=True,
                             squeeze=False)
    unit = maps.attrs.get("units", "")
    for ax, e in zip(axes[0], maps["energy"].values):
        sl = maps.sel(energy=e)
        factor, shown = signal_scale(sl.values, unit)
        im = ax.imshow(sl.values * factor, cmap="viridis", extent=_extent_nm(sl),
                       interpolation="nearest")
        ax.set_title(f"{e * 1e3:g} meV", fontsize=9)
        ax.set_xlabel("x (nm)")
        ax.set_ylabel("y (nm)")
        fig.colorbar(im, ax=ax, fraction=0.046, label=conductance_label(shown))
    return fig


def gap_map_figure(ds) -> Figure:
    """Fitted gap Δ, its 90 % half-width (1.645 standard errors, when the map has them) and
    broadening Γ per pixel (meV), axes in nm; pixels whose fit did not converge to a resolved
    gap are shown grey, never as values."""
    x = ds["x"].values * 1e9
    y = ds["y"].values * 1e9
    extent = [x[0], x[-1], y[-1], y[0]] if x.size > 1 and y.size > 1 else None
    ok = ds["converged"].values.astype(bool)
    panels = [("delta", "gap Δ (meV)", 1e3)]
    if "delta_stderr" in ds:
        panels.append(("delta_stderr", "Δ 90 % half-width (µeV)", Z90 * 1e6))
    panels.append(("gamma", "broadening Γ (meV)", 1e3))
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6),
                             constrained_layout=True)
    for ax, (name, label, factor) in zip(axes, panels):
        v = np.where(ok, ds[name].values * factor, np.nan)
        cmap = plt.get_cmap("viridis").with_extremes(bad="0.8")
        im = ax.imshow(v, cmap=cmap, extent=extent, interpolation="nearest")
        ax.set_xlabel("x (nm)")
        ax.set_ylabel("y (nm)")
        ax.set_title(f"{label}; grey: not converged ({100 * (1 - ok.mean()):.0f} %)",
                     fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046, label=label)
    return fig


def decomposition_figure(dec) -> Figure:
    """Component spectra (bias in mV) above their maps (x, y in nm)."""
    k = dec.n_components
    fig, axes = plt.subplots(2, k, figsize=(3.0 * k, 5.6), constrained_layout=True,
                             squeeze=False)
    bias_mv = dec.components["bias"].values * 1e3
    x = dec.maps["x"].values * 1e9
    y = dec.maps["y"].values * 1e9
    extent = [x[0], x[-1], y[-1], y[0]] if x.size > 1 and y.size > 1 else None
    what = "cluster" if dec.method == "kmeans" else "component"
    # A cluster's spectrum is a mean of measured ones (its unit, prefixed); a PCA loading or an
    # NMF part and its weights have an arbitrary scale (plain numbers, no "1e−9" label).
    factor, shown = signal_scale(dec.components.values, dec.components.attrs.get("units", "")
                                 if dec.method == "kmeans" else "")
    weight = 1.0 if dec.method == "kmeans" else signal_scale(dec.maps.values, "")[0]
    for i in range(k):
        ax = axes[0, i]
        ax.plot(bias_mv, dec.components.values[i] * factor, color=f"C{i}")
        ax.set_xlabel("bias (mV)")
        # A cluster's spectrum is a mean of measured ones; a PCA loading or an NMF part has
        # an arbitrary scale.
        ax.set_ylabel(conductance_label(shown)
                      if dec.method == "kmeans" else f"{what} spectrum (arb. u.)")
        ax.set_title(f"{what} {i}", fontsize=9)
        m = axes[1, i]
        im = m.imshow(dec.maps.values[i] * weight, cmap="viridis", extent=extent,
                      interpolation="nearest")
        m.set_xlabel("x (nm)")
        m.set_ylabel("y (nm)")
        fig.colorbar(im, ax=m, fraction=0.046,
                     label="member (1) / not (0)" if dec.method == "kmeans" else "weight")
    return fig


def dispersion_figure(points, fit) -> Figure:
    """E(q) of the tracked QPI branch (q in nm⁻¹, E in meV) with the fitted model."""
    from supramap.sts.qpi import E_CHARGE, HBAR, M_E

    on = [p for p in points if p["q_per_nm"] is not None and p.get("on_branch", True)]
    off = [p for p in points if p["q_per_nm"] is not None and not p.get("on_branch", True)]
    q = np.array([p["q_per_nm"] for p in on])
    e = np.array([p["energy_eV"] for p in on]) * 1e3
    fig, ax = plt.subplots(figsize=(4.6, 3.6), constrained_layout=True)
    ax.plot(q, e, "o", label="ring maximum on the branch")
    if off:
        ax.plot([p["q_per_nm"] for p in off], [p["energy_eV"] * 1e3 for p in off], "x",
                color="0.5", label="off the branch (not fitted)")
    qq = np.linspace(0, q.max() * 1.1, 200)
    if fit["model"] == "parabolic":
        model = fit["E0_eV"] + HBAR**2 * (qq * 1e9) ** 2 / (
            2 * fit["effective_mass_me"] * M_E) / E_CHARGE
        label = f"parabolic, m* = {fit['effective_mass_me']:.3g} mₑ"
    else:
        model = fit["E0_eV"] + HBAR * fit["velocity_m_per_s"] * qq * 1e9 / E_CHARGE
        label = f"linear, v = {fit['velocity_m_per_s']:.3g} m/s"
    ax.plot(qq, model * 1e3, "-", label=label)
    ax.set_xlabel("q (nm⁻¹)")
    ax.set_ylabel("E (meV)")
    ax.legend(fontsize=9)
    return fig


def linecut_figure(cuts, branch=None) -> Figure:
    """One E–q panel per line cut (q in nm⁻¹, E in meV), with the tracked branch's points when
    the cut runs along it."""
    n = len(cuts)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.6), constrained_layout=True,
                             squeeze=False)
    for ax, cut in zip(axes[0], cuts):
        q = np.asarray(cut.q.values, float) * 1e-9
        e = np.asarray(cut.energy.values, float) * 1e3
        vals = np.asarray(cut.values, float)
        hi = float(np.nanpercentile(vals, 99.5))
        im = ax.pcolormesh(q, e, vals, shading="nearest", cmap="magma", vmin=0, vmax=hi)
        if branch:
            ang = cut.attrs["direction_deg"]
            pts = [(p["q_per_nm"], p["energy_eV"] * 1e3) for p in branch
                   if p["q_per_nm"] is not None and p.get("on_branch", True) and
                   (p["angle_deg"] is None or abs(((p["angle_deg"] - ang + 90) % 180) - 90)
                    < 10)]
            if pts:
                ax.plot(*zip(*pts), "o", mfc="none", mec="c", ms=6, label="tracked branch")
                ax.legend(fontsize=9, loc="lower right")
        ax.set_xlabel("q (nm⁻¹)")
        ax.set_ylabel("E (meV)")
        ax.set_title(f"cut at {cut.attrs['direction_deg']:.1f}° from qx", fontsize=9)
        fig.colorbar(im, ax=ax, label="|FFT| / median of the energy")
    return fig


def clusters_vs_gap_figure(dec, gap_data) -> Figure:
    """The k-means cluster map (nm) beside the gap map (meV, non-converged pixels grey) and
    the clusters' mean spectra."""
    from matplotlib.colors import ListedColormap

    fig, (a, b, c) = plt.subplots(1, 3, figsize=(13.5, 3.6), constrained_layout=True)
    lab = np.asarray(dec.labels.values, dtype=float)
    lab[lab < 0] = np.nan
    k = dec.n_components
    cmap = ListedColormap([f"C{i}" for i in range(k)])
    ext = _extent_nm(dec.labels)
    im = a.imshow(lab, cmap=cmap, vmin=-0.5, vmax=k - 0.5, extent=ext, interpolation="nearest")
    fig.colorbar(im, ax=a, ticks=range(k), label="cluster")
    a.set_title("k-means clusters of the spectra", fontsize=9)
    delta = np.asarray(gap_data["delta"].where(gap_data["converged"]).values, float) * 1e3
    cm = plt.get_cmap("viridis").with_extremes(bad="0.7")
    im2 = b.imshow(np.ma.masked_invalid(delta), cmap=cm, extent=ext, interpolation="nearest")
    fig.colorbar(im2, ax=b, label="Δ (meV)")
    b.set_title("fitted gap", fontsize=9)
    for ax in (a, b):
        ax.set_xlabel("x (nm)")
        ax.set_ylabel("y (nm)")
    bias = np.asarray(dec.components["bias"].values, float) * 1e3
    factor, shown = signal_scale(dec.components.values, dec.components.attrs.get("units", ""))
    for i in range(k):
        c.plot(bias, dec.components.values[i] * factor, color=f"C{i}", label=f"cluster {i}")
    c.set_xlabel("bias (mV)")
    c.set_ylabel(conductance_label(shown, what="mean dI/dV"))
    c.legend(fontsize=9)
    return fig


def ingap_maps_figure(ds, peaks: int) -> Figure:
    """Per-pixel intrinsic energy and FWHM (µeV) of each fitted peak, non-converged pixels
    grey, axes in nm."""
    fig, axes = plt.subplots(peaks, 2, figsize=(9, 3.8 * peaks), constrained_layout=True,
                             squeeze=False)
    conv = ds["converged"].values.astype(bool)
    ext = _extent_nm(ds["converged"])
    cm = plt.get_cmap("viridis").with_extremes(bad="0.7")
    for i in range(peaks):
        for ax, key, label in ((axes[i, 0], f"energy_{i + 1}", "E (µeV)"),
                               (axes[i, 1], f"fwhm_{i + 1}", "intrinsic FWHM (µeV)")):
            v = np.where(conv, ds[key].values * 1e6, np.nan)
            im = ax.imshow(np.ma.masked_invalid(v), cmap=cm, extent=ext,
                           interpolation="nearest")
            fig.colorbar(im, ax=ax, label=label)
            ax.set_title(f"peak {i + 1}: {label.split(' (')[0]}", fontsize=9)
            ax.set_xlabel("x (nm)")
            ax.set_ylabel("y (nm)")
    return fig


#: Axis labels of the usual series parameters (the name with its unit otherwise).
AXIS_NAMES = {"field_T": "µ0H (T)", "GN_S": "G_N = I_t/V_b (S)", "temperature_K": "T (K)"}


def axis_name(name: str) -> str:
    """The axis label of a series parameter named with its unit: ``field_T`` → ``µ0H (T)``,
    ``gate_V`` → ``gate (V)``."""
    if name in AXIS_NAMES:
        return AXIS_NAMES[name]
    base, _, unit = name.rpartition("_")
    return f"{base} ({unit})" if base and unit else name


def ingap_figure(fits, parameter_name) -> Figure:
    """Intrinsic FWHM (with errors) beside the apparent one, and the peak energies, against
    the series parameter (or the file index)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(8.4, 3.4), constrained_layout=True)
    xs = [v for v, _, _ in fits]
    for x, (_, _, r) in zip(xs, fits):
        a.errorbar([x] * r.n_peaks, np.array(r.fwhm_eV) * 1e6,
                   yerr=np.array(r.fwhm_err_eV) * 1e6, fmt="o", color="C0")
        a.plot([x], [r.apparent_fwhm_eV * 1e6], "s", color="C1", mfc="none")
        b.errorbar([x] * r.n_peaks, np.array(r.energies_eV) * 1e6,
                   yerr=np.array(r.energies_err_eV) * 1e6, fmt="o", color="C2")
    a.plot([], [], "o", color="C0", label="intrinsic (fit through broadening)")
    a.plot([], [], "s", color="C1", mfc="none", label="apparent (read off the data)")
    a.axhline(fits[0][2].thermal_fwhm_eV * 1e6, color="0.6", ls="--", lw=1,
              label="thermal $3.53\\,k_BT$")
    a.set_ylabel("FWHM (µeV)")
    b.set_ylabel("peak energy (µeV)")
    for ax in (a, b):
        ax.set_xlabel(axis_name(parameter_name) if parameter_name
                      else "spectrum")
    # Below the panels: inside, the legend hid points (the 1 T one) and the thermal line.
    fig.legend(*a.get_legend_handles_labels(), loc="outside lower center", ncols=3, fontsize=9)
    return fig


def fft_figure(m, f) -> Figure:
    """Real-space map (nm) and the log Fourier amplitude (q in nm⁻¹)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 4), constrained_layout=True)
    from supramap.report.figures import display_range

    lo, hi = display_range(np.asarray(m.values, dtype=float), m)
    a.imshow(m.values, cmap="gray", extent=_extent_nm(m), interpolation="nearest", vmin=lo,
             vmax=hi)
    a.set_xlabel("x (nm)")
    a.set_ylabel("y (nm)")
    a.set_title("map", fontsize=9)
    qx = np.asarray(f.qx.values, dtype=float) * 1e-9
    qy = np.asarray(f.qy.values, dtype=float) * 1e-9
    im = b.imshow(np.log10(f.values + 1e-12 * f.values.max()), cmap="magma",
                  extent=[qx[0], qx[-1], qy[-1], qy[0]])
    b.set_xlabel("qx (nm⁻¹)")
    b.set_ylabel("qy (nm⁻¹)")
    b.set_title("log₁₀ |FFT|", fontsize=9)
    fig.colorbar(im, ax=b, fraction=0.046, label="log₁₀ amplitude (arb.)")
    return fig


def defects_figure(m, defects) -> Figure:
    """Map with the defects circled and their long axes drawn."""
    from supramap.report.figures import display_range

    fig, ax = plt.subplots(figsize=(5, 5), constrained_layout=True)
    lo, hi = display_range(np.asarray(m.values, dtype=float), m)
    ax.imshow(m.values, cmap="gray", vmin=lo, vmax=hi)
    dx = float(m.x[1] - m.x[0])
    dy = float(m.y[1] - m.y[0])
    for d in defects:
        c, r = (d.x_m - float(m.x[0])) / dx, (d.y_m - float(m.y[0])) / dy
        s = 2 * d.sigma_m / dx
        ax.add_patch(plt.Circle((c, r), s, fill=False, color="cyan", lw=0.8))
        a = np.radians(d.orientation_deg)
        ax.plot([c - s * np.cos(a), c + s * np.cos(a)], [r - s * np.sin(a), r + s * np.sin(a)],
                color="yellow", lw=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"{len(defects)} defects", fontsize=9)
    return fig


def colour_map_figure(spectra, parameter, name: str) -> Figure:
    """Spectra as a colour map against the control parameter (rows sorted by it)."""
    order = np.argsort(parameter)
    b = np.asarray(spectra[order[0]][0], dtype=float)
    rows = np.array([np.interp(b, np.asarray(spectra[i][0], float),
                               np.asarray(spectra[i][1], float)) for i in order])
    rows = rows * signal_scale(rows, "")[0]  # arbitrary units: plain numbers on the bar
    fig, ax = plt.subplots(figsize=(5.5, 4), constrained_layout=True)
    im = ax.imshow(rows, aspect="auto", cmap="viridis", origin="lower",
                   extent=[b[0] * 1e3, b[-1] * 1e3, -0.5, len(order) - 0.5])
    ax.set_yticks(range(len(order)))
    ax.set_yticklabels([f"{parameter[i]:g}" for i in order])
    ax.set_xlabel("bias (mV)")
    ax.set_ylabel(axis_name(name))
    fig.colorbar(im, ax=ax).set_label(conductance_label())
    return fig
