"""Quantum Design reader and bulk analyses against synthetic truth and real files."""

from __future__ import annotations

import numpy as np
import pytest

from supramap.bulk import (
    analyze_field_sweeps,
    analyze_heat,
    analyze_loop,
    analyze_susceptibility,
    analyze_transport,
    bean_jc_cgs,
    bean_jc_si,
    debye_temperature,
    demag_correct,
    demag_ellipsoid,
    demag_prism,
    resistivity,
    si_to_cgs_susceptibility,
    volume_susceptibility,
)
from supramap.errors import AnalysisError, FormatError
from supramap.io import read
from supramap.io.qd import read_qd, split_segments, write_qd
from supramap.synth import bulk as synth

# ---- reader -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "columns", "rows"), [
    ("zfcfc1.dat", 89, 504), ("mvsh5.dat", 89, 230),
    ("Resistivity_Ch1_TMR_Ch2_Hall_test.dat", 41, 1401),
])
def test_real_files_read(shared, name, columns, rows):
    ds = read(shared / "qd" / name)
    assert ds.attrs["format"] == "qd"
    assert ds.attrs["n_columns"] == columns
    assert ds.sizes["row"] + len(ds.attrs["comments"]) == rows
    assert ds["Temperature"].attrs["units"] == "K"
    assert ds["Magnetic Field"].attrs["units"] == "T"


def test_mpms_info_and_segments(shared):
    ds = read(shared / "qd" / "zfcfc1.dat")
    assert ds.attrs["info"]["SAMPLE_MASS"] == "1.6"
    assert ds.attrs["info"]["APPNAME"].startswith("MPMS3")
    segs = split_segments(ds["Temperature"].values, tolerance=0.05)
    assert len(segs) == 2  # ZFC warming then FC warming
    t = ds["Temperature"].values
    assert all(t[s[0]] < 6 and t[s[-1]] > 299 for s in segs)
    m = ds["DC Moment Free Ctr"]
    assert m.attrs["units"] == "A m2" and m.attrs["raw_unit"] == "emu"


def test_mvsh_comment_and_branches(shared):
    ds = read(shared / "qd" / "mvsh5.dat")
    assert ds.attrs["comments"] == [{"row": 0, "text": "MvsH, 20 C"}]
    h = ds["Magnetic Field"].values
    assert np.nanmax(h) == pytest.approx(7.0, abs=1e-3)  # 70 kOe = 7 T
    assert len(split_segments(h, tolerance=1e-3)) == 2


def test_ppms_info_key_order(shared):
    ds = read(shared / "qd" / "Resistivity_Ch1_TMR_Ch2_Hall_test.dat")
    info = ds.attrs["info"]
    assert info["APPNAME"] == "PPMS MultiVu Application, 1.5.11"
    assert info["Sample1 Name"] == "TMR"
    assert info["Sample3 Units"] == "Ohm-m"


def test_field_sweep_critical_field(shared):
    """README facts: R ≈ 0 at zero field, ≈ 0.31 Ω at ±4.3 kOe, ≈ 0.46 Ω above ±7 kOe."""
    ds = read(shared / "qd" / "Resistivity_Ch1_TMR_Ch2_Hall_test.dat")
    h, r, t = (ds[k].values for k in ("Magnetic Field", "Bridge 1 Resistivity", "Temperature"))
    assert abs(r[np.abs(h) < 0.005]).max() < 0.01
    assert np.median(r[np.abs(h) > 0.7]) == pytest.approx(0.46, abs=0.02)
    res = analyze_field_sweeps(h, r, t)
    assert len(res.temperatures_K) == 4
    for name in ("hc_90_T", "hc_50_T", "hc_10_T", "hc_zero_T"):
        vals = getattr(res, name)
        assert all(np.isfinite(vals))
        assert vals[0] >= vals[-1]  # lower temperature, higher critical field
    # Order of the criteria and the 50 % field between the quoted points.
    for i in range(4):
        assert res.hc_zero_T[i] <= res.hc_10_T[i] < res.hc_50_T[i] < res.hc_90_T[i]
    assert 0.3 < res.hc_50_T[0] < 0.7


