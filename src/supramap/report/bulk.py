"""Figures of bulk measurements, like the published panels."""

from __future__ import annotations

from supramap.report._backend import headless  # noqa: E402

headless()

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from supramap.report.html import Report  # noqa: E402


def transport_figure(t, rho, result, units: str) -> Figure:
    """ρ(T) with the transition criteria (inset: the transition)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    scale, label = (1e8, "ρ (µΩ cm)") if units == "ohm m" else (1.0, "R (Ω)")
    a.plot(t, rho * scale, ".", ms=2, color="k")
    a.set_xlabel("T (K)")
    a.set_ylabel(label)
    a.set_title("Resistivity", fontsize=9)
    tr = result.transition
    near = (t > tr.x10 - 4 * max(tr.width, 0.2)) & (t < tr.onset + 4 * max(tr.width, 0.2))
    b.plot(t[near], rho[near] * scale, ".-", ms=3, color="k")
    tt = t[near]
    b.plot(tt, (tr.normal_slope * tt + tr.normal_intercept) * scale, "--", color="0.5",
           label="normal-state line")
    for x, name, c in ((tr.onset, "onset", "tab:red"), (tr.x90, "90 %", "tab:orange"),
                       (tr.x50, "50 %", "tab:green"), (tr.x10, "10 %", "tab:blue"),
                       (tr.zero, "zero", "tab:purple")):
        if np.isfinite(x):
            b.axvline(x, color=c, lw=0.8, label=f"{name} {x:.2f} K")
    b.set_xlabel("T (K)")
    b.set_ylabel(label)
    b.legend(fontsize=9)
    b.set_title("Transition", fontsize=9)
    return fig


def field_sweep_figure(field, rho, temperature, result) -> Figure:
    """ρ(µ0H) curves and the critical fields against temperature."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    keys = np.round(np.asarray(temperature) / 0.05) * 0.05
    for k in np.unique(keys[np.isfinite(keys)]):
        sel = keys == k
        a.plot(field[sel], rho[sel], ".", ms=2, label=f"{k:.2f} K")
    a.set_xlabel("µ0H (T)")
    a.set_ylabel("R (Ω)")
    a.legend(fontsize=9)
    for name, vals in (("90 %", result.hc_90_T), ("50 %", result.hc_50_T),
                       ("10 %", result.hc_10_T), ("zero", result.hc_zero_T)):
        b.plot(result.temperatures_K, vals, "o-", label=name)
    b.set_xlabel("T (K)")
    b.set_ylabel("µ0Hc (T)")
    b.legend(fontsize=9)
    return fig


def susceptibility_figure(tz, cz, tf, cf, n: float) -> Figure:
    """ZFC and FC volume susceptibility, demagnetisation-corrected (SI)."""
    fig, ax = plt.subplots(figsize=(6, 3.6), constrained_layout=True)
    from supramap.bulk.magnetisation import demag_correct

    ax.plot(tz, demag_correct(cz, n), "o", ms=3, label="ZFC")
    if tf is not None:
        ax.plot(tf, demag_correct(cf, n), "s", ms=3, label="FC")
    ax.axhline(-1, color="0.6", ls=":")
    ax.set_xlabel("T (K)")
    ax.set_ylabel(r"$\chi_v$ (SI, demagnetisation-corrected)")
    ax.set_title(f"Susceptibility, N = {n:.3f}", fontsize=9)
    ax.legend(fontsize=9)
    return fig


