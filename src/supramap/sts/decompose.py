"""Unsupervised decomposition of a spectroscopic grid: k-means clusters, PCA and NMF components.

scikit-learn does the numerics (extra ``ml``); what this module adds is the physics around it:
spectra with any non-finite value are set aside (their maps are NaN), the number of components
is chosen by a stated criterion when the user gives none, and the results come back with the
grid's coordinates — component spectra along ``bias`` (V), maps along ``y``, ``x`` (m).

Criteria (reported with their values for every candidate):

- k-means: the largest mean silhouette over k = 2 … max (on up to 4000 spectra, seeded);
- PCA: the fewest components whose explained variance reaches 95 %, after ``p`` PCs
  beyond which each adds < 1 % (the same count seeds NMF when not given);
- NMF: PCA's count + 1 (PCA works on mean-centred spectra, so the mean is one more
  non-negative end member: a two-phase mixture is one PC but two NMF parts), on spectra made
  non-negative by subtracting their minimum when needed (said in ``notes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xarray as xr

from supramap.display import displayable
from supramap.errors import AnalysisError
from supramap.quality import QualityWarning, warn, warnings_to_list

METHODS = ("kmeans", "pca", "nmf")
VARIANCE_TARGET = 0.95


@displayable
@dataclass
class Decomposition:
    """Components (spectra), their maps and how their number was chosen."""

    method: str
    n_components: int
    criterion: str
    scores: dict[int, float]
    components: xr.DataArray  # (component, bias)
    maps: xr.DataArray  # (component, y, x): weights, or 1/0 cluster membership for k-means
    labels: xr.DataArray | None  # (y, x) cluster index (k-means), -1 where not finite
    explained: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[QualityWarning] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``supramap sts decompose --json``)."""
        maps = self.maps.values
        # k-means: the share of the pixels in each cluster; PCA: of the variance (a PCA
        # score map has zero mean by construction, so its mean says nothing); NMF: the mean
        # weight of each non-negative part.
        if self.method == "pca" and len(self.explained) == maps.shape[0]:
            share = [float(v) for v in self.explained]
        else:
            share = [float(np.nanmean(maps[i] > 0.5)) if self.method == "kmeans"
                     else float(np.nanmean(maps[i])) for i in range(maps.shape[0])]
        return {"method": self.method, "n_components": self.n_components,
                "criterion": self.criterion,
                "scores": {str(k): v for k, v in self.scores.items()},
                "explained_variance": self.explained,
                "component_share": share, "notes": self.notes,
                "warnings": warnings_to_list(self.warnings)}


def compare_clusters(labels: xr.DataArray, values: xr.DataArray, *, name: str = "value",
                     units: str = "") -> dict[str, Any]:
    """How a scalar map of the same pixels (a gap map, a registered cAFM current, ...) splits
    over k-means clusters: per cluster the number of pixels with a finite value, mean,
    standard deviation and median; and η² — the share of the map's variance that lies
    *between* clusters (1: the clusters are the map's regions; 0: unrelated)."""
    lab = np.asarray(labels.values if hasattr(labels, "values") else labels)
    val = np.asarray(values.values if hasattr(values, "values") else values, dtype=float)
    if lab.shape != val.shape:
        raise AnalysisError(f"cluster labels {lab.shape} and the {name} map {val.shape} must "
                            "cover the same pixels (register the map onto the grid first)")
    ok = (lab >= 0) & np.isfinite(val)
    if ok.sum() < 2:
        raise AnalysisError(f"fewer than two pixels with a cluster and a finite {name}")
    lab, val = lab[ok], val[ok]
    total = float(np.var(val))
    rows, between = [], 0.0
    for k in np.unique(lab):
        v = val[lab == k]
        rows.append({"cluster": int(k), "n_pixels": int(v.size), "mean": float(v.mean()),
                     "std": float(v.std()), "median": float(np.median(v))})
        between += v.size * (float(v.mean()) - float(val.mean())) ** 2
    eta2 = between / val.size / total if total > 0 else float("nan")
    return {"quantity": name, "units": units, "clusters": rows, "eta_squared": float(eta2),
            "n_pixels": int(val.size)}


