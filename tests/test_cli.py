"""The command-line tool, called in-process through ``supramap.cli.main.main(argv)``."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from supramap.cli.main import main


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_version_and_help(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("supramap ")
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "cafm" in out and "info" in out


def test_info_json(shared, tmp_path, capsys):
    j = tmp_path / "info.json"
    code, out, _ = run(["info", shared / "nanonis" / "FeSe_topography.sxm", "--json", j],
                       capsys)
    assert code == 0
    assert "Current_forward" in out
    data = json.loads(j.read_text())
    assert data["format"] == "sxm"
    assert len(data["channels"]) == 8


def test_cafm_analyze_json_and_report(virtual_sample, tmp_path, capsys):
    folder, truth = virtual_sample
    j = tmp_path / "a.json"
    code, out, err = run(["cafm", "analyze", folder / "01_8K_for_current.bcrf",
                          "--topography", folder / "01_8K_for_topography.bcrf",
                          "--deflection", folder / "01_8K_for_deflection.bcrf",
                          "--json", j, "--report", tmp_path / "rep"], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    for key in ("noise_floor_A", "threshold_A", "conducting_fraction",
                "conducting_fraction_interval", "n_islands", "islands", "levels_A",
                "level_fractions", "edge_width_m", "dynamic_range_decades", "pixel_size_m",
                "shape", "topography_correlation"):
        assert key in d, key
    t = next(s for s in truth["scans"] if s["label"] == "01_8K")
    assert d["conducting_fraction"] == pytest.approx(t["conducting_fraction"], abs=0.01)
    page = (tmp_path / "rep" / "index.html").read_text()
    assert page.count("<img") >= 4
    for name in ("maps.png", "histogram.png", "islands.png", "edges.png"):
        assert (tmp_path / "rep" / name).stat().st_size > 1000


def test_cafm_analyze_user_threshold(virtual_sample, tmp_path, capsys):
    folder, _ = virtual_sample
    j = tmp_path / "a.json"
    code, _, err = run(["cafm", "analyze", folder / "01_8K_for_current.bcrf",
                        "--threshold", "1uA", "--json", j], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    assert d["threshold_A"] == pytest.approx(1e-6)
    assert d["threshold_source"] == "user"


def test_cafm_analyze_line_edge(virtual_sample, tmp_path, capsys):
    folder, truth = virtual_sample
    # A line across the first stripe's boundary, normal to its axis, through its middle.
    stripe = truth["islands"][0]
    cx, cy = (stripe["x0"] + stripe["x1"]) / 2, (stripe["y0"] + stripe["y1"]) / 2
    ux, uy = stripe["x1"] - stripe["x0"], stripe["y1"] - stripe["y0"]
    norm = (ux**2 + uy**2) ** 0.5
    nx, ny = -uy / norm, ux / norm
    # Frame corner of the files is (0.15, 0.12) µm in sample coordinates, as written.
    start = (cx, cy)
    end = (cx + nx * 400e-9, cy + ny * 400e-9)
    j = tmp_path / "a.json"
    code, _, err = run(["cafm", "analyze", folder / "01_8K_for_current.bcrf", "--line",
                        f"{start[0]},{start[1]},{end[0]},{end[1]}", "--line-width", "48e-9",
                        "--json", j], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    assert d["line_edge_width_m"] == pytest.approx(truth["edge_width_m"], abs=truth["pixel_m"])
    code, _, err = run(["cafm", "analyze", folder / "01_8K_for_current.bcrf", "--line", "1,2"],
                       capsys)
    _one_line_error(code, err)


def test_cafm_compare_json(virtual_sample, tmp_path, capsys):
    folder, truth = virtual_sample
    j = tmp_path / "c.json"
    code, _, err = run(["cafm", "compare", folder / "01_8K_for_current.bcrf",
                        folder / "04_8K_recooled_for_current.bcrf",
                        "--topography-a", folder / "01_8K_for_topography.bcrf",
                        "--topography-b", folder / "04_8K_recooled_for_topography.bcrf",
                        "--json", j, "--report", tmp_path / "rep"], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    for key in ("shift_m", "iou", "persistent_fraction", "appeared_fraction",
                "vanished_fraction", "spot_diameter_m"):
        assert key in d
    t = truth["comparisons"]["recooling_8K"]
    assert d["persistent_fraction"] == pytest.approx(t["persistent_fraction"], abs=0.02)
    assert (tmp_path / "rep" / "overlay.png").exists()


def test_cafm_series_json(virtual_sample, tmp_path, capsys):
    folder, truth = virtual_sample
    labels = ["01_8K", "02_20K", "03_30K", "04_8K_recooled"]
    j = tmp_path / "s.json"
    argv = ["cafm", "series", *[folder / f"{lb}_for_current.bcrf" for lb in labels]]
    for lb in labels:
        argv += ["--topography", folder / f"{lb}_for_topography.bcrf"]
    argv += ["--temperatures", "8", "--temperatures", "20", "--temperatures", "30",
             "--temperatures", "8", "--json", j, "--report", tmp_path / "rep"]
    code, _, err = run(argv, capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    assert d["temperatures_K"] == [8, 20, 30, 8]
    assert d["vanishing_temperature_K"] == truth["t_vanish_K"]
    assert len(d["conducting_fraction"]) == 4
    assert len(d["islands_returned"]) == len(truth["returning_islands"])


def _one_line_error(code, err):
    assert code == 2
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("supramap: error:")
    assert "Traceback" not in err


def test_missing_file(tmp_path, capsys):
    code, _, err = run(["cafm", "analyze", tmp_path / "nope.bcrf"], capsys)
    _one_line_error(code, err)
    assert "no such file" in err


@pytest.mark.parametrize("content", [b"", b"garbage" * 100, b"fileformat = bcrf\nxpixels = 9\n"])
def test_bad_files(tmp_path, capsys, content):
    p = tmp_path / "bad.bcrf"
    p.write_bytes(content)
    for argv in (["info", p], ["cafm", "analyze", p], ["cafm", "compare", p, p],
                 ["cafm", "series", p, p, "-t", "8", "-t", "9"]):
        code, _, err = run(argv, capsys)
        _one_line_error(code, err)
        assert str(p) in err


def test_bad_options(virtual_sample, capsys):
    folder, _ = virtual_sample
    f = folder / "01_8K_for_current.bcrf"
    code, _, err = run(["cafm", "analyze", f, "--threshold", "lots"], capsys)
    _one_line_error(code, err)
    code, _, err = run(["cafm", "analyze", f, "--threshold", "3 nm"], capsys)
    _one_line_error(code, err)
    code, _, err = run(["cafm", "analyze", f, "--channel", "phase"], capsys)
    _one_line_error(code, err)
    code, _, err = run(["cafm", "series", f, f, "-t", "8"], capsys)
    _one_line_error(code, err)
    code, _, err = run(["cafm", "compare", f, f, "--topography-a", f], capsys)
    _one_line_error(code, err)


def test_topography_shape_mismatch(virtual_sample, shared, capsys):
    folder, _ = virtual_sample
    code, _, err = run(["cafm", "analyze", folder / "01_8K_for_current.bcrf", "--topography",
                        shared / "nanonis" / "FeSe_topography.sxm"], capsys)
    _one_line_error(code, err)
    assert "shape" in err


def test_not_a_current_channel(virtual_sample, capsys):
    folder, _ = virtual_sample
    code, _, err = run(["cafm", "analyze", folder / "01_8K_for_topography.bcrf"], capsys)
    _one_line_error(code, err)
    assert "not a current" in err


def test_usage_error_is_not_a_traceback(capsys):
    code, _, err = run(["cafm", "analyze"], capsys)
    assert code == 2
    assert "Traceback" not in err


def test_console_script_prints_one_line(tmp_path):
    p = tmp_path / "bad.sxm"
    p.write_bytes(b":NANONIS_VERSION:\n2\n")
    proc = subprocess.run([sys.executable, "-m", "supramap", "info", str(p)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "SCANIT_END" in proc.stderr


def test_demo_end_to_end(tmp_path, capsys):
    code, out, err = run(["demo", "--out", tmp_path / "demo"], capsys)
    assert code == 0, err
    page = tmp_path / "demo" / "report" / "index.html"
    assert str(page) in out.replace("\n", "")
    html = page.read_text()
    import re

    images = re.findall(r'<img src="([^"]+)"', html)
    assert len(images) >= 8
    for name in images:
        assert (page.parent / name).stat().st_size > 1000
    summary = json.loads((page.parent / "summary.json").read_text())
    assert summary["results"]["cafm_series"]["vanishing_temperature_K"] == 30.0
    assert summary["correlation"]["sites"][0]["class"] == "conducting"


def test_network_fourprobe_cli(virtual_sample, tmp_path, capsys):
    folder, truth = virtual_sample
    j = tmp_path / "n.json"
    code, out, err = run(["network", "fourprobe", folder / "01_8K_for_current.bcrf",
                          "--geometry", "inline", "--normal-sheet-resistance", "500",
                          "--monte-carlo", "3", "--interval-draws", "4", "--json", j,
                          "--report", tmp_path / "rep"],
                         capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    for key in ("geometry", "sc_fraction", "sc_percolates", "R_apparent_ohm",
                "R_homogeneous_ohm", "sheet_resistance_apparent_ohm", "zero_resistance",
                "current_fraction_in_sc", "residual"):
        assert key in d
    t = next(s for s in truth["scans"] if s["label"] == "01_8K")
    assert d["sc_fraction"] == pytest.approx(t["conducting_fraction"], abs=0.01)
    assert d["geometry"] == "inline"
    assert d["reference_sheet_resistance_ohm"] == 500
    assert d["residual"] <= 1e-6  # supramap.network.solve.TARGET_RESIDUAL
    assert d["monte_carlo"]["n"] == 3
    lo, hi = d["R_apparent_interval_90_ohm"]  # asked for: a 512² map has none by default
    assert lo <= d["R_apparent_ohm"] <= hi and d["draws"] == 4
    assert "90 % interval" in out
    for name in ("network_clusters.png", "network_potential.png", "network_current.png",
                 "network_montecarlo.png"):
        assert (tmp_path / "rep" / name).exists()


def test_network_cli_bad_input(virtual_sample, tmp_path, capsys):
    folder, _ = virtual_sample
    f = folder / "01_8K_for_current.bcrf"
    for extra in (["--geometry", "hall"], ["--contacts", "1,2;3"], ["--contact-size", "0"],
                  ["--contacts", "1e-3,1e-3;2e-3,2e-3"]):
        code, _, err = run(["network", "fourprobe", f, *extra], capsys)
        _one_line_error(code, err)
    code, _, err = run(["network", "fourprobe", folder / "01_8K_for_topography.bcrf"], capsys)
    _one_line_error(code, err)
    bad = tmp_path / "bad.bcrf"
    bad.write_bytes(b"fileformat = bcrf\n")
    code, _, err = run(["network", "fourprobe", bad], capsys)
    _one_line_error(code, err)


@pytest.fixture(scope="module")
def bulk_files(tmp_path_factory):
    from supramap.synth.bulk import write_bulk_files

    folder = tmp_path_factory.mktemp("bulk")
    return folder, write_bulk_files(folder)


def test_bulk_cli_commands(bulk_files, tmp_path, capsys):
    folder, truth = bulk_files
    geo = ["--length-mm", "2", "--width-mm", "1", "--thickness-mm", "0.1"]
    j = tmp_path / "t.json"
    code, _, err = run(["bulk", "transport", folder / "transport.dat", *geo, "--json", j,
                        "--report", tmp_path / "t"], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    for key in ("Tc_onset_K", "Tc_mid_K", "Tc_zero_K", "transition_width_K", "rho0_ohm_m",
                "RRR", "normal_state"):
        assert key in d
    assert d["Tc_mid_K"] == pytest.approx(truth["tc_mid_K"], abs=0.05)
    assert d["rho0_ohm_m"] == pytest.approx(truth["rho0"], rel=1e-3)
    code, _, err = run(["bulk", "susceptibility", folder / "susceptibility.dat", *geo,
                        "--json", j, "--report", tmp_path / "s"], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    assert d["demag_factor"] == pytest.approx(truth["demag_factor"])
    assert d["shielding_fraction"] == pytest.approx(1.0, abs=1e-3)
    assert d["meissner_fraction"] == pytest.approx(truth["meissner"], abs=1e-3)
    assert "Tc_onset_K" in d
    code, _, err = run(["bulk", "heat", folder / "heat.dat", "--mass-mg",
                        str(truth["mass_kg"] * 1e6), "--molar-mass",
                        str(truth["molar_mass_kg_per_mol"] * 1e3), "--json", j,
                        "--report", tmp_path / "h"], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    assert d["gamma_J_per_mol_K2"] == pytest.approx(0.807e-3, rel=0.01)
    assert d["beta_J_per_mol_K4"] == pytest.approx(0.393e-3, rel=0.01)
    for key in ("theta_D_K", "sc_volume_fraction", "Tc_K", "jump_ratio"):
        assert d[key] is not None
    code, _, err = run(["bulk", "loop", folder / "loop.dat", *geo, "--json", j,
                        "--report", tmp_path / "l"], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    assert d["Jc_self_field_A_per_m2"] == pytest.approx(truth["jc0"], rel=0.02)
    assert "Jc_vs_field" in d
    for sub, png in (("t", "transport.png"), ("s", "susceptibility.png"),
                     ("h", "heat_fit.png"), ("l", "loop.png")):
        assert (tmp_path / sub / png).exists()


def test_bulk_cli_bad_input(bulk_files, tmp_path, shared, capsys):
    folder, _ = bulk_files
    cases = [
        ["bulk", "susceptibility", folder / "susceptibility.dat"],  # no geometry
        ["bulk", "loop", folder / "loop.dat", "--length-mm", "2"],
        ["bulk", "heat", folder / "heat.dat", "--mass-mg", "-1", "--molar-mass", "100"],
        ["bulk", "heat", folder / "heat.dat", "--mass-mg", "1", "--molar-mass", "100",
         "--window", "5,3"],
        ["bulk", "transport", folder / "transport.dat", "--column", "nope"],
        ["bulk", "transport", shared / "bcr" / "bcrf-1.bcrf"],
        ["bulk", "heat", folder / "transport.dat", "--mass-mg", "1", "--molar-mass", "100"],
    ]
    for argv in cases:
        code, _, err = run(argv, capsys)
        _one_line_error(code, err)
    bad = tmp_path / "bad.dat"
    bad.write_bytes(b"[Header]\n[Data]\nComment,Temperature (K),Moment (emu)\n,1,x\n")
    code, _, err = run(["bulk", "transport", bad], capsys)
    _one_line_error(code, err)
    assert "not a number" in err


def _write_csv(path, v, g):
    import numpy as np

    np.savetxt(path, np.column_stack([v, g]), delimiter=",", header="Bias (V),dIdV",
               comments="")


def test_sts_cli_workflow(tmp_path, shared, capsys):
    import numpy as np

    from supramap.sts import TipModel, multigap, sis_conductance

    mev = 1e-3
    v = np.linspace(-5, 5, 501) * mev
    tip = TipModel(1.37 * mev, 2e-5, 0.5)
    pb = sis_conductance(v, tip.dos, tip.dos_derivative,
                         lambda e: multigap(e, [1.26 * mev, 1.41 * mev], [1e-5, 1e-5], [1, 1]),
                         0.5, step=2e-6)
    _write_csv(tmp_path / "pb.csv", v, pb)
    code, _, err = run(["sts", "calibrate-tip", tmp_path / "pb.csv", "--out",
                        tmp_path / "tip.json", "--json", tmp_path / "c.json",
                        "--report", tmp_path / "rc"], capsys)
    assert code == 0, err
    saved = json.loads((tmp_path / "tip.json").read_text())
    assert saved["delta_eV"] == pytest.approx(1.37e-3, abs=1e-5)
    code, _, err = run(["sts", "deconvolve", tmp_path / "pb.csv", "--tip", tmp_path / "tip.json",
                        "--json", tmp_path / "d.json", "--report", tmp_path / "rd"], capsys)
    assert code == 0, err
    d = json.loads((tmp_path / "d.json").read_text())
    for key in ("energy_eV", "dos", "regularisation", "gaps_eV"):
        assert key in d
    code, _, err = run(["sts", "fit", tmp_path / "pb.csv", "--model", "sis", "--gaps", "2",
                        "--tip", tmp_path / "tip.json", "--json", tmp_path / "f.json",
                        "--report", tmp_path / "rf"], capsys)
    assert code == 0, err
    f = json.loads((tmp_path / "f.json").read_text())
    for key in ("model", "params", "redchi", "success"):
        assert key in f
    code, _, err = run(["sts", "peaks", tmp_path / "pb.csv", "--json", tmp_path / "p.json"],
                       capsys)
    assert code == 0, err
    p = json.loads((tmp_path / "p.json").read_text())
    assert "coherence_peaks_eV" in p and "zbcp" in p
    assert set(p["zbcp"]) >= {"present", "position_eV", "fwhm_eV", "height"}
    code, _, err = run(["sts", "peaks", shared / "nanonis" / "STS_nanonis_generic_5e_1.dat",
                        "--smooth-ev", "0.005"], capsys)
    assert code == 0, err
    files = []
    for k, split in enumerate((0.0, 0.2)):
        g = 1 + 1 / (1 + ((v - split * mev) / (0.08 * mev)) ** 2) \
            + 1 / (1 + ((v + split * mev) / (0.08 * mev)) ** 2)
        _write_csv(tmp_path / f"s{k}.csv", v, g)
        files.append(tmp_path / f"s{k}.csv")
    code, _, err = run(["sts", "series", *files, "-p", "0", "-p", "5", "--window", "0.0006",
                        "--json", tmp_path / "s.json", "--report", tmp_path / "rs"], capsys)
    assert code == 0, err
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["n_branches"] == [1, 2]
    assert s["statistics"]["fwhm_eV"]["n"] == 2
    assert (tmp_path / "rs" / "map.png").exists()


def test_sts_cli_bad_input(tmp_path, capsys):
    (tmp_path / "x.csv").write_text("a,b\n1,2\n3\n")
    (tmp_path / "tip.json").write_text("[]")
    cases = [["sts", "fit", tmp_path / "x.csv"], ["sts", "peaks", tmp_path / "nope.dat"],
             ["sts", "deconvolve", tmp_path / "x.csv", "--tip", tmp_path / "tip.json"],
             ["sts", "fit", tmp_path / "x.csv", "--tip", tmp_path / "tip.json"]]
    for argv in cases:
        code, _, err = run(argv, capsys)
        _one_line_error(code, err)


def test_apt_cli(tmp_path, capsys):
    from supramap.synth.apt import write_needles

    truth = write_needles(tmp_path / "n", n_atoms=60_000)
    rng = tmp_path / "n" / "ranges.rrng"
    a, b = tmp_path / "n" / "needle_conducting.pos", tmp_path / "n" / "needle_insulating.apt"
    j = tmp_path / "c.json"
    code, _, err = run(["apt", "composition", a, "--range", rng, "--exclude-cap", "O:0.2",
                        "--json", j, "--report", tmp_path / "rc"], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    for key in ("n_ions", "n_ranged", "composition", "excluded_depth_m"):
        assert key in d
    assert d["excluded_depth_m"] == pytest.approx(truth["conducting"]["cap_nm"] * 1e-9,
                                                  abs=2e-9)
    assert set(d["composition"]["Fe"]) == {"fraction", "sigma"}
    code, _, err = run(["apt", "compare", a, b, "--range", rng, "--exclude-top", "25e-9",
                        "--json", j, "--report", tmp_path / "rr"], capsys)
    assert code == 0, err
    d = json.loads(j.read_text())
    assert set(d["ratios"]["Fe/Te"]) == {"a", "a_sigma", "b", "b_sigma", "z"}
    code, _, err = run(["apt", "profile", b, "--range", rng, "--bin", "2e-9", "--json", j,
                        "--report", tmp_path / "rp"], capsys)
    assert code == 0, err
    code, _, err = run(["apt", "spectrum", a, "--range", rng, "--json", j,
                        "--report", tmp_path / "rs"], capsys)
    assert code == 0, err
    assert json.loads(j.read_text())["unranged_peaks_da"] == []
    bad_cases = [["apt", "composition", a, "--range", rng, "--exclude-cap", "O"],
                 ["apt", "composition", a, "--range", rng, "--exclude-top", "1e-9",
                  "--exclude-cap", "O:0.2"],
                 ["apt", "composition", a, "--range", tmp_path / "missing.rrng"],
                 ["apt", "profile", a, "--range", rng, "--cylinder", "1,2,3"],
                 ["apt", "spectrum", tmp_path / "n" / "ranges.rrng"]]
    (tmp_path / "bad.pos").write_bytes(b"\x00" * 17)
    bad_cases.append(["apt", "composition", tmp_path / "bad.pos", "--range", rng])
    for argv in bad_cases:
        code, _, err = run(argv, capsys)
        _one_line_error(code, err)


def test_grid_cli(tmp_path, shared, capsys):
    from supramap.synth.sts import defect_map, dynes_grid, write_grid

    g, truth = dynes_grid(12, 12)
    write_grid(tmp_path / "g.3ds", g)
    j = tmp_path / "g.json"
    code, _, err = run(["sts", "gapmap", tmp_path / "g.3ds", "--temperature", "1", "--out",
                        tmp_path / "g.nc", "--json", j], capsys)
    assert code == 0, err
    # Output captured (not a terminal): no bar drawn, one summary line on stderr instead.
    assert "gap map of 12 × 12 spectra: done in" in err and "━" not in err
    d = json.loads(j.read_text())
    for key in ("shape", "median_gap_eV", "fraction_converged", "seconds"):
        assert key in d
    assert d["median_gap_eV"] == pytest.approx(float(np.median(truth["gap_eV"])), rel=0.02)
    import xarray as xr

    with xr.open_dataset(tmp_path / "g.nc") as nc:
        assert nc["delta"].shape == (12, 12)
    code, _, err = run(["sts", "grid", shared / "nanonis" / "NanonisReader_STS_grid_lockin.3ds",
                        "--energies=-0.1,0,0.1", "--json", j, "--report", tmp_path / "r"],
                       capsys)
    assert code == 0, err
    assert json.loads(j.read_text())["shape"] == [30, 30, 200]
    code, _, err = run(["sts", "qpi", tmp_path / "g.3ds", "--energy", "0.002",
                        "--symmetrize", "c4", "--json", j, "--report", tmp_path / "q"], capsys)
    assert code == 0, err
    from supramap.io.bcr import write_bcr

    m, pos = defect_map(96, n_defects=6)
    write_bcr(tmp_path / "d.bcrf", m.assign_attrs(units="A"))
    code, _, err = run(["sts", "defects", tmp_path / "d.bcrf", "--n-sigma", "6",
                        "--json", j, "--report", tmp_path / "d"], capsys)
    assert code == 0, err
    assert json.loads(j.read_text())["n_defects"] == len(pos)
    for argv in (["sts", "gapmap", tmp_path / "g.3ds", "--out", tmp_path / "x.nc",
                  "--model", "btk"],
                 ["sts", "grid", tmp_path / "g.3ds", "--energies", "a,b"],
                 ["sts", "grid", tmp_path / "g.3ds", "--energies", "1.0"],
                 ["sts", "qpi", tmp_path / "g.3ds"],
                 ["sts", "gapmap", tmp_path / "d.bcrf", "--out", tmp_path / "x.nc"]):
        code, _, err = run(argv, capsys)
        _one_line_error(code, err)


def test_bulk_from_csv_with_column_mapping(tmp_path, capsys):
    from supramap.synth.bulk import BulkTruth, transport

    truth = BulkTruth()
    t, rho = transport(truth)
    r = rho * truth.length_m / (truth.width_m * truth.thickness_m)
    np.savetxt(tmp_path / "rt.csv", np.column_stack([t, r]), delimiter=",",
               header="T (K),R (Ohm)", comments="")
    j = tmp_path / "t.json"
    code, _, err = run(["bulk", "transport", tmp_path / "rt.csv", "--columns",
                        "Temperature=T,Bridge 1 Resistivity=R", "--length-mm", "2",
                        "--width-mm", "1", "--thickness-mm", "0.1", "--json", j], capsys)
    assert code == 0, err
    assert json.loads(j.read_text())["Tc_mid_K"] == pytest.approx(truth.tc_mid_K, abs=0.05)
    code, _, err = run(["bulk", "transport", tmp_path / "rt.csv", "--columns",
                        "Temperature=Temp"], capsys)
    _one_line_error(code, err)
    assert "no column 'Temp'" in err


def test_info_never_claims_a_size_for_an_uncalibrated_png_and_shows_bcr_metadata(tmp_path,
                                                                                capsys):
    import imageio.v3 as iio
    import numpy as np

    from supramap.cli.main import main
    from supramap.data import make_image
    from supramap.io import describe
    from supramap.io.bcr import write_bcr

    png = tmp_path / "sem.png"
    iio.imwrite(png, np.zeros((40, 30), np.uint8))
    assert main(["info", str(png)]) == 0
    out = capsys.readouterr().out
    assert "pixel size not recorded" in out and " m ×" not in out
    img = make_image(np.zeros((8, 8)), dx=1e-8, units="A",
                     attrs={"bias_V": 0.1})
    p = tmp_path / "c.bcrf"
    write_bcr(p, img)
    text = p.read_bytes()
    head_end = text.index(b"\n")  # add the header lines a real attocube file carries
    p.write_bytes(text[:head_end + 1] + b"scanspeed = 2000 nm/s\ntemperature = 8.0\n"
                  b"direction = forward\n" + text[head_end + 1:])
    ch = describe(p)["channels"][0]
    assert ch["scan_speed_m_per_s"] == pytest.approx(2e-6)
    assert ch["temperature_K"] == 8.0 and ch["direction"] == "forward"


def test_quantities_with_units_and_comma_lists():
    from supramap.units import parse_quantities, parse_quantity

    assert parse_quantity("2meV", "eV") == pytest.approx(2e-3)
    assert parse_quantity("-2 meV", "eV") == pytest.approx(-2e-3)
    assert parse_quantity("0.5um", "m") == pytest.approx(5e-7)
    assert parse_quantity("1500um", "mm") == pytest.approx(1.5)
    assert parse_quantity("2e-3", "eV") == 2e-3  # bare numbers are in the option's unit
    assert parse_quantities(["8,20", "30K"], "K") == [8.0, 20.0, 30.0]
    for bad in ("2mV", "abc", "nan", "2 kg", "1e999"):
        with pytest.raises(ValueError):
            parse_quantity(bad, "eV")


def test_options_accept_units_lists_and_show_flags_as_flags(shared, tmp_path, capsys):
    import json

    from supramap.cli.main import main

    qd = shared / "qd" / "zfcfc1.dat"
    assert main(["bulk", "susceptibility", str(qd), "--length", "2mm", "--width", "1000um",
                 "--thickness", "0.1", "--json", str(tmp_path / "a.json")]) == 0
    assert main(["bulk", "susceptibility", str(qd), "--length-mm", "2", "--width-mm", "1",
                 "--thickness-mm", "0.1", "--json", str(tmp_path / "b.json")]) == 0
    a = json.loads((tmp_path / "a.json").read_text())
    b = json.loads((tmp_path / "b.json").read_text())
    assert a["demag_factor"] == pytest.approx(b["demag_factor"])
    capsys.readouterr()
    assert main(["bulk", "susceptibility", str(qd), "--length", "2mV"]) == 2
    assert "--length: expected a length (mm" in capsys.readouterr().err
    assert main(["sts", "fit", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--vary-temperature" in out and "<bool>" not in out


def test_cafm_exports_islands_table_and_masks(tmp_path, capsys):
    """Two rectangles of known size: the CSV gives their areas in m², the NetCDF the mask and
    labels on the map's grid, a .tif the labels."""
    import csv

    import numpy as np
    import tifffile
    import xarray as xr

    from supramap.cli.main import main
    from supramap.data import make_image
    from supramap.io.bcr import write_bcr

    cur = np.random.default_rng(0).normal(0, 1e-9, (80, 80))
    cur[10:30, 10:40] += 2e-6  # 20 × 30 px
    cur[50:60, 45:75] += 2e-6  # 10 × 30 px
    write_bcr(tmp_path / "c.bcrf", make_image(cur, dx=10e-9, units="A"))
    assert main(["cafm", "analyze", str(tmp_path / "c.bcrf"), "--islands",
                 str(tmp_path / "i.csv"), "--masks", str(tmp_path / "m.nc")]) == 0
    rows = list(csv.DictReader((tmp_path / "i.csv").read_text().splitlines()))
    areas = sorted(float(r["area_m2"]) for r in rows)
    assert areas == pytest.approx([300 * 1e-16, 600 * 1e-16], rel=0.05)
    m = xr.open_dataset(tmp_path / "m.nc")
    assert int(m["conducting"].sum()) == pytest.approx(900, rel=0.05)
    assert int(m["island_label"].max()) == 2 and m["x"].attrs.get("units") == "m"
    m.close()
    assert main(["cafm", "analyze", str(tmp_path / "c.bcrf"), "--masks",
                 str(tmp_path / "m.tif")]) == 0
    assert tifffile.imread(tmp_path / "m.tif").max() == 2