@pytest.mark.parametrize("encoding", ["cp1252", "utf-8"])
@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_write_read_round_trip(tmp_path, encoding, newline):
    t = np.linspace(2, 300, 50)
    m = np.sin(t) * 1e-3
    write_qd(tmp_path / "a.dat", {"Temperature": ("K", t), "Moment": ("emu", m),
                                  "Samp HC": ("µJ/K", t * 3)},
             info={"SAMPLE_MASS": "1.2"}, comments={0: "ZFC", 25: "FC"}, encoding=encoding,
             newline=newline)
    ds = read(tmp_path / "a.dat")
    np.testing.assert_array_equal(ds["Temperature"].values, t)
    np.testing.assert_allclose(ds["Moment"].values, m * 1e-3, rtol=1e-15)
    np.testing.assert_allclose(ds["Samp HC"].values, t * 3e-6, rtol=1e-15)
    assert ds["Samp HC"].attrs["units"] == "J/K"
    assert ds.attrs["info"]["SAMPLE_MASS"] == "1.2"
    assert [c["text"] for c in ds.attrs["comments"]] == ["ZFC", "FC"]
    assert [c["row"] for c in ds.attrs["comments"]] == [0, 25]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"[Header]\nTITLE,x\n", r"\[Data\]"),
    (b"[Header]\n[Data]\n", "column-name row"),
    (b"[Header]\n[Data]\nComment,Temperature (K)\n", "no data row"),
    (b"[Header]\n[Data]\nComment,Temperature (K)\n,abc\n", "not a number"),
    (b"[Header]\n[Data]\nComment,T (K)\n,1,2,3\n", "fields"),
    (b"[Header]\n[Data]\nTemperature (K)\n", "fewer than 2 columns"),
])
def test_bad_qd_files(tmp_path, content, message):
    p = tmp_path / "bad.dat"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=message) as info:
        read_qd(p)
    assert str(p) in str(info.value)


def test_qd_truncated_real_file(shared, tmp_path):
    raw = (shared / "qd" / "zfcfc1.dat").read_bytes()
    p = tmp_path / "cut.dat"
    p.write_bytes(raw[: raw.index(b"[Data]") - 10])
    with pytest.raises(FormatError, match=r"\[Data\]"):
        read(p)


# ---- transport ----------------------------------------------------------------------------

def test_transport_criteria_within_005_K():
    truth = synth.BulkTruth()
    t, rho = synth.transport(truth)
    r = analyze_transport(t, rho)
    d = r.to_dict()
    assert d["Tc_90_K"] == pytest.approx(truth.t90, abs=0.05)
    assert d["Tc_mid_K"] == pytest.approx(truth.tc_mid_K, abs=0.05)
    assert d["Tc_10_K"] == pytest.approx(truth.t10, abs=0.05)
    zero = truth.tc_mid_K - 2.3263478740408408 * truth.width_sigma_K  # 1 % of ρn
    assert d["Tc_zero_K"] == pytest.approx(zero, abs=0.05)
    onset = truth.tc_mid_K + np.sqrt(2 * np.pi) / 2 * truth.width_sigma_K  # steepest tangent
    assert d["Tc_onset_K"] == pytest.approx(onset, abs=0.05)
    assert d["transition_width_K"] == pytest.approx(truth.t90 - truth.t10, abs=0.05)
    assert d["rho0_ohm_m"] == pytest.approx(truth.rho0, rel=1e-3)
    assert d["n"] == pytest.approx(truth.n, rel=1e-3)
    assert d["normal_state"] == "metallic"
    expected_rrr = synth.rho_normal(300.0, truth) / synth.rho_normal(d["Tc_onset_K"], truth)
    assert d["RRR"] == pytest.approx(expected_rrr, rel=1e-3)


def test_transport_with_noise_and_branches():
    truth = synth.BulkTruth()
    t, rho = synth.transport(truth, noise=0.002)
    # A cooling run through the transition followed by the warming run.
    sel = (t > 8) & (t < 25)
    tt = np.concatenate([t[sel][::-1], t[sel] + 0.05])
    rr = np.concatenate([rho[sel][::-1], np.interp(t[sel], t, rho)])
    r = analyze_transport(tt, rr, fit_window=(16, 25))
    assert set(r.branches) == {"warming", "cooling"}
    assert r.branches["cooling"]["Tc_mid_K"] == pytest.approx(truth.tc_mid_K, abs=0.05)
    assert r.branches["warming"]["Tc_mid_K"] == pytest.approx(truth.tc_mid_K + 0.05, abs=0.05)


def test_non_metallic_normal_state():
    t = np.linspace(2, 100, 300)
    rho = (1e-5 + 1e-4 / t) * 0.5 * (1 + np.tanh((t - 10) / 0.3))
    assert analyze_transport(t, rho).normal_state == "non-metallic"


