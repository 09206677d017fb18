"""Work shared with a forked child process, for the heavy steps that hold the GIL.

Several steps spend their time in compiled code that keeps the GIL (pyamg's multigrid
cycles, matplotlib's layout and rendering), so threads run them one after the other.  A
forked child inherits everything already built in memory — a multigrid hierarchy, figures —
without pickling it, and only its (small) results come back through a pipe.  Linux only: on
macOS system frameworks are not fork-safe (Python itself avoids fork there) and Windows has
none; there, and on one core, everything runs in this process.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")

#: True while this process runs a :func:`fork_map` (as parent or child): a nested call then
#: runs in place, so two cores get two processes, not four.
_INSIDE = False


def cores() -> int:
    """Processors this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether work may go to a forked child here: Linux, two or more cores, and no other
    Python thread — a child forked while another thread holds a lock (logging, a console,
    a scheduler) waits for it for ever (seen: a test process with a dask cluster's threads
    left running).  Native BLAS threads do not count: OpenBLAS resets them at fork (but
    see :func:`fork_map` on their number)."""
    import threading

    return (sys.platform.startswith("linux") and cores() >= 2 and not _INSIDE
            and threading.active_count() == 1)


def fork_map(fn: Callable[[T], Any], items: Sequence[T], *, processes: int = 2) -> list[Any]:
    """``[fn(x) for x in items]``, the odd-numbered items computed by a forked child.

    The results of the child's items come back pickled (keep them small).  If the child
    fails — an exception, a crash, an unpicklable result — its items are computed here, so
    an error is raised here by ``fn`` itself and the results never depend on the child.

    Both processes run with one BLAS thread each: two processes with a 2-thread OpenBLAS
    pool each on two cores spin against each other — a 512² four-probe solve (a small SVD
    and the multigrid cycles) took 1.1–2.3 s forked against 0.5 s with one thread each.
    """
    items = list(items)
    if len(items) < 2 or processes < 2 or not can_fork():
        return [fn(x) for x in items]
    from threadpoolctl import threadpool_limits

    global _INSIDE
    _INSIDE = True
    try:
        with threadpool_limits(1):
            return _fork_map(fn, items)
    finally:
        _INSIDE = False


def _fork_map(fn: Callable[[T], Any], items: list[T]) -> list[Any]:
    theirs = list(range(1, len(items), 2))
    read_fd, write_fd = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: its items, its answer, then leave at once
        os.close(read_fd)
        code = 0
        try:
            payload = pickle.dumps([fn(items[i]) for i in theirs],
                                   protocol=pickle.HIGHEST_PROTOCOL)
            with os.fdopen(write_fd, "wb") as fh:
                fh.write(payload)
        except BaseException:  # noqa: BLE001 — the parent computes these items again
            code = 1
        os._exit(code)
    os.close(write_fd)
    out: list[Any] = [None] * len(items)
    try:
        for i in range(0, len(items), 2):
            out[i] = fn(items[i])
    finally:
        with os.fdopen(read_fd, "rb") as fh:
            payload = fh.read()
        _, status = os.waitpid(pid, 0)
    ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    try:
        results = pickle.loads(payload) if ok else None
    except Exception:  # noqa: BLE001 — a truncated answer: computed here instead
        results = None
    if results is None or len(results) != len(theirs):
        results = [fn(items[i]) for i in theirs]
    for i, r in zip(theirs, results):
        out[i] = r
    return out
