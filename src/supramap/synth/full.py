"""The whole virtual sample: cAFM series, bulk files, an SEM micrograph, two atom-probe needles
cut at sites picked on the cAFM map, STS spectra and a grid — and its ``sample.toml``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from supramap.fileutil import atomic_write_json, atomic_write_text

SEM_PIXEL_M = 30e-9
SEM_SHAPE = (400, 400)
SEM_ROTATION_DEG = 4.0
SEM_SCALE = 1.02
SEM_OFFSET_M = (-1.2e-6, -0.9e-6)


def sem_to_sample(points: np.ndarray) -> np.ndarray:
    """Sample (= cAFM map) coordinates of SEM-image coordinates: x = s·R(θ)·u + b."""
    th = np.radians(SEM_ROTATION_DEG)
    a = SEM_SCALE * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    return np.atleast_2d(points) @ a.T + np.asarray(SEM_OFFSET_M)


def sample_to_sem(points: np.ndarray) -> np.ndarray:
    """Inverse of :func:`sem_to_sample`."""
    th = np.radians(SEM_ROTATION_DEG)
    a = SEM_SCALE * np.array([[np.cos(th), -np.sin(th)], [np.sin(th), np.cos(th)]])
    return (np.atleast_2d(points) - np.asarray(SEM_OFFSET_M)) @ np.linalg.inv(a).T


def _write_sem(path: Path, sample) -> None:
    from supramap.io.image import write_png
    from supramap.synth.cafm import signed_distance

    ny, nx = SEM_SHAPE
    u = (np.arange(nx) + 0.5) * SEM_PIXEL_M
    v = (np.arange(ny) + 0.5) * SEM_PIXEL_M
    uu, vv = np.meshgrid(u, v)
    xy = sem_to_sample(np.stack([uu.ravel(), vv.ravel()], axis=1))
    x, y = xy[:, 0].reshape(ny, nx), xy[:, 1].reshape(ny, nx)
    # Edge contrast of terraces and particles plus a faint compositional contrast, on the
    # rotated grid (topography evaluated point by point: the grid helper wants axes).
    hh = _point_topography(sample, x, y)
    gy, gx = np.gradient(hh)
    d, _ = signed_distance(sample.islands, x, y)
    img = np.hypot(gx, gy) / (np.std(np.hypot(gx, gy)) + 1e-30) + 0.3 * (d < 0)
    img += 0.1 * np.random.default_rng(5).standard_normal(img.shape)
    write_png(path, img)


def _point_topography(sample, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Terraces and particles at arbitrary (rotated-grid) points; roughness is left out, an
    SEM does not resolve it."""
    from supramap.synth.cafm import terraces

    h = terraces(sample, x, y)
    for px, py, height, width in sample._particles:
        h += height * np.exp(-((x - px) ** 2 + (y - py) ** 2) / (2 * width**2))
    return h


