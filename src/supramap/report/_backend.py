"""The matplotlib backend of report figures: Agg (files, no window, no display needed) —
except inside a Jupyter kernel, where the notebook's inline backend must stay so that an
outcome's ``.plot()`` shows its figures."""

from __future__ import annotations

import sys


def headless() -> None:
    import matplotlib

    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
