"""Gap maps of whole spectroscopic grids: one shared broadening kernel, all pixels fitted
together by a batched Levenberg–Marquardt, optionally spread over dask.distributed workers.

The broadening (thermal −f′, lock-in) is the same for every pixel, so it is one matrix K:
G(V) = scale · K · N(E; Δ, Γ) + offset.  The Dynes DOS and its analytic derivatives in Δ and Γ
are evaluated for every pixel at once on one energy grid, and K is applied by matrix products,
so an iteration costs three GEMMs for the whole grid instead of a Python loop over pixels with
a general optimiser.  Each pixel keeps its own damping and stops on its own.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.quality import QualityWarning, warn, warnings_to_list
from supramap.sts.lineshapes import K_B, fftconvolve, lockin_kernel, minus_dfermi

PARAMS = ("delta", "gamma", "scale", "offset")


def broadening_matrix(bias: np.ndarray, temperature: float, *, lockin_rms: float = 0.0,
                      step: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Energy grid E and matrix K (n_bias × n_E) with G(V_i) = Σ_j K[i, j] N(E_j):
    K[i, j] = k(E_j − V_i) dE, k the thermal kernel convolved with the lock-in kernel."""
    b = np.asarray(bias, dtype=float)
    db = float(np.median(np.abs(np.diff(b))))
    step = step or min(db, K_B * temperature / 2)
    # The kernel on a grid 8× finer than E, so that its linear interpolation at the offsets
    # E_j − V_i (not multiples of the step) is exact to ~1e-4: interpolating it from the
    # step itself (k_BT/2) put 0.5 % errors at the coherence peaks of a 1 K spectrum with
    # Γ = 50 µV — 0.8σ of 1 % noise there, a bias of 0.4 standard errors on the fitted gap.
    u, k = broadening_kernel(temperature, lockin_rms, step / 8)
    # A grid symmetric about E = 0 (points at ±(k + ½)·step), so the even DOS can be folded.
    n_half = int(np.ceil((np.abs(b).max() + u[-1]) / step))
    e = (np.arange(-n_half, n_half) + 0.5) * step
    mat = np.interp(e[None, :] - b[:, None], u, k, left=0.0, right=0.0) * step
    return e, mat


def broadening_kernel(temperature: float, lockin_rms: float, step: float,
                      ) -> tuple[np.ndarray, np.ndarray]:
    """The measurement's broadening k(u) (eV⁻¹, unit area) on u = −w…w in *step*: −f′ at
    *temperature*, convolved with the lock-in kernel; w = 12 k_BT + 3 × the rms modulation."""
    width = 12 * K_B * temperature + 3 * lockin_rms
    half = int(np.ceil(width / step))
    u = np.arange(-half, half + 1) * step
    k = minus_dfermi(u, temperature)
    if lockin_rms > 0:
        k = fftconvolve(k, lockin_kernel(u, lockin_rms) * step, mode="same")
    return u, k