def test_resistivity_geometry_and_errors():
    assert resistivity(np.array([2.0]), length=2e-3, width=1e-3, thickness=1e-4)[0] == \
        pytest.approx(1e-4)
    with pytest.raises(AnalysisError, match="thickness"):
        resistivity(np.array([1.0]), length=1e-3, width=1e-3, thickness=None)
    with pytest.raises(AnalysisError, match="at least 8"):
        analyze_transport(np.arange(5.0), np.arange(5.0))
    with pytest.raises(AnalysisError):
        analyze_transport(np.linspace(2, 20, 50), np.zeros(50))


# ---- magnetisation ------------------------------------------------------------------------

def test_demagnetisation_factors():
    assert demag_prism(1, 1, 1) == pytest.approx(1 / 3, abs=1e-12)
    assert demag_ellipsoid(1, 1, 1) == pytest.approx(1 / 3, abs=1e-12)
    for a, b, c in [(2.0, 3.0, 0.5), (1.0, 7.0, 0.1), (5.0, 1.0, 1.0)]:
        assert demag_prism(b, c, a) + demag_prism(c, a, b) + demag_prism(a, b, c) == \
            pytest.approx(1.0, abs=1e-12)
        assert demag_ellipsoid(b, c, a) + demag_ellipsoid(c, a, b) + \
            demag_ellipsoid(a, b, c) == pytest.approx(1.0, abs=1e-12)
    m = 3.0  # prolate spheroid along its long axis (Osborn's closed form)
    e = np.sqrt(m * m - 1)
    assert demag_ellipsoid(1, 1, m) == pytest.approx((m / e * np.log(m + e) - 1) / (m * m - 1))
    assert demag_prism(1, 1, 1e-3) > 0.99  # thin plate ⟂ field
    with pytest.raises(AnalysisError):
        demag_prism(1, 0, 1)


def test_susceptibility_fractions_after_correction():
    truth = synth.BulkTruth()
    s = synth.susceptibility(truth)
    z = volume_susceptibility(s["moment_zfc"], s["field_T"], s["volume"])
    f = volume_susceptibility(s["moment_fc"], s["field_T"], s["volume"])
    assert z.min() < -5  # uncorrected thin plate: far beyond −1
    r = analyze_susceptibility(s["T"], z, s["T"], f, demag_factor=s["N"])
    assert r.shielding_fraction == pytest.approx(1.0, abs=1e-6)
    assert r.meissner_fraction == pytest.approx(truth.meissner, abs=1e-6)
    # Onset: the demagnetisation-corrected (intrinsic) χ first drops by 2 % of its full drop.
    from scipy.optimize import brentq
    from scipy.special import erf

    def chi_int(temp):
        return -0.5 * (1 - erf((temp - truth.tc_mid_K) / (np.sqrt(2) * truth.width_sigma_K)))

    onset = brentq(lambda temp: chi_int(temp) - 0.02 * chi_int(2.0), 10, 20)
    assert r.Tc_onset_K == pytest.approx(onset, abs=0.05)
    assert r.chi_zfc_cgs == pytest.approx(-1 / (4 * np.pi), rel=1e-6)
    assert si_to_cgs_susceptibility(-4 * np.pi) == pytest.approx(-1.0)
    assert demag_correct(-1 / (1 - 0.5), 0.5) == pytest.approx(-1.0)
    with pytest.raises(AnalysisError):
        volume_susceptibility(np.ones(3), np.ones(3), 0.0)


# ---- specific heat ------------------------------------------------------------------------

def _crystal_heat(gamma0=0.807e-3, gamma_n=17.9e-3, beta=0.393e-3, tc=14.4, alpha=1.81,
                  sigma=0.3):
    """C(T) of a crystal with published Fe(Se,Te)-like numbers, made here: the α-model's
    C_es/(γT) from the direct BCS formula (tests/test_quality_bulk.py, not the code's entropy
    route) on a reduced-temperature grid, averaged over 401 local Tc from a Gaussian."""
    from test_quality_bulk import _alpha_ce_over_gamma_t

    grid = np.linspace(0.05, 0.9995, 190)
    curve = _alpha_ce_over_gamma_t(grid, alpha)
    t = np.arange(2.0, 25.0, 0.05)
    tcs = tc + sigma * np.linspace(-4, 4, 401)
    w = np.exp(-0.5 * ((tcs - tc) / sigma) ** 2)
    w /= w.sum()
    r = t[None, :] / tcs[:, None]
    shape = w @ np.where(r >= 1, 1.0, np.interp(r, grid, curve))
    return t, (gamma0 + (gamma_n - gamma0) * shape) * t + beta * t**3


