"""Tunnelling lineshapes as pure vectorised functions (energies and biases in eV, T in K).

Superconducting DOS (BCS, Dynes, multi-gap, anisotropic), thermal and lock-in broadening of an
NIS junction, and the SIS conductance.  Convolutions run on uniform energy grids with FFTs and
include the integration step ``dE`` so absolute scales are right; nothing loops over bias
points in Python.
"""

from __future__ import annotations

import numpy as np


def fftconvolve(a: np.ndarray, b: np.ndarray, mode: str = "full") -> np.ndarray:
    """Linear convolution of two real 1-D arrays by FFT: scipy.signal.fftconvolve's method
    (real FFTs at the next fast length; ``"full"``, or ``"same"`` centred on *a*).

    Our own because ``import scipy.signal`` costs ~0.5 s (it loads scipy.stats), half the
    fixed cost of ``supramap sts fit`` (#27); scipy.fft is light.  Equal to scipy's within
    rounding (``tests/test_peakfind.py``)."""
    from scipy import fft as sp_fft

    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or mode not in ("full", "same"):
        raise ValueError("fftconvolve takes two 1-D arrays and mode 'full' or 'same'")
    n = a.size + b.size - 1
    m = sp_fft.next_fast_len(n, True)
    out = sp_fft.irfft(sp_fft.rfft(a, m) * sp_fft.rfft(b, m), m)[:n]
    if mode == "same":
        start = (n - a.size) // 2
        out = out[start:start + a.size]
    return out

K_B = 8.617333262e-5  # eV / K


def fermi(e: np.ndarray, t: float) -> np.ndarray:
    """Fermi function f(E) at temperature *t* (K); a step at t = 0."""
    e = np.asarray(e, dtype=float)
    if t <= 0:
        return np.where(e < 0, 1.0, np.where(e > 0, 0.0, 0.5))
    return 0.5 * (1 - np.tanh(e / (2 * K_B * t)))


def minus_dfermi(e: np.ndarray, t: float) -> np.ndarray:
    """−∂f/∂E (eV⁻¹): a peak of unit area and FWHM ≈ 3.53 k_B T."""
    e = np.asarray(e, dtype=float)
    if t <= 0:
        raise ValueError("−f′ needs a positive temperature")
    # 1/(4kT cosh²x) written with exp(−2|x|) so that it does not overflow far from E = 0.
    q = np.exp(-2 * np.abs(e / (2 * K_B * t)))
    return q / (K_B * t * (1 + q) ** 2)


def _dynes_root(e: np.ndarray, delta: float, gamma: float) -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(e, dtype=float) + 1j * gamma
    # √(z − Δ)·√(z + Δ), not √(z² − Δ²): for z in the upper half-plane both factors have
    # arguments in (0, π), so the product stays on one branch and N(E) > 0 for E < 0 too.
    root = np.sqrt(z - delta) * np.sqrt(z + delta)
    return z, root


def dynes(e: np.ndarray, delta: float, gamma: float) -> np.ndarray:
    """Dynes DOS N(E) = Re[(E + iΓ) / √((E + iΓ)² − Δ²)] (Dynes et al., PRL 41, 1509 (1978)),
    normalised to 1 far from the gap."""
    if delta == 0:
        return np.ones(np.shape(e))
    z, root = _dynes_root(e, abs(delta), gamma)
    return np.real(z / root)


def dynes_derivative(e: np.ndarray, delta: float, gamma: float) -> np.ndarray:
    """dN/dE of :func:`dynes` (analytic: −Δ² / ((E + iΓ)² − Δ²)^{3/2}, same branch)."""
    if delta == 0:
        return np.zeros(np.shape(e))
    _, root = _dynes_root(e, abs(delta), gamma)
    return np.real(-(delta**2) / root**3)


def bcs(e: np.ndarray, delta: float) -> np.ndarray:
    """BCS DOS |E|/√(E² − Δ²) for |E| > Δ, else 0."""
    e = np.asarray(e, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.abs(e) > abs(delta), np.abs(e) / np.sqrt(e * e - delta * delta), 0.0)


def multigap(e: np.ndarray, deltas, gammas, weights) -> np.ndarray:
    """Weighted sum of Dynes DOS; weights are normalised to sum to 1."""
    w = np.asarray(weights, dtype=float)
    if w.sum() <= 0:
        raise ValueError("weights must sum to a positive number")
    w = w / w.sum()
    return sum(wi * dynes(e, d, g) for d, g, wi in zip(deltas, gammas, w))


def anisotropic(e: np.ndarray, delta: float, gamma: float, anisotropy: float, *,
                order: int = 4, n_angles: int = 180) -> np.ndarray:
    """Dynes DOS averaged over the Fermi-surface angle with Δ(θ) = Δ (1 + a cos(order·θ))."""
    theta = (np.arange(n_angles) + 0.5) * 2 * np.pi / n_angles
    gaps = delta * (1 + anisotropy * np.cos(order * theta))
    e = np.asarray(e, dtype=float)
    z = e[..., None] + 1j * gamma
    root = np.sqrt(z - np.abs(gaps)) * np.sqrt(z + np.abs(gaps))
    return np.real(z / root).mean(axis=-1)


