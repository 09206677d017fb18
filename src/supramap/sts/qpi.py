"""Quasiparticle interference: Fourier transforms of maps, symmetrisation, Lawler–Fujita
drift correction, q-space line cuts and a C4 → C2 anisotropy metric."""

from __future__ import annotations

import numpy as np
import xarray as xr
from scipy import ndimage

from supramap.errors import AnalysisError


def _image(m: xr.DataArray) -> np.ndarray:
    if m.dims != ("y", "x"):
        raise AnalysisError("QPI needs a (y, x) map")
    z = np.asarray(m.values, dtype=float)
    if not np.isfinite(z).all():
        z = np.where(np.isfinite(z), z, np.nanmean(z))
    return z


def fourier(m: xr.DataArray, *, window: str = "hann") -> xr.DataArray:
    """|FFT| of a map with the mean removed and a window (``hann`` or ``none``), centred, with
    q coordinates in rad/m."""
    z = _image(m)
    z = z - z.mean()
    ny, nx = z.shape
    if window == "hann":
        z = z * np.outer(np.hanning(ny), np.hanning(nx))
    elif window != "none":
        raise AnalysisError("window must be 'hann' or 'none'")
    f = np.abs(np.fft.fftshift(np.fft.fft2(z)))
    dx = float(m.x[1] - m.x[0])
    dy = float(m.y[1] - m.y[0])
    qx = 2 * np.pi * np.fft.fftshift(np.fft.fftfreq(nx, dx))
    qy = 2 * np.pi * np.fft.fftshift(np.fft.fftfreq(ny, dy))
    return xr.DataArray(f, dims=("qy", "qx"), coords={"qy": ("qy", qy, {"units": "rad/m"}),
                                                      "qx": ("qx", qx, {"units": "rad/m"})},
                        name="|FFT|", attrs={"units": "", "window": window})


def symmetrise(f: xr.DataArray, kind: str = "c4") -> xr.DataArray:
    """Average a square centred FFT over the operations of ``mirror`` (x → −x), ``c2`` or
    ``c4`` (rotations by 90°, with mirrors)."""
    full = np.asarray(f.values, dtype=float)
    if full.shape[0] != full.shape[1]:
        raise AnalysisError("symmetrisation needs a square FFT")
    # fftshift puts q = 0 at index n//2; for even n drop the first row and column so that
    # rotations about the array centre keep q = 0 fixed.
    even = full.shape[0] % 2 == 0
    a = full[1:, 1:] if even else full
    ops = {"mirror": [a, a[:, ::-1]], "c2": [a, np.rot90(a, 2)],
           "c4": [np.rot90(a, k) for k in range(4)] + [np.rot90(a[:, ::-1], k)
                                                        for k in range(4)]}
    if kind not in ops:
        raise AnalysisError("kind must be 'mirror', 'c2' or 'c4'")
    sym = np.mean(ops[kind], axis=0)
    out = full.copy()
    if even:
        out[1:, 1:] = sym
    else:
        out = sym
    return f.copy(data=out)


def excess_power(f: xr.DataArray, *, n_sigma: float = 5.0) -> np.ndarray:
    """Power |F|² above the isotropic background: the median power in rings of |q| is
    subtracted, and only what exceeds *n_sigma* × the ring's robust scatter is kept.  The
    noise floor fills the whole q plane; peaks do not, so sums of raw intensity over large
    sectors measure the noise, not the waves."""
    qx, qy = np.meshgrid(f.qx.values, f.qy.values)
    q = np.hypot(qx, qy)
    p = np.asarray(f.values, dtype=float) ** 2
    dq = max(float(abs(f.qx[1] - f.qx[0])), float(abs(f.qy[1] - f.qy[0])))
    ring = np.floor(q / dq).astype(int)
    n = ring.max() + 1
    order = np.argsort(ring.ravel(), kind="stable")
    sorted_p = p.ravel()[order]
    bounds = np.searchsorted(ring.ravel()[order], np.arange(n + 1))
    med = np.zeros(n)
    mad = np.zeros(n)
    for k in range(n):  # one median per ring (a few hundred rings)
        seg = sorted_p[bounds[k]:bounds[k + 1]]
        if seg.size:
            med[k] = np.median(seg)
            mad[k] = 1.4826 * np.median(np.abs(seg - med[k]))
    excess = p - med[ring]
    return np.where(excess > n_sigma * np.maximum(mad[ring], 1e-300), excess, 0.0)


def anisotropy(f: xr.DataArray, *, q_min: float, q_max: float) -> float:
    """C4 → C2 breaking: (Pₓ − P_y)/(Pₓ + P_y) of the FFT power above the background
    (:func:`excess_power`) in the annulus q_min ≤ |q| ≤ q_max within ±30° of the qx and qy
    axes: 1 for a wave along x only, 0 for C4.  NaN when nothing rises above the noise."""
    qx, qy = np.meshgrid(f.qx.values, f.qy.values)
    q = np.hypot(qx, qy)
    ang = np.degrees(np.arctan2(np.abs(qy), np.abs(qx)))
    ring = (q >= q_min) & (q <= q_max)
    e = excess_power(f)
    ix = float(e[ring & (ang <= 30)].sum())
    iy = float(e[ring & (ang >= 60)].sum())
    return (ix - iy) / (ix + iy) if ix + iy > 0 else float("nan")


