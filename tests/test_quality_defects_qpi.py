"""Defects and QPI on maps generated here (dumbbells, noise, scan-line glitches, uniaxial
waves), not by supramap.synth."""

from __future__ import annotations

import numpy as np
import pytest

from supramap.data import make_image
from supramap.quality import codes
from supramap.sts.defects import axial_mean, detect_defects

RNG = np.random.default_rng(33)


def _dumbbells(n=256, k=11, angle_deg=0.0, sep=6.0, sigma=2.0, amp=1.0, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:n, :n].astype(float)
    z = np.zeros((n, n))
    centres = []
    a = np.radians(angle_deg)
    while len(centres) < k:
        c = rng.uniform(20, n - 20, 2)
        if all(np.hypot(*(c - q)) > 30 for q in centres):
            centres.append(c)
    for cy, cx in centres:
        for s in (-0.5, 0.5):  # two lobes along the axis
            ly, lx = cy + s * sep * np.sin(a), cx + s * sep * np.cos(a)
            z += amp * np.exp(-((yy - ly) ** 2 + (xx - lx) ** 2) / (2 * sigma**2))
    return z, np.array(centres)


def test_dumbbells_counted_once_with_their_axis():
    z, centres = _dumbbells(angle_deg=0.0)
    z = z + 1e-9 * np.mgrid[:256, :256][1] + RNG.normal(0, 0.02, z.shape)  # tilt + noise
    r = detect_defects(make_image(z, dx=1e-10))
    assert len(r.defects) == len(centres)
    assert min(r.orientation_mean_deg, 180 - r.orientation_mean_deg) < 5
    assert r.orientation_order > 0.9
    for d in r.defects:
        assert d.elongation > 1.5


def test_axial_statistics_wrap_at_180():
    mean, order = axial_mean(np.array([178.0, 2.0, 179.0, 1.0]))
    assert min(mean, 180 - mean) < 1.0 and order > 0.99
    mean, order = axial_mean(np.array([0.0, 90.0]))
    assert order < 1e-9


def test_noisy_map_gives_few_detections_and_scan_lines_are_rejected():
    z, centres = _dumbbells(k=3, amp=1.0, seed=4)
    z = z + RNG.normal(0, 0.2, z.shape)  # 20 % noise: 342 detections before
    z[100, 30:140] += 3.0  # scan-line glitches (shorter than half a line)
    z[160:162, 10:120] += 3.0
    r = detect_defects(make_image(z, dx=1e-10))
    assert len(r.defects) <= len(centres) + 1
    assert len(r.defects) >= len(centres) - 1
    assert r.rejected_lines >= 2 and "defects.scan_lines" in codes(r.warnings)


def test_pure_noise_map_finds_nothing_and_says_so():
    r = detect_defects(make_image(RNG.normal(0, 1, (128, 128)), dx=1e-10))
    assert r.defects == [] and "defects.none" in codes(r.warnings)