def fold(e: np.ndarray, kmat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Use N(−E) = N(E): the positive half of the symmetric grid and K with the columns of
    −E added to those of +E, so DOS evaluations and matrix products cost half."""
    h = e.size // 2
    if not np.allclose(e[:h], -e[h:][::-1]):
        raise AnalysisError("the energy grid is not symmetric about zero")
    return e[h:], kmat[:, h:] + kmat[:, :h][:, ::-1]


def _dynes_and_derivatives(e: np.ndarray, delta: np.ndarray, gamma: np.ndarray,
                           dtype=np.float32, out: np.ndarray | None = None):
    """Dynes DOS N and ∂N/∂Δ, ∂N/∂Γ for every pixel × energy, in real arithmetic.

    With z = E + iΓ and w = z² − Δ² = a + ib, the branch of :func:`dynes` is
    √(z − Δ)√(z + Δ) = s·√w (s = sign E, principal root), so with √w = p + iq, |w| = r:
    N = s (E p + Γ q)/r; writing w√w = c + id: ∂N/∂Δ = s Δ (E c + Γ d)/(c² + d²) and
    ∂N/∂Γ = −s Δ² d/(c² + d²).  Real float32 operations instead of complex ones: about four
    times faster on the 10⁷-element arrays of a 128² grid, and accurate to ~1e-6.
    With *out* (3, pixels, E) the results are written to ``out[2]`` (N), ``out[0]`` (∂N/∂Δ)
    and ``out[1]`` (∂N/∂Γ) — the Jacobian's column order — and returned as views of it.
    """
    en = np.asarray(e, dtype=dtype)[None, :]
    g = np.asarray(gamma, dtype=dtype)[:, None]
    dl = np.abs(np.asarray(delta, dtype=dtype))[:, None]
    # On the folded grid every E > 0 and s = 1.  The arithmetic is written with in-place
    # operations on five (pixels × E) buffers: 1.5× faster than with a temporary per
    # operation (2048 × 235: 3.8 against 5.7 ms).
    sgn = None if bool(np.all(en > 0)) else np.where(en < 0, dtype(-1), dtype(1))
    a = en * en - (g * g + dl * dl)
    b = (2 * en) * g
    # √(a² + b²) rather than hypot (no overflow at these magnitudes, ~25 % faster).
    r = a * a
    tmp = b * b
    r += tmp
    np.sqrt(r, out=r)
    p = r + a
    p *= dtype(0.5)
    np.maximum(p, 0, out=p)
    np.sqrt(p, out=p)
    q = r - a
    q *= dtype(0.5)
    np.maximum(q, 0, out=q)
    np.sqrt(q, out=q)
    np.copysign(q, b, out=q)
    n = np.multiply(en, p, out=None if out is None else out[2])
    np.multiply(g, q, out=tmp)
    n += tmp
    n /= r
    if sgn is not None:
        n *= sgn
    c = a * p
    np.multiply(b, q, out=tmp)
    c -= tmp
    d = a * q
    np.multiply(b, p, out=tmp)
    d += tmp
    den = np.multiply(c, c, out=a)
    np.multiply(d, d, out=tmp)
    den += tmp
    # One reciprocal per denominator shared by both quotients.
    inv = np.divide(dl if sgn is None else sgn * dl, den, out=den)
    dn_dd = np.multiply(en, c, out=c if out is None else out[0])
    np.multiply(g, d, out=tmp)
    dn_dd += tmp
    dn_dd *= inv
    dn_dg = np.multiply(dl, d, out=d if out is None else out[1])
    dn_dg *= inv
    np.negative(dn_dg, out=dn_dg)
    return n, dn_dd, dn_dg


def model(params: np.ndarray, e: np.ndarray, kmat: np.ndarray) -> np.ndarray:
    """Spectra (n_pix, n_bias) for parameters (n_pix, 4) = Δ, Γ, scale, offset."""
    n, _, _ = _dynes_and_derivatives(e, params[:, 0], params[:, 1], dtype=np.float64)
    return params[:, 2:3] * (n @ kmat.T) + params[:, 3:4]


def seed_parameters(bias: np.ndarray, g: np.ndarray, temperature: float = 0.0) -> np.ndarray:
    """Starting values per pixel: Δ from the coherence peaks (mean |V| of the maxima on each
    side, less the ≈ 1.7 k_B T by which thermal broadening pushes them out — measured on
    synthetic spectra from 0.3 to 4 K), Γ = 5 % of Δ, scale from the outer 10 % of the sweep,
    offset 0."""
    b = np.asarray(bias, dtype=float)
    vmax = np.abs(b).max()
    pos, neg = b > 0.02 * vmax, b < -0.02 * vmax
    gg = np.nan_to_num(g)
    d_pos = b[pos][np.argmax(gg[:, pos], axis=1)]
    d_neg = -b[neg][np.argmax(gg[:, neg], axis=1)]
    peak = 0.5 * (d_pos + d_neg)
    delta = np.maximum(peak - 1.7 * K_B * temperature, 0.3 * peak)
    outer = np.abs(b) >= 0.9 * vmax
    scale = np.nanmean(g[:, outer], axis=1)
    return np.stack([delta, 0.05 * delta, scale, np.zeros_like(delta)], axis=1)


#: Pixels evaluated together: their work arrays stay in a core's cache (4096 spectra × 401:
#: 0.60 s at 128 or 512, 0.74 s at 2048), and 512 holds the GIL less often: two threads of a
#: plain pool scale 1.8× instead of 1.5× at 128 (through dask's local workers, 1.4×).
CHUNK = 512


class _BandedKernel:
    """K (n_bias × n_E, folded) applied as row blocks: each bias point sees only energies
    within the thermal/lock-in width of |V| (67 of 235 columns for a ±6 mV, 1 K grid), so
    rows sorted by their first non-zero column are cut into blocks of *rows* and each block
    multiplies only its window of columns — 35 % of the dense products' work, 2.1× faster
    with BLAS on 2048 spectra (dense BLAS on the band beats a sparse product, which is not
    vectorised).  Results come out in the sorted row order :attr:`order`; the fit permutes
    the measured spectra once to match (residual sums do not depend on the order)."""

    def __init__(self, kmat: np.ndarray, rows: int = 40):
        nz = kmat != 0
        ncol = kmat.shape[1]
        first = np.argmax(nz, axis=1)
        last = ncol - np.argmax(nz[:, ::-1], axis=1)
        self.order = np.argsort(first, kind="stable")
        ks, fs, ls = kmat[self.order], first[self.order], last[self.order]
        self.n_rows = kmat.shape[0]
        self.blocks = []
        for r0 in range(0, self.n_rows, rows):
            r1 = min(r0 + rows, self.n_rows)
            c0, c1 = int(fs[r0:r1].min()), int(ls[r0:r1].max())
            self.blocks.append((r0, r1, c0, max(c1, c0 + 1),
                                np.ascontiguousarray(ks[r0:r1, c0:max(c1, c0 + 1)].T)))

    def __call__(self, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """(m, n_E) → (m, n_bias) in :attr:`order`."""
        if out is None:
            out = np.empty((x.shape[0], self.n_rows), dtype=np.result_type(x, np.float32))
        for r0, r1, c0, c1, kt in self.blocks:
            np.matmul(x[:, c0:c1], kt, out=out[:, r0:r1])
        return out


@dataclass
class BatchFit:
    """Per-pixel parameters, standard errors, reduced χ², convergence flag and iterations."""

    params: np.ndarray  # (n, 4)
    stderr: np.ndarray  # (n, 4)
    redchi: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def batched_lm(bias: np.ndarray, g: np.ndarray, temperature: float, *, lockin_rms: float = 0.0,
               p0: np.ndarray | None = None, max_iter: int = 60, tol: float = 1e-5,
               sigma: np.ndarray | None = None) -> BatchFit:
    """Fit thermally broadened Dynes spectra (4 free parameters) to many spectra at once.

    *sigma* (same shape as *g*): the noise's standard deviation at each point, for a weighted
    fit (residuals and Jacobian divided by it); without it every point weighs the same.
    Standard errors are √diag((JᵀWJ)⁻¹ · χ²_red) either way.
    Pixels whose spectrum has NaN or too few points are returned as not converged (NaN).
    """
    b = np.asarray(bias, dtype=float)
    y = np.asarray(g, dtype=float)
    npix = y.shape[0]
    e, kmat = fold(*broadening_matrix(b, temperature, lockin_rms=lockin_rms))
    kern = _BandedKernel(kmat.astype(np.float32))
    vmax = float(np.abs(b).max())
    good = np.isfinite(y).all(axis=1)
    p = seed_parameters(b, np.where(good[:, None], y, 0.0), temperature) if p0 is None \
        else p0.copy()
    # The kernel's row order (sums over bias do not depend on it), in float32 like the model:
    # residuals of spectra with ≥ 1e-5 relative noise lose nothing, and every pass over the
    # (pixels × bias) arrays moves half the bytes.
    y = y[:, kern.order].astype(np.float32)
    sw = None
    if sigma is not None:
        sig = np.broadcast_to(np.asarray(sigma, dtype=float), y.shape)[:, kern.order]
        with np.errstate(divide="ignore", invalid="ignore"):
            sw = np.where(sig > 0, 1.0 / sig, 0.0).astype(np.float32)
        good &= np.isfinite(sw).all(axis=1) & (sw > 0).any(axis=1)
        sw[~np.isfinite(sw)] = 0.0
    p[~np.isfinite(p).all(axis=1)] = [1e-3, 5e-5, 1.0, 0.0]
    lam = np.full(npix, 1e-3)
    active = good.copy()
    converged = np.zeros(npix, bool)
    iters = np.zeros(npix, int)

    # Scratch reused by every chunk, flat so that the first k pixels' (3, k, ·) view is
    # contiguous (a slice [:, :k] of a (3, CHUNK, ·) array is not, and its reshape would be a
    # copy that a product's out= fills in vain).
    dos = np.empty(3 * CHUNK * e.size, dtype=np.float32)
    conv = np.empty(3 * CHUNK * b.size, dtype=np.float32)
    res = np.empty((CHUNK, b.size), dtype=np.float32)

    def evaluate(pp: np.ndarray, yy: np.ndarray, ww: np.ndarray | None):
        """Cost Σr², JᵀJ (m, 4, 4) and Jᵀr (m, 4) at parameters *pp*, in chunks of CHUNK
        pixels whose DOS, derivatives, broadened spectra and residuals stay in the core's
        cache; neither the Jacobian nor the residuals of the whole batch are ever stored
        (they used to stream (m × bias) arrays through memory several times a step).

        The offset's Jacobian column is all ones.  Sums are float32: pairwise for the cost
        (~1e-7 relative, so LM's accept test is not decided by rounding), ~1e-5 for JᵀJ and
        Jᵀr, which only set the step.  With weights *ww* (√w = 1/σ per point) residuals and
        Jacobian are scaled by them, and the offset's column is √w."""
        m = pp.shape[0]
        cost_ = np.empty(m)
        a = np.empty((m, 4, 4))
        grad = np.empty((m, 4))
        sc = pp[:, 2:3].astype(np.float32)
        off = pp[:, 3:4].astype(np.float32)
        for i0 in range(0, m, CHUNK):
            i1 = min(i0 + CHUNK, m)
            k = i1 - i0
            d3 = dos[:3 * k * e.size].reshape(3, k, e.size)
            jc = conv[:3 * k * b.size].reshape(3, k, b.size)
            rr = res[:k]
            _dynes_and_derivatives(e, pp[i0:i1, 0], pp[i0:i1, 1], out=d3)
            # One product for ∂N/∂Δ, ∂N/∂Γ and N together (3k rows; views, no copies).
            kern(d3.reshape(3 * k, e.size), out=jc.reshape(3 * k, b.size))
            np.multiply(jc[2], sc[i0:i1], out=rr)
            rr += off[i0:i1]
            np.subtract(yy[i0:i1], rr, out=rr)
            jc[0] *= sc[i0:i1]
            jc[1] *= sc[i0:i1]
            if ww is not None:
                wk = ww[i0:i1]
                rr *= wk
                jc[0] *= wk
                jc[1] *= wk
                jc[2] *= wk
            cost_[i0:i1] = np.square(rr).sum(axis=1)
            ai, gi = a[i0:i1], grad[i0:i1]
            for u in range(3):
                for v in range(u, 3):
                    ai[:, u, v] = ai[:, v, u] = np.einsum("mv,mv->m", jc[u], jc[v])
                ai[:, u, 3] = ai[:, 3, u] = jc[u].sum(axis=1) if ww is None else \
                    np.einsum("mv,mv->m", jc[u], wk)
                gi[:, u] = np.einsum("mv,mv->m", jc[u], rr)
            gi[:, 3] = rr.sum(axis=1) if ww is None else np.einsum("mv,mv->m", rr, wk)
            if ww is not None:
                a[i0:i1, 3, 3] = np.einsum("mv,mv->m", wk, wk)
        if ww is None:
            a[:, 3, 3] = b.size
        return cost_, a, grad

    # The fit works on compact arrays of the still-active pixels (ida): accepted trials are
    # written in place and finished pixels dropped once per iteration.
    ida = np.nonzero(active)[0]
    pa, ya, la = p[ida], y[ida], lam[ida]
    wa = None if sw is None else sw[ida]
    ca, aa_, ga = evaluate(pa, ya, wa)
    cost = np.full(npix, np.inf)
    a_final = np.full((npix, 4, 4), np.nan)

    def finish(sel: np.ndarray) -> None:
        """Store the selected active pixels' results (and their final JᵀJ)."""
        fin = ida[sel]
        p[fin] = pa[sel]
        cost[fin] = ca[sel]
        a_final[fin] = aa_[sel]

    for it in range(max_iter):  # iterations of the whole batch, not a loop over pixels
        if ida.size == 0:
            break
        diag = np.einsum("nii->ni", aa_)
        damped = aa_ + la[:, None, None] * np.eye(4)[None] * diag[:, :, None]
        try:
            step = np.linalg.solve(damped, ga[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(m_, g_, rcond=None)[0] for m_, g_ in
                             zip(damped, ga)])  # only when a pixel's system is singular
        trial = pa + step
        # Δ and Γ within ten times the sweep: a flat spectrum's step can be any size, and
        # float32 powers of a 10⁶× larger Δ overflow.
        trial[:, 0] = np.clip(np.abs(trial[:, 0]), 0, 10 * vmax)
        trial[:, 1] = np.clip(np.abs(trial[:, 1]), 1e-7, 10 * vmax)
        c_new, a_new, g_new = evaluate(trial, ya, wa)
        better = c_new < ca
        gain = (ca - c_new) / np.maximum(ca, 1e-300)
        pa[better] = trial[better]
        ca[better] = c_new[better]
        aa_[better] = a_new[better]
        ga[better] = g_new[better]
        la[better] /= 3
        la[~better] *= 4
        iters[ida] = it + 1
        small_step = np.all(np.abs(step) <= 1e-5 * (np.abs(pa) + 1e-12), axis=1)
        done = (better & (gain < tol)) | small_step | (la > 1e10)
        if done.any():
            converged[ida[done & (la <= 1e10)]] = True
            finish(done)
            keep = ~done
            ida, pa, ya, la = ida[keep], pa[keep], ya[keep], la[keep]
            wa = None if wa is None else wa[keep]
            ca, aa_, ga = ca[keep], aa_[keep], ga[keep]
    if ida.size:  # still active after max_iter: not converged, results as they stand
        finish(np.ones(ida.size, bool))
    dof = max(b.size - 4, 1)
    redchi = cost / dof
    a = a_final
    with np.errstate(invalid="ignore"):
        try:
            cov = np.linalg.inv(a + 1e-300 * np.eye(4))
        except np.linalg.LinAlgError:
            cov = np.full_like(a, np.nan)
        stderr = np.sqrt(np.abs(np.einsum("nii->ni", cov)) * redchi[:, None])
    p[~good] = np.nan
    stderr[~good] = np.nan
    redchi[~good] = np.nan
    converged &= good & np.isfinite(p).all(axis=1)
    return BatchFit(p, stderr, redchi, converged, iters)


def coherence_gap_map(grid: xr.DataArray, *, smooth_points: int = 0) -> xr.DataArray:
    """Fit-free gap map: half the distance between the coherence maxima on either side of
    zero bias, refined by a parabola through each maximum and its neighbours."""
    g = np.asarray(grid.values, dtype=float)
    b = np.asarray(grid["bias"].values, dtype=float)
    ny, nx, nb = g.shape
    flat = np.nan_to_num(g.reshape(-1, nb))
    if smooth_points:
        from scipy.ndimage import uniform_filter1d

        flat = uniform_filter1d(flat, smooth_points, axis=1)
    vmax = np.abs(b).max()
    out = []
    for side in (b > 0.02 * vmax, b < -0.02 * vmax):
        cols = np.nonzero(side)[0]
        k = cols[np.argmax(flat[:, cols], axis=1)]
        k = np.clip(k, 1, nb - 2)
        y0, y1, y2 = (flat[np.arange(flat.shape[0]), k + s] for s in (-1, 0, 1))
        den = y0 - 2 * y1 + y2
        shift = np.where(den != 0, 0.5 * (y0 - y2) / np.where(den != 0, den, 1), 0.0)
        db = b[k + 1] - b[k]
        out.append(np.abs(b[k] + np.clip(shift, -1, 1) * db))
    gap = 0.5 * (out[0] + out[1]).reshape(ny, nx)
    gap[~np.isfinite(g).all(axis=2)] = np.nan
    return xr.DataArray(gap, dims=("y", "x"), coords={"y": grid["y"], "x": grid["x"]},
                        name="gap", attrs={"units": "eV", "method": "coherence peaks",
                                           "provenance": list(grid.attrs.get("provenance",
                                                                             []))})


@displayable
@dataclass
class GapMap:
    """Per-pixel Dynes parameters on the grid, with errors and convergence."""

    data: xr.Dataset
    seconds: float
    workers: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def warnings(self) -> tuple[QualityWarning, ...]:
        """Why the map's statistics cannot be trusted (statistics use converged pixels only)."""
        conv = np.asarray(self.data["converged"].values, bool)
        ws = []
        frac = float(conv.mean()) if conv.size else 0.0
        edge = float(np.asarray(self.data["gap_at_sweep_edge"].values).mean()) \
            if "gap_at_sweep_edge" in self.data else 0.0
        if frac < 0.8:
            ws.append(warn("gapmap.few_converged",
                           f"only {100 * frac:.0f} % of the pixels converged "
                           f"({100 * edge:.0f} % put the gap at the edge of the sweep): the "
                           "statistics use converged pixels only and may not represent the "
                           "grid", fraction_converged=frac, fraction_at_sweep_edge=edge))
        gap = np.asarray(self.data["delta"].values, dtype=float)[conv]
        if gap.size and float(np.nanmedian(gap)) > 50e-3:
            med = float(np.nanmedian(gap))
            ws.append(warn("gapmap.gap_implausible",
                           f"the median fitted gap {1e3 * med:.4g} meV is larger than any "
                           "superconducting gap (≲ 50 meV): the spectra's feature is a band "
                           "edge or the barrier's curvature, not a superconducting gap",
                           median_gap_eV=med))
        return tuple(ws)

    def to_dict(self) -> dict[str, Any]:
        """Keys of ``supramap sts gapmap --json``."""
        d = self.data
        conv = d["converged"].values
        gap = d["delta"].values
        return {"shape": list(conv.shape),
                "median_gap_eV": float(np.nanmedian(gap[conv])) if conv.any() else None,
                "fraction_converged": float(conv.mean()), "seconds": self.seconds,
                "workers": self.workers, **self.info,
                "warnings": warnings_to_list(self.warnings)}


def _warm_up() -> None:
    """Run on every worker before timing: import and exercise the fitting code once."""
    b = np.linspace(-5e-3, 5e-3, 41)
    _fit_rows(b, np.ones((1, 2, 41)), 1.0, 0.0, 2)


#: Set while this process's BLAS is already limited to one thread for a whole fit (local
#: thread workers): tasks then leave the process-wide limit alone instead of each setting
#: and restoring it under the others' feet.
_BLAS_HELD = threading.Event()


def _fit_rows(bias, rows, temperature, lockin_rms, max_iter, noise="auto"):
    """Worker task: fit a block of rows (ny_block, nx, nbias); single-threaded BLAS.

    ``noise="auto"``: the noise model is estimated from the residuals of the block's
    converged pixels (≥ 50 000 points in a block of a real grid) and, if it grows with the
    signal, the block is fitted again weighted by it, from the first fit's parameters.
    Returns params, stderr, χ²_red, converged and the noise model (a dict, or None)."""
    from contextlib import nullcontext

    from threadpoolctl import threadpool_limits

    with nullcontext() if _BLAS_HELD.is_set() else threadpool_limits(1):
        ny, nx, nb = rows.shape
        flat = rows.reshape(-1, nb)
        res = batched_lm(bias, flat, temperature, lockin_rms=lockin_rms, max_iter=max_iter)
        nm = None
        if noise == "auto":
            e, kmat = fold(*broadening_matrix(np.asarray(bias, float), temperature,
                                              lockin_rms=lockin_rms))
            nm = block_noise(flat, res, e, kmat)
            if nm is not None and nm.kind != "constant":
                # From the first pass (its NaN rows restart from the default seed).
                fitted = model(np.nan_to_num(res.params), e, kmat)
                res = batched_lm(bias, flat, temperature, lockin_rms=lockin_rms,
                                 max_iter=max_iter, p0=res.params, sigma=nm.sigma(fitted))
    return (res.params.reshape(ny, nx, 4), res.stderr.reshape(ny, nx, 4),
            res.redchi.reshape(ny, nx), res.converged.reshape(ny, nx),
            None if nm is None else nm.to_dict())


def block_noise(spectra, fit: BatchFit, e: np.ndarray, kmat: np.ndarray):
    """The noise model of a block from the residuals of its converged pixels (None when too
    few converged); *e*, *kmat*: the folded broadening of :func:`fold`."""
    from supramap.sts.noise import noise_from_fits

    return noise_from_fits(spectra, lambda rows: model(fit.params[rows], e, kmat),
                           fit.converged & np.isfinite(fit.params).all(axis=1), n_params=4)


#: Spectra fitted together in one in-process block of :func:`gap_map`.
BLOCK_SPECTRA = 2048


def gap_map(grid: xr.DataArray, *, temperature: float, lockin_rms: float = 0.0,
            workers: int = 0, scheduler: str | None = None, rows_per_task: int = 8,
            max_iter: int = 60, progress=None, noise: str = "auto") -> GapMap:
    """Fit every pixel of a ``(y, x, bias)`` grid (bias in V).

    ``workers = 0`` and no *scheduler*: in this process (blocks of rows on a thread per core,
    at most two).  Otherwise row blocks become tasks on
    dask.distributed — a local cluster of *workers* single-threaded processes, or the cluster
    at *scheduler* — and ``progress(done, total)`` is called as tasks finish.

    *noise*: ``"auto"`` estimates the noise's dependence on the signal from the residuals
    (:mod:`supramap.sts.noise`) and refits weighted when it grows with the signal (lock-in
    data: the 90 % intervals then hold the truth ~90 % of the time instead of ~80 %);
    ``"constant"`` weighs every point the same (one pass; what ``curve_fit`` does).  The
    result's ``info["noise_model"]`` says which was used.
    """
    if noise not in ("auto", "constant"):
        raise AnalysisError(f"noise must be 'auto' or 'constant', not {noise!r}")
    from supramap.sts.grid import check_grid

    check_grid(grid)
    if temperature <= 0:
        raise AnalysisError("temperature must be positive")
    b = np.asarray(grid["bias"].values, dtype=float)
    ny, nx, nb = grid.shape
    if nb < 10:
        raise AnalysisError("spectra need at least 10 bias points")
    t0 = time.perf_counter()
    startup = 0.0
    models: list = []
    if workers == 0 and scheduler is None:
        # In this process, in blocks of rows (~BLOCK_SPECTRA spectra): one batch of every pixel
        # grew superlinearly and held 3.1 GB at 256² × 401 (the per-pixel Jacobians); blocks
        # keep time linear in pixels and memory bounded.
        params = np.full((ny, nx, 4), np.nan)
        err = np.full((ny, nx, 4), np.nan)
        redchi = np.full((ny, nx), np.nan)
        conv = np.zeros((ny, nx), bool)
        step = max(1, BLOCK_SPECTRA // max(nx, 1))
        starts = list(range(0, ny, step))

        def block(s0):  # the dask workers' task, in process
            rows = np.asarray(grid.isel(y=slice(s0, s0 + step)).values, dtype=float)
            return s0, _fit_rows(b, rows, temperature, lockin_rms, max_iter, noise)

        # Blocks on one thread per core (at most two): the fit spends its time in numpy calls
        # that release the GIL, so two threads scale like dask's two local workers without
        # their start-up (the CLI at 128² × 401: --workers 2 was only 1.07× in-process one
        # thread).  Each block is fitted alone, so the result does not depend on the threads.
        from concurrent.futures import ThreadPoolExecutor, as_completed

        from threadpoolctl import threadpool_limits

        from supramap.parallel import cores

        used = min(2, cores(), len(starts))
        results = []
        _BLAS_HELD.set()
        try:
            with threadpool_limits(1), ThreadPoolExecutor(used) as pool:
                futures = [pool.submit(block, s0) for s0 in starts]
                for done, fut in enumerate(as_completed(futures), start=1):
                    results.append(fut.result())
                    if progress is not None:
                        progress(done, len(starts))
        finally:
            _BLAS_HELD.clear()
        for s0, (pp, ee, rc, cv, nm) in results:
            models.append(nm)
            params[s0:s0 + pp.shape[0]], err[s0:s0 + pp.shape[0]] = pp, ee
            redchi[s0:s0 + pp.shape[0]], conv[s0:s0 + pp.shape[0]] = rc, cv
    else:
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler is None:
            # Local workers are threads of this process: the fit spends its time in numpy
            # calls that release the GIL, so two workers scale 1.5–1.6× at 256² × 401
            # without serialising every block; process workers ran each task 1.5× slower
            # (dask's nanny also trims freed memory back to the OS).
            cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1,
                                   processes=False, dashboard_address=None)
            client = Client(cluster)
            from threadpoolctl import threadpool_limits

            blas = threadpool_limits(1)  # for the whole run, restored in `finally`
            _BLAS_HELD.set()
        else:
            client = Client(scheduler)
        if workers:
            client.wait_for_workers(workers)
        client.run(_warm_up)  # imports and first-call costs belong to start-up, not fitting
        startup = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            starts = list(range(0, ny, rows_per_task))
            futures = {}
            # Scatter the data in one call: the task graph then carries only references.
            refs = client.scatter([np.asarray(grid.isel(y=slice(s, s + rows_per_task)).values,
                                              dtype=float) for s in starts])
            for s, ref in zip(starts, refs):
                futures[client.submit(_fit_rows, b, ref, temperature, lockin_rms, max_iter,
                                      noise, pure=False)] = s
            params = np.full((ny, nx, 4), np.nan)
            err = np.full((ny, nx, 4), np.nan)
            redchi = np.full((ny, nx), np.nan)
            conv = np.zeros((ny, nx), bool)
            for done, fut in enumerate(as_completed(futures), start=1):
                s = futures[fut]
                pp, ee, rc, cv, nm = fut.result()
                models.append(nm)
                params[s:s + pp.shape[0]], err[s:s + pp.shape[0]] = pp, ee
                redchi[s:s + pp.shape[0]], conv[s:s + pp.shape[0]] = rc, cv
                if progress is not None:
                    progress(done, len(futures))
            used = len(client.scheduler_info()["workers"])
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
                _BLAS_HELD.clear()
                blas.restore_original_limits()
    seconds = time.perf_counter() - t0  # fitting only; cluster start-up is reported apart
    coords = {"y": grid["y"], "x": grid["x"]}
    units = {"delta": "eV", "gamma": "eV", "scale": grid.attrs.get("units", ""),
             "offset": grid.attrs.get("units", "")}
    data = {}
    for i, name in enumerate(PARAMS):
        data[name] = xr.DataArray(params[..., i], dims=("y", "x"), coords=coords,
                                  attrs={"units": units[name]})
        data[f"{name}_stderr"] = xr.DataArray(err[..., i], dims=("y", "x"), coords=coords,
                                              attrs={"units": units[name]})
    data["redchi"] = xr.DataArray(redchi, dims=("y", "x"), coords=coords, attrs={"units": ""})
    # A gap at (or beyond) the edge of the sweep is not a converged fit: the spectrum does
    # not show its coherence peaks, and the optimiser ran to the boundary of the data.
    vmax = float(np.nanmax(np.abs(np.asarray(grid["bias"].values, dtype=float))))
    delta = params[..., 0]
    at_edge = np.isfinite(delta) & (np.abs(delta) >= 0.9 * vmax)
    gamma, d_err = params[..., 1], err[..., 0]
    scale, offset, s_err = params[..., 2], params[..., 3], err[..., 2]
    # Converged means a resolved gap: not at the sweep edge, broadening below the gap, a gap
    # determined to better than 50 %, and a gapped part that carries weight (a flat spectrum
    # "converges" to any gap with a vanishing scale).
    with np.errstate(invalid="ignore"):
        resolved = (delta > 0) & (gamma < delta) & (d_err < 0.5 * delta) & (scale > 0) & \
            (scale > 5 * s_err) & (scale > 0.05 * (np.abs(scale) + np.abs(offset)))
    conv = np.asarray(conv, bool) & ~at_edge & resolved
    data["converged"] = xr.DataArray(conv, dims=("y", "x"), coords=coords, attrs={"units": ""})
    data["gap_at_sweep_edge"] = xr.DataArray(at_edge, dims=("y", "x"), coords=coords,
                                             attrs={"units": ""})
    nm = combined_noise(models, noise)
    for name in PARAMS:
        data[f"{name}_stderr"].attrs["description"] = (
            "standard error (1σ); the 90 % interval is ±1.645σ; noise model: "
            + nm["description"])
    ds = xr.Dataset(data, attrs={"model": "thermally broadened Dynes", "temperature_K":
                                 temperature, "lockin_rms_V": lockin_rms,
                                 "noise_model": nm["description"]})
    lo, hi = median_interval(params[..., 0][conv], err[..., 0][conv])
    return GapMap(ds, seconds, used, {"startup_seconds": startup, "noise_model": nm,
                                      "median_gap_interval_90_eV": [lo, hi]})


def combined_noise(models: list, noise: str) -> dict[str, Any]:
    """One account of the blocks' noise models for the result (medians over blocks)."""
    if noise == "constant":
        return {"kind": "constant", "estimated": False,
                "description": "constant noise assumed (noise='constant'; weights equal)"}
    found = [m for m in models if m]
    if not found:
        return {"kind": "constant", "estimated": False,
                "description": "constant noise (too few converged pixels to estimate it)"}
    weighted = [m for m in found if m["kind"] != "constant"]
    use = weighted or found
    floor = float(np.median([m["floor"] for m in use]))
    rel = float(np.median([m["relative"] for m in use]))
    if weighted:
        text = (f"signal-dependent, σ² = ({floor:.3g})² + ({rel:.3g}·G)² from the residuals; "
                f"weighted fit in {len(weighted)} of {len(found)} block(s)")
    else:
        text = f"constant, σ = {floor:.3g} from the residuals (weights equal)"
    return {"kind": "signal-dependent" if weighted else "constant", "estimated": True,
            "floor": floor, "relative": rel, "blocks": len(found),
            "blocks_weighted": len(weighted), "description": text}


def median_interval(values: np.ndarray, stderr: np.ndarray, *, draws: int = 400,
                    level: float = 0.90) -> tuple[float | None, float | None]:
    """The *level* interval of the map's median from the per-pixel errors alone: the
    percentiles of the median over *draws* maps redrawn within their errors (a parametric
    bootstrap, fixed seed: the same map gives the same interval).  The spread of the gaps
    is the map itself, not an uncertainty: this interval is the median of *these* pixels."""
    v = np.asarray(values, float)
    e = np.asarray(stderr, float)
    ok = np.isfinite(v) & np.isfinite(e)
    v, e = v[ok], e[ok]
    if v.size == 0:
        return None, None
    rng = np.random.default_rng(0)
    meds = np.empty(draws)
    for i in range(0, draws, 50):  # 50 maps at a time: memory bounded on large grids
        k = min(50, draws - i)
        meds[i:i + k] = np.median(v + e * rng.standard_normal((k, v.size)), axis=1)
    # Centred on the measured median: the redraws add the noise a second time, so their
    # percentiles about their own centre are those of the measured median about the truth.
    half = (1 - level) / 2
    lo, hi = np.quantile(meds - np.median(meds), [half, 1 - half]) + np.median(v)
    return float(lo), float(hi)
