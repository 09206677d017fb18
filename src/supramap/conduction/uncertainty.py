"""How far a cAFM map's conducting fraction can be trusted: a 90 % interval for the true area.

The fraction counts the pixels above a cut.  Against the area of the sample's conducting
regions it errs in three ways, each modelled here:

* **pixels on the edge**: an island's boundary crosses its edge pixels at random offsets; a
  pixel is counted whole or not at all, an error uniform in ±½ pixel — variance 1/12 per
  boundary pixel, independent along a curved edge;
* **noise at the cut**: a pixel whose current lies within the noise of its cut may fall on
  either side — variance Σ p(1 − p), p = Φ((I − cut)/σ);
* **the tip rounds islands**: the half-maximum contour of a blurred convex island lies inside
  its true edge by σ²κ/2 (κ the curvature, σ the blur's width), which sums to π σ² per island
  and −π σ² per hole whatever their size and shape (the boundary's curvature integrates to
  2π), half that for an island cut by the image's border: the fraction is short by π τ σ²/N
  (τ of :func:`turning_number`).  On generated maps the loss per island was 0.7 ± 0.4,
  1.2 ± 0.6 and 2.8 ± 0.9 px² for σ = 0.29, 0.58 and 1.04 px (π σ²: 0.26, 1.05, 3.4).  σ
  comes from the measured 10–90 % edge width (2.563 σ for a Gaussian blur), at least the
  pixel's own √(1/12).

The interval is centred on the count corrected for the last, ± 1.645 times the first two
and half the correction combined in quadrature.  Checked on generated maps (islands from a
random field, two current levels, a Gaussian tip of 0.25–0.75 px, 4× oversampled then
averaged into pixels, 1.5–10 % noise and line offsets): tests/test_calibration.py.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.special import ndtr, ndtri

#: 10–90 % width of an edge blurred by a Gaussian of unit standard deviation.
WIDTH_10_90_PER_SIGMA = 2 * float(ndtri(0.9))


def turning_number(mask: np.ndarray) -> float:
    """Σ of the boundaries' total curvature over 2π: 1 per component (8-connected) inside
    the image, ½ per component cut by the image's border (its boundary in the image turns by
    about π), −1 per hole (4-connected background not touching the border)."""
    m = np.asarray(mask, bool)
    if not m.any():
        return 0.0
    lab, n_fg = ndimage.label(m, structure=np.ones((3, 3)))
    edge = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    n_cut = np.count_nonzero(np.unique(edge[edge > 0]))
    bg, n_bg = ndimage.label(~m)
    edge = np.concatenate([bg[0], bg[-1], bg[:, 0], bg[:, -1]])
    holes = n_bg - np.count_nonzero(np.unique(edge[edge > 0]))
    return float(n_fg - n_cut) + 0.5 * n_cut - holes


def flip_variance(values: np.ndarray, cut, sigma: float, rows: int = 256) -> float:
    """Σ p(1 − p) over the pixels, p = Φ((value − cut)/σ); *cut* a number or a map.  In blocks
    of *rows* rows: no full-size float temporary (4096² maps are analysed in < 1 GB)."""
    if not (sigma > 0):
        return 0.0
    total = 0.0
    scalar = np.ndim(cut) == 0
    for r0 in range(0, values.shape[0], rows):
        v = values[r0:r0 + rows]
        c = cut if scalar else cut[r0:r0 + rows]
        z = (v - c) / sigma
        z = z[np.isfinite(z) & (np.abs(z) < 6)]
        p = ndtr(z)
        total += float(np.sum(p * (1 - p)))
    return total


def fraction_interval(mask: np.ndarray, n_valid: int, *, flip_var: float = 0.0,
                      edge_sigma_px: float = float("nan"), rounding: bool = True,
                      level: float = 0.90) -> tuple[float, float]:
    """The *level* interval of the true conducting area fraction, from the counted *mask*.
    *rounding*: the mask is a half-maximum contour (the automatic cut), so the tip's rounding
    of convex islands is corrected; a user's cut or mask is taken as the definition."""
    m = np.asarray(mask, bool)
    count = int(m.sum())
    if n_valid <= 0:
        return float("nan"), float("nan")
    boundary = m & ~ndimage.binary_erosion(m, border_value=1)
    var = np.count_nonzero(boundary) / 12.0 + flip_var
    shift = 0.0
    if rounding and count:
        s2 = max(edge_sigma_px ** 2 if np.isfinite(edge_sigma_px) else 0.0, 1.0 / 12)
        shift = np.pi * turning_number(m) * s2
        # The rounding model is good to about half its size (islands close to each other or
        # to the border, non-Gaussian blur): that much is added to the uncertainty.
        var += (0.5 * shift) ** 2
    z = float(ndtri(0.5 + level / 2))
    centre = count + shift
    half = z * np.sqrt(var)
    return (float(max(0.0, (centre - half) / n_valid)),
            float(min(1.0, (centre + half) / n_valid)))


def level_errors(values: np.ndarray, mask: np.ndarray, levels, sigmas,
                 min_rows: int = 3, raw: np.ndarray | None = None,
                 ) -> tuple[list[float], list[float]]:
    """Each current level re-measured on the map's plateaus and its standard error from the
    scan lines: the pixels of the conducting mask at least 3 px from its edge (8-connected)
    and within 3σ of the level (the mixture fit's σ), averaged per line; the level is the
    mean of the line means and its error their scatter / √lines.  Line offsets and slow
    drift (1/f) are shared by a line's pixels, so pixels are not independent samples of the
    level; whole lines nearly are.  (The mixture's own mean, on a histogram of plateau pixels
    including the blurred rims of small islands, sat 1–4 nA from the truth with errors of
    ~1 nA; 2 px and 2σ still let rims in: 76 % coverage, against 90–91 % now at 1.5 and 5 %
    noise.)  With fewer than *min_rows* lines: the mixture's level and σ/√pixels.  *values*
    select the pixels (the map the levels were found on); *raw*, when given (the map before
    a smoothing, whose noise is not shared between neighbouring lines), is averaged."""
    raw = values if raw is None else raw
    core = ndimage.binary_erosion(np.asarray(mask, bool), structure=np.ones((3, 3)),
                                  iterations=3)
    vals, errs = [], []
    for level, sigma in zip(levels, sigmas):
        sel = core & (np.abs(values - level) < 3 * sigma)  # NaN compares False
        rows, _ = np.nonzero(sel)
        n = np.bincount(rows, minlength=values.shape[0]).astype(float)
        tot = np.bincount(rows, weights=raw[sel], minlength=values.shape[0])
        use = n >= 3
        if use.sum() >= min_rows:
            means = tot[use] / n[use]
            vals.append(float(np.mean(means)))
            errs.append(float(np.std(means, ddof=1) / np.sqrt(use.sum())))
        else:
            vals.append(float(level))
            errs.append(float(sigma / np.sqrt(rows.size)) if rows.size else float("nan"))
    return vals, errs
