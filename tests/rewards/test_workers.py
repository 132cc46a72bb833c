"""The killable worker pool: results, deadlines, failures, threads, and workers dying with the parent."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from rewards.workers import FAILED, TIMEOUT, WorkerPool


@pytest.fixture(scope="module")
def pool() -> WorkerPool:
    p = WorkerPool(size=2)
    yield p
    p.close()


def test_call_returns_the_function_result(pool: WorkerPool) -> None:
    assert pool.call("operator:add", (2, 3), timeout=10) == 5  # 2 + 3, computed in a worker
    assert pool.call("math:factorial", (5,), timeout=10) == 120  # 5! = 120


def test_a_late_worker_is_killed_and_replaced(pool: WorkerPool) -> None:
    pool.call("operator:add", (0, 0), timeout=10)  # the zygote is up
    start = time.monotonic()
    assert pool.call("time:sleep", (30,), timeout=0.3) is TIMEOUT
    assert time.monotonic() - start < 1.5  # returned at the deadline, not after 30 s
    assert pool.call("operator:mul", (6, 7), timeout=5) == 42  # a fresh fork answers


def test_an_exception_is_reported_as_failed(pool: WorkerPool) -> None:
    assert pool.call("operator:truediv", (1, 0), timeout=5) is FAILED
    assert pool.call("no_such_module_xyz:fn", (), timeout=5) is FAILED
    assert pool.call("operator:sub", (5, 3), timeout=5) == 2  # the worker survived


def test_a_worker_that_dies_is_reported_as_failed(pool: WorkerPool) -> None:
    assert pool.call("os:_exit", (3,), timeout=5) is FAILED
    assert pool.call("operator:add", (1, 1), timeout=5) == 2


def test_workers_die_with_the_parent(tmp_path) -> None:
    # The parent starts a pool, reports its zygote's pid and a worker's pid, then is SIGKILLed (no
    # atexit, no cleanup): the zygote sees its control socket close, the worker its parent vanish.
    script = textwrap.dedent(
        """
        import os, sys
        from rewards.workers import WorkerPool
        pool = WorkerPool(size=1)
        worker_pid = pool.call("os:getpid", (), timeout=30)
        print(pool._zygote.pid, worker_pid, flush=True)
        pool.call("time:sleep", (60,), timeout=60)  # a worker busy when the parent dies
        """
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=root)
    zygote, worker = (int(x) for x in proc.stdout.readline().split())
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    alive = {zygote, worker}
    while alive and time.monotonic() < deadline:
        alive = {pid for pid in alive if _alive(pid)}
        time.sleep(0.1)
    assert not alive


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting to be reaped is dead too
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_a_forked_child_gets_its_own_workers_and_leaves_the_parents_alone(pool: WorkerPool) -> None:
    parent_worker = pool.call("os:getpid", (), timeout=10)
    pid = os.fork()
    if pid == 0:  # the child: its own zygote and workers, then an exit that runs atexit (pool.close)
        ok = False
        try:
            ok = pool.call("os:getpid", (), timeout=30) not in (parent_worker, None, TIMEOUT, FAILED)
            pool.close()
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert pool.call("os:getpid", (), timeout=10) == parent_worker  # the parent's worker is untouched
