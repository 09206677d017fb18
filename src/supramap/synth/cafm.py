"""Simulated cryogenic conductive-AFM scans of a heterogeneous superconductor.

The sample is a set of superconducting *islands and stripes* — capsules (a segment of length
≥ 0 swept by a disc), whose signed distance function is exact — inside an insulating matrix.
At tip bias V a pixel carries the current of its island's level (two levels, ≈3.5 and 5.5 µA)
times an edge profile ``½ erfc(d / (√2 σ))`` of the signed distance ``d`` to the island boundary,
so the 10–90 % edge width is ``2·1.2816·σ`` and the half-maximum contour is the true boundary.
The insulating matrix shows only amplifier noise (default σ = 30 pA, i.e. a ≈0.1 nA 3σ floor).

Topography (terraces of one unit-cell step, tilt, roughness) and cantilever deflection (the
feedback error, ∝ the slope along the fast axis, with opposite sign in the backward trace) are
independent of the conduction, as in the published maps.  Scars are planted in topography rows.

Temperature: below ``t_island`` every island conducts; between it and ``t_vanish`` only small
metastable dots conduct, drawn partly independently for each trace (forward/backward differ);
above ``t_vanish`` nothing conducts; on re-cooling a chosen subset of the islands returns.
Every field is an analytic function of position, so a drifted scan frame is sampled exactly.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erfc

from supramap.data import make_image

EDGE_10_90_PER_SIGMA = 2 * 1.2815515655446004  # 10–90 % width of an erfc edge, in σ


@dataclass(frozen=True)
class Capsule:
    """A superconducting region: points within ``radius`` of the segment (x0, y0)–(x1, y1)."""

    x0: float
    y0: float
    x1: float
    y1: float
    radius: float
    level: float  # current carried at the scan bias, A

    def distance(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Signed distance (m) from points to the boundary, negative inside."""
        ax, ay = x - self.x0, y - self.y0
        bx, by = self.x1 - self.x0, self.y1 - self.y0
        bb = bx * bx + by * by
        t = np.clip((ax * bx + ay * by) / bb, 0.0, 1.0) if bb > 0 else 0.0
        return np.hypot(ax - t * bx, ay - t * by) - self.radius

    @property
    def area(self) -> float:
        """Exact area in m²."""
        length = float(np.hypot(self.x1 - self.x0, self.y1 - self.y0))
        return np.pi * self.radius**2 + 2 * self.radius * length


@dataclass(frozen=True)
class VirtualSample:
    """The truth of a virtual sample: its regions and the physics parameters."""

    islands: tuple[Capsule, ...]
    dots_forward: tuple[Capsule, ...]
    dots_backward: tuple[Capsule, ...]
    returning: tuple[int, ...]  # indices of islands that conduct again after re-cooling
    levels_A: tuple[float, ...] = (3.5e-6, 5.5e-6)
    edge_sigma_m: float = 16e-9
    noise_A: float = 30e-12
    level_noise: float = 0.02
    bias_V: float = 0.1
    t_island_K: float = 15.0
    t_vanish_K: float = 30.0
    terrace_step_m: float = 0.6e-9
    terrace_angle_rad: float = 0.35
    terrace_spacing_m: float = 1.3e-6
    roughness_m: float = 0.15e-9
    seed: int = 0
    _waves: tuple[tuple[float, float, float, float], ...] = field(default=(), repr=False)
    _particles: tuple[tuple[float, float, float, float], ...] = field(default=(), repr=False)

    @property
    def edge_width_m(self) -> float:
        """True 10–90 % edge width."""
        return EDGE_10_90_PER_SIGMA * self.edge_sigma_m


@dataclass(frozen=True)
class ScanSpec:
    """One scan: frame, temperature and trace direction."""

    temperature_K: float
    direction: str = "forward"  # or "backward"
    shape: tuple[int, int] = (512, 512)
    pixel_m: float = 16e-9
    origin_m: tuple[float, float] = (0.0, 0.0)  # (x, y) of the frame corner
    recooled: bool = False
    scars: int = 6
    seed: int = 0


def _separated(c: Capsule, others: list[Capsule], gap: float) -> bool:
    t = np.linspace(0, 1, 16)
    px, py = c.x0 + t * (c.x1 - c.x0), c.y0 + t * (c.y1 - c.y0)
    return all((o.distance(px, py) - c.radius >= gap).all() for o in others)