def test_processing_controls_are_applied_and_recorded(shared, tmp_path):
    import json

    from supramap.cli.main import main

    sxm = shared / "nanonis" / "FeSe_topography.sxm"
    assert main(["sts", "qpi", str(sxm), "--channel", "Z_forward", "--level", "plane",
                 "--align-rows", "median", "--remove-scars", "--json",
                 str(tmp_path / "q.json")]) == 0
    steps = json.loads((tmp_path / "q.json").read_text())["processing"]
    assert any(s.startswith("poly_level") for s in steps)
    assert any(s.startswith("align_rows") for s in steps)
    assert any(s.startswith("remove_scars") for s in steps)
    assert main(["sts", "qpi", str(sxm), "--level", "poly9"]) == 2


def test_preprocess_removes_a_plane_and_line_offsets():
    import numpy as np

    from supramap.data import make_image
    from supramap.spm.pipeline import preprocess

    rng = np.random.default_rng(0)
    z = np.add.outer(np.arange(64) * 1e-10, np.arange(64) * 2e-10)
    z += rng.normal(0, 1e-11, (64, 64)) + rng.normal(0, 5e-10, 64)[:, None]  # line offsets
    out = preprocess(make_image(z, dx=1e-9, units="m"), level="plane", align="median")
    assert float(out.std()) < 2e-11  # only the white noise is left


