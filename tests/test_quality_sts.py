"""Honest tunnelling spectroscopy: spectra built here with numpy (Dynes DOS, thermal
broadening as an explicit sum), not with supramap's own simulators."""

from __future__ import annotations

import numpy as np
import pytest

from supramap.quality import codes
from supramap.sts import fit_spectrum
from supramap.sts.lineshapes import dynes, nis_conductance, sis_conductance
from supramap.sts.models import TipModel

K_B = 8.617333262e-5
MEV = 1e-3
RNG = np.random.default_rng(11)


def _dynes_np(e, delta, gamma):
    z = e + 1j * gamma
    return np.real(z / (np.sqrt(z - delta) * np.sqrt(z + delta)))


def _thermal(v, dos, t, emax=12 * MEV, n=6001):
    """G(V) = ∫ N(E) (−f′(E − eV)) dE as a plain Riemann sum (independent of the FFT code)."""
    e = np.linspace(-emax, emax, n)
    de = e[1] - e[0]
    x = (e[None, :] - v[:, None]) / (K_B * t)
    w = 1 / (4 * K_B * t * np.cosh(x / 2) ** 2)
    return (dos(e)[None, :] * w).sum(axis=1) * de


def test_nanonis_scale_conductance_has_uncertainties_and_recovers_the_gap():
    v = np.linspace(-6 * MEV, 6 * MEV, 401)
    g = _thermal(v, lambda e: _dynes_np(e, 1.5 * MEV, 0.05 * MEV), 1.2)
    g = 2.3e-11 * (g + RNG.normal(0, 0.01, v.size))  # A/V-sized numbers, 1 % noise
    r = fit_spectrum(v, g, temperature=1.2)
    assert r.success, codes(r.warnings)
    d, e = r.params["delta1"]
    assert e is not None and 0 < e < 0.05 * d
    assert d == pytest.approx(1.5 * MEV, rel=0.02)
    assert r.params["scale"][0] == pytest.approx(2.3e-11, rel=0.02)


def test_gap_weights_sum_to_one_by_construction():
    v = np.linspace(-8 * MEV, 8 * MEV, 401)
    dos = lambda e: 0.6 * _dynes_np(e, 1.0 * MEV, 0.05 * MEV) + \
        0.4 * _dynes_np(e, 2.5 * MEV, 0.05 * MEV)  # noqa: E731
    g = _thermal(v, dos, 1.0, emax=14 * MEV) + RNG.normal(0, 0.005, v.size)
    r = fit_spectrum(v, g, n_gaps=4, temperature=1.0)
    total = sum(r.params[f"weight{i}"][0] for i in range(1, 5))
    assert total == pytest.approx(1.0, abs=1e-9)
    assert all(0 <= r.params[f"weight{i}"][0] <= 1 for i in range(1, 5))


def test_a_fit_of_the_wrong_model_is_reported_failed():
    v = np.linspace(-6 * MEV, 6 * MEV, 401)
    # A V-shaped (nodal) spectrum with a zero-bias peak: no Dynes gap describes it.
    g = 0.3 + np.abs(v) / (6 * MEV) + 0.8 * np.exp(-(v / (0.3 * MEV)) ** 2)
    g = g + RNG.normal(0, 0.002, v.size)
    r = fit_spectrum(v, g, temperature=1.0)
    assert not r.success
    assert {"fit.poor"} & set(codes(r.warnings))


def test_featureless_spectrum_says_no_gap_or_failed():
    v = np.linspace(-6 * MEV, 6 * MEV, 301)
    g = 1 + RNG.normal(0, 0.01, v.size)
    r = fit_spectrum(v, g, temperature=1.0)
    assert not r.success or set(codes(r.warnings)) & {"fit.no_gap", "fit.undetermined"}


def _in_gap_dos(e, delta=1.4 * MEV, gamma=0.02 * MEV, e0=0.5 * MEV, w=0.05 * MEV):
    lor = (w / np.pi) / ((e - e0) ** 2 + w * w)
    return _dynes_np(e, delta, gamma) + 0.2 * MEV * lor


