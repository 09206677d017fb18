"""Shared fixtures: the real instrument files of ../shared/data and the virtual sample."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared() -> Path:
    """The folder of real instrument files; skips when it is absent."""
    if not SHARED.is_dir():
        pytest.skip(f"real instrument files not available: {SHARED} is absent "
                    "(tests read ../shared/data beside the repository)")
    return SHARED


@pytest.fixture(scope="session")
def virtual_sample(tmp_path_factory) -> tuple[Path, dict]:
    """The demo's virtual sample written once as BCRF files, with its truth."""
    from supramap.synth.cafm import write_virtual_sample

    folder = tmp_path_factory.mktemp("virtual_sample")
    truth = write_virtual_sample(folder, seed=0)
    return folder, truth
