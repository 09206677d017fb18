"""Files that are not the measurement an analysis models (issue: right for the measurement in
hand).  Each case once gave a confident wrong number; now it gives the right number, a result
with the right warning, or a clean refusal with the reason.

The real files are those of ``../shared/data/regress`` (sources and licences in its README); the
heat-capacity run has no shareable file, so it is built here in the PPMS export's layout, with
its C(T) from the Debye integral computed in the test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.integrate import quad

from supramap.cli.main import main
from supramap.io import read
from supramap.quality import codes

R_GAS = 8.314462618


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


# ---- 1. a ferromagnetic M(H) loop has no Bean Jc ------------------------------------------------

def test_ferromagnetic_film_loop_gives_no_jc(shared, tmp_path, capsys):
    f = shared / "regress" / "SQUID_S2-IP-MH_5K.dat"
    j = tmp_path / "loop.json"
    code, out, _ = run(["bulk", "loop", f, "--length", "2mm", "--width", "1mm",
                        "--thickness", "0.1mm", "--json", j], capsys)
    assert code == 0
    d = json.loads(j.read_text())
    assert d["Jc_self_field_A_per_m2"] is None or not np.isfinite(d["Jc_self_field_A_per_m2"])
    assert "loop.ferromagnetic" in [w["code"] for w in d["warnings"]]
    assert "ferromagnetic" in out


def test_ferromagnet_on_diamagnetic_substrate_built_here():
    from supramap.bulk import analyze_loop

    # A tanh ferromagnet (coercive field 0.3 T, saturating by ~1 T) on a substrate whose
    # diamagnetic line is 10× larger at the top field: the plain low-field slope is negative.
    up0 = np.linspace(0, 2, 40)
    down = np.linspace(2, -2, 120)
    up = np.linspace(-2, 2, 120)
    h = np.concatenate([up0, down[1:], up[1:]])
    s = np.sign(np.gradient(h))
    m = 1e-8 * np.tanh((h - s * 0.3) / 0.3) - 5e-8 * h
    m += np.random.default_rng(0).normal(0, 1e-11, h.size)
    r = analyze_loop(h, m, volume=1e-10, a=1e-3, b=2e-3)
    assert r.low_field_slope < 0
    assert "loop.ferromagnetic" in codes(r.warnings)
    assert np.isnan(r.jc_self_field)


# ---- 2. a normal metal's heat capacity still has γ, β and θ_D -----------------------------------

def _debye_c(t: np.ndarray, theta: float, n: float) -> np.ndarray:
    f = lambda x: x**4 * np.exp(x) / np.expm1(x) ** 2  # noqa: E731
    return np.array([9 * n * R_GAS * (tt / theta) ** 3 * quad(f, 0, theta / tt)[0] for tt in t])


def _ppms_heat_file(path, t, c_molar, *, mass_mg, molar_mass, field_oe=1000.0, seed=0):
    """A PPMS Heat Capacity export: Comment column first, addenda comment rows between the
    data, units spelled out (Seconds, Kelvin, Oersted, µJ/K)."""
    rng = np.random.default_rng(seed)
    moles = mass_mg * 1e-3 / molar_mass
    cols = ["Comment", "Time Stamp (Seconds)", "PuckTemp (Kelvin)", "System Temp (Kelvin)",
            "Field (Oersted)", "Pressure (Torr)", "Sample Temp (Kelvin)", "Temp Rise (Kelvin)",
            "Samp HC (µJ/K)", "Samp HC Err (µJ/K)", "Addenda HC (µJ/K)",
            "Addenda HC Err (µJ/K)", "Total HC (µJ/K)", "Total HC Err (µJ/K)",
            "Fit Deviation (Chi^2)", "Time Const tau1 (seconds)", "Sample Coupling (Percent)",
            "Debye Temp (K)", "Cp Slope (µJ/K/K)", "Thermal Cond Wires (W/K)",
            "Num Pts Fit ()"]
    lines = ["[Header]", "; Heat Capacity Data File", "TITLE,normal metal at 1000 Oe",
             "BYAPP, HeatCapacity, 2.1, 1.0",
             f"INFO,{mass_mg},MASS:Sample Mass (mg)",
             f"INFO,{molar_mass},MOLWGHT:Sample Molecular Weight (g/mol)",
             "INFO,1,ATOMS:Number of Atoms per Formula Unit", "[Data]", ",".join(cols),
             ",".join(["Addenda measured at 0 Oe: puck 31 calibration"] + [""] * (len(cols) - 1))]
    for i, (tt, cm) in enumerate(zip(t, c_molar)):
        samp = cm * moles * 1e6 * (1 + 0.004 * rng.normal())  # µJ/K
        add = 0.2 * tt + 1e-3 * tt**3
        row = ["", f"{1000 + 60 * i}", f"{tt:.4f}", f"{tt:.4f}", f"{field_oe:.2f}", "0.0001",
               f"{tt:.5f}", f"{0.02 * tt:.5f}", f"{samp:.6g}", f"{0.003 * samp:.3g}",
               f"{add:.6g}", "0.01", f"{samp + add:.6g}", "0.02", "0.5", "3.2", "99.8",
               "300", "1.2", "1e-6", "256"]
        lines.append(",".join(row))
        if i == len(t) // 2:
            lines.append(",".join([f"Addenda HC at {field_oe:g} Oe not measured: 0 Oe used"]
                                  + [""] * (len(cols) - 1)))
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp1252"))
    return path


@pytest.mark.parametrize("gamma_n", [None, "5"])
def test_normal_metal_heat_capacity_gives_gamma_beta_theta(tmp_path, capsys, gamma_n):
    gamma, theta = 0.69e-3, 343.0  # copper-like
    t = np.geomspace(2, 300, 120)
    c = gamma * t + _debye_c(t, theta, 1)
    f = _ppms_heat_file(tmp_path / "hc.dat", t, c, mass_mg=20.0, molar_mass=63.55)
    ds = read(f)
    assert ds["Field"].attrs["units"] == "T"
    assert float(ds["Field"][0]) == pytest.approx(0.1)
    assert ds["Time Stamp"].attrs["units"] == "s"
    j = tmp_path / "hc.json"
    extra = [] if gamma_n is None else ["--gamma-n", gamma_n]
    code, out, err = run(["bulk", "heat", f, "--json", j, *extra], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    ws = [w["code"] for w in d["warnings"]]
    assert "heat.no_transition" in ws and "file.comments" in ws
    assert d["Tc_K"] is None and d["jump_ratio"] is None
    assert d["sc_volume_fraction"] is None or not np.isfinite(d["sc_volume_fraction"])
    assert d["gamma_J_per_mol_K2"] == pytest.approx(gamma, rel=0.05)
    beta = 12 * np.pi**4 * R_GAS / (5 * theta**3)
    assert d["beta_J_per_mol_K4"] == pytest.approx(beta, rel=0.05)
    assert d["theta_D_K"] == pytest.approx(theta, rel=0.03)
    assert "Addenda measured at 0 Oe" in out


def test_superconductor_heat_capacity_still_finds_its_transition():
    from supramap.bulk import analyze_heat
    from supramap.bulk.heat import find_transition

    # The α-model written from the BCS entropy is tested elsewhere; here only the gate, with
    # the two-fluid C_es/T = 3γn (T/Tc)², which conserves entropy (jump ratio 2), at 14 K over
    # a T³ phonon background (β of θ_D = 250 K), 2–40 K.
    t = np.concatenate([np.linspace(2, 20, 120), np.geomspace(20.5, 40, 30)])
    gn, tc = 20e-3, 14.0
    step = np.where(t < tc, 3 * (t / tc) ** 2, 1.0)
    c = gn * t * step + 12 * np.pi**4 * 2 * R_GAS / (5 * 250.0**3) * t**3
    c *= 1 + 0.005 * np.random.default_rng(1).normal(size=t.size)
    tr = find_transition(t, c)
    assert tr is not None and tr.Tc_K == pytest.approx(tc, abs=0.3)
    r = analyze_heat(t, c)
    assert "heat.no_transition" not in codes(r.warnings)
    assert r.jump is not None and r.jump.Tc_K == pytest.approx(tc, abs=0.3)
    assert r.jump.jump_ratio == pytest.approx(2.0, rel=0.15)


@pytest.mark.parametrize("theta", [120.0, 250.0, 420.0])
def test_no_false_transition_in_debye_metals(theta):
    from supramap.bulk.heat import find_transition

    t = np.geomspace(1.8, 300, 150)
    rng = np.random.default_rng(int(theta))
    for gamma in (1e-3, 10e-3):
        c = (gamma * t + _debye_c(t, theta, 2)) * (1 + 0.01 * rng.normal(size=t.size))
        assert find_transition(t, c) is None


# ---- 3. spectra that are no gap spectrum --------------------------------------------------------

def test_plain_iv_without_superconductivity_is_no_gap(shared, tmp_path, capsys):
    f = shared / "regress" / "Bias-Spectroscopy002.dat"
    j = tmp_path / "fit.json"
    code, out, _ = run(["sts", "fit", f, "--json", j], capsys)
    d = json.loads(j.read_text())
    assert d["success"] is False
    assert "fit.gap_implausible" in [w["code"] for w in d["warnings"]]
    assert "FIT FAILED" in out


def test_qplus_kpfm_spectrum_off_zero_bias_is_refused(shared, capsys):
    f = shared / "regress" / "Bias-Spectroscopy003.dat"
    for cmd in (["sts", "fit", f], ["sts", "calibrate-tip", f, "--out", "/nonexistent/t.json"],
                ["sts", "ingap", f, "--temperature", "1"]):
        code, _, err = run(cmd, capsys)
        assert code == 2, cmd
        assert "does not reach zero bias" in err and err.count("\n") == 1


def test_qplus_spectrum_through_zero_warns_of_the_oscillating_tip(shared, tmp_path, capsys):
    # The same header over a sweep through zero: analysed, with the qPlus condition said.
    from supramap.sts.spectra import read_spectrum

    src = (shared / "regress" / "Bias-Spectroscopy003.dat").read_text(encoding="latin-1")
    head, _, _ = src.partition("[DATA]")
    b = np.linspace(-5e-3, 5e-3, 201)
    rows = "\n".join(f"{v:.6E}\t{1e-9 * v:.6E}" for v in b)
    f = tmp_path / "qplus.dat"
    f.write_text(head + "[DATA]\nBias calc (V)\tCurrent (A)\n" + rows + "\n",
                 encoding="latin-1")
    s = read_spectrum(f)
    assert "sts.oscillating_tip" in codes(s.warnings)


# ---- 4. grids that are no bias spectroscopy -----------------------------------------------------

@pytest.mark.parametrize("name, words", [("Bias_spectroscopy.3ds", "KPFM"),
                                         ("Z_spectroscopy.3ds", "not a bias")])
def test_kpfm_and_z_grids_are_refused_for_gap_maps(shared, tmp_path, capsys, name, words):
    out_nc = tmp_path / "maps.nc"
    code, _, err = run(["sts", "gapmap", shared / "regress" / name, "--out", out_nc,
                        "--temperature", "5"], capsys)
    assert code == 2 and words in err and err.count("\n") == 1
    assert not out_nc.exists()


def test_z_grid_is_refused_by_every_grid_command(shared, capsys):
    f = shared / "regress" / "Z_spectroscopy.3ds"
    for cmd in (["sts", "grid", f, "--energies", "0"], ["sts", "decompose", f],
                ["sts", "ingap", f, "--temperature", "1", "--out", "/nonexistent/x.nc"]):
        code, _, err = run(cmd, capsys)
        assert code == 2 and "not a bias" in err, cmd


def test_grid_current_is_differentiated_not_fitted_as_conductance(tmp_path):
    import xarray as xr

    from supramap.sts.spectra import grid_conductance

    b = np.linspace(-0.01, 0.01, 101)
    cur = np.broadcast_to(2e-9 * np.tanh(b / 0.003), (3, 4, b.size))
    ds = xr.Dataset({"Current": (("y", "x", "bias"), cur, {"units": "A"})},
                    coords={"bias": b})
    g = grid_conductance(ds)
    assert g.attrs["units"] == "S"
    np.testing.assert_allclose(g.values[1, 2], np.gradient(cur[1, 2], b), rtol=1e-5)


# ---- 5. a constant-current STM image is no conduction map ---------------------------------------

def test_constant_current_stm_image_is_refused(shared, capsys):
    f = shared / "regress" / "test.sxm"
    code, _, err = run(["cafm", "analyze", f], capsys)
    assert code == 2 and "constant-current" in err and err.count("\n") == 1
    code, out, _ = run(["cafm", "analyze", f, "--ignore-feedback"], capsys)
    assert code == 0 and "cafm.saturated" in out


def test_saturated_pixels_are_flagged_on_a_map_built_here():
    from supramap.conduction import analyze
    from supramap.data import make_image

    rng = np.random.default_rng(3)
    i = rng.normal(0, 1e-12, (128, 128))
    i[40:80, 30:90] = 2e-6 + rng.normal(0, 2e-8, (40, 60))
    i[50:60, 40:70] = 5e-6  # pinned at the preamplifier's range
    r = analyze(make_image(i, dx=20e-9, units="A"))
    assert "cafm.saturated" in codes(r.warnings)


# ---- 6. partial Createc scans: unscanned rows are NaN -------------------------------------------

def test_createc_partial_scan_rows_are_nan(shared):
    from supramap.conduction import analyze

    ds = read(shared / "regress" / "createc_A250320.191933.dat")
    cur = ds["Current_forward"]
    assert ds.attrs["rows_unscanned"] == 451
    assert np.isnan(cur.values[61:]).all() and np.isfinite(cur.values[1:61]).all()
    # The same scan converted to .sxm by its authors (60 rows) gives 8.15 % conducting.
    r = analyze(cur, check_feedback=False)
    assert r.conducting_fraction == pytest.approx(0.0815, abs=0.005)
    small = read(shared / "regress" / "A250407.141806.dat")
    assert small.attrs["rows_unscanned"] == 246


# ---- 7–9. channels in their true unit -----------------------------------------------------------

def test_nanoscope_hard_scale_prefix_kept_with_soft_scale(shared):
    # Z scale 1999.969 mV over 65536 LSB, soft scale 62 nm/V: ±1 V → ±62 nm full range.
    ds = read(shared / "regress" / "di-4.di")
    a = ds["Amplitude Error [retrace]"]
    assert a.attrs["units"] == "m"
    assert 0 < float(np.nanmax(np.abs(a.values))) <= 1999.969e-3 / 2 * 62e-9 * 1.0001


def test_createc_channels_named_from_channelselectval(shared):
    ds = read(shared / "regress" / "createc_scan_qplus_10ch_afm.dat")
    # Channelselectval = 899 = bits 0, 1, 7, 8, 9: Topo, Current and ADC6–8, forward then back.
    assert list(ds.data_vars) == [f"{k}_{d}" for d in ("forward", "backward")
                                  for k in ("Z", "Current", "ADC6", "ADC7", "ADC8")]
    assert [ds[n].attrs["units"] for n in list(ds.data_vars)[:5]] == ["m", "A", "V", "V", "V"]


def test_ibw_axes_without_unit_are_pixels(shared, capsys):
    ds = read(shared / "regress" / "10x10-one_channel_without_name.ibw")
    da = ds["layer 0"]
    assert da.attrs["pixel_size_known"] is False and da["x"].attrs["units"] == "px"
    code, out, _ = run(["info", shared / "regress" / "10x10-one_channel_without_name.ibw"],
                       capsys)
    assert code == 0 and "10 m" not in out and "pixel size not recorded" in out


# ---- 10. a correct Pb(111) reference with unequal gap weights calibrates ------------------------

def _dynes(e, delta, gamma):
    z = e - 1j * gamma
    return np.abs(np.real(z / np.sqrt(z * z - delta * delta)))


def _sis_didv(v, *, tip_delta, sample, temperature_k, tip_gamma=2e-5):
    """dI/dV of a superconducting tip on a multi-gap sample, from the tunnelling current
    I(V) = ∫ N_t(E − eV) N_s(E) [f(E − eV) − f(E)] dE on a 0.5 µeV grid, differentiated on
    a bias grid five times finer than *v* and sampled at *v*."""
    kt = 8.617333262e-5 * temperature_k
    e = np.linspace(-8e-3, 8e-3, 32001)
    ns = sum(w * _dynes(e, d, gm) for d, gm, w in sample)
    f = lambda x: 0.5 * (1 - np.tanh(x / (2 * kt)))  # noqa: E731
    vf = np.linspace(v[0], v[-1], 5 * (v.size - 1) + 1)
    cur = np.array([np.trapezoid(_dynes(e - vv, tip_delta, tip_gamma) * ns *
                                 (f(e - vv) - f(e)), e) for vv in vf])
    return np.interp(v, vf, np.gradient(cur, vf))


@pytest.mark.parametrize("temperature_k", [1.2, 0.4])
def test_pb_reference_with_unequal_weights_calibrates(tmp_path, capsys, temperature_k):
    """The issue's case: a correct Pb(111) reference whose gaps weigh 0.55/0.45.  The weights
    are fitted by default and the tip calibrates; forced equal, the fit is refused (fit.poor);
    given, it calibrates too."""
    v = np.linspace(-5e-3, 5e-3, 401)
    g = _sis_didv(v, tip_delta=1.37e-3, temperature_k=temperature_k,
                  sample=[(1.26e-3, 2e-5, 0.55), (1.41e-3, 2e-5, 0.45)])
    g = g + 0.003 * np.median(g) * np.random.default_rng(0).normal(size=v.size)
    f = tmp_path / "pb.csv"
    f.write_text("bias (V),dIdV (S)\n" + "\n".join(f"{a:.8e},{b:.8e}" for a, b in zip(v, g)))
    tip_json = tmp_path / "tip.json"
    base = ["sts", "calibrate-tip", f, "--out", tip_json, "--temperature", "1",
            "--sample-gaps", "1.26e-3,1.41e-3"]
    code, out, err = run([*base], capsys)
    assert code == 0, err
    tip = json.loads(tip_json.read_text())
    assert tip["delta_eV"] == pytest.approx(1.37e-3, abs=0.01e-3)
    assert tip["temperature_K"] == pytest.approx(temperature_k, rel=0.1)
    assert tip["extra"]["sample_weights"] == pytest.approx([0.55, 0.45], abs=0.03)
    code, _, err = run([*base, "--sample-weights", "0.5,0.5"], capsys)
    assert code == 2 and "fit.poor" in err
    code, _, err = run([*base, "--sample-weights", "0.55,0.45"], capsys)
    assert code == 0, err


def test_sample_weights_option_is_checked(tmp_path, capsys):
    f = tmp_path / "s.csv"
    f.write_text("bias (V),g (S)\n" + "\n".join(f"{x:.6e},1.0" for x in np.linspace(-1, 1, 41)
                                                 * 5e-3))
    code, _, err = run(["sts", "calibrate-tip", f, "--out", tmp_path / "t.json",
                        "--sample-weights", "0.5"], capsys)
    assert code == 2 and "--sample-weights" in err


# ---- 11. a uniform map is the homogeneous van der Pauw sample -----------------------------------

@pytest.mark.parametrize("current, threshold, sheet", [(2e-12, None, 1000.0),
                                                       (2e-6, "1e-6", 0.0)])
def test_uniform_map_gives_the_homogeneous_four_probe_answer(tmp_path, capsys, current,
                                                             threshold, sheet):
    from supramap.data import make_image
    from supramap.io.bcr import write_bcr

    f = tmp_path / "uniform.bcrf"
    write_bcr(f, make_image(np.full((48, 48), current), dx=50e-9, units="A"))
    j = tmp_path / "fp.json"
    extra = [] if threshold is None else ["--threshold", threshold]
    code, _, err = run(["network", "fourprobe", f, "--json", j, *extra], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    assert "network.uniform_map" in [w["code"] for w in d["warnings"]]
    assert d["sheet_resistance_apparent_ohm"] == pytest.approx(sheet, rel=0.01, abs=1e-9)
    assert d["sc_fraction"] == (1.0 if sheet == 0 else 0.0)


# ---- a resistivity column stays a resistivity (issue: units that lie) ---------------------------

@pytest.mark.parametrize("geometry", [[], ["--length", "2mm", "--width", "1mm",
                                           "--thickness", "0.1mm"]])
def test_resistivity_column_is_not_divided_again(tmp_path, capsys, geometry):
    t = np.linspace(2, 300, 300)
    rho_uohm_cm = np.where(t < 10, 0.0, 1000.0 + 2.0 * (t - 10))  # ρ0 = 1000 µΩ cm
    rows = ["[Header]", "; PPMS resistivity", "BYAPP, Resistivity, 2.1, 1.0", "[Data]",
            "Comment,Time Stamp (sec),Temperature (K),Magnetic Field (Oe),"
            "Bridge 1 Resistivity (Ohm-cm),Bridge 1 Excitation (uA)"]
    rows += [f",{i},{tt:.4f},0.0,{r * 1e-6:.8e},100" for i, (tt, r) in
             enumerate(zip(t, rho_uohm_cm))]
    f = tmp_path / "rho.dat"
    f.write_text("\r\n".join(rows) + "\r\n", encoding="cp1252")
    j = tmp_path / "t.json"
    code, out, err = run(["bulk", "transport", f, "--json", j, *geometry], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    assert d["column_quantity"] == "resistivity"
    assert d["rho0_ohm_m"] == pytest.approx(1000e-8, rel=0.02)  # 1000 µΩ cm in Ω m
    assert "µΩ cm" in out and "R0" not in out


# ---- the header's lock-in amplitude is the default broadening -----------------------------------

def _nanonis_dat(path, bias, g, extra_header=""):
    head = ("Experiment\tbias spectroscopy\nBias>Bias (V)\t1E-3\n" + extra_header +
            "\n[DATA]\nBias calc (V)\tLI Demod 1 X (A)\n")
    path.write_text(head + "\n".join(f"{b:.7E}\t{v:.7E}" for b, v in zip(bias, g)) + "\n",
                    encoding="latin-1")
    return path


@pytest.mark.parametrize("header, expected", [
    ("Lock-in>Lock-in status\tON\nLock-in>Modulated signal\tBias (V)\nLock-in>Amplitude\t"
     "2E-3", 2e-3 / np.sqrt(2)),
    ("Lock-in>Lock-in status\tOFF\nLock-in>Amplitude\t2E-3", None),
    ("Lock-in>Modulated signal\tZ (m)\nLock-in>Amplitude\t2E-12", None),
    ("", None)])
def test_header_lockin_amplitude_is_read(tmp_path, header, expected):
    from supramap.sts.spectra import read_spectrum

    b = np.linspace(-5e-3, 5e-3, 101)
    s = read_spectrum(_nanonis_dat(tmp_path / "s.dat", b, 1 + 0 * b, header))
    if expected is None:
        assert s.lockin_rms_V is None
    else:
        assert s.lockin_rms_V == pytest.approx(expected)


def test_ingap_uses_the_header_lockin_unless_overridden(tmp_path, capsys):
    from tests.test_ingap import BIAS, _measured

    from supramap.sts.ingap import lorentzian

    g = _measured(lambda e: 2e-4 * lorentzian(e, 10e-6, 50e-6), 0.4, 40e-6)
    header = ("Lock-in>Lock-in status\tON\nLock-in>Modulated signal\tBias (V)\n"
              f"Lock-in>Amplitude\t{40e-6 * np.sqrt(2):.6E}")
    f = _nanonis_dat(tmp_path / "zbp.dat", BIAS, g, header)
    j = tmp_path / "i.json"
    code, out, err = run(["sts", "ingap", f, "--temperature", "0.4", "--json", j], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    assert d["lockin_rms_V"] == pytest.approx(40e-6, rel=1e-4)
    assert "from the file's header" in out
    assert d["fits"][0]["fwhm_eV"][0] == pytest.approx(50e-6, rel=0.06)
    code, _, _ = run(["sts", "ingap", f, "--temperature", "0.4", "--lockin-rms", "0",
                      "--json", j], capsys)
    assert json.loads(j.read_text())["lockin_rms_V"] == 0.0


# ---- one option grammar: a unit may be written wherever a physical value is asked ---------------

def test_units_written_in_options_equal_bare_numbers(tmp_path, capsys):
    from supramap.synth.apt import write_needles

    # sts fit: 4.2K and 1mV against 4.2 and 1e-3.
    b = np.linspace(-8e-3, 8e-3, 321)
    z = b - 1j * 2e-4
    g = np.abs(np.real(z / np.sqrt(z * z - (1.5e-3) ** 2)))
    f = tmp_path / "s.csv"
    f.write_text("bias (V),g (S)\n" + "\n".join(f"{x:.8e},{y:.8e}" for x, y in zip(b, g)))
    outs = []
    for args in (["--temperature", "4.2K", "--lockin-rms", "1mV"],
                 ["--temperature", "4.2", "--lockin-rms", "1e-3"]):
        j = tmp_path / "f.json"
        code, _, err = run(["sts", "fit", f, *args, "--json", j], capsys)
        assert code == 0, err
        outs.append(json.loads(j.read_text())["params"])
    assert outs[0] == outs[1]
    code, _, err = run(["sts", "fit", f, "--temperature", "4.2mV"], capsys)
    assert code == 2 and "--temperature" in err
    # apt: --exclude-top 20nm = 2e-8; a bare 20 is 20 m and refused with the bound.
    write_needles(tmp_path / "n", n_atoms=20_000)
    pos, rng = tmp_path / "n" / "needle_conducting.pos", tmp_path / "n" / "ranges.rrng"
    res = []
    for top in ("20nm", "2e-8"):
        j = tmp_path / "a.json"
        code, _, err = run(["apt", "composition", pos, "--range", rng, "--exclude-top", top,
                            "--json", j], capsys)
        assert code == 0, err
        res.append(json.loads(j.read_text())["composition"])
    assert res[0] == res[1]
    code, _, err = run(["apt", "composition", pos, "--range", rng, "--exclude-top", "20"],
                       capsys)
    assert code == 2 and "--exclude-top" in err and "m" in err
    # bulk heat: --mass 20mg = --mass-mg 20 = --mass 0.02g.
    t = np.geomspace(2, 300, 80)
    hc = _ppms_heat_file(tmp_path / "hc.dat", t, 0.69e-3 * t + _debye_c(t, 343.0, 1),
                         mass_mg=20.0, molar_mass=63.55)
    gam = []
    for args in (["--mass", "20mg"], ["--mass-mg", "20"], ["--mass", "0.02g"]):
        j = tmp_path / "h.json"
        code, _, err = run(["bulk", "heat", hc, *args, "--json", j], capsys)
        assert code == 0, err
        gam.append(json.loads(j.read_text())["gamma_J_per_mol_K2"])
    assert gam[0] == pytest.approx(gam[1]) and gam[1] == pytest.approx(gam[2])


@pytest.mark.parametrize("name, why", [
    ("nanonis/NanonisReader_BiasSpectroscopy.dat", "the bias step 15.7 mV does not resolve"),
    ("nanonis/STS_nanonis_generic_5e_1.dat", "the bias modulation (1.41 mV rms, 2 mV peak) "
                                            "smears")])
def test_survey_spectra_are_no_tip_calibration(shared, capsys, name, why):
    """A ±2 V spectrum on 15.7 mV steps was fitted as a Pb reference for over 5 minutes
    before it failed, and a ±300 mV one with a 2 mV modulation for minutes: neither can show a
    1.4 meV gap, and both are refused at once with the reason."""
    code, _, err = run(["sts", "calibrate-tip", str(shared / name), "--out", "t.json"], capsys)
    assert code != 0 and why in err, err


def test_a_gapless_spectrum_is_no_tip_model(tmp_path):
    """A flat, gapless conductance (a normal tip on a normal metal, 0.3 % noise) must not
    become a tip model, however well some parameters converge: the fit's tip gap is
    undetermined or its T_eff above the junction's Tc (tip.implausible)."""
    from supramap.sts import calibrate_tip

    b = np.linspace(-5e-3, 5e-3, 501)
    g = (1 + 2 * b) * (1 + 0.003 * np.random.default_rng(0).standard_normal(b.size))
    _, res = calibrate_tip(b, g, temperature=1.0)
    assert not res.success
    assert {"tip.implausible", "fit.poor", "fit.at_bound", "fit.no_covariance"} & \
        {w.code for w in res.warnings}