def test_heat_recovers_published_numbers():
    """Tc = 14.4 K, α = 1.81: at 3–5 K the superconducting electronic term is still 4–38 % of
    γn, so the window fit is biased; the analysis says so and takes γ0 from the α-model."""
    t, c = _crystal_heat()
    r = analyze_heat(t, c, window=(3, 5), atoms_per_formula_unit=2)
    assert {"heat.window_curved", "heat.window_replaced"} <= {w.code for w in r.warnings}
    assert "heat.upturn" not in {w.code for w in r.warnings}
    assert r.source == "alpha-model"
    assert r.gamma0 == pytest.approx(0.807e-3, rel=0.05)
    assert r.beta == pytest.approx(0.393e-3, rel=0.01)
    assert r.theta_D_K == debye_temperature(r.beta, 2)
    assert debye_temperature(0.393e-3, 2) == pytest.approx(
        (12 * np.pi**4 * 2 * 8.314462618 / (5 * 0.393e-3)) ** (1 / 3), rel=1e-15)
    assert r.sc_volume_fraction == pytest.approx(0.955, abs=0.005)
    assert r.alpha.alpha == pytest.approx(1.81, rel=0.02)
    assert r.alpha.Tc_K == pytest.approx(14.4, abs=0.05)
    assert r.alpha.Tc_spread_K == pytest.approx(0.3, abs=0.05)
    assert r.jump.Tc_K == pytest.approx(14.4, abs=0.1)
    # ΔC/γnTc of the α-model: 1.43 (α/1.764)² for the superconducting 95.5 %.
    assert r.jump.jump_ratio == pytest.approx(0.955 * 1.426 * (1.81 / 1.764) ** 2, rel=0.05)


def test_heat_clean_window_with_noise_reports_uncertainties():
    """α = 3.5 (strong coupling): the 2–3.5 K window sees < 0.1 % of γn, so it is used."""
    t, c = _crystal_heat(alpha=3.5)
    noisy = c * (1 + 0.003 * np.random.default_rng(0).standard_normal(c.size))
    r = analyze_heat(t, noisy, window=(2, 3.5))
    assert r.source == "window"
    assert r.fit.gamma_err > 0 and r.fit.beta_err > 0
    assert abs(r.fit.gamma - 0.807e-3) < 4 * r.fit.gamma_err
    assert abs(r.fit.beta - 0.393e-3) < 4 * r.fit.beta_err


def test_heat_upturn_is_told_apart_from_the_superconducting_term():
    """A Schottky-like A/T² upturn makes C/T fall at the window's low end: warned as such."""
    t, c = _crystal_heat(alpha=3.5)
    r = analyze_heat(t, c + 2e-2 / t**2, window=(2, 3.5))
    assert "heat.upturn" in {w.code for w in r.warnings}


def test_heat_errors():
    t, c = _crystal_heat()
    with pytest.raises(AnalysisError, match="fewer than 4"):
        analyze_heat(t, c, window=(30, 40))
    with pytest.raises(AnalysisError):
        debye_temperature(-1.0, 2)


# ---- loops --------------------------------------------------------------------------------

def test_bean_loop_recovers_jc_within_2_percent():
    truth = synth.BulkTruth()
    lp = synth.loop(truth)
    r = analyze_loop(lp["field_T"], lp["moment"], volume=lp["volume"], a=lp["a"], b=lp["b"])
    assert r.jc_self_field == pytest.approx(truth.jc0, rel=0.02)
    np.testing.assert_allclose(r.jc_A_per_m2, lp["jc"](r.field_T), rtol=0.02)
    d = r.to_dict()
    assert d["Jc_self_field_A_per_cm2"] == pytest.approx(truth.jc0 * 1e-4, rel=0.02)


def test_bean_cgs_and_si_agree():
    dm_si = 1e5  # A/m
    a, b = 1e-3, 2e-3
    si = bean_jc_si(dm_si, a, b)  # A/m²
    cgs = bean_jc_cgs(dm_si / 1e3, a * 100, b * 100)  # emu/cm³, cm -> A/cm²
    assert si * 1e-4 == pytest.approx(cgs, rel=1e-12)


def test_loop_errors():
    h = np.linspace(-1, 1, 50)
    with pytest.raises(AnalysisError, match="branch"):
        analyze_loop(h, h * 1e-6, volume=1e-9, a=1e-3, b=1e-3)
    with pytest.raises(AnalysisError, match="volume"):
        analyze_loop(h, h, volume=0, a=1e-3, b=1e-3)
