"""Sub-pixel registration of two images by phase correlation (Guizar-Sicairos et al., Opt. Lett.
33, 156 (2008), as implemented in :func:`skimage.registration.phase_cross_correlation`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import ndimage
from skimage.registration import phase_cross_correlation

from supramap.data import like, pixel_size, require_image
from supramap.errors import RegistrationError
from supramap.quality import QualityWarning, warn
from supramap.spm.level import least_squares, polynomial_background
from supramap.spm.smooth import nan_gaussian


@dataclass(frozen=True)
class RegistrationResult:
    """Shift that maps *moving* onto *reference*.

    Attributes
    ----------
    shift_px : (float, float)
        (row, column) shift in pixels to apply to *moving* (positive moves content down/right).
    shift_m : (float, float)
        The same in metres, (y, x).
    error : float
        Normalised RMS error of the chosen correlation peak (0 = perfect match).
    confidence : float
        Normalised cross-correlation (Pearson r) of the two plane-levelled images over their
        overlap after the shift: 1 = identical; below ``min_confidence`` the result carries
        the warning ``registration.low_confidence`` and must not be used silently.
    method : str
        Which candidate won (``gradient/phase``, ``height/cross``, ...).
    candidates : tuple of dict
        Every candidate's shift and confidence.
    """

    shift_px: tuple[float, float]
    shift_m: tuple[float, float]
    error: float
    confidence: float = float("nan")
    method: str = ""
    candidates: tuple[dict, ...] = ()
    warnings: tuple[QualityWarning, ...] = ()
    #: Rotation (degrees, :func:`scipy.ndimage.rotate` convention) to apply to *moving*
    #: before the shift; 0 when none was found.
    rotation_deg: float = 0.0


def _prepare(values: np.ndarray) -> np.ndarray:
    """Plane-level, take the gradient magnitude (1-px Gaussian), taper the frame edges.

    Correlating gradient magnitudes rather than heights makes terrace edges and particles
    the features and removes the steps' staircase; the taper hides the frame edges, which
    otherwise dominate the correlation.  Tried on the virtual sample (256² frames, drifts up to
    8 px): height images err by up to 1 px untapered and 0.16 px tapered, gradient
    magnitudes by ≤ 0.05 px tapered.
    """
    z = np.asarray(values, dtype=float)
    valid = np.isfinite(z)
    if valid.sum() < 16:
        raise RegistrationError("image has too few valid pixels to register")
    z = z - polynomial_background(z, 1, valid)
    z = np.where(valid, z, 0.0)
    smooth = ndimage.gaussian_filter(z, 1.0)
    g = np.hypot(ndimage.sobel(smooth, axis=0), ndimage.sobel(smooth, axis=1))
    g = np.where(valid, g - g[valid].mean(), 0.0)
    ny, nx = g.shape
    return g * np.outer(_taper(ny), _taper(nx))


def _taper(n: int, frac: float = 0.1) -> np.ndarray:
    w = np.ones(n)
    m = max(int(n * frac), 1)
    ramp = 0.5 * (1 - np.cos(np.pi * (np.arange(m) + 0.5) / m))
    w[:m] = ramp
    w[n - m :] = ramp[::-1]
    return w


def _levelled(values: np.ndarray) -> np.ndarray:
    z = np.asarray(values, dtype=float)
    valid = np.isfinite(z)
    if valid.sum() < 16:
        raise RegistrationError("image has too few valid pixels to register")
    z = z - polynomial_background(z, 1, valid)
    return np.where(valid, z, np.nan)


def _prepare_height(values: np.ndarray, highpass_px: float | None = None) -> np.ndarray:
    z = _levelled(values)
    valid = np.isfinite(z)
    z = np.where(valid, z - np.nanmean(z), 0.0)
    if highpass_px:
        z = z - ndimage.gaussian_filter(z, highpass_px)
    ny, nx = z.shape
    return z * np.outer(_taper(ny), _taper(nx))


def _overlap(reference: np.ndarray, moving: np.ndarray, shift_px: tuple[float, float],
             order: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Pixels of the overlap, *reference* there and *moving* shifted there."""
    z = np.asarray(moving, dtype=float)
    valid = np.isfinite(z).astype(float)
    moved = ndimage.shift(np.nan_to_num(z), shift_px, order=order, mode="nearest")
    cover = ndimage.shift(valid, shift_px, order=0, mode="constant", cval=0.0)
    ref = np.asarray(reference, dtype=float)
    ok = np.isfinite(ref) & (cover > 0.5)
    # Stay clear of the border the shift uncovers (interpolation reaches 2 px inwards).
    ok = ndimage.binary_erosion(ok, iterations=2)
    if ok.sum() < max(16, 0.1 * ref.size):
        return None
    return ok, ref, moved