def resample_onto_grid(image: xr.DataArray, grid: xr.DataArray, *,
                       min_cover: float = 0.9) -> xr.DataArray:
    """A (y, x) map (a cAFM current, a topograph) interpolated at the grid's pixel centres,
    both in the same physical frame (metres) — i.e. registered beforehand.  Pixels outside the
    map are NaN; fewer than *min_cover* of the grid's pixels inside is an error."""
    if image.dims != ("y", "x"):
        raise AnalysisError(f"the map to compare must be (y, x), got {image.dims}")
    out = image.astype(float).interp(y=grid["y"].values, x=grid["x"].values, method="linear")
    inside = float(np.isfinite(out.values).mean())
    if inside < min_cover:
        xs, ys = image["x"].values, image["y"].values
        raise AnalysisError(
            f"the map ({xs.min() * 1e9:.4g}…{xs.max() * 1e9:.4g} nm × {ys.min() * 1e9:.4g}…"
            f"{ys.max() * 1e9:.4g} nm) covers {100 * inside:.0f} % of the grid's pixels "
            f"({float(grid.x.min()) * 1e9:.4g}…{float(grid.x.max()) * 1e9:.4g} nm × "
            f"{float(grid.y.min()) * 1e9:.4g}…{float(grid.y.max()) * 1e9:.4g} nm): register it "
            "onto the grid's frame first")
    out.attrs = dict(image.attrs)
    return out.assign_coords(y=grid["y"], x=grid["x"])


def _sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise AnalysisError("grid decomposition needs scikit-learn: pip install "
                            "'supramap[ml]'") from None