def lockin_kernel(v: np.ndarray, amplitude: float, *, rms: bool = True) -> np.ndarray:
    """Lock-in broadening of dI/dV for a sinusoidal modulation (Klein et al., PRB 7, 2336
    (1973)): K(v) = 2√(a² − v²)/(π a²) for |v| < a, a the peak amplitude (√2 × rms).
    Integrates to 1 over v (in V)."""
    a = amplitude * np.sqrt(2) if rms else amplitude
    v = np.asarray(v, dtype=float)
    if a <= 0:
        raise ValueError("modulation amplitude must be positive")
    return np.where(np.abs(v) < a, 2 * np.sqrt(np.clip(a * a - v * v, 0, None)) / (np.pi * a * a),
                    0.0)


def energy_grid(bias: np.ndarray, *, margin: float, step: float | None = None) -> np.ndarray:
    """A uniform energy grid covering ``bias`` ± *margin* (eV) with spacing *step* (default:
    the bias spacing, at most 20 µeV)."""
    b = np.asarray(bias, dtype=float)
    db = float(np.min(np.abs(np.diff(b)))) if b.size > 1 else 1e-5
    step = step or min(db, 2e-5)
    lo, hi = b.min() - margin, b.max() + margin
    n = int(np.ceil((hi - lo) / step)) + 1
    return lo + step * np.arange(n)


def _smooth_on_grid(e: np.ndarray, y: np.ndarray, kernel_fn) -> np.ndarray:
    de = e[1] - e[0]
    half = (e.size // 2) * de
    k = kernel_fn(np.arange(-(e.size // 2), e.size // 2 + 1) * de) * de
    del half
    return fftconvolve(y, k, mode="same")


def nis_conductance(bias: np.ndarray, dos, t: float, *, lockin_rms: float = 0.0,
                    margin: float | None = None, step: float | None = None) -> np.ndarray:
    """Normalised dI/dV of a normal tip on a sample with DOS ``dos(E)``:
    G(V) = ∫ N(E) [−f′(E − eV)] dE, then lock-in broadening.  Far from the gap G → 1."""
    b = np.asarray(bias, dtype=float)
    width = 12 * K_B * max(t, 1e-3) + 2 * np.sqrt(2) * lockin_rms
    e = energy_grid(b, margin=margin or width + 1e-4, step=step)
    n = dos(e)
    g = _smooth_on_grid(e, n, lambda x: minus_dfermi(x, t)) if t > 0 else n
    if lockin_rms > 0:
        g = _smooth_on_grid(e, g, lambda x: lockin_kernel(x, lockin_rms))
    return np.interp(b, e, g)


def _correlate(a: np.ndarray, b: np.ndarray, de: float) -> np.ndarray:
    """C[k] = Σ_j a[j] b[j + k] de for k = −(n−1)…(n−1)."""
    return fftconvolve(b, a[::-1], mode="full") * de


def sis_conductance(bias: np.ndarray, tip_dos, tip_dos_derivative, sample_dos, t: float, *,
                    lockin_rms: float = 0.0, margin: float = 8e-3,
                    step: float | None = None) -> np.ndarray:
    """SIS dI/dV in the sample-bias convention of :func:`nis_conductance` (a sample state at
    +E appears at positive bias, at V = +(E + Δ_tip) here).

    With V the sample bias, I(V) = ∫ N_t(E) N_s(E + eV) [f(E) − f(E + eV)] dE, and
    I(V) = −I′(−V) for I′(V) = ∫ N_s(E) N_t(E + eV) [f(E) − f(E + eV)] dE, whose derivative

    dI′/dV = ∫ N_s(E) { N_t′(E + eV) [f(E) − f(E + eV)] − N_t(E + eV) f′(E + eV) } dE

    is two cross-correlations evaluated with FFTs on one uniform energy grid (*step*), wide
    enough (*margin* beyond the bias window) for the gaps and k_B T; G(V) = dI′/dV at −V.
    Normalised: → 1 when both DOS are 1.
    """
    b = np.asarray(bias, dtype=float)
    e = energy_grid(np.array([-np.abs(b).max(), np.abs(b).max()]), margin=margin, step=step)
    de = e[1] - e[0]
    ns = sample_dos(e)
    nt = tip_dos(e)
    ntp = tip_dos_derivative(e)
    f = fermi(e, t)
    fp = -minus_dfermi(e, t) if t > 0 else np.zeros_like(e)
    # term1: Σ_E N_s(E) f(E) N_t′(E+V);  term2: Σ_E N_s(E) [N_t′ f + N_t f′](E+V)
    c1 = _correlate(ns * f, ntp, de)
    c2 = _correlate(ns, ntp * f + nt * fp, de)
    lags = (np.arange(c1.size) - (e.size - 1)) * de
    g = c1 - c2
    if lockin_rms > 0:
        g = fftconvolve(g, lockin_kernel(lags[(np.abs(lags) <= 3 * lockin_rms * np.sqrt(2))],
                                          lockin_rms) * de, mode="same")
    # Finite grid: N → 1 beyond it, so ∫ N_s [−f′] → the window's share; divide by the
    # normal-state value computed the same way so the far background is exactly 1.
    ones = np.ones_like(e)
    norm = _correlate(ones, ones * fp * -1, de)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = g / np.where(norm > 0.5, norm, 1.0)
    return np.interp(-b, lags, g)  # sample-bias convention (see the docstring)
