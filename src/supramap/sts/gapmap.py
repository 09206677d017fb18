"""Gap maps of whole spectroscopic grids: one shared broadening kernel, all pixels fitted
together by a batched Levenberg–Marquardt, optionally spread over dask.distributed workers.

The broadening (thermal −f′, lock-in) is the same for every pixel, so it is one matrix K:
G(V) = scale · K · N(E; Δ, Γ) + offset.  The Dynes DOS and its analytic derivatives in Δ and Γ
are evaluated for every pixel at once on one energy grid, and K is applied by matrix products,
so an iteration costs three GEMMs for the whole grid instead of a Python loop over pixels with
a general optimiser.  Each pixel keeps its own damping and stops on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr
from scipy.signal import fftconvolve

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.quality import QualityWarning, warn, warnings_to_list
from supramap.sts.lineshapes import K_B, lockin_kernel, minus_dfermi

PARAMS = ("delta", "gamma", "scale", "offset")


def broadening_matrix(bias: np.ndarray, temperature: float, *, lockin_rms: float = 0.0,
                      step: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Energy grid E and matrix K (n_bias × n_E) with G(V_i) = Σ_j K[i, j] N(E_j):
    K[i, j] = k(E_j − V_i) dE, k the thermal kernel convolved with the lock-in kernel."""
    b = np.asarray(bias, dtype=float)
    width = 12 * K_B * temperature + 3 * lockin_rms
    db = float(np.median(np.abs(np.diff(b))))
    step = step or min(db, K_B * temperature / 2)
    # A grid symmetric about E = 0 (points at ±(k + ½)·step), so the even DOS can be folded.
    n_half = int(np.ceil((np.abs(b).max() + width) / step))
    e = (np.arange(-n_half, n_half) + 0.5) * step
    de = step
    half = int(np.ceil(width / de))
    u = np.arange(-half, half + 1) * de
    k = minus_dfermi(u, temperature)
    if lockin_rms > 0:
        k = fftconvolve(k, lockin_kernel(u, lockin_rms) * de, mode="same")
    mat = np.interp(e[None, :] - b[:, None], u, k, left=0.0, right=0.0) * de
    return e, mat


