"""The analysis registry: one parameter grammar for CLI and library, commands in sync with the
declarations, the README's command list generated from them."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from supramap.analyses import REGISTRY, ParameterError, convert
from supramap.units import parse_unit

ROOT = Path(__file__).resolve().parents[1]

PHYSICAL = [(a.name, p) for a in REGISTRY for p in a.parameters if p.physical]


def _inside(p) -> float:
    """A value inside the parameter's bounds, in its declared unit."""
    lo = p.lo if p.lo is not None else -10.0
    hi = p.hi if p.hi is not None else 10.0
    if lo <= 0 <= hi and hi > 0:
        return min(hi, 1.0) * 0.37 if hi >= 1e-3 else hi * 0.37
    return lo + 0.37 * (hi - lo)


def _same_value_other_prefix(p, v: float) -> str:
    """*v* (in the declared unit) written with another prefix of the same base unit."""
    base, factor = parse_unit(p.unit)
    if base == p.unit and factor == 1.0 and base not in ("m", "K", "eV", "V", "A", "g", "S",
                                                          "Ohm", "deg", "T", "s"):
        return f"{v!r}{p.unit}"  # a compound unit (g/mol, mJ/molK2, Da): written as declared
    if base == "deg":
        return f"{v!r}°"
    return f"{v * factor * 1e6!r}µ{base}" if base != "g" else f"{v * factor * 1e3!r}mg"


def _other_kind(p) -> str:
    base, _ = parse_unit(p.unit)
    return "3V" if base != "V" else "3K"


def _cli_option(analysis: str, flag: str):
    """The click option of *flag* in the analysis' command, and a context to run it in."""
    from supramap.cli.main import _command

    group, cmd = REGISTRY[analysis].command
    root = _command()
    ctx = root.make_context("supramap", [group, cmd, "--help"], resilient_parsing=True)
    command = root.get_command(ctx, group).get_command(ctx, cmd)
    sub = command.make_context(cmd, ["--help"], resilient_parsing=True)
    for opt in command.params:
        if flag in opt.opts:
            return opt, sub, command
    raise AssertionError(f"{analysis}: no CLI option {flag}")


def test_every_analysis_command_exists_and_the_registry_covers_the_cli():
    """Each declaration is a command; each command option is a declared parameter or input
    (or an output option every command has); each declared flag is a CLI option."""
    assert len(REGISTRY) >= 24
    for a in REGISTRY:
        from supramap.cli.main import _command

        root = _command()
        ctx = root.make_context("supramap", [*a.command, "--help"], resilient_parsing=True)
        command = root.get_command(ctx, a.command[0]).get_command(ctx, a.command[1])
        assert command is not None, a.name
        cli_flags = {o for p in command.params for o in p.opts if o.startswith("-")}
        declared = {f for p in a.parameters for f in (p.flags or (p.flag,))}
        declared |= {i.flag for i in a.inputs if i.flag}
        assert declared <= cli_flags, (a.name, declared - cli_flags)
        extra = cli_flags - declared - {"--json", "--report", "--help"}
        assert not extra, (a.name, extra)


@pytest.mark.parametrize(("analysis", "p"), PHYSICAL,
                         ids=[f"{a}:{p.name}" for a, p in PHYSICAL])
def test_bare_and_unit_bearing_values_agree_and_a_wrong_kind_is_refused(analysis, p):
    """Library and CLI alike: a bare number is in the declared unit, the same value written
    with a unit of the same kind converts to it, and a unit of another kind is refused naming
    the option and the kind."""
    from supramap.cli.common import UsageError

    v = _inside(p)
    n = p.count or 1
    bare = ",".join([f"{v!r}"] * n)
    written = ",".join([_same_value_other_prefix(p, v)] * n)
    wrong = ",".join([_other_kind(p)] * n)
    lib_bare, lib_written = convert(p, bare), convert(p, written)
    as_list = lib_bare if isinstance(lib_bare, list) else [lib_bare]
    assert as_list == pytest.approx([v] * n, rel=1e-12)
    assert lib_written == pytest.approx(lib_bare, rel=1e-9)
    with pytest.raises(ParameterError, match=re.escape(p.flag)):
        convert(p, wrong)
    # The command line: the option's own conversion.
    opt, ctx, _ = _cli_option(analysis, p.flag)
    assert p.unit in (opt.help or ""), f"{p.flag} --help does not state its unit {p.unit}"
    value_bare = opt.process_value(ctx, [bare] if opt.multiple else bare)
    value_written = opt.process_value(ctx, [written] if opt.multiple else written)
    assert value_written == pytest.approx(value_bare, rel=1e-9)
    assert value_bare == pytest.approx(lib_bare, rel=1e-12)
    with pytest.raises(UsageError, match=re.escape(p.flag)):
        opt.process_value(ctx, [wrong] if opt.multiple else wrong)


