"""Honest bulk results: each quality warning on an input built here (numpy, not supramap.synth)
that triggers it, and a clean input that does not."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.special import erf

from supramap.bulk import (
    analyze_loop,
    analyze_susceptibility,
    analyze_transport,
    demag_correct,
    identify_branches,
)
from supramap.cli.main import main
from supramap.io.qd import write_qd
from supramap.quality import codes

MU0 = 4e-7 * np.pi
RNG = np.random.default_rng(7)


def _sc_chi(t, tc=14.0, width=0.4, fraction=1.0):
    """Intrinsic SI volume susceptibility of a superconductor: −fraction below Tc."""
    return -fraction * 0.5 * (1 - erf((t - tc) / (np.sqrt(2) * width)))


def _measured(chi, n):
    return chi / (1 + n * chi)


# ---- susceptibility --------------------------------------------------------------------------

def test_paramagnet_gives_no_shielding_and_no_tc():
    t = np.linspace(2, 300, 300)
    chi = 2e-3 / t + 1e-6 + RNG.normal(0, 1e-7, t.size)  # Curie paramagnet, SI
    r = analyze_susceptibility(t, chi, t, chi, demag_factor=0.87)
    assert np.isnan(r.shielding_fraction) and np.isnan(r.meissner_fraction)
    assert np.isnan(r.Tc_onset_K)
    assert {"susceptibility.not_diamagnetic", "susceptibility.no_transition"} <= set(
        codes(r.warnings))


def test_onset_on_the_demagnetisation_corrected_chi():
    n = 0.87
    t = np.linspace(2, 30, 600)
    chi_m = _measured(_sc_chi(t), n)
    r = analyze_susceptibility(t, chi_m, None, None, demag_factor=n)
    # Intrinsic onset: χ reaches 2 % of its full drop: erf argument solved numerically.
    fine = np.linspace(10, 20, 200001)
    truth = fine[np.nonzero(_sc_chi(fine) <= -0.02)[0][-1]]
    assert r.Tc_onset_K == pytest.approx(truth, abs=0.02)
    assert r.shielding_fraction == pytest.approx(1.0, abs=1e-3)
    assert r.warnings == ()


def test_fraction_out_of_range_names_the_cause():
    n = 0.5
    t = np.linspace(2, 30, 300)
    chi_m = _measured(_sc_chi(t), n) * 1.6  # volume underestimated by 1.6×
    r = analyze_susceptibility(t, chi_m, None, None, demag_factor=n)
    assert "susceptibility.fraction_out_of_range" in codes(r.warnings)
    msg = next(w.message for w in r.warnings if w.code == "susceptibility.fraction_out_of_range")
    assert "volume" in msg


def test_branches_fc_on_cooling_and_fc_only():
    field = 1e-3  # T
    warm = np.linspace(2, 30, 100)
    cool = warm[::-1]
    # ZFC warming, then FC measured on cooling.
    t = np.concatenate([warm, cool])
    b = identify_branches(t, np.full(t.size, field))
    assert b.zfc is not None and b.fc is not None and b.fc_mode == "cooling"
    assert t[b.zfc][0] < t[b.zfc][-1] and t[b.fc][0] > t[b.fc][-1]
    assert b.warnings == ()
    # FC cooling then FC warming: no ZFC branch at all.
    t2 = np.concatenate([cool, warm])
    b2 = identify_branches(t2, np.full(t2.size, field))
    assert b2.zfc is None and b2.fc_mode == "warming"
    assert "susceptibility.no_zfc" in codes(b2.warnings)
    # A lone warming run: its history is unknown, so it is an assumption, said aloud.
    b3 = identify_branches(warm, np.full(warm.size, field))
    assert b3.zfc is not None and b3.fc is None
    assert "susceptibility.branch_assumed" in codes(b3.warnings)
    # Comment rows win: FCC named in a comment.
    b4 = identify_branches(t, None, [{"row": 0, "text": "ZFC"},
                                     {"row": 100, "text": "FC cooling"}])
    assert b4.fc_mode == "cooling" and len(b4.fc) == 100


def test_fc_only_file_is_not_reported_as_zfc():
    n = 0.3
    cool = np.linspace(30, 2, 120)
    warm = cool[::-1]
    t = np.concatenate([cool, warm])
    chi = _measured(_sc_chi(t, fraction=0.3), n)
    b = identify_branches(t, np.full(t.size, 1e-3))
    r = analyze_susceptibility(None, None, t[b.fc], chi[b.fc], demag_factor=n, notes=b.warnings)
    assert np.isnan(r.shielding_fraction)
    assert r.meissner_fraction == pytest.approx(0.3, abs=1e-3)
    assert "susceptibility.no_zfc" in codes(r.warnings)


# ---- M(H) loops ------------------------------------------------------------------------------

def _loop_fields(hmax=1.0, n=120):
    up0 = np.linspace(0, hmax, n // 2)
    down = np.linspace(hmax, -hmax, n)
    up = np.linspace(-hmax, hmax, n)
    return np.concatenate([up0, down[1:], up[1:]])


def _branch_signs(h):
    d = np.diff(h, prepend=h[0])
    d[0] = d[1]
    return np.sign(d)


def test_bean_loop_recovers_jc():
    a, b, c = 1e-3, 2e-3, 0.2e-3
    jc = 1e9  # A/m²
    dm = jc * a * (1 - a / (3 * b)) / 2  # ΔM (A/m) that Bean's formula turns into jc
    h = _loop_fields()
    s = _branch_signs(h)
    m_eq = -0.02 * h / MU0  # weak diamagnetic reversible part
    mag = m_eq - s * dm / 2 + RNG.normal(0, 0.01 * dm, h.size)
    r = analyze_loop(h, mag * a * b * c, volume=a * b * c, a=a, b=b)
    assert r.jc_self_field == pytest.approx(jc, rel=0.02)
    assert r.warnings == ()


def test_reversible_paramagnetic_loop_gives_no_jc():
    a, b, c = 1e-3, 2e-3, 0.2e-3
    h = _loop_fields()
    mag = 1e-4 * h / MU0 + RNG.normal(0, 0.5, h.size)  # palladium-like, reversible
    r = analyze_loop(h, mag * a * b * c, volume=a * b * c, a=a, b=b)
    assert np.isnan(r.jc_self_field) and np.all(np.isnan(r.jc_A_per_m2))
    assert "loop.reversible" in codes(r.warnings)


def test_ferromagnetic_loop_gives_no_jc():
    a, b, c = 1e-3, 2e-3, 0.2e-3
    h = _loop_fields()
    s = _branch_signs(h)
    mag = 1e5 * np.tanh((h - s * 0.1) / 0.05)  # coercive field 0.1 T, decreasing branch above
    r = analyze_loop(h, mag * a * b * c, volume=a * b * c, a=a, b=b)
    assert np.isnan(r.jc_self_field)
    assert "loop.not_diamagnetic" in codes(r.warnings)


def test_inverted_loop_gives_no_jc():
    a, b, c = 1e-3, 2e-3, 0.2e-3
    h = _loop_fields()
    s = _branch_signs(h)
    mag = -0.02 * h / MU0 + s * 5e4  # increasing branch above: no critical state
    r = analyze_loop(h, mag * a * b * c, volume=a * b * c, a=a, b=b)
    assert np.isnan(r.jc_self_field)
    assert "loop.inverted" in codes(r.warnings)


# ---- transport -------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["metal", "insulator"])
def test_no_transition_gives_no_tc(kind):
    t = np.linspace(2, 300, 400)
    rho = 1e-7 + 1e-12 * t**2 if kind == "metal" else 1e-3 * np.exp(30 / t)
    r = analyze_transport(t, rho * (1 + RNG.normal(0, 1e-3, t.size)))
    assert not r.has_transition
    assert np.isnan(r.to_dict()["Tc_mid_K"])
    assert "transport.no_transition" in codes(r.warnings)


def test_clean_transition_has_no_warning():
    t = np.concatenate([np.linspace(2, 30, 2000), np.linspace(30.1, 300, 300)])
    rho = (1e-7 + 1e-12 * t**2) * 0.5 * (1 + erf((t - 14) / (np.sqrt(2) * 0.3)))
    r = analyze_transport(t, rho)
    assert r.has_transition and r.warnings == ()
    assert r.transition.x50 == pytest.approx(14.0, abs=0.05)


# ---- the warnings through the CLI: table, JSON, report, --strict -----------------------------

def _paramagnet_file(path):
    t = np.linspace(2, 300, 300)
    h_oe = 1000.0
    chi = 2e-3 / t + RNG.normal(0, 1e-7, t.size)
    vol_cm3 = 2e-3 * 1e-1 * 5e-2 * 1e-0  # 2 × 1 × 0.5 mm³ in cm³ (0.001 cm³)
    vol_cm3 = 0.2 * 0.1 * 0.05
    # χ_SI = 4π m[emu] / (V[cm³] H[Oe])
    m_emu = chi * vol_cm3 * h_oe / (4 * np.pi)
    write_qd(path, {"Temperature": ("K", t), "Magnetic Field": ("Oe", np.full(t.size, h_oe)),
                    "Moment": ("emu", m_emu)})


def test_cli_warnings_in_table_json_report_and_strict(tmp_path, capsys):
    f = tmp_path / "para.dat"
    _paramagnet_file(f)
    args = ["bulk", "susceptibility", str(f), "--length-mm", "2", "--width-mm", "1",
            "--thickness-mm", "0.5"]
    assert main([*args, "--json", str(tmp_path / "r.json"), "--report", str(tmp_path / "rep")]) \
        == 0
    out = capsys.readouterr().out
    assert "WARNING [susceptibility.not_diamagnetic]" in out
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["shielding_fraction"] is None and d["Tc_onset_K"] is None
    assert "susceptibility.not_diamagnetic" in [w["code"] for w in d["warnings"]]
    page = (tmp_path / "rep" / "index.html").read_text()
    assert "class='warn'" in page and "susceptibility.not_diamagnetic" in page
    assert main(["--strict", *args]) == 3
    assert "--strict" in capsys.readouterr().err


def test_cli_clean_input_has_empty_warnings(tmp_path):
    n_t = 200
    t = np.linspace(2, 30, n_t)
    h_oe = 10.0
    vol_cm3 = 0.2 * 0.1 * 0.05
    from supramap.bulk import demag_prism

    n = demag_prism(2e-3, 1e-3, 0.5e-3)
    chi_m = _measured(_sc_chi(t), n)
    m_emu = chi_m * vol_cm3 * h_oe / (4 * np.pi)
    t2 = np.concatenate([t, t[::-1]])
    m2 = np.concatenate([m_emu, 0.3 * m_emu[::-1]])
    f = tmp_path / "sc.dat"
    write_qd(f, {"Temperature": ("K", t2), "Magnetic Field": ("Oe", np.full(t2.size, h_oe)),
                 "Moment": ("emu", m2)})
    assert main(["--strict", "bulk", "susceptibility", str(f), "--length-mm", "2", "--width-mm",
                 "1", "--thickness-mm", "0.5", "--json", str(tmp_path / "r.json")]) == 0
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["warnings"] == []
    assert d["shielding_fraction"] == pytest.approx(1.0, abs=0.01)
    assert d["branches"]["fc_measured_on"] == "cooling"
    assert demag_correct(-0.5, 0.0) == -0.5


def test_heat_takes_mass_and_molar_mass_from_the_header(tmp_path):
    # Normal metal C = γT + βT³ (no transition in 2–8 K); 2.5 mg of a 128.6 g/mol compound.
    gamma, beta = 5e-3, 0.5e-3  # J/(mol K²), J/(mol K⁴)
    t = np.linspace(2, 8, 60)
    moles = 2.5e-6 / 0.1286
    c_uj = (gamma * t + beta * t**3) * moles * 1e6
    rows = ["[Header]", "INFO,2.5,MASS:Sample Mass (mg)",
            "INFO,128.6,MOLWGHT:Sample Molecular Weight (g/mol)", "INFO,2,ATOMS:Atoms", "[Data]",
            "Time Stamp (Seconds),Comment (),Sample Temp (Kelvin),Samp HC (µJ/K)",
            "0,CALFILE: puck,,"]
    rows += [f"{i + 1},,{float(a)!r},{float(b)!r}" for i, (a, b) in enumerate(zip(t, c_uj))]
    f = tmp_path / "hc.dat"
    f.write_bytes(("\r\n".join(rows) + "\r\n").encode("cp1252"))
    out = tmp_path / "hc.json"
    assert main(["bulk", "heat", str(f), "--window", "2,6", "--gamma-n", "5",
                 "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["sample"]["mass_kg"]["source"].startswith("file header")
    assert d["sample"]["mass_kg"]["value"] == pytest.approx(2.5e-6)
    assert d["gamma_J_per_mol_K2"] == pytest.approx(gamma, rel=1e-3)
    # An explicit option overrides the header and says so.
    assert main(["bulk", "heat", str(f), "--mass-mg", "5", "--window", "2,6", "--gamma-n", "5",
                 "--json", str(out)]) == 0
    d = json.loads(out.read_text())
    assert d["sample"]["mass_kg"]["source"] == "option --mass"  # --mass-mg is its alias
    assert d["gamma_J_per_mol_K2"] == pytest.approx(gamma / 2, rel=1e-3)


# ---- specific heat: a contaminated window and the α-model -------------------------------------

def _alpha_ce_over_gamma_t(t, alpha):
    """C_es/(γn T) of the α-model from the direct formula (not the entropy route of the code):
    C/(γT) = 3/(π² t²) ∫ f(1−f)/t (E² − (t/2) d(Δ²)/dt) dx over all x, in units of k_B Tc."""
    def gap(tt):
        return alpha * np.tanh(1.74 * np.sqrt(np.clip(1 / tt - 1, 0, None))) if tt < 1 else 0.0
    out = []
    x = np.linspace(-60, 60, 24001)
    for tt in np.atleast_1d(t):
        if tt >= 1:
            out.append(1.0)
            continue
        h = 1e-5
        dd2 = (gap(tt + h) ** 2 - gap(tt - h) ** 2) / (2 * h)
        e = np.sqrt(x * x + gap(tt) ** 2)
        q = np.exp(-np.minimum(e / tt, 700))
        f_1mf = q / (1 + q) ** 2  # f(1 − f), overflow-free
        integrand = f_1mf / tt * (e * e - tt / 2 * dd2)
        out.append(3 / (np.pi**2 * tt**2) * np.trapezoid(integrand, x))
    return np.array(out)


def test_alpha_model_matches_the_direct_formula_and_the_bcs_jump():
    from supramap.bulk.heat import alpha_model

    t = np.array([0.3, 0.5, 0.7, 0.9, 0.99])
    np.testing.assert_allclose(alpha_model(t, 2.0), _alpha_ce_over_gamma_t(t, 2.0), rtol=0.02,
                               atol=2e-3)
    assert alpha_model(np.array([0.9999]), 1.764)[0] - 1 == pytest.approx(1.43, abs=0.02)


def test_contaminated_window_warns_and_alpha_model_recovers_the_truth():
    from supramap.bulk import analyze_heat

    gamma_n, beta, tc, delta0 = 20e-3, 0.5e-3, 14.0, 2.4e-3  # J/mol K², J/mol K⁴, K, eV
    alpha = delta0 / (8.617333262e-5 * tc)
    t = np.concatenate([np.linspace(2, 13.8, 120), np.linspace(14.2, 30, 60)])
    ce_t = gamma_n * _alpha_ce_over_gamma_t(t / tc, alpha)
    c = t * (ce_t + beta * t**2) * (1 + RNG.normal(0, 5e-4, t.size))
    r = analyze_heat(t, c, window=(3, 5), atoms_per_formula_unit=2)
    codes_ = codes(r.warnings)
    assert r.fit.gamma < 0 and "heat.negative_gamma" in codes_
    assert "heat.window_curved" in codes_ or "heat.fraction_out_of_range" in codes_
    a = r.alpha
    assert a is not None and a.success
    assert a.delta0_eV == pytest.approx(delta0, rel=0.05)
    assert a.Tc_K == pytest.approx(tc, abs=0.2)
    assert a.sc_fraction == pytest.approx(1.0, abs=0.05)


def test_clean_window_has_no_heat_warning():
    from supramap.bulk import analyze_heat

    gamma_n, beta, tc = 20e-3, 0.5e-3, 10.0
    t = np.concatenate([np.linspace(0.5, 9.8, 150), np.linspace(10.2, 25, 60)])
    # A dirty superconductor half superconducting: γ0 = 10 mJ/mol K², low-T window clean
    # because the SC part is exponentially small below 0.15 Tc (window 0.5–1.5 K).
    ce_t = 0.5 * gamma_n + 0.5 * gamma_n * _alpha_ce_over_gamma_t(t / tc, 1.764)
    c = t * (ce_t + beta * t**2)
    r = analyze_heat(t, c, window=(0.5, 1.5), atoms_per_formula_unit=2)
    assert r.fit.gamma == pytest.approx(0.5 * gamma_n, rel=0.03)
    assert not {"heat.negative_gamma", "heat.fraction_out_of_range", "heat.window_curved"} & \
        set(codes(r.warnings))
    assert r.sc_volume_fraction == pytest.approx(0.5, abs=0.03)




def test_fully_superconducting_crystal_has_no_heat_warning():
    """γ0 = 0 (every electron gapped, α = 2.5 so a 1.5–3 K window is clean to 0.1 % of γn):
    the window intercept, a hair below zero from the gap's tail, is no "negative γ"; the
    fraction, a hair above 1, is not out of range; nothing is replaced.  The α-model curve
    is the direct formula above; 0.3 % noise, 10 seeds."""
    from supramap.bulk import analyze_heat

    gamma_n, beta, tc = 20e-3, 0.5e-3, 14.0
    t = np.concatenate([np.linspace(1.5, 13.8, 120), np.linspace(14.2, 25, 40)])
    c0 = t * (gamma_n * _alpha_ce_over_gamma_t(t / tc, 2.5) + beta * t**2)
    for seed in range(10):
        c = c0 * (1 + 0.003 * np.random.default_rng(seed).standard_normal(t.size))
        r = analyze_heat(t, c, window=(1.5, 3), atoms_per_formula_unit=2)
        assert not set(codes(r.warnings)), codes(r.warnings)
        assert r.source == "window"
        assert r.sc_volume_fraction == pytest.approx(1.0, abs=0.01)
        assert abs(r.gamma0) < 0.01 * gamma_n

def _debye_heat(t, theta, atoms=2):
    """Molar Debye lattice heat capacity (J/mol K), by quadrature of the Debye integral."""
    from scipy.integrate import quad

    r = 8.314462618

    def one(temp):
        x = theta / temp
        integral = quad(lambda u: u**4 * np.exp(u) / np.expm1(u) ** 2, 0, x)[0]
        return 9 * atoms * r * (temp / theta) ** 3 * integral
    return np.array([one(temp) for temp in t])


def _sc_electronic(t, gamma_n, tc):
    """C_e: 3γn T³/Tc² below Tc (entropy γn Tc at Tc, jump ratio 2), γn T above."""
    return np.where(t < tc, 3 * gamma_n * t**3 / tc**2, gamma_n * t)


@pytest.mark.parametrize("theta", [150.0, 200.0])
def test_curved_normal_state_is_warned(theta):
    """Tc = 14 K on a Debye lattice of θ_D = 150–200 K: at 15–30 K C/T against T² is no
    straight line, and the one fitted there gives γn 3–10× the true 20 mJ/mol K².  The
    result must say so (and name both estimates); a lattice that follows T³ (the same β at
    low T) and a given γn must not be warned."""
    from supramap.bulk import analyze_heat
    from supramap.bulk.heat import debye_temperature

    gamma_n, tc = 20e-3, 14.0
    t = np.arange(1.5, 35.0, 0.25)
    c = _sc_electronic(t, gamma_n, tc) + _debye_heat(t, theta)
    r = analyze_heat(t, c, window=(2, 4), atoms_per_formula_unit=2)
    w = {x.code: x for x in r.warnings}
    assert "heat.normal_state_curved" in w
    line = w["heat.normal_state_curved"].values["gamma_n_line"]
    assert line > 2.5 * gamma_n and r.gamma_n == line  # the straight line's value, warned
    # The same low-temperature β as a pure T³ lattice: no curvature, no warning.
    beta = 12 * np.pi**4 * 2 * 8.314462618 / (5 * theta**3)
    assert debye_temperature(beta, 2) == pytest.approx(theta)
    clean = analyze_heat(t, _sc_electronic(t, gamma_n, tc) + beta * t**3, window=(2, 4))
    assert "heat.normal_state_curved" not in set(codes(clean.warnings))
    assert clean.gamma_n == pytest.approx(gamma_n, rel=1e-3)
    given = analyze_heat(t, c, window=(2, 4), gamma_n=gamma_n)
    assert "heat.normal_state_curved" not in set(codes(given.warnings))


# ---- atom probe: isotope overlaps --------------------------------------------------------------

def test_composition_splits_isotope_overlaps(tmp_path):
    """⁵⁶Fe²⁺ and ²⁸Si⁺ share 28 Da: the counts there must be split by the isotope patterns."""
    import periodictable

    from supramap.apt import composition
    from supramap.io import read
    from supramap.io.apt import read_ranges, write_pos

    rng = np.random.default_rng(2)

    def sample(symbol, charge, n):
        isos = [(float(i.mass), i.abundance) for i in getattr(periodictable, symbol)
                if getattr(i, "abundance", 0)]
        m, a = np.array(isos).T
        return rng.choice(m, size=n, p=a / a.sum()) / charge + rng.normal(0, 0.01, n)

    mq = np.concatenate([sample("Fe", 2, 200000), sample("Si", 1, 100000)])
    xyz = rng.normal(0, 5, (mq.size, 3))
    write_pos(tmp_path / "n.pos", xyz[:, 0], xyz[:, 1], np.abs(xyz[:, 2]) + 10, mq)
    (tmp_path / "r.rrng").write_text(
        "[Ranges]\nNumber=5\n"
        "Range1=26.9 27.1 Fe:1\nRange2=27.9 28.1 Fe:1\nRange3=28.4 28.6 Fe:1\n"
        "Range4=28.9 29.1 Si:1\nRange5=29.9 30.1 Si:1\n")
    c = composition(read(tmp_path / "n.pos"), read_ranges(tmp_path / "r.rrng"))
    assert c.overlaps_split and "27.9" in c.overlaps_split[0]
    fe, si = c.atom_counts["Fe"], c.atom_counts["Si"]
    assert fe / si == pytest.approx(2.0, rel=0.03)


def test_sample_report_shows_warnings_under_the_verdict(tmp_path):
    f = tmp_path / "para.dat"
    _paramagnet_file(f)
    (tmp_path / "sample.toml").write_text(
        "[sample]\nname = 'paramagnet'\n[sample.geometry]\nlength_mm = 2\nwidth_mm = 1\n"
        "thickness_mm = 0.5\n[[measurement]]\nid = 'chi'\nkind = 'susceptibility'\n"
        "file = 'para.dat'\n")
    out = tmp_path / "rep"
    assert main(["report", str(tmp_path / "sample.toml"), "--out", str(out)]) == 0
    page = (out / "index.html").read_text()
    verdict_at = page.index("Homogeneity verdict")
    warn_at = page.index("susceptibility.not_diamagnetic")
    assert warn_at > verdict_at and "chi: " in page
    summary = json.loads((out / "summary.json").read_text())
    assert "susceptibility.not_diamagnetic" in [
        w["code"] for w in summary["results"]["chi"]["warnings"]]