def fold(e: np.ndarray, kmat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Use N(−E) = N(E): the positive half of the symmetric grid and K with the columns of
    −E added to those of +E, so DOS evaluations and matrix products cost half."""
    h = e.size // 2
    if not np.allclose(e[:h], -e[h:][::-1]):
        raise AnalysisError("the energy grid is not symmetric about zero")
    return e[h:], kmat[:, h:] + kmat[:, :h][:, ::-1]


def _dynes_and_derivatives(e: np.ndarray, delta: np.ndarray, gamma: np.ndarray,
                           dtype=np.float32):
    """Dynes DOS N and ∂N/∂Δ, ∂N/∂Γ for every pixel × energy, in real arithmetic.

    With z = E + iΓ and w = z² − Δ² = a + ib, the branch of :func:`dynes` is
    √(z − Δ)√(z + Δ) = s·√w (s = sign E, principal root), so with √w = p + iq, |w| = r:
    N = s (E p + Γ q)/r; writing w√w = c + id: ∂N/∂Δ = s Δ (E c + Γ d)/(c² + d²) and
    ∂N/∂Γ = −s Δ² d/(c² + d²).  Real float32 operations instead of complex ones: about four
    times faster on the 10⁷-element arrays of a 128² grid, and accurate to ~1e-6.
    """
    en = np.asarray(e, dtype=dtype)[None, :]
    g = np.asarray(gamma, dtype=dtype)[:, None]
    dl = np.abs(np.asarray(delta, dtype=dtype))[:, None]
    sgn = np.where(en < 0, dtype(-1), dtype(1))
    a = en * en - (g * g + dl * dl)
    b = (2 * en) * g
    # √(a² + b²) rather than hypot (no overflow at these magnitudes, ~25 % faster), and one
    # reciprocal per denominator shared by its quotients.
    r = np.sqrt(a * a + b * b)
    p = np.sqrt(np.maximum((r + a) * dtype(0.5), 0))
    q = np.copysign(np.sqrt(np.maximum((r - a) * dtype(0.5), 0)), b)
    n = (en * p + g * q) * (sgn / r)
    c = a * p - b * q
    d = a * q + b * p
    inv_den = (sgn * dl) / (c * c + d * d)
    dn_dd = (en * c + g * d) * inv_den
    dn_dg = -(dl * d) * inv_den
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


@dataclass
class BatchFit:
    """Per-pixel parameters, standard errors, reduced χ², convergence flag and iterations."""

    params: np.ndarray  # (n, 4)
    stderr: np.ndarray  # (n, 4)
    redchi: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray


def batched_lm(bias: np.ndarray, g: np.ndarray, temperature: float, *, lockin_rms: float = 0.0,
               p0: np.ndarray | None = None, max_iter: int = 60, tol: float = 1e-6,
               ) -> BatchFit:
    """Fit thermally broadened Dynes spectra (4 free parameters) to many spectra at once.

    Pixels whose spectrum has NaN or too few points are returned as not converged (NaN).
    """
    b = np.asarray(bias, dtype=float)
    y = np.asarray(g, dtype=float)
    npix = y.shape[0]
    e, kmat = fold(*broadening_matrix(b, temperature, lockin_rms=lockin_rms))
    k32 = kmat.astype(np.float32)
    good = np.isfinite(y).all(axis=1)
    p = seed_parameters(b, np.where(good[:, None], y, 0.0), temperature) if p0 is None \
        else p0.copy()
    p[~np.isfinite(p).all(axis=1)] = [1e-3, 5e-5, 1.0, 0.0]
    lam = np.full(npix, 1e-3)
    active = good.copy()
    converged = np.zeros(npix, bool)
    iters = np.zeros(npix, int)

    def evaluate(pp: np.ndarray, yy: np.ndarray):
        """Residuals (m, nb) and the three non-trivial Jacobian columns (3, m, nb); the
        offset's column is all ones and never stored."""
        n, dd, dg = _dynes_and_derivatives(e, pp[:, 0], pp[:, 1])
        kn = n @ k32.T
        sc = pp[:, 2:3].astype(np.float32)
        jac = np.stack([sc * (dd @ k32.T), sc * (dg @ k32.T), kn])
        r = yy - (pp[:, 2:3] * kn + pp[:, 3:4])
        return r, jac

    def normal_equations(jac: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # JᵀJ and Jᵀr from elementwise products of contiguous columns: ten sums over the
        # bias axis, far cheaper than a batched einsum over (m, nb, 4).
        m = r.shape[0]
        a = np.empty((m, 4, 4))
        for i in range(3):
            for j in range(i, 3):
                a[:, i, j] = a[:, j, i] = np.einsum("mv,mv->m", jac[i], jac[j],
                                                    dtype=np.float64)
            a[:, i, 3] = a[:, 3, i] = jac[i].sum(axis=1, dtype=np.float64)
        a[:, 3, 3] = r.shape[1]
        g = np.empty((m, 4))
        for i in range(3):
            g[:, i] = np.einsum("mv,mv->m", jac[i], r)
        g[:, 3] = r.sum(axis=1)
        return a, g

    r, jac = evaluate(p[active], y[active])
    cost = np.full(npix, np.inf)
    cost[active] = np.sum(r**2, axis=1)
    jac_full = np.zeros((3, npix, b.size), dtype=np.float32)
    jac_full[:, active] = jac
    r_full = np.zeros((npix, b.size))
    r_full[active] = r
    for it in range(max_iter):  # iterations of the whole batch, not a loop over pixels
        idx = np.nonzero(active)[0]
        if idx.size == 0:
            break
        a, grad = normal_equations(jac_full[:, idx], r_full[idx])
        diag = np.einsum("nii->ni", a)
        aa = a + lam[idx, None, None] * np.eye(4)[None] * diag[:, :, None]
        try:
            step = np.linalg.solve(aa, grad[..., None])[..., 0]
        except np.linalg.LinAlgError:
            step = np.stack([np.linalg.lstsq(m_, g_, rcond=None)[0] for m_, g_ in
                             zip(aa, grad)])  # only when a pixel's system is singular
        trial = p[idx] + step
        trial[:, 0] = np.abs(trial[:, 0])
        trial[:, 1] = np.clip(np.abs(trial[:, 1]), 1e-7, None)
        r_new, j_new = evaluate(trial, y[idx])
        c_new = np.sum(r_new**2, axis=1)
        better = c_new < cost[idx]
        gain = (cost[idx] - c_new) / np.maximum(cost[idx], 1e-300)
        upd = idx[better]
        p[upd] = trial[better]
        jac_full[:, upd] = j_new[:, better]
        r_full[upd] = r_new[better]
        cost[upd] = c_new[better]
        lam[upd] /= 3
        lam[idx[~better]] *= 4
        iters[idx] = it + 1
        small_step = np.all(np.abs(step) <= 1e-5 * (np.abs(p[idx]) + 1e-12), axis=1)
        done = (better & (gain < tol)) | small_step | (lam[idx] > 1e10)
        converged[idx[done & (lam[idx] <= 1e10)]] = True
        active[idx[done]] = False
    dof = max(b.size - 4, 1)
    redchi = cost / dof
    a, _ = normal_equations(jac_full, r_full)
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


def _fit_rows(bias, rows, temperature, lockin_rms, max_iter):
    """Worker task: fit a block of rows (ny_block, nx, nbias); single-threaded BLAS."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):
        ny, nx, nb = rows.shape
        res = batched_lm(bias, rows.reshape(-1, nb), temperature, lockin_rms=lockin_rms,
                         max_iter=max_iter)
    return (res.params.reshape(ny, nx, 4), res.stderr.reshape(ny, nx, 4),
            res.redchi.reshape(ny, nx), res.converged.reshape(ny, nx))


#: Spectra fitted together in one in-process block of :func:`gap_map`.
BLOCK_SPECTRA = 2048


def gap_map(grid: xr.DataArray, *, temperature: float, lockin_rms: float = 0.0,
            workers: int = 0, scheduler: str | None = None, rows_per_task: int = 8,
            max_iter: int = 60, progress=None) -> GapMap:
    """Fit every pixel of a ``(y, x, bias)`` grid (bias in V).

    ``workers = 0`` and no *scheduler*: in this process.  Otherwise row blocks become tasks on
    dask.distributed — a local cluster of *workers* single-threaded processes, or the cluster
    at *scheduler* — and ``progress(done, total)`` is called as tasks finish.
    """
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
        for done, s0 in enumerate(starts, start=1):  # the dask workers' task, in process
            rows = np.asarray(grid.isel(y=slice(s0, s0 + step)).values, dtype=float)
            pp, ee, rc, cv = _fit_rows(b, rows, temperature, lockin_rms, max_iter)
            params[s0:s0 + pp.shape[0]], err[s0:s0 + pp.shape[0]] = pp, ee
            redchi[s0:s0 + pp.shape[0]], conv[s0:s0 + pp.shape[0]] = rc, cv
            if progress is not None:
                progress(done, len(starts))
        used = 1
    else:
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler is None:
            # Local workers are threads of this process: the fit spends its time in numpy
            # calls that release the GIL, so two workers scale as well as two processes
            # (1.8× here) without serialising every block; process workers ran each task
            # 1.5× slower (dask's nanny also trims freed memory back to the OS).
            cluster = LocalCluster(n_workers=max(workers, 1), threads_per_worker=1,
                                   processes=False, dashboard_address=None)
            client = Client(cluster)
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
                                      pure=False)] = s
            params = np.full((ny, nx, 4), np.nan)
            err = np.full((ny, nx, 4), np.nan)
            redchi = np.full((ny, nx), np.nan)
            conv = np.zeros((ny, nx), bool)
            for done, fut in enumerate(as_completed(futures), start=1):
                s = futures[fut]
                pp, ee, rc, cv = fut.result()
                params[s:s + pp.shape[0]], err[s:s + pp.shape[0]] = pp, ee
                redchi[s:s + pp.shape[0]], conv[s:s + pp.shape[0]] = rc, cv
                if progress is not None:
                    progress(done, len(futures))
            used = len(client.scheduler_info()["workers"])
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
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
    ds = xr.Dataset(data, attrs={"model": "thermally broadened Dynes", "temperature_K":
                                 temperature, "lockin_rms_V": lockin_rms})
    return GapMap(ds, seconds, used, {"startup_seconds": startup})
