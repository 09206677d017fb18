"""docs/analysis_api.ipynb runs from top to bottom (read → analyse → .plot() → repr), with
the truths it builds checked inside the notebook."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "docs" / "analysis_api.ipynb"


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_docs_notebook_executes(tmp_path):
    nbformat = pytest.importorskip("nbformat", reason="test extra 'nbformat' not installed")
    nbclient = pytest.importorskip("nbclient", reason="test extra 'nbclient' not installed")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                     resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(o.get("data", {}).get("text/plain", "") + o.get("text", "")
                     for o in outputs)
    assert "sts-fit: Δ1 = " in text and "meV" in text          # the fit's repr headline
    assert "cafm-analyze: conducting_fraction = " in text      # the map's repr headline
    assert any("image/png" in o.get("data", {}) for o in outputs)  # .plot() drew figures
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert any(h.startswith("<div><b>sts-fit: Δ1") and "<table>" in h for h in html)
    assert (tmp_path / "map.bcrf").exists()