def test_one_bias_convention_nis_and_sis():
    v = np.linspace(-4 * MEV, 4 * MEV, 801)
    g_nis = nis_conductance(v, _in_gap_dos, 0.3)
    # Metal tip: the state at +0.5 meV shows at +0.5 mV.
    inside = np.abs(v) < 1.0 * MEV
    assert v[inside][np.argmax(g_nis[inside])] == pytest.approx(0.5 * MEV, abs=0.03 * MEV)
    # Superconducting tip (Δt = 1.3 meV): at +(Δt + 0.5 meV), not mirrored to negative bias.
    td, tg = 1.3 * MEV, 0.01 * MEV
    g_sis = sis_conductance(v, lambda e: dynes(e, td, tg),
                            lambda e: np.gradient(dynes(e, td, tg), e), _in_gap_dos, 0.3,
                            step=2e-6)
    window = (np.abs(v) > 1.5 * MEV) & (np.abs(v) < 2.1 * MEV)
    peak = v[window][np.argmax(g_sis[window])]
    assert peak == pytest.approx(1.8 * MEV, abs=0.05 * MEV)


def test_deconvolution_keeps_the_in_gap_state_at_positive_energy():
    from supramap.sts.deconvolve import deconvolve

    td = 1.3 * MEV
    tip = TipModel(delta_eV=td, gamma_eV=0.02 * MEV, temperature_K=0.5)
    v = np.linspace(-5 * MEV, 5 * MEV, 401)
    g = sis_conductance(v, tip.dos, tip.dos_derivative, _in_gap_dos, 0.5, step=2e-6)
    res = deconvolve(v, g, tip)
    e, n = res.energy_eV, res.dos
    plus = n[np.argmin(np.abs(e - 0.5 * MEV))]
    minus = n[np.argmin(np.abs(e + 0.5 * MEV))]
    assert plus > minus + 0.1


# ---- peaks ---------------------------------------------------------------------------------

def test_noisy_spectrum_gives_no_peaks_and_a_warning():
    from supramap.sts import coherence_peaks

    v = np.linspace(-10 * MEV, 10 * MEV, 2001)
    g = 1 + RNG.normal(0, 0.05, v.size)  # pure noise: 864 "peaks" before
    cp = coherence_peaks(v, g)
    assert len(cp.positions_eV) <= 2 and cp.pairs == []
    assert "peaks.no_pair" in codes(cp.warnings)


def test_peaks_pair_symmetrically_and_subtract_the_tip_gap():
    from supramap.sts import coherence_peaks

    v = np.linspace(-6 * MEV, 6 * MEV, 1201)
    # SIS-like peaks at ±(Δt + Δs) = ±2.7 meV, plus an unpaired bump at +4.5 meV, 1 % noise.
    g = 1 + 0.8 * np.exp(-((np.abs(v) - 2.7 * MEV) / (0.1 * MEV)) ** 2) \
        + 0.3 * np.exp(-((v - 4.5 * MEV) / (0.1 * MEV)) ** 2) + RNG.normal(0, 0.01, v.size)
    cp = coherence_peaks(v, g, tip_delta_eV=1.35 * MEV)
    assert len(cp.pairs) == 1
    assert cp.pairs[0]["plus_eV"] == pytest.approx(-cp.pairs[0]["minus_eV"], abs=0.02 * MEV)
    assert cp.gaps_eV[0] == pytest.approx(1.35 * MEV, abs=0.03 * MEV)


@pytest.mark.parametrize("g", [np.full(101, 2.0), np.full(101, np.nan)])
def test_constant_or_nan_spectrum_warns(g):
    from supramap.sts import coherence_peaks, zero_bias_peak

    v = np.linspace(-1e-3, 1e-3, 101)
    cp = coherence_peaks(v, g)
    assert "peaks.no_signal" in codes(cp.warnings)
    assert not zero_bias_peak(v, g).present


def test_sis_model_resolves_a_sharp_tip_against_direct_summation():
    """Γ_tip = 10 µeV on a 10 µV bias grid: the model's coherence peak must agree with a direct
    (fine Riemann) summation of dI/dV to < 1 %."""
    from supramap.sts.models import sis_model

    td, tg, ds, gs, t = 1.35 * MEV, 0.01 * MEV, 1.40 * MEV, 0.02 * MEV, 0.5
    v = np.arange(-4 * MEV, 4 * MEV + 1e-9, 10e-6)
    p = {"tip_delta": td, "tip_gamma": tg, "delta1": ds, "gamma1": gs, "weight1": 1.0,
         "temperature": t, "scale": 1.0}
    g_model = sis_model(v, p, 1)
    k = np.argmax(np.where(v > 0, g_model, 0))
    v0 = v[k]

    def current(bias):
        e = np.arange(-12 * MEV, 12 * MEV, 0.2e-6)
        f = 1 / (np.exp(np.clip(e / (K_B * t), -700, 700)) + 1)
        f2 = 1 / (np.exp(np.clip((e + bias) / (K_B * t), -700, 700)) + 1)
        # sample-bias convention: I(V) = ∫ N_t(E) N_s(E + eV) [f(E) − f(E + eV)] dE
        return np.sum(_dynes_np(e, td, tg) * _dynes_np(e + bias, ds, gs) * (f - f2)) * 0.2e-6

    h = 2e-6
    g_direct = (current(v0 + h) - current(v0 - h)) / (2 * h)
    g_norm = (current(8 * MEV + h) - current(8 * MEV - h)) / (2 * h)  # far from the gaps
    g_model_far = sis_model(np.array([8 * MEV]), p, 1)[0]
    assert g_model[k] / g_model_far == pytest.approx(g_direct / g_norm, rel=0.01)


