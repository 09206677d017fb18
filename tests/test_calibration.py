"""Simulation-based calibration: do the 90 % intervals supramap reports hold the truth 85–95 %
of the time, on data made here in numpy with known truth and realistic noise?

The spectra are thermally broadened Dynes spectra computed on a 5 µV energy grid with the
Fermi derivative written out (not supramap's model or simulator), with lock-in-like noise:
1 % of the signal (strongest at the coherence peaks) on top of a constant floor.
"""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from generated import nis_spectra, sis_didv  # tests/generated.py

Z90 = 1.6448536269514722


def lockin_noise(clean, rng, relative=0.01, floor=0.002):
    return clean * (1 + relative * rng.standard_normal(clean.shape)) + \
        floor * rng.standard_normal(clean.shape)


def grid_of(spectra, ny, nx, bias):
    return xr.DataArray(spectra.reshape(ny, nx, -1), dims=("y", "x", "bias"),
                        coords={"y": np.arange(ny) * 1e-9, "x": np.arange(nx) * 1e-9,
                                "bias": bias}, attrs={"units": "S"})


BIAS = np.linspace(-5e-3, 5e-3, 201)


def test_noise_model_is_recovered_from_residuals():
    """Residuals with σ² = a² + (c·G)², pure floor and pure multiplicative, against a signal
    spanning 0.05–2.5: the two numbers come back within 5 %, a constant noise as constant."""
    from supramap.sts.noise import noise_from_residuals

    rng = np.random.default_rng(0)
    g = rng.uniform(0.05, 2.5, 200_000) * 3e-9  # siemens: tiny numbers on purpose
    for floor, rel in ((0.02e-9, 0.01), (0.0, 0.02), (0.03e-9, 0.0)):
        sigma = np.sqrt(floor ** 2 + (rel * g) ** 2)
        m = noise_from_residuals(g, sigma * rng.standard_normal(g.size))
        if rel == 0:
            assert m.kind == "constant" and m.floor == pytest.approx(floor, rel=0.05)
        else:
            assert m.kind == "signal-dependent"
            assert m.relative == pytest.approx(rel, rel=0.05)
            assert m.floor == pytest.approx(floor, abs=0.05 * floor + 0.05 * rel * 3e-9)
        assert np.median(m.sigma(g) / sigma) == pytest.approx(1, rel=0.05)


def test_gap_map_intervals_hold_the_truth_per_pixel():
    """Three 24 × 20 grids of known, varied gaps (1.0–1.6 meV) at 1 K with lock-in-like noise:
    the per-pixel 90 % intervals (±1.645 standard errors) hold the true gap in 85–95 % of
    the 1,440 pixels (the unweighted fit: ~84 %; the issue measured 77 %)."""
    from supramap.sts.gapmap import gap_map

    hits, weighted = [], []
    for seed in range(3):
        rng = np.random.default_rng(100 + seed)
        truth = rng.uniform(1.0e-3, 1.6e-3, 480)
        g = lockin_noise(nis_spectra(BIAS, truth, 50e-6, 1.0), rng)
        res = gap_map(grid_of(g, 20, 24, BIAS), temperature=1.0)
        d = res.data["delta"].values.ravel()
        err = res.data["delta_stderr"].values.ravel()
        hits.append(np.abs(d - truth) <= Z90 * err)
        weighted.append(res.info["noise_model"]["kind"])
        nm = res.info["noise_model"]
        assert nm["relative"] == pytest.approx(0.01, rel=0.1)
        assert nm["floor"] == pytest.approx(0.002, rel=0.2)
    assert weighted == ["signal-dependent"] * 3
    coverage = float(np.mean(np.concatenate(hits)))
    assert 0.85 <= coverage <= 0.95, coverage


def test_gap_map_intervals_hold_with_constant_noise():
    """The same with constant noise only: the model is found constant, no refit, and the
    intervals still hold."""
    from supramap.sts.gapmap import gap_map

    rng = np.random.default_rng(7)
    truth = rng.uniform(1.0e-3, 1.6e-3, 480)
    g = nis_spectra(BIAS, truth, 50e-6, 1.0) + 0.01 * rng.standard_normal((480, BIAS.size))
    res = gap_map(grid_of(g, 20, 24, BIAS), temperature=1.0)
    assert res.info["noise_model"]["kind"] == "constant"
    err = res.data["delta_stderr"].values.ravel()
    coverage = np.mean(np.abs(res.data["delta"].values.ravel() - truth) <= Z90 * err)
    assert 0.85 <= coverage <= 0.95, coverage


