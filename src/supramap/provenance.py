"""How an output was made: the block every JSON, report, ``summary.json`` and NeXus file carries.

The block names supramap's version (and the git commit when it runs from a checkout), the
command, every parameter as resolved (defaults included, with its unit), each input's path,
size and SHA-256, the start time, the duration and the versions of Python, numpy, scipy and
xarray.  ``supramap rerun OUTPUT.json`` repeats the analysis from it.

Versions are read from the installed distributions' metadata, not by importing the packages,
so a command pays nothing for a library it did not use.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

#: The key of the block in every JSON output.
KEY = "provenance"
#: Bumped when the block's layout changes (``rerun`` reads older ones it knows).
SCHEMA = 1

_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """The SHA-256 of a file, streamed (APT needles reach GB); cached by (path, size, mtime)."""
    st = os.stat(path)
    key = (os.path.abspath(path), st.st_size, st.st_mtime_ns)
    if key not in _HASH_CACHE:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            while block := fh.read(chunk):
                h.update(block)
        _HASH_CACHE[key] = h.hexdigest()
    return _HASH_CACHE[key]


def file_identity(path: str | os.PathLike[str]) -> dict[str, Any]:
    """``{"path", "size_bytes", "sha256"}`` of an input file (absolute path)."""
    p = Path(path)
    return {"path": str(p.resolve()), "size_bytes": p.stat().st_size, "sha256": sha256(p)}


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


_COMMIT: list[str | None] = []


def source_commit() -> str | None:
    """The git commit of the checkout supramap runs from (with ``+dirty`` when it has
    uncommitted changes), or None for an installed release."""
    if not _COMMIT:
        here = Path(__file__).resolve().parent
        commit = None
        if any((p / ".git").exists() for p in here.parents):
            try:
                rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                     text=True, timeout=5)
                if rev.returncode == 0:
                    commit = rev.stdout.strip()
                    dirty = subprocess.run(["git", "status", "--porcelain", "--", "."],
                                           cwd=here, capture_output=True, text=True, timeout=5)
                    if dirty.returncode == 0 and dirty.stdout.strip():
                        commit += "+dirty"
            except (OSError, subprocess.SubprocessError):
                commit = None
        _COMMIT.append(commit)
    return _COMMIT[0]


def environment() -> dict[str, Any]:
    """supramap's version and commit, and the versions of the numerical stack."""
    from supramap import __version__

    return {
        "supramap": __version__,
        "commit": source_commit(),
        "python": platform.python_version(),
        **{name: _dist_version(name) for name in ("numpy", "scipy", "xarray")},
        "platform": f"{platform.system()} {platform.machine()}",
    }


def now_iso(t: float | None = None) -> str:
    """An ISO 8601 time stamp in UTC with seconds."""
    stamp = _dt.datetime.fromtimestamp(time.time() if t is None else t, tz=_dt.timezone.utc)
    return stamp.isoformat(timespec="seconds")


def block(*, analysis: str | None, command: list[str] | None, parameters: dict[str, Any],
          inputs: list[str | os.PathLike[str]], started: float,
          duration_s: float | None = None) -> dict[str, Any]:
    """The provenance block.

    Parameters
    ----------
    analysis : str or None
        The registered analysis (``"cafm-analyze"``), None for a command that is not one.
    command : list of str or None
        The command line as typed (``["supramap", "cafm", "analyze", ...]``); None for a library
        call.
    parameters : dict
        Every parameter as resolved: ``{"name": {"value": v, "unit": "K"}}`` for physical ones,
        plain values otherwise.
    inputs : list of paths
        The files read (their size and SHA-256 are recorded).
    started : float
        ``time.time()`` when the work started.
    duration_s : float, optional
        Defaults to now − *started*.
    """
    files = []
    for p in inputs:
        try:
            files.append(file_identity(p))
        except OSError as exc:  # gone since it was read: say so rather than fail the output
            files.append({"path": str(p), "error": str(exc)})
    return {
        "schema": SCHEMA,
        "analysis": analysis,
        "command": list(command) if command is not None else None,
        "cwd": os.getcwd(),
        "parameters": parameters,
        "inputs": files,
        "started": now_iso(started),
        "duration_s": round(time.time() - started if duration_s is None else duration_s, 3),
        "environment": environment(),
        "executable": sys.executable,
    }


# -- comparing two results (supramap rerun, the three-ways test) -----------------------------

#: Keys that describe the run, not the sample (times, worker counts): not compared.
#: Relative differences this small are floating-point summation order, not a new result.
FLOAT_NOISE = 1e-12
RUN_KEYS = {"seconds", "workers", "startup_seconds", "time", "provenance", "duration_s"}
#: Diagnostics that are rounding error themselves (an iterative solve's relative residual,
#: ~1e-7, changes in its 9th digit with the BLAS thread count): compared within this
#: relative tolerance, not to the last digit.
DIAGNOSTIC_RTOL = {"residual": 1e-3}


def differences(a: Any, b: Any, where: str = "", *, rtol: float = 0.0) -> list[str]:
    """Where two JSON documents differ (numbers exactly, or within the relative tolerance
    *rtol*; NaN equal to NaN; warnings by code), leaving out the run's own bookkeeping
    (times, provenance)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b)):
            if k in RUN_KEYS:
                continue
            if k not in a or k not in b:
                out.append(f"{where}{k}: only in the {'new' if k in b else 'original'} run")
                continue
            if k == "warnings":
                ca = sorted(w.get("code", "") for w in a[k] or [])
                cb = sorted(w.get("code", "") for w in b[k] or [])
                if ca != cb:
                    out.append(f"{where}warnings: {ca} → {cb}")
                continue
            out += differences(a[k], b[k], f"{where}{k}.",
                               rtol=max(rtol, DIAGNOSTIC_RTOL.get(k, 0.0)))
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where.rstrip('.')}: {len(a)} → {len(b)} items"]
        out = []
        for i, (x, y) in enumerate(zip(a, b)):
            out += differences(x, y, f"{where}{i}.", rtol=rtol)
        return out
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return []
    if rtol and isinstance(a, (int, float)) and isinstance(b, (int, float)) \
            and not isinstance(a, bool) and math.isclose(a, b, rel_tol=rtol, abs_tol=0.0):
        return []
    return [] if a == b else [f"{where.rstrip('.')}: {a!r} → {b!r}"]


def count_numbers(d: Any) -> int:
    if isinstance(d, dict):
        return sum(count_numbers(v) for k, v in d.items() if k not in RUN_KEYS)
    if isinstance(d, list):
        return sum(count_numbers(v) for v in d)
    return int(isinstance(d, (int, float)) and not isinstance(d, bool))
