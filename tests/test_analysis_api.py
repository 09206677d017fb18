"""One analysis, three ways: the library call, the CLI's --json and `supramap batch` give the
same numbers on the same input; every JSON carries the provenance block; `supramap rerun`
reproduces an analysis' numbers exactly and notices a changed number or input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from supramap.analyses import REGISTRY
from supramap.cli.main import main
from supramap.provenance import differences

#: For each declared analysis: (positional inputs, options given as input files, CLI options)
#: on the embedded virtual sample.
CASES: dict[str, tuple[list[str], dict[str, str], list[str]]] = {
    "cafm-analyze": (["cafm/01_8K_for_current.bcrf"], {}, ["--threshold", "1.2uA"]),
    "network-fourprobe": (["cafm/01_8K_for_current.bcrf"], {}, ["--threshold", "1.2uA"]),
    "bulk-transport": (["bulk/transport.dat"], {}, []),
    "bulk-susceptibility": (["bulk/susceptibility.dat"], {},
                            ["--length", "2mm", "--width", "1mm", "--thickness", "100um"]),
    "bulk-heat": (["bulk/heat.dat"], {}, ["--mass", "5mg", "--molar-mass", "136.9",
                                             "--atoms", "2"]),
    "bulk-loop": (["bulk/loop.dat"], {},
                  ["--length", "2mm", "--width", "1mm", "--thickness", "0.1mm"]),
    "sts-fit": (["sts/pb_reference.csv"], {}, ["--temperature", "1.2K"]),
    "sts-peaks": (["sts/zbp_0T.csv"], {}, []),
    "sts-grid": (["sts/grid.3ds"], {}, ["--energies", "0,1.5meV"]),
    "sts-ingap": (["sts/zbp_0T.csv"], {}, ["--temperature", "300mK"]),
    "sts-decompose": (["sts/grid.3ds"], {}, ["--method", "pca"]),
    "sts-gapmap": (["sts/grid.3ds"], {}, ["--temperature", "1.2K"]),
    "sts-qpi": (["sts/qpi.3ds"], {}, ["--energy", "10meV"]),
    "sts-defects": (["cafm/01_8K_for_topography.bcrf"], {}, []),
    "apt-composition": (["apt/needle_conducting.pos"], {"range": "apt/ranges.rrng"},
                        ["--exclude-top", "5nm"]),
    "apt-profile": (["apt/needle_conducting.pos"], {"range": "apt/ranges.rrng"}, []),
    "apt-spectrum": (["apt/needle_conducting.pos"], {}, []),
}


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    from supramap.synth.full import write_full_sample

    folder = tmp_path_factory.mktemp("api")
    write_full_sample(folder)
    return folder


def _cli_argv(name, folder, out_json, tmp):
    inputs, by_option, options = CASES[name]
    decl = REGISTRY[name]
    argv = [*decl.command, *(str(folder / i) for i in inputs)]
    for key, rel in by_option.items():
        flag = next(i.flag for i in decl.inputs if i.name == key)
        argv += [flag, str(folder / rel)]
    if name == "sts-gapmap":
        argv += ["--out", str(tmp / "maps.nc")]
    return argv + options + ["--json", str(out_json)]


def test_every_batch_analysis_has_a_case():
    assert {a.name for a in REGISTRY if a.batch} == set(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_library_cli_and_batch_give_the_same_numbers(name, sample, tmp_path, capsys):
    from supramap.analyses.batch import run_one

    cli_json = tmp_path / "cli.json"
    argv = _cli_argv(name, sample, cli_json, tmp_path)
    code = main(argv)
    err = capsys.readouterr().err
    assert code in (0, 3), err
    cli = json.loads(cli_json.read_text())
    prov = cli["provenance"]
    assert prov["analysis"] == name and prov["command"][:3] == ["supramap", *REGISTRY[name]
                                                                .command]
    first = Path(argv[2]).resolve()
    assert any(f["path"] == str(first) and len(f["sha256"]) == 64 and f["size_bytes"] ==
               first.stat().st_size for f in prov["inputs"])
    assert prov["environment"]["numpy"] and prov["environment"]["supramap"]
    for p in REGISTRY[name].parameters:  # every parameter as resolved, defaults included
        if not p.output:
            assert p.name in prov["parameters"], (name, p.name)
            if p.physical:
                assert prov["parameters"][p.name]["unit"] == p.unit

    # batch: the worker function each dask worker runs on one file
    inputs, by_option, options = CASES[name]
    extra = argv[3:-2]  # everything after the input file, without --json
    if name == "sts-gapmap":
        extra = [a for a in extra if a not in ("--out", str(tmp_path / "maps.nc"))]
    batch_json = tmp_path / "scratch" / "one.json"
    batch_json.parent.mkdir()
    got = run_one(str(sample / inputs[0]), name, extra, 600.0, str(batch_json))
    assert got["ok"], got
    # The batch's own bookkeeping (which file, its ok flag, where the gap maps went) aside,
    # the numbers are the command's — to the last digits but for BLAS summation order in
    # another process (PCA scores differ in the 16th digit; an iterative fit carries such a
    # difference to the 11th: in-gap energies 3e-11 apart after a run of other tests).
    skip = {"ok", "file", "out"}
    assert differences({k: v for k, v in cli.items() if k not in skip},
                       {k: v for k, v in got.items() if k not in skip}, rtol=1e-9) == []

    decl = REGISTRY[name]
    if decl.function is None:
        return
    from supramap.analyses import run

    params = {}
    for flag, value in zip(options[::2], options[1::2]):
        params[decl.parameter(flag).name] = value
    lib = run(name, *(sample / i for i in inputs),
              **{k: sample / v for k, v in by_option.items()}, **params)
    lib_d = json.loads(json.dumps(lib.to_dict(), default=str))
    assert differences({k: cli[k] for k in lib_d}, lib_d, rtol=1e-12) == []
    assert lib.headline().startswith(name)
    assert repr(lib).splitlines()[0] == lib.headline()
    assert "<table>" in lib._repr_html_()


@pytest.mark.parametrize("name", ["cafm-analyze", "bulk-heat", "apt-composition"])
def test_rerun_reproduces_the_numbers(name, sample, tmp_path, capsys):
    out = tmp_path / "out.json"
    assert main(_cli_argv(name, sample, out, tmp_path)) in (0, 3)
    capsys.readouterr()
    assert main(["rerun", str(out)]) == 0, capsys.readouterr().err
    assert "all agree exactly" in capsys.readouterr().out
    # A number changed in the output is found and named.
    d = json.loads(out.read_text())
    key = next(k for k, v in d.items() if isinstance(v, float) and v == v and v != 0)
    d[key] *= 1.001
    out.write_text(json.dumps(d))
    assert main(["rerun", str(out)]) == 1
    assert key in capsys.readouterr().err


def test_rerun_says_when_an_input_changed_and_refuses_foreign_json(sample, tmp_path, capsys):
    src = tmp_path / "heat.dat"
    shutil.copy(sample / "bulk" / "heat.dat", src)
    out = tmp_path / "h.json"
    assert main(["bulk", "heat", str(src), "--mass", "5", "--molar-mass", "136.9", "--json",
                 str(out)]) in (0, 3)
    capsys.readouterr()
    src.write_bytes(src.read_bytes() + b"\n")  # same data, one more empty line
    assert main(["rerun", str(out)]) == 0
    assert "CHANGED" in capsys.readouterr().out
    (tmp_path / "x.json").write_text('{"a": 1}')
    assert main(["rerun", str(tmp_path / "x.json")]) == 2
    assert "no provenance block" in capsys.readouterr().err


def test_report_pages_carry_the_provenance(sample, tmp_path, capsys):
    rep = tmp_path / "rep"
    assert main(["sts", "peaks", str(sample / "sts" / "zbp_0T.csv"), "--report", str(rep)]) \
        in (0, 3)
    capsys.readouterr()
    page = (rep / "index.html").read_text()
    assert "Provenance" in page and "sha256" in page
    prov = json.loads((rep / "provenance.json").read_text())
    assert prov["command"][:3] == ["supramap", "sts", "peaks"]


def test_library_refuses_outputs_and_unknown_parameters(sample):
    from supramap.analyses import ParameterError, run

    with pytest.raises(ParameterError, match="no parameter 'nonsense'"):
        run("bulk-heat", sample / "bulk" / "heat.dat", nonsense=1)
    with pytest.raises(ParameterError, match="--temperature: expected a temperature"):
        run("sts-fit", sample / "sts" / "pb_reference.csv", temperature="3mV")
    with pytest.raises(ParameterError, match="reads 1 file"):
        run("bulk-heat")


def test_rerun_compares_numbers_exactly_but_a_solver_residual_within_its_rounding():
    a = {"R_ohm": 1.5, "residual": 8.297722038441547e-07, "fits": [{"delta_eV": 1e-3}]}
    b = {"R_ohm": 1.5, "residual": 8.29772203648227e-07, "fits": [{"delta_eV": 1e-3}]}
    assert differences(a, b) == []
    b["fits"][0]["delta_eV"] = 1e-3 * (1 + 1e-15)
    assert [d.split(":")[0] for d in differences(a, b)] == ["fits.0.delta_eV"]
    b["residual"] = 2e-6  # a solve that converged elsewhere is a difference
    assert len(differences(a, b)) == 2


#: The analyses that read several files (no batch): (CLI arguments after the command, the
#: library call's inputs and parameters), on the virtual sample; {tip} is a calibrated tip.
MULTI = {
    "cafm-compare": (["cafm/02_20K_for_current.bcrf", "cafm/02_20K_bac_current.bcrf",
                      "--topography-a", "cafm/02_20K_for_topography.bcrf",
                      "--topography-b", "cafm/02_20K_bac_topography.bcrf"],
                     ["cafm/02_20K_for_current.bcrf", "cafm/02_20K_bac_current.bcrf"],
                     {"topography_a": "cafm/02_20K_for_topography.bcrf",
                      "topography_b": "cafm/02_20K_bac_topography.bcrf"}),
    "cafm-series": (["cafm/01_8K_for_current.bcrf", "cafm/03_30K_for_current.bcrf",
                     "cafm/04_8K_recooled_for_current.bcrf", "-t", "8K,30K,8000mK"],
                    ["cafm/01_8K_for_current.bcrf", "cafm/03_30K_for_current.bcrf",
                     "cafm/04_8K_recooled_for_current.bcrf"],
                    {"temperatures": [8, 30, 8]}),
    "sts-calibrate-tip": (["sts/pb_reference.csv", "--temperature", "1.2K"],
                          ["sts/pb_reference.csv"], {"temperature": 1.2}),
    "sts-deconvolve": (["sts/sample_sis.csv", "--tip", "{tip}"], ["sts/sample_sis.csv"],
                       {"tip": "{tip}"}),
    "sts-series": (["sts/zbp_0T.csv", "sts/zbp_0.5T.csv", "sts/zbp_1T.csv", "sts/zbp_2T.csv",
                    "-p", "0,500mT,1,2"],
                   ["sts/zbp_0T.csv", "sts/zbp_0.5T.csv", "sts/zbp_1T.csv", "sts/zbp_2T.csv"],
                   {"parameter": "0,0.5,1,2T"}),
    "sts-explore": (["sts/grid.3ds"], ["sts/grid.3ds"], {}),
    "apt-compare": (["apt/needle_conducting.pos", "apt/needle_insulating.pos", "--range",
                     "apt/ranges.rrng"], ["apt/needle_conducting.pos",
                                          "apt/needle_insulating.pos"],
                    {"range": "apt/ranges.rrng"}),
}


def test_every_analysis_is_a_library_call_and_every_one_is_tested():
    assert all(a.function is not None for a in REGISTRY)
    assert {a.name for a in REGISTRY if not a.batch} == set(MULTI)


@pytest.mark.parametrize("name", sorted(MULTI))
def test_library_and_cli_give_the_same_numbers_on_several_files(name, sample, tmp_path,
                                                                 capsys):
    from supramap.analyses import run

    tip = tmp_path / "tip.json"
    run("sts-calibrate-tip", sample / "sts/pb_reference.csv", temperature=1.2).result.save(tip)

    def path(a):
        a = str(a).replace("{tip}", str(tip))
        return str(sample / a) if (sample / a).exists() else a

    cli_args, inputs, params = MULTI[name]
    out = tmp_path / "cli.json"
    extra = {"sts-calibrate-tip": ["--out", str(tmp_path / "t2.json")],
             "sts-explore": ["--out", str(tmp_path / "page")]}.get(name, [])
    argv = [*REGISTRY[name].command, *map(path, cli_args), *extra, "--json", str(out)]
    assert main(argv) in (0, 3), capsys.readouterr().err
    cli = json.loads(out.read_text())
    assert cli["provenance"]["analysis"] == name
    lib = run(name, *(sample / i for i in inputs),
              **{k: path(v) if isinstance(v, str) else v for k, v in params.items()})
    lib_d = json.loads(json.dumps(lib.to_dict(), default=str))
    lib_d.pop("provenance")
    assert differences({k: cli[k] for k in lib_d}, lib_d, rtol=1e-12) == []
    assert repr(lib).splitlines()[0] == lib.headline()