def _place(rng: np.random.Generator, existing: list[Capsule], make, n: int, gap: float,
           tries: int = 4000) -> list[Capsule]:
    out: list[Capsule] = []
    for _ in range(tries):
        if len(out) == n:
            break
        c = make()
        if _separated(c, existing + out, gap):
            out.append(c)
    return out


def make_sample(seed: int = 0, *, size_m: float = 8.5e-6, n_islands: int = 14,
                n_stripes: int = 3, n_dots: int = 40, shared_dots: float = 0.4,
                returning_fraction: float = 0.8, **params: Any) -> VirtualSample:
    """Draw a virtual sample: round islands, long stripes, metastable dots (truth).

    Regions keep ≥ 160 nm apart so each island is one connected component and edge profiles
    do not overlap.  ``params`` override :class:`VirtualSample` fields.
    """
    rng = np.random.default_rng(seed)
    levels = params.get("levels_A", VirtualSample.levels_A)
    margin = 0.6e-6
    lo, hi = margin, size_m - margin

    def stripe() -> Capsule:
        length = rng.uniform(2.0e-6, 3.5e-6)
        ang = rng.uniform(0, np.pi)
        cx, cy = rng.uniform(lo + length / 2, hi - length / 2, 2)
        dx, dy = np.cos(ang) * length / 2, np.sin(ang) * length / 2
        return Capsule(cx - dx, cy - dy, cx + dx, cy + dy, rng.uniform(90e-9, 140e-9),
                       float(rng.choice(levels)))

    def island() -> Capsule:
        length = rng.uniform(0, 0.5e-6)
        ang = rng.uniform(0, np.pi)
        cx, cy = rng.uniform(lo, hi, 2)
        dx, dy = np.cos(ang) * length / 2, np.sin(ang) * length / 2
        return Capsule(cx - dx, cy - dy, cx + dx, cy + dy, rng.uniform(150e-9, 450e-9),
                       float(rng.choice(levels)))

    gap = 160e-9
    stripes = _place(rng, [], stripe, n_stripes, gap)
    islands = stripes + _place(rng, stripes, island, n_islands, gap)
    # Make sure both levels are present.
    if len({c.level for c in islands}) < len(levels) and len(islands) >= len(levels):
        islands = [
            Capsule(c.x0, c.y0, c.x1, c.y1, c.radius, float(levels[i % len(levels)]))
            for i, c in enumerate(islands)
        ]

    dot_r = 37.5e-9  # ~75 nm conducting dots

    def dot() -> Capsule:
        cx, cy = rng.uniform(lo, hi, 2)
        return Capsule(cx, cy, cx, cy, dot_r, 1.5e-6)

    all_dots = _place(rng, [], dot, int(n_dots * (2 - shared_dots)), 120e-9)
    n_shared = int(round(shared_dots * n_dots))
    n_each = (len(all_dots) - n_shared) // 2
    shared = all_dots[:n_shared]
    fwd = shared + all_dots[n_shared : n_shared + n_each]
    bwd = shared + all_dots[n_shared + n_each : n_shared + 2 * n_each]
    n_ret = int(round(returning_fraction * len(islands)))
    returning = tuple(sorted(int(i) for i in rng.choice(len(islands), n_ret, replace=False)))
    waves = tuple(
        (float(rng.uniform(0.2e-6, 2e-6)), float(rng.uniform(0, 2 * np.pi)),
         float(rng.uniform(0, 2 * np.pi)), float(rng.normal()))
        for _ in range(24)
    )
    # Surface debris and pits: Gaussian bumps (x, y, height, width) that anchor registration.
    n_particles = int(40 * (size_m / 8.5e-6) ** 2)
    particles = tuple(
        (float(rng.uniform(0, size_m)), float(rng.uniform(0, size_m)),
         float(rng.choice([-1, 1]) * rng.uniform(0.5e-9, 2e-9)), float(rng.uniform(25e-9, 70e-9)))
        for _ in range(n_particles)
    )
    return VirtualSample(islands=tuple(islands), dots_forward=tuple(fwd),
                         dots_backward=tuple(bwd), returning=returning, seed=seed,
                         _waves=waves, _particles=particles, **params)


