"""Quasiparticle interference: Fourier transforms of maps, symmetrisation, Lawler–Fujita
drift correction, q-space line cuts (and E–q cuts over energies) and a C4 → C2 anisotropy
metric."""

from __future__ import annotations

from typing import Any

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
        qx, qy = _subpixel(p, qxv, qyv, r, c)
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


def bragg_calibration(f: xr.DataArray, lattice_m: float, *, tolerance: float = 0.15,
                      ) -> dict[str, float]:
    """Scale factors of the reciprocal axes from the Bragg peaks of a lattice of constant
    *lattice_m*: the peaks of the excess power within ±*tolerance* of 2π/a are where the
    lattice is; the axes are rescaled so that they sit at 2π/a.  With Bragg peaks in two
    directions, qx and qy get their own factors (sx² qx² + sy² qy² = (2π/a)² by least
    squares: a piezo calibration off differently along x and y); otherwise one factor.
    Raises AnalysisError when no Bragg peak is within the tolerance."""
    if not (lattice_m > 0 and np.isfinite(lattice_m)):
        raise AnalysisError(f"the lattice constant must be positive, got {lattice_m}")
    qb = 2 * np.pi / lattice_m
    found = [p for p in q_peaks(f, n_max=40) if abs(p["q"] - qb) <= tolerance * qb]
    if not found:
        raise AnalysisError(f"no Bragg peak within ±{100 * tolerance:.0f} % of 2π/a = "
                            f"{qb * 1e-9:.4g} nm⁻¹: the lattice is not resolved in this map")
    # Bragg peaks are sharp and strong; weak maxima of the noise that happen to fall in the
    # annulus (10³–10⁴ × weaker) must not pull the scale.
    strongest = max(p["power"] for p in found)
    found = [p for p in found if p["power"] >= 0.05 * strongest]
    qx = np.array([p["qx"] for p in found])
    qy = np.array([p["qy"] for p in found])
    a = np.stack([qx * qx, qy * qy], axis=1)
    sx = sy = None
    if np.linalg.matrix_rank(a / np.max(np.abs(a)), tol=0.05) == 2:
        sol, *_ = np.linalg.lstsq(a, np.full(qx.size, qb * qb), rcond=None)
        if (sol > 0).all():
            sx, sy = float(np.sqrt(sol[0])), float(np.sqrt(sol[1]))
    if sx is None:
        sx = sy = float(qb / np.mean([p["q"] for p in found]))
    return {"scale_x": sx, "scale_y": sy, "n_bragg_peaks": len(found),
            "q_bragg_measured_per_nm": [p["q"] * 1e-9 for p in found],
            "q_bragg_expected_per_nm": qb * 1e-9}


def rescale_q(f: xr.DataArray, scale_x: float, scale_y: float) -> xr.DataArray:
    """*f* with its reciprocal axes multiplied by the calibration factors."""
    out = f.assign_coords(qx=("qx", f.qx.values * scale_x, f.qx.attrs),
                          qy=("qy", f.qy.values * scale_y, f.qy.attrs))
    out.attrs["q_scale"] = [float(scale_x), float(scale_y)]
    return out


def calibrate_maps(ffts: list[xr.DataArray], lattice_m: float,
                   ) -> tuple[list[xr.DataArray], dict[str, Any]]:
    """Bragg calibration of a set of Fourier transforms of one area (a map per energy): the
    median factors over the maps whose lattice is resolved, applied to every map.  Raises
    AnalysisError when no map shows a Bragg peak."""
    cals = []
    for f in ffts:
        try:
            cals.append(bragg_calibration(f, lattice_m))
        except AnalysisError:
            continue
    if not cals:
        raise AnalysisError("no Bragg peak within ±15 % of 2π/a in any map: the lattice is "
                            "not resolved")
    cal = {"scale_x": float(np.median([c["scale_x"] for c in cals])),
           "scale_y": float(np.median([c["scale_y"] for c in cals])),
           "maps_with_bragg_peaks": len(cals), "maps": len(ffts),
           "q_bragg_expected_per_nm": cals[0]["q_bragg_expected_per_nm"]}
    return [rescale_q(f, cal["scale_x"], cal["scale_y"]) for f in ffts], cal