def decompose_grid(grid: xr.DataArray, *, method: str = "kmeans",
                   n_components: int | None = None, max_components: int = 8,
                   seed: int = 0) -> Decomposition:
    """Decompose the spectra of a ``(y, x, bias)`` grid.

    Parameters
    ----------
    method : {"kmeans", "pca", "nmf"}
    n_components : int, optional
        Fixed number of clusters/components; chosen by the criterion of the method otherwise.
    max_components : int
        Largest number tried when choosing.
    """
    from supramap.sts.grid import check_grid

    check_grid(grid)
    if method not in METHODS:
        raise AnalysisError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    _sklearn()
    ny, nx, nb = grid.shape
    flat = np.asarray(grid.values, dtype=float).reshape(-1, nb)
    ok = np.isfinite(flat).all(axis=1)
    x = flat[ok]
    n = x.shape[0]
    if n < 10:
        raise AnalysisError(f"only {n} complete spectra in the grid: too few to decompose")
    max_k = int(min(max_components, n - 1))
    if n_components is not None and not (1 <= n_components <= max(max_k, 1)):
        raise AnalysisError(f"n_components must lie in 1…{max_k}, got {n_components}")
    ws: list[QualityWarning] = []
    notes: list[str] = []
    bias = grid["bias"]
    if method == "kmeans":
        k, criterion, scores = _choose_k(x, n_components, max_k, seed)
        from sklearn.cluster import KMeans

        km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(x)
        # Clusters ordered by their mean conductance near zero bias (gapped first).
        zero = np.argsort(np.abs(bias.values))[:max(3, nb // 20)]
        order = np.argsort(km.cluster_centers_[:, zero].mean(axis=1))
        rank = np.empty(k, int)
        rank[order] = np.arange(k)
        lab = np.full(ny * nx, -1)
        lab[ok] = rank[km.labels_]
        comps = km.cluster_centers_[order]
        maps = np.stack([np.where(ok, (lab == i).astype(float), np.nan) for i in range(k)])
        labels = xr.DataArray(lab.reshape(ny, nx), dims=("y", "x"),
                              coords={"y": grid["y"], "x": grid["x"]}, attrs={"units": ""})
        explained: list[float] = []
        if k > 1 and scores.get(k, 1.0) < 0.25:
            ws.append(warn("decompose.weak_clusters",
                           f"the best mean silhouette is {scores.get(k, float('nan')):.2f}: the "
                           "spectra do not fall into well separated groups; read the clusters "
                           "as a partition of a continuum", silhouette=scores.get(k)))
    else:
        k, criterion, scores, explained = _choose_pca(x, n_components, max_k)
        if method == "nmf" and n_components is None:
            k = min(k + 1, max_k)
            criterion = "PCA's count + 1 (the mean spectrum is one more end member); " + \
                criterion
        if method == "pca":
            from sklearn.decomposition import PCA

            pca = PCA(n_components=k, random_state=seed).fit(x)
            comps = pca.components_
            w = pca.transform(x)
            explained = [float(v) for v in pca.explained_variance_ratio_]
        else:
            from sklearn.decomposition import NMF

            shift = float(min(x.min(), 0.0))
            if shift < 0:
                notes.append(f"spectra shifted by {-shift:.3g} to be non-negative for NMF")
            import warnings

            from sklearn.exceptions import ConvergenceWarning

            model = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=2000)
            with warnings.catch_warnings():  # reported below as a quality warning
                warnings.simplefilter("ignore", ConvergenceWarning)
                w = model.fit_transform(x - shift)
            comps = model.components_
            if model.n_iter_ >= model.max_iter:
                ws.append(warn("decompose.nmf_not_converged",
                               f"NMF stopped after {model.n_iter_} iterations without "
                               "converging: the components may change with the seed",
                               iterations=int(model.n_iter_)))
            # Scale so that each component spectrum has unit mean and weights carry the size.
            norm = comps.mean(axis=1)
            norm[norm == 0] = 1.0
            comps = comps / norm[:, None]
            w = w * norm[None, :]
            explained = []  # PCA's ratios chose the count; they do not describe NMF parts
        full = np.full((ny * nx, k), np.nan)
        full[ok] = w
        maps = full.T.reshape(k, ny, nx)
        labels = None
    units = grid.attrs.get("units", "")
    components = xr.DataArray(np.asarray(comps), dims=("component", "bias"),
                              coords={"component": np.arange(k), "bias": bias},
                              attrs={"units": units if method != "pca" else f"{units} (PC)"})
    maps_da = xr.DataArray(maps.reshape(k, ny, nx), dims=("component", "y", "x"),
                           coords={"component": np.arange(k), "y": grid["y"], "x": grid["x"]},
                           attrs={"units": "" if method == "kmeans" else "weight"})
    if (~ok).any():
        notes.append(f"{int((~ok).sum())} spectra with non-finite values left out (NaN in the "
                     "maps)")
    return Decomposition(method, int(k), criterion, scores, components, maps_da, labels,
                         explained, notes, ws)


def _choose_k(x: np.ndarray, fixed: int | None, max_k: int, seed: int):
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    if fixed is not None:
        return fixed, "given", {}
    rng = np.random.default_rng(seed)
    sample = x if x.shape[0] <= 4000 else x[rng.choice(x.shape[0], 4000, replace=False)]
    scores = {}
    for k in range(2, max(max_k, 2) + 1):
        if k >= sample.shape[0]:
            break
        lab = KMeans(n_clusters=k, n_init=5, random_state=seed).fit_predict(sample)
        if len(set(lab)) < 2:
            continue
        scores[k] = float(silhouette_score(sample, lab))
    if not scores:
        return 1, "one cluster (no split possible)", {}
    best = max(scores, key=scores.get)
    return best, "largest mean silhouette", scores


def _choose_pca(x: np.ndarray, fixed: int | None, max_k: int):
    from sklearn.decomposition import PCA

    top = min(max_k, x.shape[1])
    # The exact SVD: scikit-learn's default picks a randomised solver with a random start for
    # such shapes, and the variance ratios then changed from run to run (found by `supramap
    # rerun`); spectra × energies is small enough for the full one.
    ratio = PCA(n_components=top, svd_solver="full").fit(x).explained_variance_ratio_
    cum = np.cumsum(ratio)
    scores = {i + 1: float(c) for i, c in enumerate(cum)}
    if fixed is not None:
        return fixed, "given", scores, [float(r) for r in ratio[:fixed]]
    k = int(np.searchsorted(cum, VARIANCE_TARGET) + 1)
    # Beyond the target, stop where the next component adds less than 1 %.
    while k < top and ratio[k] >= 0.01:
        k += 1
    k = min(k, top)
    return (k, f"explained variance ≥ {VARIANCE_TARGET:.0%}, then until a component adds "
               "< 1 %", scores, [float(r) for r in ratio[:k]])