def write_full_sample(out_dir: str | Path, *, seed: int = 0) -> dict[str, Any]:
    """Write every file of the virtual sample and ``sample.toml``; returns the truth."""
    from supramap.sts import TipModel, multigap, sis_conductance
    from supramap.synth.apt import write_needles
    from supramap.synth.bulk import write_bulk_files
    from supramap.synth.cafm import PROTOCOL, make_sample, write_virtual_sample
    from supramap.synth.sts import dynes_grid, write_grid

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cafm_truth = write_virtual_sample(out / "cafm", seed=seed)
    bulk_truth = write_bulk_files(out / "bulk")
    apt_truth = write_needles(out / "apt", n_atoms=150_000)
    sample = make_sample(seed)
    _write_sem(out / "sem.png", sample)
    # Control points: five well-spread map points and their exact SEM coordinates (+ a small
    # picking error of 0.2 px).
    rng = np.random.default_rng(seed + 11)
    x0, y0 = 0.15e-6, 0.12e-6
    side = cafm_truth["shape"][1] * cafm_truth["pixel_m"]
    cp_map = np.array([[x0 + f * side, y0 + g * side] for f, g in
                       ((0.1, 0.1), (0.9, 0.15), (0.85, 0.9), (0.15, 0.85), (0.5, 0.5))])
    cp_img = sample_to_sem(cp_map) + rng.normal(0, 0.2 * SEM_PIXEL_M, cp_map.shape)
    # Sites: the middle of the largest island (conducting) and a point far from every island.
    isl = max(sample.islands, key=lambda c: c.radius)
    site_c = np.array([(isl.x0 + isl.x1) / 2, (isl.y0 + isl.y1) / 2])
    from supramap.synth.cafm import signed_distance

    gx, gy = np.meshgrid(np.linspace(x0 + 0.1 * side, x0 + 0.9 * side, 60),
                         np.linspace(y0 + 0.1 * side, y0 + 0.9 * side, 60))
    d, _ = signed_distance(sample.islands, gx, gy)
    k = int(np.argmax(d))
    site_i = np.array([gx.ravel()[k], gy.ravel()[k]])
    sites_img = sample_to_sem(np.stack([site_c, site_i]))
    # STS: a Pb(111) reference for the tip and an SIS spectrum of the sample; a gap grid.
    mev = 1e-3
    v = np.linspace(-6, 6, 601) * mev
    tip = TipModel(1.37 * mev, 2e-5, 0.5)
    pb = sis_conductance(v, tip.dos, tip.dos_derivative,
                         lambda e: multigap(e, [1.26 * mev, 1.41 * mev], [1e-5, 1e-5], [1, 1]),
                         0.5, step=2e-6)
    fst = sis_conductance(v, tip.dos, tip.dos_derivative,
                          lambda e: multigap(e, [1.5 * mev, 2.5 * mev], [3e-5, 3e-5], [1, 1]),
                          0.5, step=2e-6)
    (out / "sts").mkdir(exist_ok=True)
    noise = np.random.default_rng(seed + 3)
    for name, g in (("pb_reference.csv", pb), ("sample_sis.csv", fst)):
        g = g * (1 + 0.005 * noise.standard_normal(g.size))
        atomic_write_text(out / "sts" / name, "Bias (V),dIdV\n" + "".join(
            f"{float(a)!r},{float(b)!r}\n" for a, b in zip(v, g)))
    grid, grid_truth = dynes_grid(24, 24, seed=seed)
    write_grid(out / "sts" / "grid.3ds", grid)
    # QPI of one band (standing waves at a step) and a zero-bias peak against field.
    from supramap.synth.sts import qpi_grid, zbp_series

    qgrid, qpi_truth = qpi_grid(seed=seed)
    write_grid(out / "sts" / "qpi.3ds", qgrid)
    zb_bias, zb_spectra, zbp_truth = zbp_series(seed=seed)
    zbp_files = []
    for field_t, g in zip(zbp_truth["fields_T"], zb_spectra):
        name = f"zbp_{field_t:g}T.csv"
        zbp_files.append(f"sts/{name}")
        atomic_write_text(out / "sts" / name, "Bias (V),dIdV\n" + "".join(
            f"{float(a)!r},{float(b)!r}\n" for a, b in zip(zb_bias, g)))
    labels = [p[0] for p in PROTOCOL]

    def fmt(a) -> str:
        pairs = (f"[{float(p[0])!r}, {float(p[1])!r}]" for p in np.atleast_2d(a))
        return "[" + ", ".join(pairs) + "]"

    toml = f"""# Virtual Fe(Se,Te) crystal written by supramap (synthetic data with known truth).
[sample]
name = "virtual Fe(Se,Te)"
material = "FeSe0.4Te0.6"
is_simulation = true
molar_mass_g_per_mol = {bulk_truth['molar_mass_kg_per_mol'] * 1e3!r}
atoms_per_formula_unit = {bulk_truth['atoms']}
mass_mg = {bulk_truth['mass_kg'] * 1e6!r}

[sample.geometry]
length_mm = {bulk_truth['length_m'] * 1e3!r}
width_mm = {bulk_truth['width_m'] * 1e3!r}
thickness_mm = {bulk_truth['thickness_m'] * 1e3!r}

[[measurement]]
id = "transport"
kind = "transport"
file = "bulk/transport.dat"

[[measurement]]
id = "susceptibility"
kind = "susceptibility"
file = "bulk/susceptibility.dat"
field_T = 1e-3

[[measurement]]
id = "heat"
kind = "heat"
file = "bulk/heat.dat"

[[measurement]]
id = "loop"
kind = "loop"
file = "bulk/loop.dat"
temperature_K = 2.0

[[measurement]]
id = "cafm_8K"
kind = "cafm"
current = "cafm/{labels[0]}_for_current.bcrf"
topography = "cafm/{labels[0]}_for_topography.bcrf"
deflection = "cafm/{labels[0]}_for_deflection.bcrf"
temperature_K = 8.0
bias_V = 0.1

[[measurement]]
id = "cafm_series"
kind = "cafm-series"
currents = {json.dumps([f"cafm/{lb}_for_current.bcrf" for lb in labels])}
topographies = {json.dumps([f"cafm/{lb}_for_topography.bcrf" for lb in labels])}
temperatures_K = {json.dumps([p[1] for p in PROTOCOL])}

[[measurement]]
id = "sem"
kind = "sem"
file = "sem.png"
pixel_m = {SEM_PIXEL_M!r}

[[measurement]]
id = "tip"
kind = "sts-tip"
file = "sts/pb_reference.csv"
temperature_K = 1.0

[[measurement]]
id = "sis"
kind = "sts-spectrum"
file = "sts/sample_sis.csv"
tip = "tip"

[[measurement]]
id = "grid"
kind = "sts-grid"
file = "sts/grid.3ds"
temperature_K = {grid_truth['temperature_K']!r}

[[measurement]]
id = "qpi"
kind = "sts-qpi"
file = "sts/qpi.3ds"

[[measurement]]
id = "zbp"
kind = "sts-ingap"
files = {json.dumps(zbp_files)}
fields_T = {json.dumps(zbp_truth['fields_T'])}
temperature_K = {zbp_truth['temperature_K']!r}
lockin_rms_V = {zbp_truth['lockin_rms_V']!r}

[[measurement]]
id = "needle_conducting"
kind = "apt"
file = "apt/needle_conducting.pos"

[[measurement]]
id = "needle_insulating"
kind = "apt"
file = "apt/needle_insulating.apt"

[apt]
ranges = "apt/ranges.rrng"
exclude_cap = "O:0.2"

[registration]
map = "cafm_8K"
image = "sem"
control_points_map_m = {fmt(cp_map)}
control_points_image_m = {fmt(cp_img)}

[[site]]
name = "A"
x_m = {float(sites_img[0, 0])!r}
y_m = {float(sites_img[0, 1])!r}
needle = "apt/needle_conducting.pos"

[[site]]
name = "B"
x_m = {float(sites_img[1, 0])!r}
y_m = {float(sites_img[1, 1])!r}
needle = "apt/needle_insulating.apt"
"""
    atomic_write_text(out / "sample.toml", toml)
    truth = {"cafm": {k: v for k, v in cafm_truth.items() if k != "islands"},
             "bulk": bulk_truth, "apt": apt_truth,
             "sem": {"pixel_m": SEM_PIXEL_M, "rotation_deg": SEM_ROTATION_DEG,
                     "scale": SEM_SCALE, "offset_m": list(SEM_OFFSET_M)},
             "sites": {"A": "conducting", "B": "insulating"},
             "qpi": qpi_truth, "zbp": zbp_truth,
             "control_points_map_m": cp_map.tolist(),
             "control_points_image_exact_m": sample_to_sem(cp_map).tolist()}
    atomic_write_json(out / "truth.json", truth)
    return truth