def test_grammar_edges():
    """Bounds name the option; lists count; 'auto' where declared; numbers pass through."""
    fit = REGISTRY["sts-fit"]
    t = fit.parameter("temperature")
    assert convert(t, "300mK") == pytest.approx(0.3)
    assert convert(t, 4.2) == 4.2
    with pytest.raises(ParameterError, match=r"--temperature must be in \(0, 1000\] K"):
        convert(t, "0K")
    with pytest.raises(ParameterError, match="--temperature takes one value"):
        convert(t, "1,2")
    with pytest.raises(ParameterError, match="not a finite"):
        convert(t, float("nan"))
    thr = REGISTRY["cafm-analyze"].parameter("threshold")
    assert convert(thr, "auto") == "auto" and convert(thr, "2uA") == pytest.approx(2e-6)
    window = REGISTRY["bulk-heat"].parameter("window")
    assert convert(window, "2K,6000mK") == pytest.approx([2.0, 6.0])
    with pytest.raises(ParameterError, match="--window needs 2 values"):
        convert(window, "2,4,6")
    mass = REGISTRY["bulk-heat"].parameter("--mass-mg")  # the alias finds the parameter
    assert convert(mass, "0.2g") == pytest.approx(200.0) and convert(mass, 5) == 5.0
    top = REGISTRY["apt-composition"].parameter("exclude_top")
    assert convert(top, "20nm") == pytest.approx(20e-9)
    with pytest.raises(ParameterError, match=r"--exclude-top must be in \[0, 1e-05\] m"):
        convert(top, "20")  # 20 m is not a depth in a needle: refused, never read as metres
    with pytest.raises(ParameterError, match="no parameter 'nonsense'"):
        REGISTRY["sts-fit"].parameter("nonsense")
    assert math.isclose(convert(REGISTRY["sts-qpi"].parameter("linecut"), "45°,0")[0], 45.0)


def test_every_physical_help_states_its_unit_and_the_defaults_convert():
    for a in REGISTRY:
        for p in a.parameters:
            if p.physical:
                assert p.unit in p.help_text(), (a.name, p.name)
            if p.default is not None and not p.output:
                convert(p, p.default)  # a declared default is itself valid


def test_readme_command_list_is_generated_from_the_declarations():
    """The README's command block equals what the declarations generate (no command twice,
    every option with its unit); regenerate with `python -m supramap.analyses.catalog`."""
    from supramap.analyses.catalog import usage

    text = (ROOT / "README.md").read_text()
    block = text.split("<!-- commands:start -->")[1].split("<!-- commands:end -->")[0]
    assert block.strip().strip("`").strip() == usage().strip()
    lines = [ln for ln in usage().splitlines() if ln.startswith("supramap ")]
    commands = [" ".join(ln.split()[:3]) for ln in lines]
    assert len(commands) == len(set(commands)), "a command is listed twice"


def test_sample_toml_uses_the_grammar_and_check_names_key_and_line(tmp_path, capsys):
    """A description's parameters follow the declarations: `temperature = "300mK"` is
    `temperature_K = 0.3`; a wrong kind, an out-of-bounds value, a wrong type or an unknown
    key is reported with its line by `supramap report --check`, which runs nothing."""
    from supramap.cli.main import main
    from supramap.correlate import load_sample

    (tmp_path / "a.dat").write_text("x")
    good = """[sample]
name = "s"
mass = "0.2g"

[[measurement]]
id = "tip"
kind = "sts-tip"
file = "a.dat"
temperature = "300mK"
lockin_rms = "50uV"
"""
    (tmp_path / "good.toml").write_text(good)
    s = load_sample(tmp_path / "good.toml")
    assert s.problems == [] and s.measurements[0].problems == []
    assert s.info["mass_mg"] == pytest.approx(200.0)
    assert s.measurements[0].spec["temperature_K"] == pytest.approx(0.3)
    assert s.measurements[0].spec["lockin_rms_V"] == pytest.approx(50e-6)
    assert main(["report", str(tmp_path / "good.toml"), "--check"]) == 0
    assert "valid" in capsys.readouterr().out
    bad = good.replace('temperature = "300mK"', 'temperature = "3mV"') \
        .replace('lockin_rms = "50uV"', 'lockin_rms_V = 2.0\ntemprature_K = 4') \
        .replace('mass = "0.2g"', 'mass_mg = "heavy"')
    (tmp_path / "bad.toml").write_text(bad)
    assert main(["report", str(tmp_path / "bad.toml"), "--check"]) == 2
    out = capsys.readouterr()
    lines = out.out.splitlines()
    assert any(ln.startswith(f"{tmp_path / 'bad.toml'}:9: ") and "'temperature'" in ln and
               "temperature (K" in ln for ln in lines), lines
    assert any(":10: " in ln and "'lockin_rms_V' must be in [0, 0.1] V" in ln for ln in lines)
    assert any(":11: " in ln and "unknown key 'temprature_K'" in ln for ln in lines)
    assert any(":3: " in ln and "'mass_mg'" in ln for ln in lines), lines
    assert "4 problem(s)" in out.err
    assert not (tmp_path / "report").exists()  # nothing ran