def test_cafm_accepts_a_user_mask(tmp_path, capsys):
    """A mask drawn elsewhere replaces the threshold: the fraction and the islands are the
    mask's, round-tripped through --masks and given as an image."""
    import json

    import numpy as np

    from supramap.cli.main import main
    from supramap.data import make_image
    from supramap.io.bcr import write_bcr
    from supramap.io.image import write_png

    cur = np.random.default_rng(0).normal(0, 1e-9, (64, 64))
    cur[10:30, 10:40] += 2e-6
    write_bcr(tmp_path / "c.bcrf", make_image(cur, dx=10e-9, units="A"))
    user = np.zeros((64, 64))
    user[40:50, 5:25] = 1  # a region the threshold would never pick
    user[5:8, 50:60] = 1
    write_png(tmp_path / "m.png", user)
    assert main(["cafm", "analyze", str(tmp_path / "c.bcrf"), "--mask", str(tmp_path / "m.png"),
                 "--json", str(tmp_path / "a.json"), "--masks", str(tmp_path / "out.nc")]) == 0
    d = json.loads((tmp_path / "a.json").read_text())
    assert d["conducting_fraction"] == pytest.approx(user.mean())
    assert d["n_islands"] == 2 and d["n_stripes"] == 1 and d["threshold_source"] == "user mask"
    assert main(["cafm", "analyze", str(tmp_path / "c.bcrf"), "--mask",
                 str(tmp_path / "out.nc"), "--json", str(tmp_path / "b.json")]) == 0
    assert json.loads((tmp_path / "b.json").read_text())["conducting_fraction"] == \
        pytest.approx(user.mean())
    write_png(tmp_path / "small.png", np.ones((10, 10)))
    capsys.readouterr()
    assert main(["cafm", "analyze", str(tmp_path / "c.bcrf"), "--mask",
                 str(tmp_path / "small.png")]) == 2
    assert "mask of 10 × 10 px" in capsys.readouterr().err


