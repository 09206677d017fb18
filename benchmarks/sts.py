"""Benchmark: SIS conductance of a 2001-point bias sweep, FFT method versus quadrature.

supramap evaluates dI/dV = ∫ N_s(E){N_t′(E+eV)[f(E) − f(E+eV)] − N_t(E+eV) f′(E+eV)} dE for
all biases at once as two FFT cross-correlations on a uniform energy grid; the baseline calls
``scipy.integrate.quad`` per bias point (break points at the gap edges), as lab notebooks do.
Measured in the same run, with the largest relative difference between the two.

Goal (issue #5): ≥ 100× faster with ≤ 1e-4 relative difference.

    python benchmarks/sts.py [--points 2001] [--baseline-points 2001]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy.integrate import quad

from supramap.sts.lineshapes import dynes, dynes_derivative, fermi, minus_dfermi, sis_conductance

MEV = 1e-3
T = 1.0
TIP = (1.37 * MEV, 0.02 * MEV)
SAMPLE = (1.26 * MEV, 0.02 * MEV)


def fast(v: np.ndarray) -> np.ndarray:
    return sis_conductance(v, lambda e: dynes(e, *TIP), lambda e: dynes_derivative(e, *TIP),
                           lambda e: dynes(e, *SAMPLE), T, step=2.5e-7, margin=12 * MEV)


def slow(v: np.ndarray) -> np.ndarray:
    dt, ds = TIP[0], SAMPLE[0]

    def integrand(e, vv):
        return dynes(e, *SAMPLE) * (dynes_derivative(e + vv, *TIP)
                                    * (fermi(e, T) - fermi(e + vv, T))
                                    + dynes(e + vv, *TIP) * minus_dfermi(e + vv, T))

    # The finite window matches the FFT grid's (outside it both DOS are ≈ 1 and f′ ≈ 0).
    lo, hi = -np.abs(v).max() - 12 * MEV, np.abs(v).max() + 12 * MEV
    return np.array([quad(integrand, lo, hi, args=(vv,), limit=500, epsabs=1e-12,
                          epsrel=1e-10, points=sorted({-dt - vv, dt - vv, -ds, ds}))[0]
                     for vv in v])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=2001)
    parser.add_argument("--baseline-points", type=int, default=2001,
                        help="bias points for the quadrature baseline (time is per point)")
    args = parser.parse_args()
    v = np.linspace(-6 * MEV, 6 * MEV, args.points)
    fast(v)
    t0 = time.perf_counter()
    for _ in range(5):
        g_fast = fast(v)
    t_fast = (time.perf_counter() - t0) / 5
    vb = v[:: max(1, args.points // args.baseline_points)]
    t0 = time.perf_counter()
    g_slow = slow(vb)
    t_slow = (time.perf_counter() - t0) * v.size / vb.size
    g_fast_b = np.interp(vb, v, g_fast)
    rel = float(np.max(np.abs(g_fast_b - g_slow) / np.abs(g_slow).max()))
    print(f"SIS dI/dV, {v.size} bias points, T = {T} K, Δt = {TIP[0] * 1e3} meV, "
          f"Δs = {SAMPLE[0] * 1e3} meV")
    print(f"{'supramap (FFT correlation)':30s}{t_fast * 1e3:10.1f} ms")
    print(f"{'quad per bias point':30s}{t_slow * 1e3:10.1f} ms"
          + ("" if vb.size == v.size else f" (extrapolated from {vb.size} points)"))
    print(f"speed-up {t_slow / t_fast:.0f}× (goal ≥ 100×); max difference {rel:.1e} of the "
          f"peak conductance (goal ≤ 1e-4)")


if __name__ == "__main__":
    main()