def static_peaks(ffts: list[xr.DataArray], *, factor: float = 20.0, radius_px: float = 2.0,
                 ) -> np.ndarray:
    """Mask (qy, qx) of the peaks that stand at one q in every map: Bragg peaks of the lattice,
    their harmonics and sums, and other static modulations.  A dispersing branch moves with
    energy, so the minimum over energies of each map's power (normalised by its median)
    keeps only what does not move; its local maxima above *factor* (× each map's median
    power) are masked
    with discs of *radius_px* pixels."""
    p = np.stack([np.asarray(f.values, dtype=float) ** 2 for f in ffts])
    p /= np.maximum(np.median(p, axis=(1, 2), keepdims=True), 1e-300)
    # Bright in *every* map: a branch that moves by less than its width between two energies
    # is bright in several maps at one pixel, never in all of them.
    med = np.min(p, axis=0)
    level = factor  # × every map's median power
    peaks = (med > level) & (med == ndimage.maximum_filter(med, size=3))
    r = int(np.ceil(radius_px))
    yy, xx = np.mgrid[-r:r + 1, -r:r + 1]
    disc = yy * yy + xx * xx <= radius_px * radius_px
    return ndimage.binary_dilation(peaks, structure=disc)


def radial_profiles(ffts: list[xr.DataArray], mask: np.ndarray | None = None,
                    ) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Azimuthally averaged power |F|² of each map in rings one q-pixel wide, leaving out the
    masked pixels: (q at the ring centres in rad/m, profiles (energy, ring), each ring's
    pixel index arrays for later angular look-ups)."""
    f0 = ffts[0]
    qx, qy = np.meshgrid(f0.qx.values, f0.qy.values)
    q = np.hypot(qx, qy)
    dq = max(float(abs(f0.qx[1] - f0.qx[0])), float(abs(f0.qy[1] - f0.qy[0])))
    qmax = min(float(np.abs(f0.qx).max()), float(np.abs(f0.qy).max()))
    ring = np.floor(q / dq + 0.5).astype(int)
    use = q <= qmax
    if mask is not None:
        use &= ~mask
    n = int(ring[use].max()) + 1 if use.any() else 1
    counts = np.bincount(ring[use], minlength=n).astype(float)
    prof = np.stack([np.bincount(ring[use], weights=np.asarray(f.values, float)[use] ** 2,
                                 minlength=n) for f in ffts])
    with np.errstate(invalid="ignore", divide="ignore"):
        prof = np.where(counts > 0, prof / counts, np.nan)
    return np.arange(n) * dq, prof, [ring, use, np.arctan2(qy, qx)]


def dispersion(energies_eV, ffts: list[xr.DataArray], *, model: str = "auto",
               q_min: float | None = None, min_excess: float = 1.5,
               ) -> tuple[list[dict[str, Any]], dict | None, list]:
    """The dispersing branch of a set of Fourier transforms (one per energy) and its E(q) fit.

    Peaks that stand still in every map (Bragg peaks and their harmonics) are masked
    (:func:`static_peaks`); each map is averaged over rings of |q|, divided by the median ring
    profile over energies (the static background: the 1/q fall-off, a static ring), and the
    branch's q at that energy is the strongest maximum of that ratio (above *min_excess*),
    located to sub-ring precision by a parabola.  Energies whose q leaves the E(q) curve fitted
    to the others (more than 3× the median residual) are taken off the branch, one at a time.

    Returns the points ``{energy_eV, q_per_nm, angle_deg, excess, on_branch}`` (``q_per_nm``
    None where no maximum stands out; ``angle_deg`` the strongest direction on that ring), the
    fit (None with fewer than three energies on the branch) and the warnings:
    ``qpi.few_on_branch`` when fewer than ⅔ of the energies lie on it, ``qpi.mass_sign`` when
    the fitted mass has the sign opposite to the trend of q with energy.
    """
    from supramap.quality import warn

    energies = [float(e) for e in energies_eV]
    if len(energies) != len(ffts):
        raise AnalysisError("one Fourier transform per energy is needed")
    mask = static_peaks(ffts) if len(ffts) >= 3 else None
    qs, prof, (ring, use, ang) = radial_profiles(ffts, mask)
    dq = float(qs[1] - qs[0]) if qs.size > 1 else 1.0
    qmin = q_min if q_min is not None else 3 * dq
    # The static background: a low quantile over energies of each ring (the branch passes a
    # ring at one or a few energies, so it stays out of the quarter quantile).
    with np.errstate(invalid="ignore", divide="ignore"):
        background = np.nanpercentile(prof, 25, axis=0) if len(ffts) >= 3 else np.nanmin(
            prof, axis=0)
        ratio = prof / background
    qpix = np.hypot(*np.meshgrid(ffts[0].qx.values, ffts[0].qy.values))
    points: list[dict[str, Any]] = []
    # A ring average of N pixels of noise power scatters by ~1/√N of its mean: a maximum
    # counts when it stands 6 such standard deviations above the background too.
    n_pix = np.bincount(ring[use], minlength=qs.size)[: qs.size].astype(float)
    z = (ratio - 1) * np.sqrt(np.maximum(n_pix, 1))
    for k, e in enumerate(energies):
        r = np.where((qs >= qmin) & np.isfinite(ratio[k]), ratio[k], -np.inf)
        i = int(np.argmax(r))
        ok = np.isfinite(r[i]) and r[i] >= min_excess and z[k, i] >= 6 and 0 < i < r.size - 1
        q_at = None
        angle = None
        if ok:
            # |q| of the branch: the mean |q| over the annulus i ± 1.5 rings, weighted by the
            # power above the background (a ring's radius, or a spot pair's distance).
            band = use & (np.abs(ring - i) <= 1)
            band[band] = np.isfinite(background[ring[band]])
            pw = np.asarray(ffts[k].values, dtype=float)[band] ** 2
            w = np.clip(pw - background[ring[band]], 0, None)
            # Only the crest (above half the strongest excess): a spot's or a ring's core,
            # not the tails the annulus cuts off on one side.
            w = np.where(w >= 0.5 * w.max(), w, 0.0) if w.size else w
            q_at = float(np.sum(w * qpix[band]) / np.sum(w)) if w.sum() > 0 else i * dq
            if 0 < np.count_nonzero(w) <= 16:
                # Spots (a standing wave along one direction), not a ring: the sub-pixel
                # maximum of the strongest spot, as q_peaks locates it.
                q_at = _subpixel_q(ffts[k], np.flatnonzero(band.ravel())[int(np.argmax(w))])
            on_ring = use & (ring == i)
            pr = np.asarray(ffts[k].values, dtype=float)[on_ring]
            angle = float(np.degrees(ang[on_ring][np.argmax(pr)]) % 180) if pr.size else None
        points.append({"energy_eV": e, "q_per_nm": None if q_at is None else q_at * 1e-9,
                       "angle_deg": angle, "excess": float(r[i]) if ok else None,
                       "on_branch": q_at is not None})
    on = [p for p in points if p["on_branch"]]
    fit = None
    while len(on) >= 3:
        fit = fit_dispersion([p["energy_eV"] for p in on], [p["q_per_nm"] * 1e9 for p in on],
                             model=model)
        resid = np.abs(np.asarray([p["energy_eV"] for p in on]) - _predict(fit, np.asarray(
            [p["q_per_nm"] * 1e9 for p in on])))
        worst = int(np.argmax(resid))
        scale = max(float(np.median(resid)), 0.02 * float(np.ptp(energies)) / 3)
        if len(on) <= 3 or resid[worst] <= 3 * scale:
            break
        on[worst]["on_branch"] = False
        on.pop(worst)
        fit = None
    if len(on) < 3:
        fit = None
    ws = []
    if len(on) < 2 / 3 * len(energies):
        ws.append(warn("qpi.few_on_branch",
                       f"only {len(on)} of {len(energies)} energies lie on the tracked branch: "
                       "the dispersion rests on few points (no dispersing feature at the others, "
                       "or more than one branch)", on_branch=len(on), energies=len(energies)))
    if fit is not None and fit["model"] == "parabolic" and len(on) >= 3:
        from scipy.stats import spearmanr

        rho = spearmanr([p["energy_eV"] for p in on], [p["q_per_nm"] for p in on])[0]
        if np.isfinite(rho) and np.sign(rho) != np.sign(fit["effective_mass_me"]):
            ws.append(warn("qpi.mass_sign",
                           f"the fitted mass ({fit['effective_mass_me']:.3g} mₑ) has the sign "
                           f"opposite to the trend of q with energy (Spearman {rho:.2f}): the "
                           "points do not follow one parabolic band", rank_correlation=rho))
    return points, fit, ws


def _subpixel_q(f: xr.DataArray, flat_index: int) -> float:
    """|q| of the maximum at pixel *flat_index* of *f* (:func:`_subpixel`)."""
    p = np.asarray(f.values, dtype=float) ** 2
    r, c = np.unravel_index(flat_index, p.shape)
    if not (0 < r < p.shape[0] - 1 and 0 < c < p.shape[1] - 1):
        return float(np.hypot(f.qx.values[c], f.qy.values[r]))
    return float(np.hypot(*_subpixel(p, np.asarray(f.qx.values), np.asarray(f.qy.values),
                                     r, c)))


def _subpixel(p: np.ndarray, qxv: np.ndarray, qyv: np.ndarray, r: int, c: int,
              ) -> tuple[float, float]:
    """(qx, qy) of the maximum of the power *p* at pixel (r, c), refined by a parabola
    through the log-power of its 3 × 3 neighbourhood."""
    lp = np.log(np.maximum(p[r - 1:r + 2, c - 1:c + 2], 1e-300))
    ddx = lp[1, 2] - 2 * lp[1, 1] + lp[1, 0]
    ddy = lp[2, 1] - 2 * lp[1, 1] + lp[0, 1]
    ox = 0.5 * (lp[1, 0] - lp[1, 2]) / ddx if ddx < 0 else 0.0
    oy = 0.5 * (lp[0, 1] - lp[2, 1]) / ddy if ddy < 0 else 0.0
    qx = qxv[c] + float(np.clip(ox, -0.5, 0.5)) * float(qxv[1] - qxv[0])
    qy = qyv[r] + float(np.clip(oy, -0.5, 0.5)) * float(qyv[1] - qyv[0])
    return float(qx), float(qy)


def _predict(fit: dict, q: np.ndarray) -> np.ndarray:
    """E(q) of a :func:`fit_dispersion` result."""
    if fit["model"] == "parabolic":
        m = fit["effective_mass_me"] * M_E
        return fit["E0_eV"] + HBAR**2 * q**2 / (2 * m) / E_CHARGE
    return fit["E0_eV"] + HBAR * fit["velocity_m_per_s"] * q / E_CHARGE


def linecut_map(ffts: list[xr.DataArray], energies_eV, direction_deg: float, *,
                n: int = 200) -> xr.DataArray:
    """E–q intensity along one direction: the line cut through q = 0 at *direction_deg* of each
    energy's Fourier amplitude, stacked as an ``(energy, q)`` array (q in rad/m), each row
    divided by its median so energies of different contrast share one colour scale."""
    if len(ffts) != len(energies_eV) or not ffts:
        raise AnalysisError("one Fourier transform per energy is needed for a line cut")
    cuts = [q_line_cut(f, direction_deg, n=n) for f in ffts]
    vals = np.stack([np.asarray(c.values, float) for c in cuts])
    med = np.median(vals, axis=1, keepdims=True)
    vals = vals / np.where(med > 0, med, 1.0)
    return xr.DataArray(vals, dims=("energy", "q"),
                        coords={"energy": ("energy", np.asarray(energies_eV, float),
                                           {"units": "eV"}),
                                "q": ("q", cuts[0].q.values, {"units": "rad/m"})},
                        name="|FFT| along the cut", attrs={"units": "", "direction_deg":
                                                           float(direction_deg)})


def linecut_peaks(cut: xr.DataArray, *, q_min: float | None = None) -> np.ndarray:
    """Per energy, the q (rad/m) of the strongest point of the cut beyond *q_min* (default
    5 % of the range, clear of the q = 0 background), refined by a parabola through it and
    its neighbours; NaN where the maximum is at the end of the range."""
    q = np.asarray(cut.q.values, float)
    q_min = 0.05 * q[-1] if q_min is None else q_min
    start = int(np.searchsorted(q, q_min))
    out = np.full(cut.sizes["energy"], np.nan)
    for i, row in enumerate(np.asarray(cut.values, float)):
        k = start + int(np.argmax(row[start:]))
        if 0 < k < q.size - 1:
            a, b, c = row[k - 1], row[k], row[k + 1]
            den = a - 2 * b + c
            shift = 0.5 * (a - c) / den if den != 0 else 0.0
            out[i] = q[k] + float(np.clip(shift, -0.5, 0.5)) * (q[1] - q[0])
    return out


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


HBAR = 1.054571817e-34  # J s
E_CHARGE = 1.602176634e-19  # J per eV
M_E = 9.1093837015e-31  # kg


def fit_dispersion(energy_eV, q_per_m, *, model: str = "auto") -> dict:
    """Fit E(q) of a QPI branch.

    ``parabolic``: E = E₀ + ħ²q²/(2m*) (m* in electron masses, negative for a hole-like band);
    ``linear``: E = E₀ + ħ v q (v in m/s).  ``auto`` takes the one with the lower AIC (both
    have two parameters, so the lower residual sum).  Needs at least three energies; returns
    the parameters with one-σ errors from the covariance scaled by the residual variance.
    """
    e = np.asarray(energy_eV, dtype=float)
    q = np.asarray(q_per_m, dtype=float)
    ok = np.isfinite(e) & np.isfinite(q)
    e, q = e[ok], q[ok]
    if e.size < 3:
        raise AnalysisError(f"a dispersion fit needs q at three energies or more, got {e.size}")
    if model not in ("auto", "parabolic", "linear"):
        raise AnalysisError(f"model must be auto, parabolic or linear, got {model!r}")
    fits = {}
    for name, x in (("parabolic", q**2), ("linear", q)):
        scale = float(np.max(np.abs(x))) or 1.0  # q² ~ 1e18 m⁻²: scale the column first
        a = np.column_stack([np.ones_like(x), x / scale])
        coef, *_ = np.linalg.lstsq(a, e, rcond=None)
        resid = e - a @ coef
        dof = max(e.size - 2, 1)
        s2 = float(resid @ resid) / dof
        err = np.sqrt(np.diag(s2 * np.linalg.inv(a.T @ a)))
        fits[name] = (coef / [1.0, scale], err / [1.0, scale], float(resid @ resid))
    chosen = min(fits, key=lambda k: fits[k][2]) if model == "auto" else model
    coef, err, rss = fits[chosen]
    out = {"model": chosen, "E0_eV": float(coef[0]), "E0_err_eV": float(err[0]),
           "rms_residual_eV": float(np.sqrt(rss / e.size)), "n_points": int(e.size),
           "rss_parabolic": fits["parabolic"][2], "rss_linear": fits["linear"][2]}
    if chosen == "parabolic":
        b, db = coef[1] * E_CHARGE, err[1] * E_CHARGE  # J m²
        m = HBAR**2 / (2 * b) / M_E if b != 0 else float("inf")
        out.update(effective_mass_me=float(m),
                   effective_mass_err_me=float(abs(m) * abs(db / b)) if b else float("nan"))
    else:
        v, dv = coef[1] * E_CHARGE / HBAR, err[1] * E_CHARGE / HBAR
        out.update(velocity_m_per_s=float(v), velocity_err_m_per_s=float(dv))
    return out
