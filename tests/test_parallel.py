"""supramap.parallel.fork_map: the same results as a plain loop, whichever process computed
them; a failing child never changes the outcome."""

from __future__ import annotations

import os

import pytest

from supramap.parallel import can_fork, fork_map


def test_fork_map_equals_the_loop_and_uses_a_child():
    parent = os.getpid()
    out = fork_map(lambda x: (x * x, os.getpid()), range(7))
    assert [v for v, _ in out] == [x * x for x in range(7)]
    pids = {pid for _, pid in out}
    if can_fork():
        assert pids - {parent}, "the odd items were computed by a child"
        assert all(pid == parent for _, pid in out[0::2])
    assert fork_map(lambda x: os.getpid(), [1, 2], processes=1) == [parent, parent]
    assert fork_map(str, []) == [] and fork_map(str, [5]) == ["5"]


def test_a_failing_child_is_redone_here_and_errors_are_raised_here():
    parent = os.getpid()

    def only_here(x):
        if os.getpid() != parent:
            raise RuntimeError("child")
        return x + 1

    assert fork_map(only_here, range(4)) == [1, 2, 3, 4]
    unpicklable = fork_map(lambda x: (lambda: x) if os.getpid() != parent else x, range(4))
    assert unpicklable == [0, 1, 2, 3]

    def bad(x):
        if x == 1:
            raise ValueError("item 1")
        return x

    with pytest.raises(ValueError, match="item 1"):
        fork_map(bad, range(3))


def test_no_fork_beside_other_threads():
    """A child forked while another thread holds a lock would wait for ever: with a second
    Python thread alive, everything runs here."""
    import threading

    stop = threading.Event()
    t = threading.Thread(target=stop.wait)
    t.start()
    try:
        assert not can_fork()
        parent = os.getpid()
        assert fork_map(lambda x: os.getpid(), range(4)) == [parent] * 4
    finally:
        stop.set()
        t.join()


def test_fork_map_in_a_fresh_process():
    """In a fresh interpreter (no other thread: this test process may have some by now) the
    odd items are computed by a forked child, and the results equal the loop's."""
    import subprocess
    import sys

    script = ("import os; from supramap.parallel import can_fork, fork_map; "
              "assert can_fork(); p = os.getpid(); "
              "r = fork_map(lambda x: (x * 3, os.getpid() != p), range(5)); "
              "assert [v for v, _ in r] == [0, 3, 6, 9, 12], r; "
              "assert [c for _, c in r] == [False, True, False, True, False], r; print('ok')")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]


def test_work_runs_with_one_blas_thread_and_nested_calls_stay_in_place():
    """Two processes with a 2-thread OpenBLAS each on two cores spin against each other
    (a 512² four-probe solve: 1.1–2.3 s against 0.5 s), and a nested fork_map would make
    four processes: inside, BLAS has one thread and a nested call runs in its process.  In
    a fresh interpreter, as above (this process may have other threads by now)."""
    import subprocess
    import sys

    script = """
import os
import numpy  # noqa: F401 — loads the OpenBLAS whose threads are counted
from threadpoolctl import threadpool_info
from supramap.parallel import can_fork, fork_map
assert can_fork()

def look(x):
    blas = [p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"]
    inner = fork_map(lambda y: os.getpid(), [1, 2])
    return x, blas, len(set(inner)), can_fork()

out = fork_map(look, range(4))
assert [x for x, *_ in out] == list(range(4)), out
for _, blas, inner_pids, nested in out:
    assert blas and all(n == 1 for n in blas), blas
    assert inner_pids == 1 and not nested, out
assert can_fork()  # restored after the call
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