def heat_figures(t, c, result) -> tuple[Figure, Figure]:
    """C/T vs T² with the fit, and C_e/T vs T with the entropy-conserving construction."""
    f1, ax = plt.subplots(figsize=(5.5, 4.4), constrained_layout=True)
    fit = result.fit
    sel = t <= fit.window_K[1] * 1.6
    ax.plot(t[sel] ** 2, c[sel] / t[sel] * 1e3, "o", ms=3, color="k")
    x = np.linspace(0, (fit.window_K[1] * 1.6) ** 2, 50)
    replaced = getattr(result, "source", "window") == "alpha-model"
    ax.plot(x, (fit.gamma + fit.beta * x) * 1e3, "r-" if not replaced else "r:",
            label=("window fit" + (" (contaminated, not used)" if replaced else "") +
                   f"\nγ = {fit.gamma * 1e3:.3f} mJ/mol K², β = {fit.beta * 1e3:.3f} mJ/mol K⁴"))
    if replaced:
        ax.plot(x, (result.gamma0 + result.beta * x) * 1e3, "-", color="tab:blue",
                label=f"used: γ0 (α-model) = {result.gamma0 * 1e3:.3f} mJ/mol K²\n"
                      f"β (normal state) = {result.beta * 1e3:.3f} mJ/mol K⁴")
    ax.axvspan(fit.window_K[0] ** 2, fit.window_K[1] ** 2, color="0.9")
    ax.set_xlabel("T² (K²)")
    ax.set_ylabel("C/T (mJ/mol K²)")
    # Below the axes: the labels carry the fitted numbers and are wider than the plot.
    f1.legend(*ax.get_legend_handles_labels(), loc="outside lower center", fontsize=9)
    f2, bx = plt.subplots(figsize=(5.5, 3.6), constrained_layout=True)
    beta = result.beta if np.isfinite(result.beta) else fit.beta
    ce = c / t - beta * t**2
    bx.plot(t, ce * 1e3, ".", ms=3, color="k", label="$C_e/T$")
    if np.isfinite(result.gamma_n):
        bx.axhline(result.gamma_n * 1e3, color="0.5", ls="--", label="γn")
    a = result.alpha
    if a is not None and a.success:
        from supramap.bulk.heat import smeared_alpha_model

        tt = np.linspace(max(float(np.min(t)), 0.05), 1.3 * a.Tc_K, 300)
        model = a.gamma0 + (a.gamma_n - a.gamma0) * smeared_alpha_model(tt, a.alpha, a.Tc_K,
                                                                         a.Tc_spread_K)
        bx.plot(tt, model * 1e3, "-", color="tab:blue", lw=1,
                label=f"α-model: α = {a.alpha:.2f}, γ0 = {a.gamma0 * 1e3:.2f} mJ/mol K²")
    if result.jump is not None:
        j = result.jump
        bx.vlines(j.Tc_K, result.gamma_n * 1e3, (result.gamma_n + j.delta_c_over_tc) * 1e3,
                  color="tab:red", label=f"Tc {j.Tc_K:.2f} K, ΔC/γnTc {j.jump_ratio:.2f}")
    bx.set_xlabel("T (K)")
    bx.set_ylabel("$C_e/T$ (mJ/mol K²)")
    bx.legend(fontsize=9)
    return f1, f2


def loop_figure(field, moment, volume, result) -> Figure:
    """M(H) and Jc(µ0H)."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    a.plot(field, np.asarray(moment) / volume / 1e3, ".-", ms=2, lw=0.5)
    a.set_xlabel("µ0H (T)")
    a.set_ylabel("M (kA/m)")
    b.plot(result.field_T, result.jc_A_per_m2 * 1e-4, "-")
    b.set_yscale("log")
    b.set_xlabel("µ0H (T)")
    b.set_ylabel("Jc (A/cm²)")
    b.set_title(f"Bean slab: self-field Jc {result.jc_self_field * 1e-4:.3g} A/cm²",
                fontsize=9)
    return fig


def table_section(report: Report, title: str, d: dict) -> None:
    """A heading and a table of the scalar results."""
    report.heading(title)
    rows = [(k, f"{v:.6g}" if isinstance(v, float) else str(v)) for k, v in d.items()
            if isinstance(v, (int, float, str)) or v is None]
    report.table(rows, header=["quantity", "value"])