def test_display_clip_changes_the_colour_range_only(tmp_path, capsys):
    import json

    import numpy as np

    from supramap.cli.main import main
    from supramap.data import make_image
    from supramap.io.bcr import write_bcr
    from supramap.report.figures import display_range

    z = np.arange(100.0).reshape(10, 10)
    img = make_image(z, dx=1e-9, units="m")
    assert display_range(z, img) == pytest.approx(np.percentile(z, [0.5, 99.5]))
    img.attrs["display_clip"] = (10, 90)
    assert display_range(z, img) == pytest.approx(np.percentile(z, [10, 90]))
    cur = np.random.default_rng(0).normal(0, 1e-9, (64, 64))
    cur[10:30, 10:40] += 2e-6
    write_bcr(tmp_path / "c.bcrf", make_image(cur, dx=10e-9, units="A"))
    runs = []
    for clip in (None, "5,95"):
        out = tmp_path / f"r{clip is not None}.json"
        argv = ["cafm", "analyze", str(tmp_path / "c.bcrf"), "--json", str(out), "--report",
                str(tmp_path / f"rep{clip is not None}")] + (["--clip", clip] if clip else [])
        assert main(argv) == 0
        runs.append(json.loads(out.read_text())["conducting_fraction"])
    assert runs[0] == runs[1]  # display only: the analysis is unchanged
    capsys.readouterr()
    assert main(["cafm", "analyze", str(tmp_path / "c.bcrf"), "--clip", "90,10"]) == 2
    assert "--clip" in capsys.readouterr().err
