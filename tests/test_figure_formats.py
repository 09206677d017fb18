"""Report figures as PNG at a chosen dpi, SVG with text kept as text, or PDF — on a command's
--report and on `supramap report`, the option before or after the command."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

from supramap.cli.main import main
from supramap.data import make_image
from supramap.io.bcr import write_bcr


@pytest.fixture()
def current_map(tmp_path):
    cur = np.random.default_rng(0).normal(0, 2e-9, (96, 96))
    cur[20:50, 30:70] += 2e-6  # one island, 2 µA
    path = tmp_path / "c.bcrf"
    write_bcr(path, make_image(cur, dx=20e-9, units="A"))
    return path


def _png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_png_dpi_svg_text_and_pdf(current_map, tmp_path, capsys):
    sizes = {}
    for dpi in (110, 220):
        out = tmp_path / f"png{dpi}"
        assert main(["cafm", "analyze", str(current_map), "--report", str(out),
                     "--dpi", str(dpi)]) == 0
        sizes[dpi] = _png_size(out / "maps.png")
    assert sizes[220][0] == pytest.approx(2 * sizes[110][0], abs=2)

    svg = tmp_path / "svg"
    assert main(["--figures", "svg", "cafm", "analyze", str(current_map), "--report",
                 str(svg)]) == 0
    text = (svg / "maps.svg").read_text()
    # Labels are text, not outlines: editable and searchable.
    assert re.search(r"<text[^>]*>\s*Current \(linear\)", text), text[:2000]
    page = (svg / "index.html").read_text()
    assert 'src="maps.svg"' in page and ".png" not in page
    assert not list(svg.glob("*.png"))

    pdf = tmp_path / "pdf"
    assert main(["cafm", "analyze", str(current_map), "--report", str(pdf),
                 "--figures=pdf"]) == 0
    assert (pdf / "maps.pdf").read_bytes()[:5] == b"%PDF-"
    assert 'data="maps.pdf"' in (pdf / "index.html").read_text()

    # The next command without the option is back to PNG at 110 dpi.
    again = tmp_path / "again"
    assert main(["cafm", "analyze", str(current_map), "--report", str(again)]) == 0
    assert _png_size(again / "maps.png") == sizes[110]
    capsys.readouterr()


@pytest.mark.parametrize("argv, expect", [
    (["--figures", "gif"], "--figures must be one of png, svg, pdf, got 'gif'"),
    (["--dpi", "5"], "--dpi"),
    (["--dpi", "many"], "--dpi"),
])
def test_bad_figure_options_are_one_clear_line(current_map, tmp_path, capsys, argv, expect):
    code = main(["cafm", "analyze", str(current_map), "--report", str(tmp_path / "r"), *argv])
    err = capsys.readouterr().err
    assert code == 2 and expect in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists()


def test_sample_report_figures_as_svg(current_map, tmp_path, capsys):
    (tmp_path / "sample.toml").write_text(f"""
[sample]
name = "one map"

[[measurement]]
id = "map"
kind = "cafm"
current = "{current_map.name}"
""")
    out = tmp_path / "rep"
    assert main(["report", str(tmp_path / "sample.toml"), "--out", str(out),
                 "--figures", "svg"]) == 0, capsys.readouterr().err
    figs = sorted(p.suffix for p in out.rglob("*") if p.suffix in (".png", ".svg", ".pdf"))
    assert figs and set(figs) == {".svg"}, figs
