"""Benchmark: `supramap sts decompose` (k-means, its number chosen by the silhouette) on a
128 × 128 × 401 grid, as users run it (a cold command), against the naive pipeline in the same
run: scikit-learn's KMeans (n_init 10) and silhouette_score on every spectrum for k = 2 … 8,
then the chosen k — what a notebook does without supramap's sampling of the silhouette.

The grid is written here: three phases (gaps 1.2, 1.5 meV and none), Dynes spectra at 1 K with
1 % noise, in islands of a smooth random field, as a Nanonis .3ds.

Goal (issue #27): < 8 s for the command.

    python benchmarks/decompose.py [--n 128] [--runs 3]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy import ndimage

from supramap.io.nanonis_3ds import write_3ds

sys.path.insert(0, str(Path(__file__).parent))
from _cold import cold_pairs, supramap_command  # noqa: E402

NAIVE = """
import sys
import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from supramap.io import read
ds = read(sys.argv[1])
g = np.asarray(ds[[v for v in ds.data_vars if ds[v].dims[-1] == "bias"][0]].values, float)
x = g.reshape(-1, g.shape[-1])
x = x[np.isfinite(x).all(axis=1)]
scores = {}
for k in range(2, 9):
    lab = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(x)
    scores[k] = silhouette_score(x, lab)
best = max(scores, key=scores.get)
KMeans(n_clusters=best, n_init=10, random_state=0).fit(x)
print(best)
"""


def dynes(e, delta, gamma=0.05e-3):
    z = e + 1j * gamma
    return np.abs(np.real(z / np.sqrt(z * z - delta * delta + 0j)))


def make_grid(path: Path, n: int, nb: int = 401) -> None:
    rng = np.random.default_rng(0)
    bias = np.linspace(-5e-3, 5e-3, nb)
    field = ndimage.gaussian_filter(rng.standard_normal((n, n)), n / 16)
    phase = np.digitize(field, np.quantile(field, [0.4, 0.75]))
    kt = 8.617e-5 * 1.0
    e = np.linspace(-8e-3, 8e-3, 3201)
    kern = 1 / (4 * kt * np.cosh(np.clip(e / (2 * kt), -300, 300)) ** 2)
    kern = kern[np.abs(e) < 1e-3]
    spectra = []
    for delta in (1.2e-3, 1.5e-3, None):
        dos = np.ones_like(e) if delta is None else dynes(e, delta)
        g = np.convolve(dos, kern / kern.sum(), mode="same")
        spectra.append(np.interp(bias, e, g))
    spectra = np.array(spectra)
    g = spectra[phase] * (1 + 0.01 * rng.standard_normal((n, n, nb)))
    write_3ds(path, {"LI Demod 1 X (A)": g * 1e-9}, bias=bias,
              x_m=np.arange(n) * 1e-9, y_m=np.arange(n) * 1e-9)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "grid.3ds"
        make_grid(path, args.n)
        print(f"{args.n} × {args.n} × 401 grid, three phases, 1 % noise")
        cold_pairs("supramap sts decompose", [*supramap_command(), "sts", "decompose",
                                              str(path)],
                   "naive k-means + silhouette (all spectra)",
                   [sys.executable, "-c", NAIVE, str(path)], runs=args.runs, goal_s=8.0)


if __name__ == "__main__":
    main()
