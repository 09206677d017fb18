"""``supramap rerun OUTPUT.json``: repeat an analysis from its provenance block and say whether
the numbers agree."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from supramap.cli.common import OUTPUT_OPTIONS, UsageError, console, print_table
from supramap.provenance import FLOAT_NOISE, count_numbers, differences


def _replay_argv(command: list[str], scratch: Path) -> tuple[list[str], Path]:
    """The recorded command with every output redirected into *scratch*; a --json there."""
    argv = list(command[1:])
    out: list[str] = []
    i = 0
    while i < len(argv):
        tok = argv[i]
        name, eq, _ = tok.partition("=")
        if name in OUTPUT_OPTIONS:
            if not eq:
                i += 1  # its value
            if name not in ("--json", "--report"):
                # The analysis needs somewhere to write (a gap map's NetCDF, a tip model).
                suffix = Path(argv[i] if not eq else tok.split("=", 1)[1]).suffix
                out += [name, str(scratch / f"out{len(out)}{suffix}")]
            i += 1
            continue
        out.append(tok)
        i += 1
    target = scratch / "rerun.json"
    return out + ["--json", str(target)], target


def rerun(
    output: Path = typer.Argument(..., help="A JSON written by --json (or a report's "
                                            "provenance.json beside its JSON)."),
    json_path: Path = typer.Option(None, "--json", help="Write the new run's JSON here."),
) -> None:
    """Repeat the analysis recorded in an output's provenance block and report whether the
    numbers agree (exactly; times and worker counts left out)."""
    import os
    import shutil
    import subprocess
    import sys
    import tempfile

    from supramap.provenance import sha256

    try:
        original = json.loads(output.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{output}: not a supramap JSON output ({exc})") from None
    prov = original.get("provenance") if isinstance(original, dict) else None
    if not isinstance(prov, dict) or not prov.get("command"):
        raise UsageError(f"{output}: no provenance block with a command: it was not written by "
                         "a supramap command's --json (or by a version before provenance)")
    rows = []
    for f in prov.get("inputs", []):
        p = Path(f.get("path", ""))
        if not p.is_file():
            raise UsageError(f"{output}: the input {p} is gone; cannot repeat the analysis")
        same = sha256(p) == f.get("sha256")
        rows.append((f"input {p.name}", "unchanged (SHA-256 equal)" if same else
                     "CHANGED since the original run (SHA-256 differs)"))
    env = prov.get("environment", {})
    from supramap.provenance import environment

    now = environment()
    rows.append(("supramap then / now", f"{env.get('supramap')} {env.get('commit') or ''} / "
                                        f"{now['supramap']} {now['commit'] or ''}"))
    scratch = Path(tempfile.mkdtemp(prefix="supramap-rerun-"))
    try:
        argv, target = _replay_argv(prov["command"], scratch)
        cwd = prov.get("cwd") if os.path.isdir(prov.get("cwd") or "") else None
        run = subprocess.run([sys.executable, "-m", "supramap", *argv], cwd=cwd,
                             capture_output=True, text=True)
        if not target.exists():
            last = (run.stderr.strip().splitlines() or [f"exit code {run.returncode}"])[-1]
            raise UsageError(f"{output}: the repeated command failed: {last}")
        new = json.loads(target.read_text())
        if json_path is not None:
            from supramap.fileutil import atomic_write_json

            atomic_write_json(json_path, new)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    exact = differences(original, new)
    # Another process may sum in another order (BLAS threads): last-digit differences are
    # reported as such, not as a failure to reproduce.
    diff = differences(original, new, rtol=FLOAT_NOISE)
    n = count_numbers(original)
    rows.append(("command", " ".join(prov["command"])))
    rows.append(("numbers compared", str(n)))
    rows.append(("result", "all agree exactly" if not exact else
                 f"all agree within {FLOAT_NOISE:g} (relative; {len(exact)} differ in the "
                 "last digits: floating-point summation order)" if not diff else
                 f"{len(diff)} differ"))
    print_table(f"Rerun of {output}", rows + [("differs", d) for d in diff[:20]])
    if diff:
        from supramap.cli.sample import _Partial

        raise _Partial(f"{len(diff)} value(s) differ from {output}: " + "; ".join(diff[:3]))
    console.print("The analysis reproduces its numbers.")
