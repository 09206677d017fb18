"""Atomic output: write to a temporary file in the target folder, then rename over the target.

Temporary files and folders are created private (``mkstemp``: 0600, ``mkdtemp``: 0700); before
they take the target's name they get the permissions a plain ``open()`` would have given under
the user's umask, so a colleague or a web server can read a report.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The mode ``open()``/``mkdir()`` would give under the current umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary file beside *path*; on success it replaces *path* in one rename.

    If the block raises, the temporary file is removed and *path* is left untouched.
    """
    target = Path(path)
    check_output_target(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, default_mode())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def check_output_target(path: str | os.PathLike[str]) -> None:
    """Refuse an output path that exists and is not a regular file (a device such as
    /dev/null or /dev/full, a FIFO, a socket, a folder): the rename would replace it."""
    from supramap.errors import OutputError

    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise OutputError(f"{path}: cannot be used as an output ({exc.strerror})") from None
    import stat

    if stat.S_ISDIR(st.st_mode):
        raise OutputError(f"{path}: is a folder; give a file name")
    if not stat.S_ISREG(st.st_mode):
        raise OutputError(f"{path}: exists and is not a regular file (a device, FIFO or "
                          "socket): supramap writes only regular files")


def check_input_file(path: str | os.PathLike[str]) -> None:
    """Refuse an input that is not a regular file (a FIFO would block the read forever, a
    device is endless)."""
    import stat

    from supramap.errors import FormatError

    try:
        st = os.stat(path)
    except OSError:
        return  # missing files get the reader's own message
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise FormatError(path, "not a regular file (a FIFO, socket or device): supramap reads "
                                "regular files only")


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write *data* to *path* atomically."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write *text* (UTF-8) to *path* atomically."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def to_jsonable(obj: Any) -> Any:
    """Convert numpy scalars/arrays, dataclasses' dicts and NaN into JSON-friendly values.

    NaN and infinities become ``None`` so the output is strict JSON.
    """
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        value = float(obj)
        return value if np.isfinite(value) else None
    return obj


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write *obj* as indented strict JSON to *path* atomically."""
    atomic_write_text(path, json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n")


def path_kind(p: str | os.PathLike[str]) -> str:
    """"file", "dir", "special" (FIFO, socket, device), or "none" (absent or unusable as a
    path: too long, bad characters) — without following into a FIFO."""
    import stat

    try:
        mode = os.stat(p).st_mode
    except (OSError, ValueError):
        return "none"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISDIR(mode):
        return "dir"
    return "special"


def _writable(folder: Path) -> bool:
    """Whether a file can be created in *folder*: tried (and removed at once), because
    permission bits say nothing to root and nothing about read-only or virtual file systems
    (/proc), where the write would otherwise fail only after the whole analysis."""
    import tempfile

    try:
        fd, probe = tempfile.mkstemp(prefix=".supramap-probe-", dir=folder)
    except OSError:
        return False
    os.close(fd)
    try:
        os.unlink(probe)
    except OSError:
        pass
    return True


def _existing_parent(p: Path) -> Path | None:
    """The nearest existing ancestor folder of *p* (where the output's folder would be made)."""
    try:
        for parent in [p.parent, *p.parent.parents]:
            if parent.is_dir():
                return parent
    except (OSError, ValueError):
        return None
    return None


def output_problem(value: str, inputs: list[Path], name: str = "the output") -> str | None:
    """Why writing the output *value* (given as option *name*) must be refused before any
    work — it is one of the *inputs*, an existing device, FIFO or socket, a name too long for
    the file system, or in a folder that cannot be written — or None."""
    out = Path(value)
    for inp in inputs:
        try:
            same = out.exists() and out.resolve() == Path(inp).resolve()
        except OSError:
            same = False
        if same:
            return f"{value}: {name} would overwrite the input file {inp}; choose another path"
    if path_kind(out) == "special":
        return (f"{value}: {name} exists and is not a regular file (a device, FIFO or "
                "socket); supramap writes only regular files")
    if len(os.fsencode(out.name)) > 255 or len(os.fsencode(value)) > 4000:
        return f"{value[:60]}…: {name} is longer than a file name may be"
    parent = _existing_parent(out)
    if parent is not None and not _writable(parent):
        return f"{value}: {name} cannot be written (the folder {parent} is not writable)"
    return None
