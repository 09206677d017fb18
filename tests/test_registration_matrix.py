"""Registration across surface types, drifts up to 15 % of the frame and noise, on surfaces
generated here (not by supramap.synth).  Target: ≤ 0.3 px wherever there is texture, and a
warning where there is none."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from scipy import ndimage

from supramap.data import make_image
from supramap.quality import codes
from supramap.spm import register

N = 256
PAD = 60


def _surface(kind: str, rng: np.random.Generator) -> np.ndarray:
    """A (N + 2·PAD)² height field in metres."""
    m = N + 2 * PAD
    yy, xx = np.mgrid[:m, :m]
    if kind == "smooth":  # correlation length ~20 px, 3 nm tilt, no terraces
        z = ndimage.gaussian_filter(rng.normal(size=(m, m)), 20)
        z = z / z.std() * 1e-9 + 3e-9 * xx / m
    elif kind == "terraced":  # 0.55 nm steps of random widths along meandering edges
        edge = xx + 25 * np.sin(yy / 40) + 0.3 * yy
        steps = np.cumsum(rng.uniform(20, 70, size=40)) - 60
        z = 0.55e-9 * np.searchsorted(steps, edge) + 1e-9 * yy / m
    elif kind == "particles":
        z = np.zeros((m, m))
        idx = rng.integers(0, m, size=(60, 2))
        z[idx[:, 0], idx[:, 1]] = 1.0
        z = ndimage.gaussian_filter(z, 3) * 3e-8
    elif kind == "textureless":
        z = 2e-9 * xx / m  # a tilt and nothing else (noise is added per scan)
    else:
        raise ValueError(kind)
    return z


def _scan(z: np.ndarray, offset: tuple[float, float], noise: float,
          rng: np.random.Generator) -> np.ndarray:
    moved = ndimage.shift(z, offset, order=3, mode="nearest")
    crop = moved[PAD:PAD + N, PAD:PAD + N]
    return crop + rng.normal(0, noise, crop.shape)


CASES = [
    (kind, drift, noise)
    for kind in ("smooth", "terraced", "particles")
    for drift in ((7.0, -4.0), (2.4, 3.7), (-38.0, 25.5))  # up to 15 % of 256 px
    for noise in (1e-11, 1e-10)
]


@pytest.mark.parametrize(("kind", "drift", "noise"), CASES)
def test_recovers_drift(kind, drift, noise):
    rng = np.random.default_rng(zlib.crc32(repr((kind, drift, noise)).encode()))
    z = _surface(kind, rng)
    a = make_image(_scan(z, (0, 0), noise, rng), dx=5e-9, units="m")
    # Scan B sees the sample displaced by −drift, so B must be shifted by +drift onto A.
    b = make_image(_scan(z, (-drift[0], -drift[1]), noise, rng), dx=5e-9, units="m")
    r = register(a, b)
    err = np.hypot(r.shift_px[0] - drift[0], r.shift_px[1] - drift[1])
    assert err <= 0.3, (kind, drift, noise, r.shift_px, r.method)
    assert r.confidence > 0.5 and r.warnings == ()


def test_textureless_pair_warns():
    rng = np.random.default_rng(3)
    z = _surface("textureless", rng)
    a = make_image(_scan(z, (0, 0), 1e-10, rng), dx=5e-9, units="m")
    b = make_image(_scan(z, (-7, 4), 1e-10, rng), dx=5e-9, units="m")
    r = register(a, b)
    assert "registration.low_confidence" in codes(r.warnings)


def test_compare_on_smooth_topography_recovers_persistence():
    """The issue's case: 384² scans of one area, smooth random topography, drift (7, −4) px;
    persistence of unchanged islands must come out near 1, not 0.13."""
    from supramap.conduction import compare

    rng = np.random.default_rng(5)
    n = 384
    m = n + 2 * PAD
    z = ndimage.gaussian_filter(rng.normal(size=(m, m)), 20)
    z = z / z.std() * 1e-9 + 3e-9 * np.mgrid[:m, :m][1] / m
    yy, xx = np.mgrid[:m, :m]
    islands = np.zeros((m, m))
    for cy, cx, r in rng.integers([PAD, PAD, 8], [m - PAD, m - PAD, 20], size=(25, 3)):
        islands[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 2e-6
    drift = (7, -4)

    def scan(off):
        t = ndimage.shift(z, off, order=1, mode="nearest")[PAD:PAD + n, PAD:PAD + n]
        c = ndimage.shift(islands, off, order=0, mode="nearest")[PAD:PAD + n, PAD:PAD + n]
        return (make_image(t + rng.normal(0, 1e-10, t.shape), dx=10e-9, units="m"),
                make_image(c + rng.normal(0, 2e-9, c.shape), dx=10e-9, units="A"))

    ta, ca = scan((0, 0))
    tb, cb = scan((-drift[0], -drift[1]))
    res = compare(ca, cb, topography_a=ta, topography_b=tb)
    assert abs(res.shift_px[0] - drift[0]) <= 0.3 and abs(res.shift_px[1] - drift[1]) <= 0.3
    assert res.persistent_fraction > 0.95


@pytest.mark.parametrize("kind", ["smooth", "terraced", "particles"])
@pytest.mark.parametrize("angle", [2.0, -3.0])
def test_rotated_rescan_is_registered_with_its_rotation(kind, angle):
    """A re-scan turned by 2–3° (scan angle, thermal drift) and drifted: a translation alone
    leaves the frame edges misaligned by ~4 px; with the rotation found, ≤ 0.3 px."""
    rng = np.random.default_rng(zlib.crc32(repr((kind, angle)).encode()))
    z = _surface(kind, rng)
    turned = ndimage.rotate(z, angle, reshape=False, order=3, mode="nearest")
    a = make_image(_scan(z, (0, 0), 1e-11, rng), dx=5e-9, units="m")
    b = make_image(_scan(turned, (-5.0, 3.0), 1e-11, rng), dx=5e-9, units="m")
    r = register(a, b)
    assert r.rotation_deg == pytest.approx(-angle, abs=0.1)
    assert "registration.rotated" in codes(r.warnings)
    assert r.confidence > 0.95


def test_compare_rotated_rescan_keeps_islands_persistent():
    """The issue's case: a 2° rotation between re-scans was read as 22 % of the islands
    vanishing and 22 % appearing.  Unchanged islands must persist (> 0.95)."""
    from supramap.conduction import compare

    rng = np.random.default_rng(11)
    n = 256
    m = n + 2 * PAD
    z = _surface("particles", rng) + _surface("smooth", rng) * 0.3
    yy, xx = np.mgrid[:m, :m]
    islands = np.zeros((m, m))
    for cy, cx, r in rng.integers([PAD, PAD, 6], [m - PAD, m - PAD, 16], size=(30, 3)):
        islands[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 2e-6

    def scan(angle, off):
        t = ndimage.rotate(z, angle, reshape=False, order=3, mode="nearest")
        c = ndimage.rotate(islands, angle, reshape=False, order=0, mode="nearest")
        t = ndimage.shift(t, off, order=1, mode="nearest")[PAD:PAD + n, PAD:PAD + n]
        c = ndimage.shift(c, off, order=0, mode="nearest")[PAD:PAD + n, PAD:PAD + n]
        return (make_image(t + rng.normal(0, 1e-11, t.shape), dx=10e-9, units="m"),
                make_image(c + rng.normal(0, 2e-9, c.shape), dx=10e-9, units="A"))

    ta, ca = scan(0.0, (0, 0))
    tb, cb = scan(2.0, (-4, 6))
    res = compare(ca, cb, topography_a=ta, topography_b=tb)
    assert res.rotation_deg == pytest.approx(-2.0, abs=0.3)  # row-aligned topographies
    assert res.persistent_fraction > 0.95
    assert res.vanished_fraction < 0.05 and res.appeared_fraction < 0.05
