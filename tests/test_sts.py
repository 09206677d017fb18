"""Tunnelling spectroscopy: analytic limits of the models, fits, tip calibration,
deconvolution, peaks, series and the Nanonis .dat reader."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad

from supramap.errors import AnalysisError, FormatError
from supramap.io import read
from supramap.sts import (
    K_B,
    TipModel,
    anisotropic,
    bcs,
    calibrate_tip,
    coherence_peaks,
    deconvolve,
    dynes,
    dynes_derivative,
    fit_global,
    fit_spectrum,
    lockin_kernel,
    minus_dfermi,
    multigap,
    nis_conductance,
    sis_conductance,
    track_low_energy_peaks,
    transmissivity,
    zero_bias_peak,
)

MEV = 1e-3


def test_dynes_tends_to_bcs_and_is_even():
    e = np.linspace(-5, 5, 2001) * MEV
    far = np.abs(np.abs(e) - MEV) > 0.05 * MEV
    np.testing.assert_allclose(dynes(e, MEV, 1e-9)[far], bcs(e, MEV)[far], atol=1e-4)
    d = dynes(e, MEV, 0.05 * MEV)
    np.testing.assert_allclose(d, d[::-1], rtol=1e-12)  # correct branch for E < 0
    assert (d > 0).all()
    assert dynes(np.array([-2 * MEV]), MEV, 1e-6)[0] == pytest.approx(2 / np.sqrt(3), rel=1e-6)


def test_dos_tends_to_one_far_from_the_gap():
    e = np.array([-200, 200]) * MEV
    np.testing.assert_allclose(dynes(e, MEV, 0.01 * MEV), 1, atol=1e-4)
    np.testing.assert_allclose(multigap(e, [MEV, 3 * MEV], [1e-5, 1e-5], [2, 3]), 1, atol=1e-3)
    np.testing.assert_allclose(anisotropic(e, MEV, 1e-5, 0.3), 1, atol=1e-3)


def test_dynes_derivative_matches_finite_differences():
    e = np.linspace(-4, 4, 4001) * MEV
    num = np.gradient(dynes(e, MEV, 0.05 * MEV), e)
    np.testing.assert_allclose(dynes_derivative(e, MEV, 0.05 * MEV)[5:-5], num[5:-5],
                               rtol=2e-3, atol=1e-3 * np.abs(num).max())


def test_multigap_weights_are_normalised():
    e = np.linspace(-3, 3, 101) * MEV
    np.testing.assert_allclose(multigap(e, [MEV], [1e-5], [5.0]), dynes(e, MEV, 1e-5))


def test_thermal_broadening_width():
    # −f′ has unit area and FWHM = 2·ln(3 + 2√2)·k_B T ≈ 3.525 k_B T.
    t = 4.2
    e = np.linspace(-40, 40, 40001) * K_B * t
    k = minus_dfermi(e, t)
    assert np.trapezoid(k, e) == pytest.approx(1.0, rel=1e-6)
    half = e[k >= k.max() / 2]
    assert half.max() - half.min() == pytest.approx(3.5255 * K_B * t, rel=1e-3)
    # A normal-metal "sample" conducts the same at every bias: G = 1.
    v = np.linspace(-5, 5, 101) * MEV
    np.testing.assert_allclose(nis_conductance(v, lambda x: np.ones_like(x), t), 1, atol=1e-5)


def test_lockin_kernel_is_normalised():
    a = 0.3 * MEV
    v = np.linspace(-1, 1, 200001) * MEV
    assert np.trapezoid(lockin_kernel(v, a), v) == pytest.approx(1.0, rel=1e-4)
    assert np.trapezoid(lockin_kernel(v, a, rms=False), v) == pytest.approx(1.0, rel=1e-4)
    assert lockin_kernel(np.array([1.5 * a]), a, rms=False)[0] == 0


def test_sis_peaks_at_sum_of_gaps():
    """Tip Δ = 1.37 meV on Pb(111) with 1.26 / 1.41 meV: peaks at 2.63 and 2.78 meV."""
    v = np.linspace(-5, 5, 2001) * MEV
    tip = TipModel(1.37 * MEV, 1e-5, 0.3)
    g = sis_conductance(v, tip.dos, tip.dos_derivative,
                        lambda e: multigap(e, [1.26 * MEV, 1.41 * MEV], [1e-5, 1e-5], [1, 1]),
                        0.3, step=5e-6)
    peaks = sorted(p for p in coherence_peaks(v, g).positions_eV if p > 0)
    assert peaks[-2] == pytest.approx(2.63 * MEV, abs=0.03 * MEV)
    assert peaks[-1] == pytest.approx(2.78 * MEV, abs=0.03 * MEV)
    np.testing.assert_allclose(g, g[::-1], rtol=1e-9)  # symmetric for identical T


def test_sis_against_quadrature():
    """The FFT evaluation agrees with adaptive quadrature of the defining integral."""
    t, dt, gt, ds, gs = 1.0, 1.3 * MEV, 0.05 * MEV, 1.1 * MEV, 0.05 * MEV
    v = np.array([-3.0, -2.3, 0.4, 1.2, 2.45, 4.0]) * MEV
    fast = sis_conductance(v, lambda e: dynes(e, dt, gt), lambda e: dynes_derivative(e, dt, gt),
                           lambda e: dynes(e, ds, gs), t, step=1e-6, margin=30 * MEV)
    from supramap.sts.lineshapes import fermi

    def integrand(e, vv):
        return dynes(e, ds, gs) * (dynes_derivative(e + vv, dt, gt)
                                   * (fermi(e, t) - fermi(e + vv, t))
                                   + dynes(e + vv, dt, gt) * minus_dfermi(e + vv, t))

    slow = [quad(integrand, -40 * MEV, 40 * MEV, args=(vv,), limit=400,
                 points=[-dt - vv, dt - vv, -ds, ds])[0] for vv in v]
    np.testing.assert_allclose(fast, slow, rtol=1e-3)


def _nis(v, deltas, gammas, weights, t, scale=1.0):
    return scale * nis_conductance(v, lambda e: multigap(e, deltas, gammas, weights), t)


def test_fit_recovers_parameters_within_uncertainties():
    v = np.linspace(-8, 8, 801) * MEV
    true = {"delta1": 1.5 * MEV, "gamma1": 0.08 * MEV, "delta2": 3.2 * MEV,
            "gamma2": 0.15 * MEV, "weight1": 0.35, "scale": 2.0}
    g = _nis(v, [true["delta1"], true["delta2"]], [true["gamma1"], true["gamma2"]],
             [0.35, 0.65], 1.2, 2.0)
    sigma = 0.004
    noisy = g + sigma * np.random.default_rng(3).standard_normal(g.size)
    r = fit_spectrum(v, noisy, n_gaps=2, temperature=1.2, sigma=sigma)
    assert r.success
    assert r.redchi == pytest.approx(1.0, abs=0.2)
    for k, val in true.items():
        fit, err = r.params[k]
        assert abs(fit - val) < 4 * err, k
    assert r.params["weight1"][0] + r.params["weight2"][0] == pytest.approx(1.0)


def test_global_fit_shares_a_gap():
    v = np.linspace(-6, 6, 401) * MEV
    g1 = _nis(v, [1.8 * MEV], [0.05 * MEV], [1], 1.0, 1.0)
    g2 = _nis(v, [1.8 * MEV], [0.2 * MEV], [1], 1.0, 3.0)
    rs = fit_global([v, v], [g1, g2], shared=["delta1"], temperature=1.0)
    assert rs[0].value("delta1") == rs[1].value("delta1") == pytest.approx(1.8 * MEV, rel=1e-3)
    assert rs[0].value("gamma1") == pytest.approx(0.05 * MEV, rel=0.02)
    assert rs[1].value("gamma1") == pytest.approx(0.2 * MEV, rel=0.02)
    assert rs[1].value("scale") == pytest.approx(3.0, rel=1e-3)


def _pb_sis(v, t=0.4, noise=0.0, seed=0, tip=None):
    tip = tip or TipModel(1.37 * MEV, 1e-5, t)
    g = sis_conductance(v, tip.dos, tip.dos_derivative,
                        lambda e: multigap(e, [1.26 * MEV, 1.41 * MEV], [1e-5, 1e-5], [1, 1]),
                        t, step=2e-6)
    return g * (1 + noise * np.random.default_rng(seed).standard_normal(g.size))


def test_tip_calibration_and_json_round_trip(tmp_path):
    v = np.linspace(-5, 5, 501) * MEV
    g = _pb_sis(v, t=0.5, noise=0.005, tip=TipModel(1.37 * MEV, 2e-5, 0.5))
    tip, res = calibrate_tip(v, g, temperature=1.0)
    assert tip.delta_eV == pytest.approx(1.37 * MEV, abs=0.005 * MEV)
    assert tip.temperature_K == pytest.approx(0.5, abs=0.2)
    tip.save(tmp_path / "tip.json")
    back = TipModel.load(tmp_path / "tip.json")
    assert back.delta_eV == tip.delta_eV and back.temperature_K == tip.temperature_K
    (tmp_path / "bad.json").write_text("{\"kind\": \"other\"}")
    with pytest.raises(FormatError):
        TipModel.load(tmp_path / "bad.json")


def test_deconvolution_recovers_both_pb_gaps():
    v = np.linspace(-5, 5, 1001) * MEV
    tip = TipModel(1.37 * MEV, 1e-5, 0.4)
    g = _pb_sis(v, noise=0.01, tip=tip)
    d = deconvolve(v, g, tip)
    assert len(d.gaps_eV) == 2
    found = d.gaps_eV
    assert found[0] == pytest.approx(1.26 * MEV, abs=0.03 * MEV)
    assert found[1] == pytest.approx(1.41 * MEV, abs=0.03 * MEV)
    assert d.regularisation["method"] == "GCV"
    assert np.sqrt(np.mean((d.reconvolved - d.data) ** 2)) < 0.03


def test_zero_bias_peak_and_coherence_pairs():
    v = np.linspace(-3, 3, 601) * MEV
    g = _nis(v, [1.0 * MEV], [0.02 * MEV], [1], 0.3)
    fwhm = 0.22 * MEV
    zbcp = 2.0 / (1 + (2 * v / fwhm) ** 2)
    z = zero_bias_peak(v, g + zbcp, conductance_scale=1e-6)
    assert z.present
    assert abs(z.position_eV) <= 0.01 * MEV
    assert z.fwhm_eV == pytest.approx(fwhm, rel=0.15)
    assert z.height_G0 is not None
    assert not zero_bias_peak(v, g).present
    cp = coherence_peaks(v, g)
    assert len(cp.pairs) == 1
    assert cp.gaps_eV[0] == pytest.approx(1.0 * MEV, rel=0.1)
    assert abs(cp.pairs[0]["asymmetry"]) < 1e-3


def test_series_tracks_splitting_peak():
    v = np.linspace(-1, 1, 401) * MEV
    spectra, params = [], []
    for gn, split in [(0.01, 0.0), (0.05, 0.0), (0.2, 0.15), (0.4, 0.3)]:
        w = 0.08 * MEV
        g = 1 + 1 / (1 + ((v - split * MEV) / w) ** 2) + 1 / (1 + ((v + split * MEV) / w) ** 2)
        spectra.append((v, g))
        params.append(gn)
    r = track_low_energy_peaks(spectra, params, window_eV=0.6 * MEV, parameter_name="GN_G0")
    assert [len(b) for b in r.branches] == [1, 1, 2, 2]
    assert r.split_at == 0.2
    assert r.branches[-1][1] == pytest.approx(0.3 * MEV, abs=0.01 * MEV)
    assert transmissivity(1e-9, 1e-3) == pytest.approx(1e-6 / 7.748091729e-5)


def test_bad_spectra():
    with pytest.raises(AnalysisError):
        fit_spectrum(np.arange(5.0), np.arange(5.0))
    with pytest.raises(AnalysisError, match="unknown model"):
        fit_spectrum(np.linspace(-1, 1, 50), np.ones(50), model="btk2")
    with pytest.raises(AnalysisError, match="unknown parameter"):
        fit_spectrum(np.linspace(-1, 1, 50) * MEV, np.ones(50), fixed={"nope": 1.0})
    with pytest.raises(AnalysisError):
        track_low_energy_peaks([], [], window_eV=1e-3)


# ---- Nanonis .dat -------------------------------------------------------------------------

def test_real_nanonis_dat_files_read_completely(shared):
    a = read(shared / "nanonis" / "NanonisReader_BiasSpectroscopy.dat")
    assert a.attrs["format"] == "nanonis-dat"
    assert a.sizes["bias"] == 256
    assert a["bias"].values.min() == pytest.approx(-2.0) and a["bias"].values.max() == \
        pytest.approx(2.0)
    assert len(a.data_vars) == 24
    for name in ("Current", "Current [bwd]", "Current [filt]", "Current [bwd] [filt]",
                 "Vert. Deflection"):
        assert name in a
    assert a["Current"].attrs["units"] == "A"
    b = read(shared / "nanonis" / "STS_nanonis_generic_5e_1.dat")
    assert b.sizes["bias"] == 4096
    assert len(b.data_vars) == 20
    assert b.attrs["lockin_amplitude"] == pytest.approx(2e-3)
    assert b.attrs["header"]["Bias Spectroscopy>Number of sweeps"] == "100"
    assert np.isfinite(b["LI Demod 1 X"].values).all()


@pytest.mark.parametrize(("content", "message"), [
    (b"Experiment\tbias spectroscopy\n", "DATA"),
    (b"Experiment\tx\n[DATA]\n", "column-name"),
    (b"Experiment\tx\n[DATA]\nBias (V)\tCurrent (A)\n", "no data row"),
    (b"Experiment\tx\n[DATA]\nBias (V)\tCurrent (A)\n1\t2\n3\n", "fields"),
    (b"Experiment\tx\n[DATA]\nBias (V)\tCurrent (A)\n1\tabc\n", "non-number"),
])
def test_bad_nanonis_dat(tmp_path, content, message):
    p = tmp_path / "bad.dat"
    p.write_bytes(content)
    with pytest.raises(FormatError, match=message):
        read(p)


def test_conductance_labels_never_call_a_lockin_signal_a_conductance():
    import matplotlib

    matplotlib.use("Agg")
    from supramap.report.sts import conductance_label, fit_figure
    from supramap.sts import fit_spectrum

    assert conductance_label("S") == "dI/dV (S)"
    assert conductance_label("A").startswith("dI/dV (arb. u.")
    assert conductance_label("V").startswith("dI/dV (arb. u.")
    assert conductance_label("") == "dI/dV (arb. u.)"
    b = np.linspace(-5e-3, 5e-3, 201)
    z = b - 1j * 1e-4
    g = 1e-14 * np.abs(np.real(z / np.sqrt(z * z - 1.2e-3**2)))  # a 1e-14 scale, as Nanonis
    fig = fit_figure(fit_spectrum(b, g, temperature=2.0))
    top, bottom = fig.axes
    assert top.get_ylabel() == "dI/dV (arb. u.)" and "(" in bottom.get_ylabel()
    fig.canvas.draw()
    assert top.yaxis.get_offset_text().get_text() in ("", "1e−14")  # an exponent, no offset
    assert "+" not in top.yaxis.get_offset_text().get_text()
