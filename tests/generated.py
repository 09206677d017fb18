"""Tunnelling spectra with known truth, made in numpy for the calibration and health tests
(not with supramap's own models or simulators)."""

from __future__ import annotations

import numpy as np

K_B = 8.617333262e-5  # eV/K


def dynes(e, delta, gamma):
    """Dynes DOS |Re (E + iΓ)/√((E + iΓ)² − Δ²)|."""
    z = np.asarray(e) + 1j * gamma
    return np.abs(np.real(z / np.sqrt(z * z - np.asarray(delta) ** 2 + 0j)))


def nis_spectra(bias, deltas, gamma, temperature, *, points=4801):
    """Thermally broadened Dynes spectra, one per gap: the DOS on a fine energy grid over
    ±12 meV times the Fermi derivative written out."""
    e = np.linspace(-12e-3, 12e-3, points)
    dos = dynes(e[None, :], np.asarray(deltas)[:, None], gamma)
    x = (e[None, :] - np.asarray(bias)[:, None]) / (K_B * temperature)
    return dos @ ((e[1] - e[0]) / (4 * K_B * temperature * np.cosh(x / 2) ** 2)).T


def sis_didv(sample_dos, *, delta_t=1.37e-3, gamma_t=2e-5, temperature=0.4, vmax=3e-3,
             emax=8e-3, lockin_rms=0.0):
    """dI/dV through a Dynes tip, from the current I(V) = ∫ N_t(E − V) N_s(E) [f(E − V) −
    f(E)] dE on a 1 µeV grid (two FFT correlations), differentiated on 1 µV steps and sampled
    every 20 µV over ±*vmax* (differentiating on 5 µV steps alone widens a 40 µeV state by
    1.6 %).  *lockin_rms* > 0: the dI/dV a lock-in measures with that sinusoidal bias
    modulation (V rms), the average of the dI/dV over the modulation's cycle — the
    semicircle √(a² − v²) of peak amplitude a = √2 × rms, on the 1 µV grid."""
    from scipy.signal import fftconvolve

    de = 1e-6
    a = lockin_rms * np.sqrt(2)
    reach = vmax + a + 2 * de
    e = np.arange(-emax, emax, de)
    n_tip = dynes(e, delta_t, gamma_t)
    fermi = 0.5 * (1 - np.tanh(e / (2 * K_B * temperature)))
    ns = sample_dos(e)
    v = np.arange(-round(reach / de), round(reach / de) + 1) * de
    k = np.round(v / de).astype(int) + e.size - 1
    cur = (fftconvolve(ns, (n_tip * fermi)[::-1])[k] -
           fftconvolve(ns * fermi, n_tip[::-1])[k]) * de
    didv = np.gradient(cur, v)
    if a > 0:
        u = np.arange(-round(a / de), round(a / de) + 1) * de
        kern = np.sqrt(np.clip(a * a - u * u, 0, None))
        didv = np.convolve(didv, kern / kern.sum(), mode="same")
    keep = np.abs(v) <= vmax + 1e-9
    start = int(np.argmax(keep))
    return v[keep][::20], didv[start:][: keep.sum()][::20]
