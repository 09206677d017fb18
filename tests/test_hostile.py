"""Hostile and broken option values and outputs: one clean line and exit 2, never a
traceback, never an input destroyed (cases built here from issue #17's descriptions)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supramap.cli.main import main


@pytest.fixture()
def files(tmp_path, shared):
    out = {}
    for rel in ("nanonis/STS_nanonis_generic_4_5.dat", "qd/zfcfc1.dat",
                "nanonis/FeSe_topography.sxm"):
        dst = tmp_path / rel.split("/")[1]
        shutil.copy(shared / rel, dst)
        out[dst.suffix + ("_qd" if "zfc" in rel else "")] = dst
    return out


def _run(argv, capsys):
    code = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return code, cap.err


CASES = [
    ["sts", "fit", "{dat}", "--temperature", "nan"],
    ["sts", "fit", "{dat}", "--temperature", "0"],
    ["sts", "fit", "{dat}", "--temperature", "-1"],
    ["sts", "fit", "{dat}", "--temperature", "1e9"],
    ["sts", "fit", "{dat}", "--lockin-rms", "nan"],
    ["sts", "fit", "{dat}", "--lockin-rms", "-1"],
    ["sts", "fit", "{dat}", "--lockin-rms", "1e3"],
    ["sts", "peaks", "{dat}", "--conductance-scale", "0"],
    ["sts", "peaks", "{dat}", "--conductance-scale", "-1"],
    ["sts", "peaks", "{dat}", "--smooth-ev", "1e9"],
    ["bulk", "susceptibility", "{qd}", "--length-mm", "1e300", "--width-mm", "1",
     "--thickness-mm", "1"],
    ["demo", "--seed", "-1"],
    ["cafm", "analyze", "{sxm}", "--channel", "Current_forward", "--threshold", "-1"],
    ["cafm", "analyze", "{sxm}", "--channel", "Current_forward", "--line", "0,0,5e-3,5e-3"],
]


@pytest.mark.parametrize("argv", CASES, ids=[" ".join(c[:2] + c[-2:]) for c in CASES])
def test_bad_option_values_give_one_clean_line(files, argv, capsys):
    args = [a.format(dat=files[".dat"], qd=files[".dat_qd"], sxm=files[".sxm"]) for a in argv]
    code, err = _run(args, capsys)
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("supramap: error:"), err
    assert "Traceback" not in err


@pytest.mark.parametrize("opt", ["--json", "--report"])
def test_output_over_an_input_is_refused_before_any_work(files, opt, capsys):
    f = files[".dat_qd"]
    before = f.read_bytes()
    code, err = _run(["bulk", "susceptibility", f, "--length-mm", "1", "--width-mm", "1",
                      "--thickness-mm", "1", opt, f], capsys)
    assert code == 2 and "would overwrite the input" in err
    assert f.read_bytes() == before


def test_apt_spectrum_with_corrupt_mq(tmp_path, capsys):
    from supramap.io.apt import write_pos

    rng = np.random.default_rng(0)
    m = rng.uniform(1, 60, 1000)
    m[:10] = np.nan
    m[10] = 1e30
    m[11] = np.inf
    xyz = rng.normal(size=(1000, 3))
    write_pos(tmp_path / "n.pos", xyz[:, 0], xyz[:, 1], xyz[:, 2], m)
    code, err = _run(["apt", "spectrum", tmp_path / "n.pos", "--json", tmp_path / "s.json"],
                     capsys)
    assert code == 0, err
    import json

    d = json.loads((tmp_path / "s.json").read_text())
    assert d["n_ions"] == 988 and d["n_ions_not_binned"] == 12
    assert "apt.invalid_mq" in [w["code"] for w in d["warnings"]]
    for bad in ("1e-9", "inf", "nan"):
        code, err = _run(["apt", "spectrum", tmp_path / "n.pos", "--bin-da", bad], capsys)
        assert code == 2 and err.count("\n") == 1, err


def test_markup_in_channel_names_is_printed_literally(tmp_path, capsys):
    p = tmp_path / "m.dat"
    p.write_text("Experiment\tbias spectroscopy\r\n\r\n[DATA]\r\n"
                 "Bias calc (V)\t[bold]Current[/] (A)\r\n-0.1\t1\r\n0\t2\r\n0.1\t3\r\n")
    code = main(["info", str(p)])
    out = capsys.readouterr().out
    assert code == 0 and "[bold]Current[/]" in out


def _small_3ds(tmp_path):
    from supramap.io.nanonis_3ds import write_3ds

    bias = np.linspace(-0.01, 0.01, 20)
    g = np.ones((6, 6, 20))
    p = tmp_path / "g.3ds"
    write_3ds(p, {"LI Demod 1 X (A)": g}, bias=bias, x_m=np.arange(6) * 1e-9,
              y_m=np.arange(6) * 1e-9)
    return p


@pytest.mark.parametrize("edit", ["dims", "settings"])
def test_lying_3ds_headers_are_refused(tmp_path, edit, capsys):
    import re

    p = _small_3ds(tmp_path)
    raw = p.read_bytes()
    end = raw.index(b":HEADER_END:")
    head = raw[:end].decode("latin-1")
    if edit == "dims":
        head = re.sub(r'Grid dim="6 x 6"', 'Grid dim="700 x 700"', head)
    else:
        head = re.sub(r"Grid settings=[^\r\n]*", "Grid settings=nan;nan;nan;nan;0", head)
    p.write_bytes(head.encode("latin-1") + raw[end:])
    code = main(["sts", "grid", str(p), "--energies", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("supramap: error:") and err.count("\n") == 1, err


def test_3ds_sweep_end_nan_is_refused(tmp_path, capsys):
    p = _small_3ds(tmp_path)
    raw = bytearray(p.read_bytes())
    start = raw.index(b":HEADER_END:") + len(b":HEADER_END:\r\n")
    raw[start + 4:start + 8] = np.array([np.nan], ">f4").tobytes()  # Sweep End of point 0
    p.write_bytes(bytes(raw))
    code = main(["sts", "grid", str(p), "--energies", "0"])
    err = capsys.readouterr().err
    assert code == 2 and "Sweep" in err, err


def test_png_bomb_is_refused_from_its_header(tmp_path, capsys):
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 12000, 12000, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + \
        struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    p = tmp_path / "bomb.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 64)
    code = main(["info", str(p)])
    err = capsys.readouterr().err
    assert code == 2 and "Mpixel" in err


@pytest.mark.parametrize("value", ["1e308", "nan", "0"])
def test_bcr_absurd_bit2nm_is_refused(tmp_path, value, capsys):
    head = ("fileformat = bcrstm\nheadersize = 2048\nxpixels = 2\nypixels = 2\n"
            f"xlength = 100\nylength = 100\nbit2nm = {value}\n").encode()
    p = tmp_path / "b.bcr"
    p.write_bytes(head.ljust(2048, b" ") + np.arange(4, dtype="<i2").tobytes())
    code = main(["info", str(p)])
    err = capsys.readouterr().err
    assert code == 2 and "bit2nm" in err, err


def test_file_strings_are_escaped_in_html_reports(tmp_path):
    p = tmp_path / "x.dat"
    rows = "\r\n".join(f"{float(b)!r}\t{float(1 + 0.5 * np.exp(-(b / 1e-3) ** 2))!r}"
                       for b in np.linspace(-5e-3, 5e-3, 101))
    p.write_text("Experiment\tbias spectroscopy\r\nComment\t<script>alert(1)</script>\r\n\r\n"
                 "[DATA]\r\nBias calc (V)\t<img src=x onerror=alert(1)> (A)\r\n" + rows + "\r\n")
    out = tmp_path / "rep"
    assert main(["sts", "peaks", str(p), "--channel", "<img src=x onerror=alert(1)>",
                 "--report", str(out)]) == 0
    page = (out / "index.html").read_text()
    assert "<script>" not in page and "<img src=x" not in page
    (tmp_path / "sample.toml").write_text(
        "[sample]\nname = '<script>alert(2)</script>'\n[[measurement]]\nid = 'a'\n"
        "kind = 'sts-spectrum'\nfile = 'x.dat'\n")
    code = main(["report", str(tmp_path / "sample.toml"), "--out", str(tmp_path / "s")])
    assert code in (0, 1)
    page = (tmp_path / "s" / "index.html").read_text()
    assert "<script>" not in page


def test_sample_toml_containment(tmp_path, capsys):
    import json

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")
    d = tmp_path / "s"
    d.mkdir()
    (d / "sample.toml").write_text(
        "[sample]\nname = 's'\n"
        "[[measurement]]\nid = '../../escaped'\nkind = 'transport'\nfile = 'x.dat'\n"
        "[[measurement]]\nid = 'leak'\nkind = 'transport'\nfile = '../secret.txt'\n"
        "[[measurement]]\nid = 'typed'\nkind = 'transport'\nfile = ['a', 'b']\n")
    out = tmp_path / "out"
    code = main(["report", str(d / "sample.toml"), "--out", str(out)])
    capsys.readouterr()
    assert code in (1, 2)
    page = (out / "index.html").read_text() if (out / "index.html").exists() else ""
    summary = (out / "summary.json").read_text() if (out / "summary.json").exists() else ""
    assert "TOP-SECRET" not in page + summary
    assert not (tmp_path / "escaped.png").exists() and not list(tmp_path.glob("escaped*"))
    if summary:
        errs = json.loads(summary)["errors"]
        assert any("outside the sample folder" in v for v in errs.values())
        assert any("must be letters" in v for v in errs.values())


def test_unknown_format_never_quotes_the_file(tmp_path, capsys):
    p = tmp_path / "x.bin"
    p.write_bytes(b"PASSWORD=hunter2\n" * 4)
    assert main(["info", str(p)]) == 2
    assert "hunter2" not in capsys.readouterr().err


def test_analysis_errors_name_the_file(tmp_path, capsys):
    p = tmp_path / "nan.csv"
    p.write_text("bias (V),g\n" + "\n".join(f"{v!r},nan" for v in np.linspace(-1e-3, 1e-3,
                                                                             50).tolist()))
    assert main(["sts", "fit", str(p)]) == 2
    err = capsys.readouterr().err
    assert str(p) in err and err.count("\n") == 1


def test_lying_header_sizes_of_every_binary_reader_under_a_memory_cap(shared, tmp_path):
    """Size fields of real files made to lie, read in a child capped at 3 GB of address space:
    each variant reads or gives FormatError — no MemoryError, no other exception, no hang."""
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parent / "helpers" / "lying_sizes.py"
    env = {**__import__("os").environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, str(script), str(shared), str(tmp_path)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout + run.stderr[-2000:]


@pytest.mark.parametrize("shape", [(64, 1), (1, 64), (1, 1), (2, 2), (3, 3)])
@pytest.mark.parametrize("command", [["cafm", "analyze"], ["network", "fourprobe"],
                                     ["sts", "qpi"], ["sts", "defects"]])
def test_tiny_and_one_pixel_wide_images_give_one_clean_line(tmp_path, shape, command, capsys):
    gwyfile = pytest.importorskip("gwyfile")
    from gwyfile.objects import GwyContainer, GwyDataField, GwySIUnit

    c = GwyContainer()
    d = np.random.default_rng(0).normal(1e-9, 1e-10, shape)
    c["/0/data"] = GwyDataField(d, xreal=shape[1] * 1e-9, yreal=shape[0] * 1e-9,
                                si_unit_xy=GwySIUnit(unitstr="m"),
                                si_unit_z=GwySIUnit(unitstr="A"))
    c["/0/data/title"] = "Current"
    p = tmp_path / "tiny.gwy"
    c.tofile(str(p))
    assert gwyfile.load(str(p)) is not None
    code, err = _run([*command, p], capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("supramap: error:"), err


@pytest.mark.parametrize("edit", ["points", "all_nan"])
def test_grid_with_doubled_points_or_only_nan_is_refused(tmp_path, edit, capsys):
    import re

    from supramap.io.nanonis_3ds import write_3ds

    bias = np.linspace(-0.01, 0.01, 20)
    g = np.random.default_rng(0).normal(1.0, 0.1, (6, 6, 20))
    p = tmp_path / "g.3ds"
    write_3ds(p, {"LI Demod 1 X (A)": g * (np.nan if edit == "all_nan" else 1.0)}, bias=bias,
              x_m=np.arange(6) * 1e-9, y_m=np.arange(6) * 1e-9)
    if edit == "points":
        raw = p.read_bytes()
        end = raw.index(b":HEADER_END:")
        head = re.sub("Points=20", "Points=40", raw[:end].decode("latin-1"))
        p.write_bytes(head.encode("latin-1") + raw[end:])
    for argv in (["sts", "grid", p, "--energies", "0"],
                 ["sts", "gapmap", p, "--out", tmp_path / "o.nc"]):
        code, err = _run(argv, capsys)
        assert code == 2 and err.count("\n") == 1, err
        assert ("do not describe the data" if edit == "points" else "no finite value") in err
    assert not (tmp_path / "o.nc").exists()


def test_batch_same_names_commas_and_a_time_limit(tmp_path, capsys):
    """Two `scan.bcrf` in different folders keep their own results, a comma in a path and in an
    error survive the CSV, and a file over the per-file time limit is reported as failed."""
    import csv
    import json

    from supramap.data import make_image
    from supramap.io.bcr import write_bcr

    rng = np.random.default_rng(1)
    for folder in ("a", "b, c"):
        (tmp_path / "in" / folder).mkdir(parents=True)
        cur = rng.normal(0, 1e-9, (64, 64))
        cur[8:24, 8:30] += 1e-6  # two conducting islands in an insulating matrix
        cur[40:56, 30:60] += 1e-6
        write_bcr(tmp_path / "in" / folder / "scan.bcrf", make_image(cur, dx=10e-9, units="A"))
    (tmp_path / "in" / "a" / "bad, file.bcrf").write_bytes(b"fileformat = bcrf\n")
    out = tmp_path / "out"
    code, err = _run(["batch", tmp_path / "in" / "*" / "*.bcrf", "--analysis", "cafm",
                      "--out", out, "--workers", "1"], capsys)
    assert code == 1 and "Traceback" not in err, err
    names = sorted(p.name for p in out.glob("*.json"))
    assert names == ["a__bad, file.bcrf.json", "a__scan.bcrf.json", "b, c__scan.bcrf.json"]
    rows = list(csv.DictReader((out / "table.csv").read_text().splitlines()))
    assert len(rows) == 3 and {r["file"] for r in rows} == {
        str(tmp_path / "in" / "a" / "bad, file.bcrf"), str(tmp_path / "in" / "a" / "scan.bcrf"),
        str(tmp_path / "in" / "b, c" / "scan.bcrf")}
    bad = next(r for r in rows if "bad" in r["file"])
    assert bad["ok"] == "False" and "bad, file.bcrf" in bad["error"]
    assert all(r["ok"] == "True" for r in rows if "scan" in r["file"])
    assert json.loads((out / "b, c__scan.bcrf.json").read_text())["ok"]
    code, err = _run(["batch", tmp_path / "in" / "b, c" / "*.bcrf", "--analysis", "cafm",
                      "--out", tmp_path / "out2", "--workers", "1", "--timeout-s", "0.05"],
                     capsys)
    assert code == 1
    row = next(csv.DictReader((tmp_path / "out2" / "table.csv").read_text().splitlines()))
    assert row["ok"] == "False" and "limit per file" in row["error"]


def _small_report(folder, title, figures):
    # Figures by matplotlib's object API: the writers below run in threads, and pyplot's
    # figure registry is not thread-safe ("OrderedDict mutated during iteration" on CI).
    from matplotlib.figure import Figure

    from supramap.report.html import Report

    rep = Report(title, folder)
    for name in figures:
        fig = Figure()
        fig.subplots().plot([0, 1], [0, 1])
        rep.figure(fig, name, name=name)
    return rep


def test_report_folder_is_published_whole_and_never_mixed(tmp_path):
    import threading

    out = tmp_path / "rep"
    _small_report(out, "first", ["a.png", "b.png"]).write()
    # A run that dies before writing leaves the previous report as it was.
    rep = _small_report(out, "second", ["c.png"])
    del rep
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        ["a.png", "b.png", "index.html"]
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name]
    # A rerun replaces the folder: no stale figure of the first run remains.
    _small_report(out, "third", ["c.png"]).write()
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        ["c.png", "index.html"]
    # Concurrent writers: afterwards the folder is exactly one writer's complete report.
    errors = []

    def writer(k):
        try:
            _small_report(out, f"writer {k}", [f"w{k}_{j}.png" for j in range(3)]).write()
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    page = (out / "index.html").read_text()
    k = int(page.split("<title>writer ")[1][0])
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == \
        sorted([f"w{k}_{j}.png" for j in range(3)] + ["index.html"])
    assert not [p for p in tmp_path.iterdir() if "staging" in p.name or ".old-" in p.name]


def test_report_into_a_foreign_folder_is_refused_before_any_work(files, tmp_path, capsys):
    foreign = tmp_path / "thesis"
    foreign.mkdir()
    (foreign / "chapter1.tex").write_text("precious")
    code, err = _run(["bulk", "susceptibility", files[".dat_qd"], "--length-mm", "1",
                      "--width-mm", "1", "--thickness-mm", "1", "--report", foreign], capsys)
    assert code == 2 and "not a supramap report" in err and err.count("\n") == 1
    assert [p.name for p in foreign.iterdir()] == ["chapter1.tex"]
    code, err = _run(["bulk", "susceptibility", files[".dat_qd"], "--length-mm", "1",
                      "--width-mm", "1", "--thickness-mm", "1", "--json", tmp_path], capsys)
    assert code == 2 and "existing folder" in err


def test_outputs_honour_the_umask(tmp_path):
    import os
    import stat

    from supramap.fileutil import atomic_write_text

    old = os.umask(0o022)
    try:
        atomic_write_text(tmp_path / "x.json", "{}")
        _small_report(tmp_path / "rep", "t", ["a.png"]).write()
    finally:
        os.umask(old)
    for p in (tmp_path / "x.json", tmp_path / "rep" / "index.html", tmp_path / "rep" / "a.png"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p
    assert stat.S_IMODE((tmp_path / "rep").stat().st_mode) == 0o755


def test_sample_toml_wrong_types_and_typos_are_per_item_problems(shared, tmp_path, capsys):
    import json

    from supramap.data import make_image
    from supramap.io.bcr import write_bcr

    cur = np.random.default_rng(2).normal(0, 1e-9, (64, 64))
    cur[10:30, 10:40] += 1e-6
    write_bcr(tmp_path / "c.bcrf", make_image(cur, dx=10e-9, units="A"))
    shutil.copy(shared / "qd" / "zfcfc1.dat", tmp_path / "qd.dat")
    (tmp_path / "sample.toml").write_text("""