def _deplane(v: np.ndarray, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    a = np.stack([np.ones_like(v), yy, xx], axis=1)
    return v - a @ least_squares(a, v)


def overlap_correlation(reference: np.ndarray, moving: np.ndarray,
                        shift_px: tuple[float, float], *, order: int = 1) -> float:
    """Pearson r of *reference* and *moving* shifted by *shift_px* over their overlap, each
    with its best plane removed there (two crops of one tilted surface or staircase are
    levelled to different planes); NaN when the overlap is too small or flat."""
    o = _overlap(reference, moving, shift_px, order)
    if o is None:
        return float("nan")
    ok, ref, moved = o
    yy, xx = np.nonzero(ok)
    a = _deplane(ref[ok], yy.astype(float), xx.astype(float))
    b = _deplane(moved[ok], yy.astype(float), xx.astype(float))
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def _refine(reference: np.ndarray, moving: np.ndarray, start: tuple[float, float], *,
            iterations: int = 12) -> tuple[float, float] | None:
    """Gauss–Newton (Lucas–Kanade) refinement of a translation: minimise
    Σ [A(p) − B(p − s) − (c0 + c1 y + c2 x)]² over the overlap, the plane absorbing the two
    crops' different levelling.  Converges to a small fraction of a pixel from a start within
    the surface's correlation length, where correlation peaks are too broad to locate well."""
    s = np.array(start, dtype=float)
    # Heights in units of their spread and coordinates in units of the frame, so the
    # least-squares columns are of one order (SPM heights ~1e-9 m would fall below rcond).
    unit = float(np.nanstd(reference)) or 1.0
    reference = np.asarray(reference, dtype=float) / unit
    moving = np.asarray(moving, dtype=float) / unit
    n = float(max(reference.shape))
    bz = np.nan_to_num(moving)
    for _ in range(iterations):
        o = _overlap(reference, moving, (s[0], s[1]), order=3)
        if o is None:
            return None
        ok, ref, moved = o
        gy = ndimage.shift(ndimage.sobel(bz, axis=0) / 8, s, order=3, mode="nearest")
        gx = ndimage.shift(ndimage.sobel(bz, axis=1) / 8, s, order=3, mode="nearest")
        yy, xx = np.nonzero(ok)
        # B(p − s − δ) ≈ B(p − s) − ∇B(p − s)·δ
        jac = np.stack([-gy[ok], -gx[ok], np.ones(yy.size), yy / n, xx / n], axis=1)
        res = ref[ok] - moved[ok]
        sol, *_ = np.linalg.lstsq(jac, res, rcond=None)
        step = sol[:2]
        if not np.all(np.isfinite(step)) or np.hypot(*step) > 5:
            return None
        s = s + step
        if np.hypot(*step) < 1e-3:
            break
    return float(s[0]), float(s[1])


def register(reference: xr.DataArray, moving: xr.DataArray, *, upsample: int = 50,
             min_confidence: float = 0.5, rotate: bool = True) -> RegistrationResult:
    """Find the translation that aligns *moving* with *reference* (sub-pixel), with a
    confidence.

    No single preparation suits every surface: phase correlation of gradient magnitudes is
    exact on terraces and particles but whitens a smooth surface into noise (a 384² smooth
    random topography drifted by (7, −4) px came out ~100 px off), while plain cross-correlation
    of heights holds on smooth surfaces.  So several candidates are computed — gradient
    magnitudes and heights, phase-normalised and plain, and a high-passed height — and the one
    whose shift gives the largest normalised cross-correlation of the two plane-levelled images
    over their overlap wins.  That correlation is the ``confidence``; below *min_confidence*
    (no texture, or the scans do not show the same area) the result carries the warning
    ``registration.low_confidence``.

    With *rotate*, a rotation between the scans (a changed scan angle, thermal drift) is
    found first (Fourier–Mellin, then a search of the angle that best correlates the images)
    and undone before the translation; it is kept only when it raises the confidence, and is
    reported as ``rotation_deg`` with the warning ``registration.rotated``.  Apply the result
    with :func:`align_image`.

    Raises
    ------
    RegistrationError
        When the images differ in shape or pixel size.
    """
    require_image(reference, name="reference")
    require_image(moving, name="moving")
    if reference.shape != moving.shape:
        raise RegistrationError(f"cannot register images of different shapes "
                                f"{reference.shape} and {moving.shape}")
    dy, dx = pixel_size(reference)
    mdy, mdx = pixel_size(moving)
    if not (np.isclose(dy, mdy, rtol=1e-3, atol=0) and np.isclose(dx, mdx, rtol=1e-3, atol=0)):
        raise RegistrationError(f"pixel sizes differ: {dy:g}×{dx:g} m vs {mdy:g}×{mdx:g} m; "
                                "resample one image first")
    ref_v, mov_v = np.asarray(reference.values), np.asarray(moving.values)
    base = _translation(ref_v, mov_v, upsample)
    rotation = 0.0
    if rotate:
        # Candidates: every half degree within ±5° (scan-angle slips and thermal drift are
        # small; a smooth surface has too little high-frequency power for Fourier–Mellin),
        # and the Fourier–Mellin angle (the scan is turned by +guess: −guess undoes it).
        guess = _rotation_estimate(ref_v, mov_v)
        angle = _refine_rotation(ref_v, mov_v, [*np.arange(-5.0, 5.01, 0.5), -guess])
        if abs(angle) >= 0.2:
            turned = _translation(ref_v, rotate_values(mov_v, angle), upsample)
            # Kept when it explains at least half of what the translation left unmatched.
            if turned[2] > base[2] and (1 - turned[2]) < 0.5 * (1 - base[2]):
                base, rotation = turned, angle
    sy, sx, conf, method, error, cands = base
    ws = []
    if rotation:
        ws.append(warn("registration.rotated",
                       f"the second scan is rotated by {-rotation:+.2f}° against the first "
                       "(scan angle or thermal drift): registered with that rotation, which a "
                       "translation alone cannot undo", rotation_deg=rotation))
    if not conf >= min_confidence:
        ws.append(warn("registration.low_confidence",
                       f"the images do not match after registration (normalised correlation "
                       f"{conf:.2f} < {min_confidence}): no texture to register on, not the "
                       "same area, or a distortion that neither a translation nor a rotation "
                       "explains; the shift and everything compared through it are unreliable",
                       confidence=conf, shift_y_px=sy, shift_x_px=sx))
    return RegistrationResult(shift_px=(sy, sx), shift_m=(sy * dy, sx * dx),
                              error=float(error), confidence=conf,
                              method=method, candidates=tuple(cands),
                              warnings=tuple(ws), rotation_deg=float(rotation))


def _translation(ref_v: np.ndarray, mov_v: np.ndarray, upsample: int):
    """The best translation of *mov_v* onto *ref_v*: (sy, sx, confidence, method, error,
    candidates)."""
    # The scoring images are smoothed (σ = 1.5 px): interpolating a noisy image at half-pixel
    # shifts averages its noise away and biases the correlation towards half-pixel shifts.
    lev_ref, lev_mov = nan_gaussian(_levelled(ref_v), 1.5), nan_gaussian(_levelled(mov_v), 1.5)
    n = min(ref_v.shape)
    preps = {
        "gradient": (_prepare(ref_v), _prepare(mov_v)),
        "height": (_prepare_height(ref_v), _prepare_height(mov_v)),
        "highpass": (_prepare_height(ref_v, max(n / 32, 2.0)),
                     _prepare_height(mov_v, max(n / 32, 2.0))),
    }
    cands = []
    for name, (pa, pb) in preps.items():
        for norm in ("phase", None):
            try:
                shift, error, _ = phase_cross_correlation(pa, pb, upsample_factor=upsample,
                                                          normalization=norm)
            except ValueError:
                continue
            sy, sx = float(shift[0]), float(shift[1])
            score = overlap_correlation(lev_ref, lev_mov, (sy, sx))
            cands.append({"method": f"{name}/{'phase' if norm else 'cross'}",
                          "shift_px": (sy, sx), "error": float(error),
                          "confidence": score})
    scored = [c for c in cands if np.isfinite(c["confidence"])]
    best = max(scored, key=lambda c: c["confidence"]) if scored else cands[0]
    sy, sx = best["shift_px"]
    conf = float(best["confidence"])
    method = best["method"]
    if np.isfinite(conf) and conf > 0:
        # The least-squares refinement is the sub-pixel estimator; the overlap correlation only
        # guards against a refinement that wandered off (it is flat to ~0.01 near the peak).
        ref_shift = _refine(lev_ref, lev_mov, (sy, sx))
        if ref_shift is not None and np.hypot(ref_shift[0] - sy, ref_shift[1] - sx) < 2:
            r2 = overlap_correlation(lev_ref, lev_mov, ref_shift, order=3)
            if np.isfinite(r2) and r2 >= conf - 0.02:
                sy, sx, conf = ref_shift[0], ref_shift[1], float(r2)
                method += "+refined"
    return sy, sx, conf, method, float(best["error"]), cands


def rotate_values(values: np.ndarray, angle_deg: float, order: int = 1) -> np.ndarray:
    """*values* turned by *angle_deg* about the frame centre (the convention of
    :func:`scipy.ndimage.rotate`); pixels brought in from outside the frame are NaN."""
    z = np.asarray(values, dtype=float)
    valid = np.isfinite(z).astype(float)
    out = ndimage.rotate(np.nan_to_num(z), angle_deg, reshape=False, order=order,
                         mode="constant", cval=0.0)
    cover = ndimage.rotate(valid, angle_deg, reshape=False, order=1, mode="constant",
                           cval=0.0)
    return np.where(cover > 0.999, out, np.nan)


def _rotation_estimate(ref_v: np.ndarray, mov_v: np.ndarray) -> float:
    """Rotation (degrees) of *mov_v* against *ref_v* from their Fourier magnitudes in polar
    coordinates (Fourier–Mellin; a translation leaves the magnitude unchanged, a rotation
    shifts it along the angle).  Coarse (±0.5°); :func:`_refine_rotation` refines it."""
    from skimage.filters import difference_of_gaussians, window
    from skimage.transform import warp_polar

    def spectrum(v):
        z = _levelled(v)
        z = np.where(np.isfinite(z), z, 0.0)
        z = difference_of_gaussians(z, 1, max(min(z.shape) / 12, 2)) * window("hann", z.shape)
        return np.abs(np.fft.fftshift(np.fft.fft2(z)))

    n = min(ref_v.shape)
    size = 720  # 0.5° per output row before the sub-pixel peak fit
    a = warp_polar(spectrum(ref_v), radius=n // 2, output_shape=(size, size), order=1)
    b = warp_polar(spectrum(mov_v), radius=n // 2, output_shape=(size, size), order=1)
    shift, _, _ = phase_cross_correlation(a[: size // 2], b[: size // 2], upsample_factor=20,
                                          normalization=None)
    return float(shift[0] * 360.0 / size)


def _refine_rotation(ref_v: np.ndarray, mov_v: np.ndarray, guesses) -> float:
    """The rotation to apply to *mov_v* that best correlates the two height images (after
    the best translation at each trial angle): the best of *guesses*, refined within ±0.6°
    of it."""
    from scipy.optimize import minimize_scalar

    # An angle needs no full resolution: search on frames of at most ~256 px (block means),
    # so a 4096² pair costs what a 256² pair does.
    k = int(np.ceil(max(ref_v.shape) / 256))
    if k > 1:
        ref_v, mov_v = _block_mean(ref_v, k), _block_mean(mov_v, k)
    lev_ref = nan_gaussian(_levelled(ref_v), 1.5)
    ref_p = _prepare_height(ref_v)

    def cost(angle: float) -> float:
        turned = rotate_values(mov_v, angle)
        prep = _prepare_height(np.where(np.isfinite(turned), turned, np.nanmean(turned)))
        shift, _, _ = phase_cross_correlation(ref_p, prep, upsample_factor=10,
                                              normalization=None)
        r = overlap_correlation(lev_ref, nan_gaussian(_levelled(turned), 1.5),
                                (float(shift[0]), float(shift[1])))
        return -r if np.isfinite(r) else 1.0

    costs = {float(g): cost(float(g)) for g in guesses}
    start = min(costs, key=costs.get)
    out = minimize_scalar(cost, bounds=(start - 0.6, start + 0.6), method="bounded",
                          options={"xatol": 0.01})
    return float(out.x) if out.fun <= costs[start] else start


def shift_image(image: xr.DataArray, shift_px: tuple[float, float], *, order: int = 1,
                ) -> xr.DataArray:
    """Translate image content by ``shift_px`` (rows, cols); uncovered pixels become NaN."""
    require_image(image)
    z = np.asarray(image.values, dtype=float)
    valid = np.isfinite(z).astype(float)
    moved = ndimage.shift(np.nan_to_num(z), shift_px, order=order, mode="constant", cval=0.0)
    cover = ndimage.shift(valid, shift_px, order=1, mode="constant", cval=0.0)
    moved = np.where(cover > 0.999, moved, np.nan)
    return like(image, moved, step=f"shift_image(shift_px=({shift_px[0]:.4f}, "
                                   f"{shift_px[1]:.4f}))")


def align_image(image: xr.DataArray, registration: RegistrationResult, *, order: int = 1,
                ) -> xr.DataArray:
    """Apply a registration to *image* (the moving scan): its rotation, then its shift."""
    if registration.rotation_deg:
        image = like(image, rotate_values(image.values, registration.rotation_deg, order),
                     step=f"rotate({registration.rotation_deg:.3f} deg)")
    return shift_image(image, registration.shift_px, order=order)


def _block_mean(values: np.ndarray, k: int) -> np.ndarray:
    """Means of k × k blocks (NaN-aware; a partial last block is dropped)."""
    z = np.asarray(values, dtype=float)
    ny, nx = (z.shape[0] // k) * k, (z.shape[1] // k) * k
    blocks = z[:ny, :nx].reshape(ny // k, k, nx // k, k)
    with np.errstate(invalid="ignore"):
        return np.nanmean(blocks, axis=(1, 3))


def band_shifts(reference: np.ndarray, moving: np.ndarray, *, bands: int = 8,
                ) -> tuple[np.ndarray, np.ndarray]:
    """The fast-axis (x) shift of *moving* against *reference* in each of *bands* bands of
    scan lines: (band centre rows, shifts in px).

    Each line pair's cross-power spectrum (means removed, tapered) is summed over its band and
    the peak of the circular cross-correlation refined by a parabola; a forward/backward pair
    with a constant lag gives the same shift in every band, thermal drift or creep during the
    scan a shift that moves with the slow axis.  NaN lines are left out; a band with fewer
    than half its lines measured gives NaN (the last band of an aborted scan: its few lines,
    damaged by the cleaning at the scan's end, read −1 px where the others read −7)."""
    a = np.asarray(reference, dtype=float)
    b = np.asarray(moving, dtype=float)
    ny, nx = a.shape
    edges = np.linspace(0, ny, bands + 1).astype(int)
    taper = _taper(nx)
    centres, shifts = [], []
    for r0, r1 in zip(edges[:-1], edges[1:]):
        ra, rb = a[r0:r1], b[r0:r1]
        ok = np.isfinite(ra).all(axis=1) & np.isfinite(rb).all(axis=1)
        centres.append(0.5 * (r0 + r1 - 1))
        if ok.sum() < max(1, (r1 - r0) / 2):
            shifts.append(np.nan)
            continue
        # Slopes rather than heights (a rough surface's power is in its longest waves, where
        # the scan's ends — content entering and leaving with the shift — bias the estimate
        # by up to 0.4 px), tapered.
        ra = np.diff(ra[ok], axis=1, append=ra[ok][:, -1:]) * taper
        rb = np.diff(rb[ok], axis=1, append=rb[ok][:, -1:]) * taper
        cross = (np.fft.rfft(rb, axis=1) * np.conj(np.fft.rfft(ra, axis=1))).sum(axis=0)
        cc = np.fft.irfft(cross, n=nx)
        k = int(np.argmax(cc))
        k = k - nx if k > nx / 2 else k
        # Sub-pixel part from the cross-power's phase (a shift δ turns it by −2π f δ), fitted
        # over the lowest quarter of the frequencies weighted by the power: a parabola
        # through the correlation peak locks onto whole pixels (errors of ±0.3 px that
        # vary with the fraction, i.e. with the drift being measured).
        f = np.fft.rfftfreq(nx)
        ph = np.angle(cross * np.exp(2j * np.pi * f * k))
        use = (f > 0) & (f <= 0.125)
        wgt = np.abs(cross[use])
        fu = f[use]
        delta = -float(np.sum(wgt * fu * ph[use]) / np.sum(wgt * fu * fu)) / (2 * np.pi) \
            if wgt.sum() > 0 else 0.0
        shifts.append(k + float(np.clip(delta, -1, 1)))
    return np.asarray(centres), np.asarray(shifts)