def test_gap_map_median_interval_holds_the_truth():
    """120 small grids (8 × 6) with gaps spread 1.2–1.4 meV: the 90 % interval of the map's
    median holds the median of the true gaps 85–95 % of the time."""
    from supramap.sts.gapmap import gap_map

    hits = []
    for seed in range(120):
        rng = np.random.default_rng(1000 + seed)
        truth = rng.uniform(1.2e-3, 1.4e-3, 48)
        g = lockin_noise(nis_spectra(BIAS, truth, 50e-6, 1.0), rng, floor=0.01)
        lo, hi = gap_map(grid_of(g, 6, 8, BIAS), temperature=1.0).info[
            "median_gap_interval_90_eV"]
        hits.append(lo <= np.median(truth) <= hi)
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)


def cafm_map(seed, noise, conducting=None, n=128, up=4):
    """A cAFM current map made here: islands of a smooth random field (10–40 % of the area,
    or 1 − *conducting* quantile), each at 2 or 3.5 µA, a Gaussian tip of 0.25–0.75 px,
    drawn 4× finer and averaged into pixels (the truth is the fine mask's area), *noise* ×
    2 µA white noise and 0.5 % line offsets (slow drift).  Returns the map and the truth."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    fine = ndi.gaussian_filter(rng.standard_normal((n * up, n * up)),
                               rng.uniform(32, 80), mode="wrap")
    q = rng.uniform(60, 90) if conducting is None else 100 * (1 - conducting)
    mask = fine > np.percentile(fine, q)
    lab, k = ndi.label(mask)
    level = np.where(rng.random(k + 1) < 0.5, 2e-6, 3.5e-6)
    level[0] = 0.0
    current = ndi.gaussian_filter(level[lab], rng.uniform(1, 3))
    img = current.reshape(n, up, n, up).mean(axis=(1, 3))
    img += noise * 2e-6 * rng.standard_normal(img.shape) + \
        0.005 * 2e-6 * rng.standard_normal((n, 1))
    da = xr.DataArray(img, dims=("y", "x"), coords={"y": np.arange(n) * 20e-9,
                                                   "x": np.arange(n) * 20e-9},
                      attrs={"units": "A", "bias_V": 1.0})
    return da, float(mask.mean())


@pytest.mark.parametrize("noise, conducting, maps", [(0.015, None, 60), (0.05, None, 40),
                                                     (0.015, 0.75, 30)])
def test_cafm_fraction_interval_holds_the_true_area(noise, conducting, maps):
    """The 90 % interval of the conducting area holds the generated truth 85–95 % of the
    time: µA islands at 1.5 % noise (the published regime), weak levels at 5 % (classified
    after smoothing), and a map that is three-quarters superconducting.  (Measured: 93 %,
    92 %, 90 %; the cut × ½ / × 1.5 interval held it 100 % of the time, 10× wider.)"""
    from supramap.conduction import analyze

    hits = []
    for seed in range(maps):
        da, truth = cafm_map(seed, noise, conducting)
        lo, hi = analyze(da).conducting_fraction_interval_90
        hits.append(lo <= truth <= hi)
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)


def test_cafm_weak_levels_are_not_cut_at_the_detection_limit():
    """Levels at ~11σ of the raw map: the 10σ detection cut lay above half the level and the
    fraction counted only the islands' noisy tops (0.12 for a true 0.36).  The map is now
    classified after smoothing and the fraction is right."""
    from supramap.conduction import analyze

    da, truth = cafm_map(39, 0.1)
    res = analyze(da)
    assert res.conducting_fraction == pytest.approx(truth, abs=0.005)
    assert "cafm.weak_levels" in [w.code for w in res.warnings]


@pytest.mark.parametrize("points, noise", [((300, 1200), 0.003), ((300, 1200), 0.01),
                                           ((100, 300), 0.003)])
def test_transport_tc_interval_holds_the_truth(points, noise):
    """200 ρ(T) curves: a metal ρn = ρ0(1 + 0.01 T + 10⁻⁴ T²) × an erf step at Tc (8–14 K,
    width 0.1–0.6 K), 300–1200 or 100–300 points over 2–60 K, noise 0.3 % or 1 % of ρ0.
    The 90 % interval of Tc_mid holds the true Tc (where ρ = ρn/2) 85–95 % of the time
    (measured 89.5 %, 89.5 %, 88 %; before the window and sampling fixes, 62 %)."""
    from scipy.special import erf

    from supramap.bulk.transport import analyze_transport

    hits = []
    for s in range(200):
        rng = np.random.default_rng(s)
        tc, w = rng.uniform(8, 14), rng.uniform(0.1, 0.6)
        t = np.linspace(2, 60, int(rng.integers(*points)))
        rho_n = 1e-6 * (1 + 0.01 * t + 1e-4 * t ** 2)
        rho = rho_n * 0.5 * (1 + erf((t - tc) / w)) + noise * 1e-6 * rng.standard_normal(t.size)
        lo, hi = analyze_transport(t, rho).to_dict()["Tc_mid_interval_90_K"]
        hits.append(lo <= tc <= hi)
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)


def test_susceptibility_tc_onset_interval_holds_the_truth():
    """200 ZFC curves: intrinsic χ = −½ erfc((T − Tc)/w) (Tc 8–14 K, w 0.3–1.5 K) measured
    through a demagnetisation factor 0.3 (χm = χ / (1 + Nχ)) every 0.05–0.25 K over 2–20 K,
    noise 0.2–2 % of the drop.  The 90 % interval of the onset (2 % of the corrected drop)
    holds the noise-free curve's onset 85–95 % of the time (measured 87.5 %, 88.5 %, 86 % on
    three sets of 200; the straight-line crossing alone, with a bootstrap error, 76–86 % per
    setting)."""
    from scipy.special import erfc

    from supramap.bulk.magnetisation import analyze_susceptibility, onset_temperature

    n_demag = 0.3
    hits = []
    for s in range(200):
        rng = np.random.default_rng(s)
        tc, w = rng.uniform(8, 14), rng.uniform(0.3, 1.5)
        step, noise = rng.choice([0.05, 0.1, 0.25]), rng.choice([0.002, 0.005, 0.01, 0.02])
        t = np.arange(2, 20, step) + rng.uniform() * step
        fine = np.linspace(2, 20, 200001)
        truth = onset_temperature(fine, -0.5 * erfc((fine - tc) / w))
        chi = -0.5 * erfc((t - tc) / w)
        measured = chi / (1 + n_demag * chi) + noise * rng.standard_normal(t.size)
        d = analyze_susceptibility(t, measured, None, None, demag_factor=n_demag).to_dict()
        lo, hi = d["Tc_onset_interval_90_K"]
        hits.append(lo <= truth <= hi)
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)


def test_heat_gamma_beta_intervals_hold_the_truth():
    """300 normal-metal C(T) = γT + βT³ (γ = 5 mJ/mol K², β = 0.3–1 mJ/mol K⁴), 80 points at
    random T in 2–10 K, 1 % relative noise: the 90 % intervals of γ and β from the 3–5 K
    window hold the truth 85–95 % of the time (measured 92 % and 89 %)."""
    from supramap.bulk.heat import analyze_heat

    rng = np.random.default_rng(0)
    hg, hb = [], []
    for _ in range(300):
        gamma, beta = 5e-3, 1e-3 * rng.uniform(0.3, 1)
        t = np.sort(rng.uniform(2, 10, 80))
        c = (gamma * t + beta * t ** 3) * (1 + 0.01 * rng.standard_normal(t.size))
        d = analyze_heat(t, c, window=(3, 5)).to_dict()
        hg.append(d["gamma_interval_90"][0] <= gamma <= d["gamma_interval_90"][1])
        hb.append(d["beta_interval_90"][0] <= beta <= d["beta_interval_90"][1])
    assert 0.85 <= np.mean(hg) <= 0.95 and 0.85 <= np.mean(hb) <= 0.95, (np.mean(hg),
                                                                         np.mean(hb))


def test_ingap_intervals_with_a_calibrated_tip_hold_the_truth():
    """80 in-gap states (Lorentzian, FWHM 40–80 µeV, at 0 or 60–150 µeV) seen through a
    Pb-like tip at 0.4 K, 0.2 % noise; the tip model's temperature is the calibration's,
    drawn 0.4 ± 0.03 K with that error stated.  The 90 % intervals of the intrinsic FWHM,
    energy and weight (the tip's temperature propagated) hold the truth 85–95 % of the time
    (measured on 100: 94 % and 88 %; the weight, 2·10⁻⁴ eV of normal-state DOS, 92.5 % on
    40, its median 0.5 % high)."""
    from supramap.sts.ingap import fit_in_gap
    from supramap.sts.models import TipModel

    rng = np.random.default_rng(0)
    width_hits, energy_hits, weight_hits = [], [], []
    for _ in range(80):
        w = rng.uniform(40e-6, 80e-6)
        e0 = rng.choice([0.0, rng.uniform(60e-6, 150e-6)])
        b, g = sis_didv(lambda e, w=w, e0=e0: 1.0 + 2e-4 * (w / 2) / np.pi /
                            ((e - e0) ** 2 + (w / 2) ** 2))
        g = g * (1 + 0.002 * rng.standard_normal(g.size))
        tip = TipModel(1.37e-3, 2e-5, 0.4 + 0.03 * rng.standard_normal(),
                       temperature_err_K=0.03)
        r = fit_in_gap(b, g, temperature=0.4, tip=tip, peaks=1)
        width_hits.append(abs(r.fwhm_eV[0] - w) <= Z90 * r.fwhm_err_eV[0])
        energy_hits.append(abs(r.energies_eV[0] - e0) <= Z90 * r.energies_err_eV[0])
        weight_hits.append(abs(r.weights[0] - 2e-4) <= Z90 * r.weights_err[0])
    assert 0.85 <= np.mean(width_hits) <= 0.95, np.mean(width_hits)
    assert 0.85 <= np.mean(energy_hits) <= 0.95, np.mean(energy_hits)
    assert 0.85 <= np.mean(weight_hits) <= 0.95, np.mean(weight_hits)


def _ingap_grid(rng, ny, nx, *, temperature=0.4, lockin_rms=20e-6, relative=0.01,
                floor=0.002):
    """A (y, x, bias) grid of in-gap Lorentzians (energy ±60 µeV, FWHM 40–100 µeV, weight
    1.5–2.5·10⁻⁴ eV on a sloped background of 1), each pixel's dI/dV = ∫ DOS(E) (−f′ ⊛
    lock-in)(E − V) dE on a 0.5 µeV grid with the kernel out to ±1 meV (cut at ±0.2 meV, its
    tails' 1 % missing narrowed every spectrum and biased the widths by −1.6 %), with
    lock-in-like noise (*relative* of the signal on top of *floor*)."""
    k_b = 8.617333262e-5
    de = 0.5e-6
    e = np.arange(-3e-3, 3e-3 + de / 2, de)
    u = np.arange(-2000, 2001) * de
    thermal = 1 / (4 * k_b * temperature *
                   np.cosh(np.clip(u / (2 * k_b * temperature), -300, 300)) ** 2)
    a = np.sqrt(2) * lockin_rms
    semi = np.where(np.abs(u) < a, 2 * np.sqrt(np.clip(a * a - u * u, 0, None)) /
                    (np.pi * a * a), 0.0)
    kern = np.convolve(thermal, semi, mode="same") * de
    bias = np.linspace(-1e-3, 1e-3, 201)
    e0 = rng.uniform(-60e-6, 60e-6, (ny, nx))
    w = rng.uniform(40e-6, 100e-6, (ny, nx))
    wt = rng.uniform(1.5e-4, 2.5e-4, (ny, nx))
    g = np.empty((ny, nx, bias.size))
    for i in range(ny):
        for j in range(nx):
            dos = wt[i, j] * (w[i, j] / 2) / np.pi / ((e - e0[i, j]) ** 2 + (w[i, j] / 2) ** 2)
            clean = np.interp(bias, e, np.convolve(dos, kern, mode="same") * de) + 1 + 50 * bias
            g[i, j] = lockin_noise(clean, rng, relative, floor)
    return grid_of(g * 1e-9, ny, nx, bias), e0, w, wt * 1e-9


def test_ingap_grid_intervals_hold_the_truth():
    """Per-pixel in-gap fits on grids with lock-in noise (1 % of the signal, strongest on the
    peak, over a 0.2 % floor): the noise model from the first pass's residuals and the
    weighted second pass make the 90 % intervals of energy, FWHM and weight hold the truth
    85–95 % of the time (measured on these 3 grids of 14²: 87, 90.5, 91.5 %, and 89, 89, 89 %
    on 6 grids of 16²; unweighted, noise="constant", they held it in 76, 82, 87 %)."""
    from supramap.sts.ingap_grid import fit_in_gap_grid

    rng = np.random.default_rng(0)
    hits = {"energy": [], "fwhm": [], "weight": []}
    for _ in range(3):
        grid, e0, w, wt = _ingap_grid(rng, 14, 14)
        ds = fit_in_gap_grid(grid, temperature=0.4, lockin_rms=20e-6, peaks=1)
        assert ds.attrs["noise_model"].startswith("signal-dependent")
        ok = ds["converged"].values
        assert ok.mean() > 0.97
        for name, truth in (("energy", e0), ("fwhm", w), ("weight", wt)):
            v, err = ds[f"{name}_1"].values, ds[f"{name}_1_stderr"].values
            hits[name] += list((np.abs(v - truth) <= Z90 * err)[ok])
    for name, h in hits.items():
        assert 0.85 <= np.mean(h) <= 0.95, (name, np.mean(h))


def test_ingap_grid_intervals_with_a_calibrated_tip_hold_the_truth():
    """In-gap grids (3 × 3 Lorentzians, FWHM 40–80 µeV, at 0 or 60–150 µeV, 0.2 % noise)
    through a Pb-like tip at 0.4 K whose calibrated temperature is off by δ with its error
    stated as 0.03 K.  Every pixel of a grid shares δ, so δ is stratified over 16 grids (the
    normal distribution's quantiles of 0.03 K: 14 of 16 within ±1.645σ) instead of drawn:
    the 90 % intervals of energy, FWHM and weight — the whole fit repeated at T ± δT — hold
    the truth 85–95 % of the time (measured 94.4, 91.7, 91 %; with the first fit's weights
    kept for the repeats the weight held it in 79–86 % of 720 pixels with δ drawn, and with
    errors scaled by each pixel's χ²_red energy and width held it in 95–98 %)."""
    from scipy.stats import norm

    from supramap.sts.ingap_grid import fit_in_gap_grid
    from supramap.sts.models import TipModel

    rng = np.random.default_rng(1)
    hits = {"energy": [], "fwhm": [], "weight": []}
    for q in (np.arange(16) + 0.5) / 16:
        w = rng.uniform(40e-6, 80e-6, 9)
        e0 = rng.choice([0.0, 1.0], 9) * rng.uniform(60e-6, 150e-6, 9)
        spectra = []
        for wi, ei in zip(w, e0):
            b, g = sis_didv(lambda e, wi=wi, ei=ei: 1.0 + 2e-4 * (wi / 2) / np.pi /
                            ((e - ei) ** 2 + (wi / 2) ** 2))
            spectra.append(g * (1 + 0.002 * rng.standard_normal(g.size)))
        tip = TipModel(1.37e-3, 2e-5, 0.4 + 0.03 * norm.ppf(q), temperature_err_K=0.03)
        ds = fit_in_gap_grid(grid_of(np.array(spectra), 3, 3, b), temperature=0.4, tip=tip,
                             peaks=1)
        for name, truth in (("energy", e0), ("fwhm", w), ("weight", np.full(9, 2e-4))):
            v, err = ds[f"{name}_1"].values.ravel(), ds[f"{name}_1_stderr"].values.ravel()
            hits[name] += list(np.abs(v - truth) <= Z90 * err)
    for name, h in hits.items():
        assert 0.85 <= np.mean(h) <= 0.95, (name, np.mean(h))


def _kim_loop(rng, h0, n, noise, offset=0.0, shift=0.0, step=0.02, dm0=5e4, vol=4e-10):
    """A loop whose ΔM(H) = ΔM0 / (1 + |H|/H0)ⁿ (Kim), with a diamagnetic slope, Gaussian
    noise on M, fields that miss 0 by ``offset`` steps and a decreasing branch measured on
    fields shifted by ``shift`` steps from the increasing one: (field T, moment A·m²)."""
    up = np.arange(-2.0 + offset * step, 2.0, step)
    dn = (up + shift * step)[::-1]

    def m(h, sign):
        return sign * dm0 / (1 + np.abs(h) / h0) ** n / 2 - 0.05 * dm0 * h + \
            noise * dm0 * rng.standard_normal(h.size)

    return np.concatenate([dn, up]), np.concatenate([m(dn, 1), m(up, -1)]) * vol


def test_loop_self_field_jc_is_taken_at_the_cusp():
    """A Kim loop with H0 = 0.3 T on 0.02 T steps that miss H = 0 by half a step, 0.1 % noise:
    the self-field Jc comes from the cusp's extrapolation (linear interpolation between
    ±0.01 T read 3 % low) and its 90 % interval holds the Bean value of ΔM0."""
    from supramap.bulk.loops import analyze_loop, bean_jc_si

    a, b, vol, dm0 = 1e-3, 2e-3, 4e-10, 5e4
    h, m = _kim_loop(np.random.default_rng(5), 0.3, 1.0, 1e-3, offset=0.5)
    res = analyze_loop(h, m, volume=vol, a=a, b=b)
    truth = float(bean_jc_si(np.array([dm0]), a, b)[0])
    lo, hi = res.to_dict()["Jc_self_field_interval_90_A_per_m2"]
    assert lo <= truth <= hi
    assert res.jc_self_field == pytest.approx(truth, rel=0.01)
    assert not [w for w in res.warnings if w.code == "loop.cusp_unresolved"]


def test_loop_self_field_jc_interval_holds():
    """Simulation-based calibration of the self-field Jc: 160 generated Kim loops (H0 = 10–50
    field steps, n = 1–2 with the cusp ≥ 10 steps wide, 0.1–0.5 % noise, fields with and
    without a point at 0, branches on shifted fields): the 90 % interval holds the Bean value
    of ΔM0 85–95 % of the time (measured 87–93 % per setting over 100 loops each); a cusp of
    5 steps is flagged (loop.cusp_unresolved), one of ≥ 20 steps never."""
    from supramap.bulk.loops import analyze_loop, bean_jc_si

    a, b, vol, dm0 = 1e-3, 2e-3, 4e-10, 5e4
    truth = float(bean_jc_si(np.array([dm0]), a, b)[0])
    rng = np.random.default_rng(28)
    hits, flagged = [], []
    for i in range(160):
        h0_steps, n = [(10, 1.0), (20, 1.0), (20, 2.0), (50, 1.0), (50, 2.0)][i % 5]
        h, m = _kim_loop(rng, 0.02 * h0_steps, n, [1e-3, 5e-3][(i // 5) % 2],
                         offset=0.5 * ((i // 10) % 2), shift=0.5 * ((i // 20) % 2))
        res = analyze_loop(h, m, volume=vol, a=a, b=b)
        hits.append(abs(res.jc_self_field - truth) <= Z90 * res.jc_self_field_err)
        flagged.append(any(w.code == "loop.cusp_unresolved" for w in res.warnings))
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)
    assert not any(flagged)
    h, m = _kim_loop(rng, 0.1, 1.0, 1e-3)
    res = analyze_loop(h, m, volume=vol, a=a, b=b)
    assert any(w.code == "loop.cusp_unresolved" for w in res.warnings)


@pytest.mark.parametrize("noise", [0.015, 0.05])
def test_cafm_level_intervals_hold_the_injected_currents(noise):
    """The 90 % intervals of the current levels (re-measured on the plateaus, errors from
    scan-line means: the maps carry 0.5 % line offsets) hold the injected 2 and 3.5 µA
    85–95 % of the time (measured 90 % and 91 % on 68 levels each)."""
    from supramap.conduction import analyze

    hits = []
    for seed in range(40):
        da, _ = cafm_map(seed, noise)
        d = analyze(da).to_dict()
        for (lo, hi), level in zip(d["level_intervals_90_A"], d["levels_A"]):
            truth = 2e-6 if abs(level - 2e-6) < abs(level - 3.5e-6) else 3.5e-6
            hits.append(lo <= truth <= hi)
    assert len(hits) >= 60
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)


def test_four_probe_resistance_interval_holds_the_truth():
    """The four-probe resistance's 90 % interval under the map's uncertainty: 60 maps of
    islands (a thresholded smooth random field, 15, 30 or 45 % of a 64² map) seen through a
    1-px tip with 5 % noise; the truth is the van der Pauw R on the real geometry (before the
    tip).  The interval (the measured mask and the masks bounding the fraction's 90 % interval,
    with the middle half of 6 noise re-draws, the default) holds it 85–95 % of the time
    (measured 92 % on these 60, 94 % on 120: 92.5, 95, 95 % at the three fractions; with 20
    re-draws 93 and 95 %)."""
    from scipy import ndimage as ndi

    from supramap.conduction import analyze
    from supramap.network import fourprobe
    from supramap.network.measure import resistance_interval

    n, level = 64, 2e-6
    g = np.full((n, n), 1e-3)
    hits = []
    for s in range(60):
        rng = np.random.default_rng(s)
        field = ndi.gaussian_filter(rng.standard_normal((n, n)), 4)
        geometry = field > np.quantile(field, 1 - [0.15, 0.3, 0.45][s % 3])
        current = ndi.gaussian_filter(geometry * level, 1.0) + \
            0.05 * level * rng.standard_normal((n, n))
        da = xr.DataArray(current, dims=("y", "x"), attrs={"units": "A", "bias_V": 1.0},
                          coords={"y": np.arange(n) * 20e-9, "x": np.arange(n) * 20e-9})
        res = analyze(da)
        kw = dict(geometry="vdp", reference_sheet_resistance=1e3)
        truth = fourprobe(g, geometry, maps=False, **kw).R_apparent_ohm
        lo, hi = resistance_interval(g, res.mask, res.conducting_fraction_interval_90,
                                     res.oriented_current, res.threshold_A, res.noise.sigma_A,
                                     seed=s, **kw)["R_apparent_interval_90_ohm"]
        hits.append(lo - 1e-9 <= truth <= hi + 1e-9)
    assert 0.85 <= np.mean(hits) <= 0.95, np.mean(hits)


def test_four_probe_contact_placement_interval_holds_new_placements():
    """The Monte Carlo over contact placements (and thresholds ×0.5–2): its 90 % interval
    of the apparent sheet resistance holds the reading of new placements drawn the same way
    85–95 % of the time (3 generated maps of 64², 60 placements for the interval, 100 new
    ones each: measured 96, 95, 82 %, 91 % together — a quantile of 60 draws is itself
    uncertain)."""
    from scipy import ndimage as ndi

    from supramap.network import monte_carlo

    n = 64
    g = np.full((n, n), 1e-3)
    held = []
    for s in range(3):
        field = ndi.gaussian_filter(np.random.default_rng(s).standard_normal((n, n)), 4)
        current = field - np.quantile(field, 0.75)

        def mask_for(factor, c=current):
            return c > 0.1 * (factor - 1)

        kw = dict(n=60, threshold_range=(0.5, 2.0), reference_sheet_resistance=1e3)
        lo, hi = monte_carlo(g, mask_for, seed=s, **kw).to_dict()[
            "sheet_resistance_interval_90_ohm"]
        new = monte_carlo(g, mask_for, seed=100 + s, **{**kw, "n": 100})
        rs = new.sheet_resistance_ohm[~new.open]
        held.append(np.mean((rs >= lo) & (rs <= hi)))
    assert 0.85 <= np.mean(held) <= 0.95, held