def q_peaks(f: xr.DataArray, *, n_max: int = 6, q_min: float | None = None,
            lattice_m: float | None = None) -> list[dict[str, float]]:
    """Scattering vectors: local maxima of the excess power (one of each ±q pair), located
    to sub-pixel precision by a parabola through the log-power of the 3 × 3 neighbourhood.

    Returns dicts with ``qx``, ``qy``, ``q`` (rad/m), ``q_per_nm`` (rad/nm), ``angle_deg``,
    ``power`` and, given *lattice_m*, ``q_2pi_over_a`` (|q| in units of 2π/a), strongest
    first.
    """
    e = excess_power(f)
    p = np.asarray(f.values, dtype=float) ** 2
    qxv, qyv = np.asarray(f.qx.values), np.asarray(f.qy.values)
    dqx, dqy = float(qxv[1] - qxv[0]), float(qyv[1] - qyv[0])
    qmin = q_min if q_min is not None else 3 * max(abs(dqx), abs(dqy))
    peaks = (e > 0) & (e == ndimage.maximum_filter(e, size=3))
    rows, cols = np.nonzero(peaks)
    out = []
    for r, c in sorted(zip(rows, cols), key=lambda rc: -e[rc]):
        qx0, qy0 = qxv[c], qyv[r]
        if np.hypot(qx0, qy0) < qmin or not (0 < r < p.shape[0] - 1 and 0 < c < p.shape[1] - 1):
            continue
        if qy0 < 0 or (qy0 == 0 and qx0 < 0):
            continue  # the mirror partner −q of a real map carries no new information
        lp = np.log(np.maximum(p[r - 1:r + 2, c - 1:c + 2], 1e-300))
        ddx = lp[1, 2] - 2 * lp[1, 1] + lp[1, 0]
        ddy = lp[2, 1] - 2 * lp[1, 1] + lp[0, 1]
        ox = 0.5 * (lp[1, 0] - lp[1, 2]) / ddx if ddx < 0 else 0.0
        oy = 0.5 * (lp[0, 1] - lp[2, 1]) / ddy if ddy < 0 else 0.0
        qx = qx0 + float(np.clip(ox, -0.5, 0.5)) * dqx
        qy = qy0 + float(np.clip(oy, -0.5, 0.5)) * dqy
        q = float(np.hypot(qx, qy))
        d = {"qx": qx, "qy": qy, "q": q, "q_per_nm": q * 1e-9,
             "angle_deg": float(np.degrees(np.arctan2(qy, qx)) % 180),
             "power": float(e[r, c])}
        if lattice_m:
            d["q_2pi_over_a"] = q * lattice_m / (2 * np.pi)
        out.append(d)
        if len(out) >= n_max:
            break
    return out


def q_line_cut(f: xr.DataArray, direction_deg: float, *, n: int = 200) -> xr.DataArray:
    """Intensity along a line through q = 0 at *direction_deg* from qx."""
    qmax = min(float(np.abs(f.qx).max()), float(np.abs(f.qy).max()))
    s = np.linspace(0, qmax, n)
    qx = s * np.cos(np.radians(direction_deg))
    qy = s * np.sin(np.radians(direction_deg))
    col = (qx - float(f.qx[0])) / float(f.qx[1] - f.qx[0])
    row = (qy - float(f.qy[0])) / float(f.qy[1] - f.qy[0])
    vals = ndimage.map_coordinates(np.asarray(f.values, float), [row, col], order=1)
    return xr.DataArray(vals, dims=("q",), coords={"q": ("q", s, {"units": "rad/m"})},
                        attrs={"direction_deg": direction_deg})


def lawler_fujita(m: xr.DataArray, bragg_px: list[tuple[float, float]], *,
                  sigma_px: float = 8.0) -> tuple[xr.DataArray, np.ndarray]:
    """Drift correction (Lawler et al., Nature 466, 347 (2010)) from two Bragg peaks.

    ``bragg_px``: the two Bragg wavevectors as (ky, kx) in cycles per image (FFT pixel offsets
    from the centre).  The local phase of each Bragg wave is found by lock-in (multiply by
    exp(−i k·r), Gaussian filter of *sigma_px*), the displacement field u solves
    k_j · u = θ_j (the map is ideal(r + u)), and the map is resampled at r − u.
    Returns the corrected map and u (px).
    """
    z = _image(m)
    ny, nx = z.shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    if len(bragg_px) != 2:
        raise AnalysisError("give two Bragg peaks")
    ks = []
    thetas = []
    for ky, kx in bragg_px:
        k = 2 * np.pi * np.array([ky / ny, kx / nx])
        ref = np.exp(-1j * (k[0] * yy + k[1] * xx))
        lock = ndimage.gaussian_filter(z * ref.real, sigma_px) + \
            1j * ndimage.gaussian_filter(z * ref.imag, sigma_px)
        theta = np.unwrap(np.unwrap(np.angle(lock), axis=0), axis=1)
        theta -= theta[ny // 2, nx // 2]
        ks.append(k)
        thetas.append(theta)
    kmat = np.array(ks)  # rows: k_j (ky, kx)
    if abs(np.linalg.det(kmat)) < 1e-12:
        raise AnalysisError("the Bragg vectors are parallel")
    inv = np.linalg.inv(kmat)
    th = np.stack(thetas, axis=-1)  # (ny, nx, 2)
    u = th @ inv.T  # (ny, nx, 2) displacement (uy, ux) in px, from k_j · u = θ_j
    corrected = ndimage.map_coordinates(z, [yy - u[..., 0], xx - u[..., 1]], order=1,
                                        mode="reflect")
    return m.copy(data=corrected), u