[sample]
name = "hostile"
geometry = 5
colour = "red"

[[measurement]]
id = "two_files"
kind = "transport"
file = ["qd.dat", "qd.dat"]

[[measurement]]
id = "c8"
kind = "cafm"
current = "c.bcrf"
topograpy = "c.bcrf"

[[measurement]]
id = "listed_T"
kind = "cafm"
current = "c.bcrf"
temperature_K = [1, 2]

[[measurement]]
id = "series"
kind = "cafm-series"
currents = "c.bcrf"
temperatures_K = 8.0

[[measurement]]
id = "grid"
kind = "sts-grid"
file = "qd.dat"
""")
    code, err = _run(["report", tmp_path / "sample.toml", "--out", tmp_path / "rep"], capsys)
    assert code == 1 and "Traceback" not in err and err.count("\n") == 1, err
    summary = json.loads((tmp_path / "rep" / "summary.json").read_text())
    text = json.dumps(summary)
    for expect in ("'file' must be one file name", "'temperature_K' must be a number",
                   "unknown key 'topograpy' (did you mean 'topography'?)",
                   "unknown key 'colour'", "[sample.geometry] must be a table",
                   "not a spectroscopy grid", "needs at least two maps"):
        assert expect in text or expect in err, expect
    assert summary["results"]["c8"]["conducting_fraction"] > 0.1  # the typo did not stop it


#: (command template, numeric option): every one must take any float without a traceback.
OPTION_CASES = [
    (["sts", "peaks", "{dat}"], "--smooth-ev"),
    (["sts", "peaks", "{dat}"], "--conductance-scale"),
    (["sts", "peaks", "{dat}"], "--prominence"),
    (["sts", "series", "{dat}", "{dat}", "-p", "0", "-p", "1"], "--window"),
    (["sts", "deconvolve", "{dat}", "--tip", "{tip}"], "--lambda"),
    (["cafm", "analyze", "{bcrf}"], "--threshold"),
    (["cafm", "analyze", "{bcrf}", "--line", "3e-7,3e-7,8e-7,3e-7"], "--line-width"),
    (["network", "fourprobe", "{bcrf}"], "--normal-sheet-resistance"),
    (["bulk", "susceptibility", "{qd}", "--width-mm", "1", "--thickness-mm", "1"],
     "--length-mm"),
    (["apt", "spectrum", "{pos}"], "--bin-da"),
]


@pytest.fixture(scope="module")
def option_inputs(tmp_path_factory, shared):
    from supramap.data import make_image
    from supramap.io.apt import write_pos
    from supramap.io.bcr import write_bcr

    d = tmp_path_factory.mktemp("opts")
    shutil.copy(shared / "nanonis" / "STS_nanonis_generic_4_5.dat", d / "s.dat")
    shutil.copy(shared / "qd" / "zfcfc1.dat", d / "qd.dat")
    cur = np.random.default_rng(3).normal(0, 1e-9, (48, 48))
    cur[8:24, 8:30] += 1e-6
    write_bcr(d / "c.bcrf", make_image(cur, dx=20e-9, units="A"))
    xyz = np.random.default_rng(4).normal(size=(500, 3))
    write_pos(d / "n.pos", xyz[:, 0], xyz[:, 1], xyz[:, 2],
              np.random.default_rng(5).uniform(1, 60, 500))
    from supramap.sts import TipModel

    TipModel(1.3e-3, 2e-5, 1.2).save(d / "tip.json")
    return {"dat": d / "s.dat", "qd": d / "qd.dat", "bcrf": d / "c.bcrf", "pos": d / "n.pos",
            "tip": d / "tip.json"}


#: A sane value per option: the command must succeed with it (so the cases test the option,
#: not a broken command line).
SANE = {"--smooth-ev": "1e-4", "--conductance-scale": "1", "--prominence": "0.1",
        "--window": "0.05", "--lambda": "0.1", "--threshold": "5e-7", "--line-width": "4e-8",
        "--normal-sheet-resistance": "1000", "--length-mm": "2", "--bin-da": "0.05"}


@pytest.mark.parametrize("template,option", OPTION_CASES,
                         ids=[f"{' '.join(t[:2])} {o}" for t, o in OPTION_CASES])
def test_option_cases_run_with_a_sane_value(option_inputs, template, option, capsys):
    code, err = _run([a.format(**option_inputs) for a in template] + [option, SANE[option]],
                     capsys)
    assert code in (0, 3), err


@pytest.mark.parametrize("template,option", OPTION_CASES,
                         ids=[f"{' '.join(t[:2])} {o}" for t, o in OPTION_CASES])
@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.sampled_from([float("nan"), float("inf"), -float("inf"), 0.0, -1.0,
                                        1e308, -1e-300, 1e-30]),
                       st.floats(allow_nan=False, allow_infinity=False)))
def test_any_float_for_a_numeric_option_never_gives_a_traceback(option_inputs, template,
                                                                 option, value, capsys):
    argv = [a.format(**option_inputs) for a in template] + [option, repr(value)]
    code, err = _run(argv, capsys)
    assert "Traceback" not in err
    assert code in (0, 1, 2, 3), err
    if code == 2:
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("supramap: error:"), err


@pytest.mark.parametrize("kind", ["nanonis", "csv", "qd"])
def test_a_file_cut_inside_its_last_number_is_refused(shared, tmp_path, kind, capsys):
    from supramap.errors import FormatError
    from supramap.io import read
    from supramap.io.text import read_table

    if kind == "nanonis":
        raw = (shared / "nanonis" / "STS_nanonis_generic_4_5.dat").read_bytes().rstrip()
        p = tmp_path / "cut.dat"
        p.write_bytes(raw[:-4])  # "3.00000E+0" -> "3.0000": still a number, but cut
        reader = read
    elif kind == "csv":
        b = np.linspace(-0.01, 0.01, 50)
        text = "bias_V,dIdV\n" + "".join(f"{x:.6e},{1 + x:.6e}\n" for x in b)
        p = tmp_path / "cut.csv"
        p.write_text(text.rstrip()[:-6])
        (tmp_path / "whole.csv").write_text(text)
        assert read_table(tmp_path / "whole.csv")["dIdV"].size == 50
        reader = read_table
    else:
        raw = (shared / "qd" / "zfcfc1.dat").read_bytes().rstrip()
        p = tmp_path / "cut.dat"
        # Cut the last row inside its last number, keeping every field (the row ends "...,1,,,").
        row_start = raw.rindex(b"\n") + 1
        fields = raw[row_start:].split(b",")
        k = max(i for i, f in enumerate(fields) if f.strip() and len(f.strip()) > 6)
        p.write_bytes(raw[:row_start] + b",".join(fields[:k] + [fields[k][:4]]))
        reader = read
    with pytest.raises(FormatError, match="cut inside its last number|cut short"):
        reader(p)


def test_a_report_written_before_the_marker_existed_is_still_replaced(tmp_path):
    """Folders of earlier supramap versions (index.html with our style sheet, no marker) are
    reports, not foreign folders: a rerun of `make demo` must not refuse them."""
    from supramap.report.html import CSS

    old = tmp_path / "rep"
    old.mkdir()
    (old / "index.html").write_text(f"<html><head><style>{CSS}</style></head></html>")
    (old / "figure_01.png").write_bytes(b"x")
    _small_report(old, "new", ["a.png"]).write()
    assert sorted(p.name for p in old.iterdir() if not p.name.startswith(".")) == \
        ["a.png", "index.html"]


NEW_STS_CASES = [
    ["sts", "qpi", "{grid}", "--energy", "1meV,2meV", "--linecut", "abc"],
    ["sts", "qpi", "{grid}", "--energy", "1meV", "--linecut", "30"],
    ["sts", "qpi", "{grid}", "--energy", "1meV", "--bragg"],
    ["sts", "qpi", "{grid}", "--energy", "1meV", "--bragg", "--lattice-m", "3.8e-10"],
    ["sts", "ingap", "{bad}", "--out", "{out}"],
    ["sts", "ingap", "{grid}", "--out", "{out}", "--shape", "fano"],
    ["sts", "ingap", "{grid}", "{grid}", "--out", "{out}"],
    ["sts", "ingap", "{grid}", "--out", "{out}", "--window", "1e-9"],
    ["sts", "decompose", "{grid}", "--compare", "{bad}"],
    ["sts", "decompose", "{grid}", "--gapmap", "{bad}"],
    ["sts", "explore", "{bad}", "--out", "{out}"],
    ["sts", "explore", "{grid}", "--out", "{out}", "--gapmap", "{grid}"],
]


@pytest.mark.parametrize("argv", NEW_STS_CASES, ids=[" ".join(c[1:2] + c[-2:])
                                                     for c in NEW_STS_CASES])
def test_grid_commands_refuse_bad_input_in_one_line(tmp_path, argv, capsys):
    """Line cuts, Bragg calibration, per-pixel in-gap fits, cluster comparisons and the
    explorer: garbage files and impossible requests give one error line, exit 2."""
    pytest.importorskip("sklearn")
    from supramap.synth.sts import dynes_grid, write_grid

    g, _ = dynes_grid(8, 8)
    write_grid(tmp_path / "g.3ds", g)
    (tmp_path / "bad.bcrf").write_bytes(b"garbage\x00\x01" * 10)
    args = [a.format(grid=tmp_path / "g.3ds", bad=tmp_path / "bad.bcrf",
                     out=tmp_path / "o.nc") for a in argv]
    code, err = _run(args, capsys)
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("supramap: error:"), err


# ---- round two (issue: outputs never replace what they must not, no input hangs a command) ------

def _bcrf(path):
    from supramap.data import make_image
    from supramap.io.bcr import write_bcr

    rng = np.random.default_rng(0)
    cur = rng.normal(0, 1e-12, (32, 32))
    cur[8:16, 8:16] = 1e-6
    write_bcr(path, make_image(cur, dx=1e-8, units="A"))
    return path


def test_device_node_and_fifo_outputs_are_refused(tmp_path, capsys):
    import os

    src = _bcrf(tmp_path / "m.bcrf")
    node = tmp_path / "full"
    try:
        os.mknod(node, 0o666 | __import__("stat").S_IFCHR, os.makedev(1, 7))
    except PermissionError:
        pytest.skip("creating a device node needs root")
    code, err = _run(["cafm", "analyze", src, "--json", node], capsys)
    assert code == 2 and "not a regular file" in err and err.count("\n") == 1
    assert __import__("stat").S_ISCHR(os.stat(node).st_mode)  # still the device
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    code, err = _run(["cafm", "analyze", src, "--json", fifo], capsys)
    assert code == 2 and "not a regular file" in err


def test_fifo_input_is_refused_at_once(tmp_path, capsys):
    import os

    fifo = tmp_path / "in.bcrf"
    os.mkfifo(fifo)
    for cmd in (["info", fifo], ["cafm", "analyze", fifo], ["sts", "fit", fifo]):
        code, err = _run(cmd, capsys)
        assert code == 2 and "not a regular file" in err, cmd


def test_report_folder_with_a_users_file_is_refused_not_emptied(tmp_path, capsys):
    src = _bcrf(tmp_path / "m.bcrf")
    rep = tmp_path / "rep"
    assert _run(["cafm", "analyze", src, "--report", rep], capsys)[0] == 0
    notes = rep / "notes.txt"
    notes.write_text("my notes")
    code, err = _run(["cafm", "analyze", src, "--report", rep], capsys)
    assert code == 2 and "did not write" in err and notes.read_text() == "my notes"
    assert not list(tmp_path.glob(".rep.lock"))


def test_long_arguments_and_unwritable_outputs_give_one_line(tmp_path, capsys):
    src = _bcrf(tmp_path / "m.bcrf")
    code, err = _run(["info", "x" * 300], capsys)
    assert code == 2 and err.count("\n") == 1
    code, err = _run(["cafm", "analyze", src, "--json", tmp_path / ("y" * 300 + ".json")],
                     capsys)
    assert code == 2 and err.count("\n") == 1


def test_deep_toml_huge_qd_header_and_non_image_inputs(tmp_path, capsys, shared):
    deep = tmp_path / "deep.toml"
    deep.write_text("a = " + "[" * 100000 + "]" * 100000 + "\n")
    code, err = _run(["report", deep, "--out", tmp_path / "r"], capsys)
    assert code == 2 and "nested too deep" in err
    big = tmp_path / "big.dat"
    big.write_text("[Header]\nTITLE," + "x" * 5_000_000 + "\n[Data]\nTime (sec),Temperature (K),"
                   "Moment (emu)\n1,2,3\n2,3,4\n")
    assert _run(["info", big], capsys)[0] == 0
    code, err = _run(["cafm", "analyze", shared / "qd" / "zfcfc1.dat"], capsys)
    assert code == 2 and "not an image" in err
    grid = tmp_path / "g.3ds"
    shutil.copy(shared / "nanonis" / "NanonisReader_STS_grid_lockin.3ds", grid)
    code, err = _run(["sts", "defects", grid, "--energy", "nan"], capsys)
    assert code == 2 and "--energy" in err


def test_honest_huge_bcrf_is_refused_with_its_size(tmp_path, capsys):
    small = _bcrf(tmp_path / "s.bcrf").read_bytes()[:2048].decode("latin-1")
    head = small.replace("xpixels = 32\n", "xpixels = 60000\n").replace(
        "ypixels = 32\n", "ypixels = 60000\n")
    f = tmp_path / "huge.bcrf"
    with open(f, "wb") as fh:  # a sparse file: 14 GB that take no disk
        fh.write(head.ljust(2048)[:2048].encode("latin-1"))
        fh.truncate(2048 + 60000 * 60000 * 4)
    code, err = _run(["info", f], capsys)
    assert code == 2 and "60000" in err


def test_corrupt_ibw_dims_rrng_counts_and_cut_3ds(tmp_path, capsys, shared):
    import struct

    raw = bytearray((shared / "vendor" / "IgorIBWReader_P0089OP0027.ibw").read_bytes())
    for v in (0, -7):
        raw[132:136] = struct.pack("<i", v)
        f = tmp_path / f"d{v}.ibw"
        f.write_bytes(bytes(raw))
        code, err = _run(["info", f], capsys)
        assert code == 2 and "dimensions" in err
    rr = "[Ions]\nNumber={n}\nIon1=Fe\n[Ranges]\nNumber=1\nRange1=55.5 56.5 Vol:0.01 Fe:1\n"
    for n in ("99999999", "0"):
        f = tmp_path / f"r{n}.rrng"
        f.write_text(rr.format(n=n))
        code, err = _run(["info", f], capsys)
        assert code == 2 and "[Ions] promises" in err
    bom = tmp_path / "bom.RNG"
    bom.write_bytes(b"\xef\xbb\xbf" + (shared / "apt" / "range_file_RNG.RNG").read_bytes())
    assert _run(["info", bom], capsys)[0] == 0
    data = (shared / "nanonis" / "NanonisReader_STS_grid_lockin.3ds").read_bytes()
    cut = tmp_path / "cut.3ds"
    cut.write_bytes(data[:-1])
    code, err = _run(["info", cut], capsys)
    assert code == 2 and "truncated" in err


def test_apt_profile_absurd_bin_and_empty_cylinder(tmp_path, capsys):
    from supramap.synth.apt import write_needles  # a needle file to point the options at

    write_needles(tmp_path / "n", n_atoms=20_000)
    pos, rng = tmp_path / "n" / "needle_conducting.pos", tmp_path / "n" / "ranges.rrng"
    for bad in (["--bin", "1e-15"], ["--bin", "1"], ["--cylinder", ""]):
        code, err = _run(["apt", "profile", pos, "--range", rng, *bad], capsys)
        assert code == 2 and err.count("\n") == 1, bad


def test_nexus_onto_a_sample_input_is_refused_and_follows_the_umask(tmp_path, capsys):
    import os

    from supramap.synth.full import write_full_sample

    folder = tmp_path / "s"
    write_full_sample(folder, seed=0)
    toml = folder / "sample.toml"
    victim = next(p for p in folder.rglob("*.dat"))
    before = victim.read_bytes()
    code, err = _run(["export", toml, "--nexus", victim], capsys)
    assert code == 2 and "reads" in err and victim.read_bytes() == before
    old = os.umask(0o022)
    try:
        out = tmp_path / "x.nxs"
        _run(["export", toml, "--nexus", out], capsys)
        assert out.stat().st_mode & 0o777 == 0o644
    finally:
        os.umask(old)


def test_double_star_globs_recurse(tmp_path, capsys):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    _bcrf(deep / "m.bcrf")
    code, err = _run(["batch", str(tmp_path / "**" / "*.bcrf"), "--analysis", "cafm", "--out",
                      tmp_path / "o"], capsys)
    assert code == 0, err
    assert (tmp_path / "o" / "table.csv").read_text().count("m.bcrf") == 1


def test_apt_ranges_outside_the_sample_folder_need_permission(tmp_path, shared):
    from supramap.correlate import load_sample

    (tmp_path / "elsewhere").mkdir()
    shutil.copy(shared / "apt" / "range_file_RNG.RNG", tmp_path / "elsewhere" / "r.rng")
    folder = tmp_path / "sample"
    folder.mkdir()
    shutil.copy(shared / "qd" / "zfcfc1.dat", folder / "m.dat")
    toml = folder / "sample.toml"
    toml.write_text('[sample]\nname = "s"\n[apt]\nranges = "../elsewhere/r.rng"\n'
                    '[[measurement]]\nid = "chi"\nkind = "susceptibility"\nfile = "m.dat"\n')
    s = load_sample(toml)
    assert any("outside the sample folder" in p for p in s.problems)
    toml.write_text(toml.read_text().replace('name = "s"',
                                             'name = "s"\nallow_files_outside = true'))
    assert not any("outside" in p for p in load_sample(toml).problems)


def test_unwritable_output_folder_is_refused_before_the_analysis(tmp_path, capsys):
    import os
    import time

    if not os.path.isdir("/proc/self"):
        pytest.skip("no /proc here to stand for a folder nobody can write")
    src = _bcrf(tmp_path / "m.bcrf")
    start = time.perf_counter()
    code, err = _run(["cafm", "analyze", src, "--json", "/proc/supramap-out.json"], capsys)
    assert code == 2 and "cannot be written" in err and err.count("\n") == 1
    assert time.perf_counter() - start < 5