def active_regions(sample: VirtualSample, spec: ScanSpec) -> tuple[Capsule, ...]:
    """Which regions conduct in this scan (the temperature protocol of the module docstring)."""
    t = spec.temperature_K
    if t >= sample.t_vanish_K:
        return ()
    if t > sample.t_island_K:
        return sample.dots_forward if spec.direction == "forward" else sample.dots_backward
    if spec.recooled:
        return tuple(sample.islands[i] for i in sample.returning)
    return sample.islands


def signed_distance(regions: tuple[Capsule, ...], x: np.ndarray, y: np.ndarray,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Signed distance to the union of *regions* and the index of the nearest region."""
    best = np.full(np.broadcast(x, y).shape, np.inf)
    which = np.full(best.shape, -1, dtype=int)
    for i, c in enumerate(regions):
        d = c.distance(x, y)
        closer = d < best
        best = np.where(closer, d, best)
        which = np.where(closer, i, which)
    return best, which


def grid_signed_distance(regions: tuple[Capsule, ...], x: np.ndarray, y: np.ndarray,
                         reach: float) -> tuple[np.ndarray, np.ndarray]:
    """:func:`signed_distance` on the grid ``x`` (columns) × ``y`` (rows), evaluated only
    within *reach* of each region's bounding box; farther pixels get ``+reach``.

    Each region touches only its own window, so a 2048² frame with hundreds of islands costs
    about as much as the islands' area (the full evaluation is regions × pixels).
    """
    best = np.full((y.size, x.size), reach)
    which = np.full(best.shape, -1, dtype=int)
    for i, c in enumerate(regions):
        x_lo, x_hi = min(c.x0, c.x1) - c.radius - reach, max(c.x0, c.x1) + c.radius + reach
        y_lo, y_hi = min(c.y0, c.y1) - c.radius - reach, max(c.y0, c.y1) + c.radius + reach
        cols = np.nonzero((x >= x_lo) & (x <= x_hi))[0]
        rows = np.nonzero((y >= y_lo) & (y <= y_hi))[0]
        if cols.size == 0 or rows.size == 0:
            continue
        win = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        xx, yy = np.meshgrid(x[win[1]], y[win[0]])
        d = c.distance(xx, yy)
        closer = d < best[win]
        best[win] = np.where(closer, d, best[win])
        which[win] = np.where(closer, i, which[win])
    return best, which


def _axes(spec: ScanSpec) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = spec.shape
    return (spec.origin_m[0] + (np.arange(nx) + 0.5) * spec.pixel_m,
            spec.origin_m[1] + (np.arange(ny) + 0.5) * spec.pixel_m)


def _grid(spec: ScanSpec) -> tuple[np.ndarray, np.ndarray]:
    ny, nx = spec.shape
    x = spec.origin_m[0] + (np.arange(nx) + 0.5) * spec.pixel_m
    y = spec.origin_m[1] + (np.arange(ny) + 0.5) * spec.pixel_m
    return np.meshgrid(x, y)


def terraces(sample: VirtualSample, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Unit-cell terraces (m) at arbitrary points: a smoothed staircase, steps ~20 nm wide,
    with wavy step edges."""
    a = sample.terrace_angle_rad
    u = x * np.cos(a) + y * np.sin(a) + 0.15e-6 * np.sin(2 * np.pi * y / 3.1e-6)
    s = u / sample.terrace_spacing_m
    frac = s - np.floor(s)
    w = 20e-9 / sample.terrace_spacing_m
    return sample.terrace_step_m * (np.floor(s) + 0.5 * (1 + np.tanh((frac - 0.5) / w)))


def topography_field(sample: VirtualSample, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Height (m) on the grid ``xs`` × ``ys``: unit-cell terraces + tilt + smooth roughness +
    particles and pits, analytic in (x, y)."""
    x, y = np.meshgrid(xs, ys)
    h = terraces(sample, x, y) + 2e-4 * x - 1e-4 * y
    rough = np.zeros_like(h)
    for lam, ang, ph, amp in sample._waves:
        rough += amp * np.sin(2 * np.pi * (x * np.cos(ang) + y * np.sin(ang)) / lam + ph)
    if sample._waves:
        rough *= sample.roughness_m / np.sqrt(len(sample._waves) / 2)
    for px, py, height, width in sample._particles:
        cols = np.nonzero(np.abs(xs - px) < 5 * width)[0]
        rows = np.nonzero(np.abs(ys - py) < 5 * width)[0]
        if cols.size and rows.size:
            win = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            r2 = (x[win] - px) ** 2 + (y[win] - py) ** 2
            rough[win] += height * np.exp(-r2 / (2 * width**2))
    return h + rough


def scan(sample: VirtualSample, spec: ScanSpec) -> dict[str, Any]:
    """Simulate one scan: topography (m), current (A), deflection (V) and the truth.

    Returns
    -------
    dict
        ``topography``, ``current``, ``deflection`` (DataArrays) and ``truth``: a dict with
        ``mask`` (bool array, pixel centre inside a conducting region), ``conducting_fraction``,
        ``n_islands`` and ``levels_A`` of the active regions.
    """
    rng = np.random.default_rng([sample.seed, spec.seed, int(spec.temperature_K * 10),
                                 spec.direction == "forward", spec.recooled])
    x, y = _grid(spec)
    regions = active_regions(sample, spec)
    d, which = grid_signed_distance(regions, *_axes(spec), reach=10 * sample.edge_sigma_m)
    if regions:
        level = np.asarray([c.level for c in regions])[np.maximum(which, 0)]
        profile = 0.5 * erfc(d / (np.sqrt(2) * sample.edge_sigma_m))
        signal = level * profile * (1 + sample.level_noise * rng.standard_normal(x.shape))
    else:
        signal = np.zeros(x.shape)
    current = signal + sample.noise_A * rng.standard_normal(x.shape)
    current *= np.sign(sample.bias_V) or 1.0

    height = topography_field(sample, *_axes(spec))
    h = height + 15e-12 * rng.standard_normal(x.shape)
    scar_rows = rng.choice(np.arange(5, spec.shape[0] - 5), size=spec.scars, replace=False) \
        if spec.scars else np.array([], dtype=int)
    vertical_rms = float(np.sqrt(np.mean(np.diff(h, axis=0) ** 2)))
    for r in scar_rows:
        length = int(rng.integers(40, 160))
        c0 = int(rng.integers(0, spec.shape[1] - length))
        h[r, c0 : c0 + length] += (3 + rng.uniform(0, 3)) * vertical_rms * rng.choice([-1, 1])
    slope = np.gradient(height, spec.pixel_m, axis=1)
    sign = 1.0 if spec.direction == "forward" else -1.0
    deflection = sign * 5.0 * slope + 2e-3 * rng.standard_normal(x.shape)  # V

    attrs = {"temperature_K": spec.temperature_K, "direction": spec.direction,
             "bias_V": sample.bias_V, "instrument": "supramap virtual sample"}
    kw = dict(dx=spec.pixel_m, x0=spec.origin_m[0], y0=spec.origin_m[1], attrs=attrs)
    mask = d < 0
    return {
        "topography": make_image(h, units="m", name="topography", **kw),
        "current": make_image(current, units="A", name="current", **kw),
        "deflection": make_image(deflection, units="V", name="deflection", **kw),
        "truth": {
            "mask": mask,
            "conducting_fraction": float(mask.mean()),
            "n_regions": len(regions),
            "levels_A": sorted({c.level for c in regions}),
            "scar_rows": [int(r) for r in scar_rows],
        },
    }


def persistence_truth(sample: VirtualSample, spec_a: ScanSpec, spec_b: ScanSpec,
                      ) -> dict[str, float]:
    """True persistent / vanished / appeared fractions (relative to A's conducting area),
    evaluated on A's frame."""
    xa, ya = _axes(spec_a)
    a = grid_signed_distance(active_regions(sample, spec_a), xa, ya, reach=1e-9)[0] < 0
    b = grid_signed_distance(active_regions(sample, spec_b), xa, ya, reach=1e-9)[0] < 0
    area = max(int(a.sum()), 1)
    union = max(int((a | b).sum()), 1)
    return {
        "persistent_fraction": float((a & b).sum() / area),
        "vanished_fraction": float((a & ~b).sum() / area),
        "appeared_fraction": float((b & ~a).sum() / area),
        "iou": float((a & b).sum() / union),
    }


#: The default measurement protocol of the demo: (label, T, recooled, drift in pixels (x, y)).
PROTOCOL = (
    ("01_8K", 8.0, False, (0.0, 0.0)),
    ("02_20K", 20.0, False, (1.37, -0.62)),
    ("03_30K", 30.0, False, (2.21, 1.48)),
    ("04_8K_recooled", 8.0, True, (3.41, -2.27)),
)


def write_virtual_sample(out_dir: str | os.PathLike[str], *, seed: int = 0,
                         shape: tuple[int, int] = (512, 512), pixel_m: float = 16e-9,
                         ) -> dict[str, Any]:
    """Write the virtual sample's BCRF files (topography, current, deflection; forward and
    backward; the temperatures of :data:`PROTOCOL`) and ``truth.json``.

    Files are written as an attocube/Image Metrology BCRF would be: UTF-16 header, float32,
    lengths in nm, current in nA, height in nm, deflection in mV.  Returns the truth manifest.
    """
    from supramap.io.bcr import write_bcr  # io sits below synth; synth only writes files

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sample = make_sample(seed)
    base_origin = (0.15e-6, 0.12e-6)
    scans = []
    specs: dict[tuple[str, str], ScanSpec] = {}
    units = {"topography": "nm", "current": "nA", "deflection": "mV"}
    for label, temp, recooled, (sx, sy) in PROTOCOL:
        for direction in ("forward", "backward"):
            spec = ScanSpec(temperature_K=temp, direction=direction, shape=shape,
                            pixel_m=pixel_m, recooled=recooled,
                            origin_m=(base_origin[0] + sx * pixel_m,
                                      base_origin[1] + sy * pixel_m),
                            scars=6 if direction == "forward" else 4)
            specs[(label, direction)] = spec
            result = scan(sample, spec)
            files = {}
            for channel in ("topography", "current", "deflection"):
                name = f"{label}_{direction[:3]}_{channel}.bcrf"
                da = result[channel]
                # The instrument does not know about drift: it records the nominal frame.
                da = make_image(np.asarray(da.values, dtype=np.float32).astype(float),
                                dx=pixel_m, x0=base_origin[0], y0=base_origin[1],
                                units=da.attrs["units"], name=channel, attrs=da.attrs)
                write_bcr(out / name, da, fileformat="bcrf_unicode", zunit=units[channel],
                          extra={"zlabel": channel.capitalize(), "bias": sample.bias_V,
                                 "scanspeed": "2000 nm/s", "direction": direction,
                                 "temperature": temp})
                files[channel] = name
            truth = result["truth"]
            scans.append({
                "label": label, "temperature_K": temp, "direction": direction,
                "recooled": recooled, "files": files, "drift_px": [sy, sx],
                "conducting_fraction": truth["conducting_fraction"],
                "n_regions": truth["n_regions"], "levels_A": truth["levels_A"],
                "scar_rows": truth["scar_rows"],
            })
    comparisons = {
        "forward_backward_20K": {
            "a": "02_20K_for", "b": "02_20K_bac",
            "shift_px": [0.0, 0.0],
            **persistence_truth(sample, specs[("02_20K", "forward")],
                                specs[("02_20K", "backward")]),
            "spot_diameter_m": 2 * sample.dots_forward[0].radius if sample.dots_forward else None,
        },
        "recooling_8K": {
            "a": "01_8K_for", "b": "04_8K_recooled_for",
            # shift that maps B onto A, in (row, col) pixels
            "shift_px": [PROTOCOL[3][3][1] - PROTOCOL[0][3][1],
                         PROTOCOL[3][3][0] - PROTOCOL[0][3][0]],
            **persistence_truth(sample, specs[("01_8K", "forward")],
                                specs[("04_8K_recooled", "forward")]),
        },
    }
    manifest = {
        "seed": seed,
        "pixel_m": pixel_m,
        "shape": list(shape),
        "levels_A": list(sample.levels_A),
        "edge_width_m": sample.edge_width_m,
        "noise_A": sample.noise_A,
        "bias_V": sample.bias_V,
        "t_vanish_K": sample.t_vanish_K,
        "n_islands": len(sample.islands),
        "returning_islands": list(sample.returning),
        "islands": [asdict(c) for c in sample.islands],
        "scans": scans,
        "comparisons": comparisons,
    }
    from supramap.fileutil import atomic_write_json

    atomic_write_json(out / "truth.json", manifest)
    return manifest