def test_tip_calibration_uncertainty_covers_the_actual_error():
    """The reference's true gaps differ by 1 % from the nominal Pb values the calibration
    assumes: the tip gap comes out off by about that, and the stated uncertainty must say so."""
    from supramap.sts import calibrate_tip

    td_true = 1.30 * MEV
    v = np.linspace(-5 * MEV, 5 * MEV, 801)

    def sample(e):
        return 0.5 * _dynes_np(e, 1.2726 * MEV, 0.01 * MEV) + \
            0.5 * _dynes_np(e, 1.4241 * MEV, 0.01 * MEV)

    g = sis_conductance(v, lambda e: dynes(e, td_true, 0.02 * MEV),
                        lambda e: np.gradient(dynes(e, td_true, 0.02 * MEV), e), sample, 0.6,
                        step=2e-6)
    g = g + RNG.normal(0, 0.01, v.size)
    tip, res = calibrate_tip(v, g, temperature=0.6)
    actual = abs(tip.delta_eV - td_true)
    assert actual > 3e-6  # the nominal reference really is off
    assert tip.delta_err_eV >= 0.5 * actual
    assert tip.delta_err_eV < 20 * max(actual, 1e-6)  # and not absurdly large


def test_failed_tip_calibration_writes_no_tip(tmp_path, capsys):
    from supramap.cli.main import main

    v = np.linspace(-5 * MEV, 5 * MEV, 201)
    g = 0.3 + np.abs(v) / (5 * MEV) + RNG.normal(0, 0.002, v.size)  # V-shaped: no SIS peaks
    f = tmp_path / "v.csv"
    f.write_text("bias (V),dIdV\n" + "\n".join(f"{a!r},{b!r}" for a, b in zip(v.tolist(),
                                                                              g.tolist())))
    out = tmp_path / "tip.json"
    assert main(["sts", "calibrate-tip", str(f), "--out", str(out)]) == 2
    assert not out.exists()
    assert "no tip model written" in capsys.readouterr().err


def test_deconvolution_gaps_unbiased_below_half_a_percent():
    from supramap.sts.deconvolve import deconvolve

    tip = TipModel(delta_eV=1.37 * MEV, gamma_eV=0.01 * MEV, temperature_K=0.4)
    v = np.linspace(-5 * MEV, 5 * MEV, 1001)

    def pb(e):
        return 0.5 * _dynes_np(e, 1.26 * MEV, 0.01 * MEV) + 0.5 * _dynes_np(e, 1.41 * MEV,
                                                                            0.01 * MEV)

    g = sis_conductance(v, tip.dos, tip.dos_derivative, pb, 0.4, step=2e-6)
    d = deconvolve(v, g + RNG.normal(0, 0.005, v.size), tip)
    assert len(d.gaps_eV) == 2
    assert d.gaps_eV[0] == pytest.approx(1.26 * MEV, rel=0.005)
    assert d.gaps_eV[1] == pytest.approx(1.41 * MEV, rel=0.005)
    # Outside the energies the data constrain, the DOS is masked, not drawn.
    trusted = d.regularisation["trusted_range_eV"]
    assert np.all(np.isnan(d.dos[np.abs(d.energy_eV) > trusted]))


@pytest.mark.parametrize("shift", [0.0, 0.8, 2.0])
def test_bounded_solver_matches_lsq_linear(shift):
    from scipy.optimize import lsq_linear

    from supramap.sts.deconvolve import _bounded_quadratic

    rng = np.random.default_rng(1)
    a = rng.normal(size=(200, 80))
    b = rng.normal(size=200) * 3 - a @ np.full(80, shift)
    h = a.T @ a + 0.1 * np.eye(80)
    g = a.T @ b
    x = _bounded_quadratic(h, g, np.linalg.solve(h, g), lower=-1.0)
    aug = np.vstack([a, np.sqrt(0.1) * np.eye(80)])
    y = lsq_linear(aug, np.concatenate([b, np.zeros(80)]), bounds=(-1, np.inf), tol=1e-12).x
    np.testing.assert_allclose(x, y, atol=1e-8)
