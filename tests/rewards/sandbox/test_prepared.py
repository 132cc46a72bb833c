"""Plain programs in prepared sandboxes (``rewards.sandbox.prepared``): what a program sees is a fresh
sandbox's, its clocks start when it is sent, each sandbox runs one program, and the pool ends cleanly.

Parity is checked against the fresh path itself (``execute`` of ``program(source)``, a sandbox started
for the program), on the same source and input.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import statistics
import subprocess
import time
from pathlib import Path

import pytest

from rewards.sandbox import close_pool, prepared, run_program
from rewards.sandbox.bwrap import execute, program
from rewards.sandbox.limits import Limits

SEES = {
    "stdin is a regular file": "import os, sys\nprint(os.fstat(0).st_size, sys.stdin.seekable())\n"
    "data = os.read(0, os.fstat(0).st_size)\nprint(len(data), sys.stdin.read() == '')\n",
    "stdin read twice": "import sys\na = sys.stdin.read()\nsys.stdin.seek(0)\nprint(a == sys.stdin.read(), repr(a[:9]))\n",
    "own source": "import hashlib\nprint(hashlib.sha256(open(__file__, 'rb').read()).hexdigest())\n",
    "box and tmp": "import os\nprint(sorted(os.listdir('/box')), os.listdir('/tmp'), os.getcwd())\n",
    "main.py read-only": "try:\n    open(__file__, 'a')\nexcept OSError as e:\n    print(e.errno)\n",
    "descriptors": "import os\nprint(sorted(int(f) for f in os.listdir('/proc/self/fd')))\n",
    "traceback with source lines": "def f(x):\n    return 1 / x\n\nprint('before')\nf(0)\n",
    "syntax error": "print('never'\n",
    "exit code": "import sys\nprint(sys.argv)\nsys.exit(7)\n",
}
INPUT = "3 4\nline two\n" + "x" * 70_000 + "\n"  # more than a pipe's 64 KiB


def _fresh(source: str, stdin: str, limits: Limits) -> tuple:
    args, files = program(source)
    run = execute(args, files, stdin.encode(), limits)
    return run.status, run.exit_code, run.stdout, run.stderr


@pytest.mark.parametrize("name", sorted(SEES))
def test_a_prepared_sandbox_shows_the_program_what_a_fresh_one_does(name: str) -> None:
    source = SEES[name]
    got = run_program(source, INPUT, timeout_s=10)
    assert (got.status, got.exit_code, got.stdout, got.stderr) == _fresh(source, INPUT, Limits(timeout_s=10))
    if name == "traceback with source lines":  # the lines come from /box/main.py itself
        assert "    return 1 / x\n" in got.stderr and 'File "/box/main.py", line 5' in got.stderr
    if name == "main.py read-only":
        assert got.stdout in ("13\n", "30\n")  # EACCES (a root trainer's file, 0644) or EROFS (the read-only bind)
    if name == "own source":
        assert got.stdout == hashlib.sha256(source.encode()).hexdigest() + "\n"


def test_the_wall_clock_starts_when_the_program_is_sent() -> None:
    assert run_program("pass", timeout_s=1.0).ok  # the pool for this kind of limits now refills
    key = prepared.launch_limits(Limits(timeout_s=1.0))
    deadline = time.monotonic() + 10
    while len(prepared._ready.get(key, [])) < prepared.PREPARED_PER_KIND and time.monotonic() < deadline:
        time.sleep(0.05)
    assert prepared._ready.get(key), "a sandbox was prepared for this kind of limits"
    time.sleep(1.5)  # the ready sandboxes have waited longer than the run's whole limit
    slow = run_program("import time\ntime.sleep(0.4)\nprint('done')", timeout_s=1.0)
    assert slow.status == "ok" and slow.stdout == "done\n" and 0.4 <= slow.wall_s < 1.0
    hang = run_program("while True:\n    pass\n", timeout_s=0.5)
    assert hang.status == "timeout" and 0.5 <= hang.wall_s < 1.5


def test_the_boots_cpu_time_is_not_the_programs() -> None:
    # cpu_s counts from the send: a fresh run's includes the interpreter's start (~12 ms here), a prepared one's not
    limits = Limits(timeout_s=10)
    fresh = statistics.median(execute(*program("pass"), b"", limits).cpu_s for _ in range(5))
    ready = statistics.median(run_program("pass", timeout_s=10).cpu_s for _ in range(5))
    assert ready < fresh


def test_nothing_a_program_leaves_reaches_the_next_one() -> None:
    leave = ("import os, subprocess\nopen('/tmp/mark', 'w').write('x')\n"
             "subprocess.Popen(['sleep', '30'], start_new_session=True)\nprint(len(os.listdir('/proc')))\n")
    assert run_program(leave, timeout_s=5).ok
    after = run_program("import os\nprint(os.listdir('/tmp'), [p for p in os.listdir('/proc') if p.isdigit()])\n",
                        timeout_s=5)
    assert after.stdout == "[] ['1']\n"


def test_a_sandbox_that_died_waiting_is_replaced() -> None:
    assert run_program("pass", timeout_s=3).ok
    key = prepared.launch_limits(Limits(timeout_s=3))
    deadline = time.monotonic() + 10
    while not prepared._ready.get(key) and time.monotonic() < deadline:
        time.sleep(0.05)
    dead = list(prepared._ready[key])
    for box in dead:
        box.spawned.run.proc.kill()  # the launcher (bubblewrap): the sandbox dies with it
        box.spawned.run.proc.wait()
    got = run_program("print(6 * 7)", timeout_s=3)
    assert got.status == "ok" and got.stdout == "42\n"
    assert not any(box in prepared._ready.get(key, []) for box in dead)


def test_close_pool_ends_every_prepared_sandbox_and_removes_its_file() -> None:
    assert run_program("pass", timeout_s=4).ok
    spawned = [box for ready in prepared._ready.values() for box in ready]
    assert spawned
    close_pool()
    assert prepared._ready == {}
    assert all(box.spawned.run.proc.poll() is not None for box in spawned)
    assert not any(os.path.exists(box.path) for box in spawned)


def test_the_pool_is_keyed_by_launch_time_limits_only() -> None:
    # timeout 1.5 s and 2 s both set RLIMIT_CPU to ceil(...) = 2 s; the wall time itself applies at the send
    assert prepared.launch_limits(Limits(timeout_s=1.5)) == prepared.launch_limits(Limits(timeout_s=2.0))
    assert prepared.launch_limits(Limits(timeout_s=2.0, max_output_bytes=10)) == prepared.launch_limits(Limits(timeout_s=2))
    assert prepared.launch_limits(Limits(timeout_s=2.5)) != prepared.launch_limits(Limits(timeout_s=2.0))  # 3 s
    assert prepared.launch_limits(Limits(memory_mb=256)) != prepared.launch_limits(Limits())
    assert prepared.launch_limits(Limits(loopback=True)) != prepared.launch_limits(Limits())


def _in_child(queue: multiprocessing.Queue) -> None:
    before = sum(len(r) for r in prepared._ready.values())
    queue.put((before, run_program("print(5)", timeout_s=5).stdout, prepared._files.dir))


def test_a_forked_child_prepares_its_own_sandboxes() -> None:
    assert run_program("pass", timeout_s=5).ok
    ctx = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue = ctx.Queue()
    child = ctx.Process(target=_in_child, args=(queue,))
    child.start()
    before, out, where = queue.get(timeout=60)
    child.join(60)
    assert (before, out) == (0, "5\n") and where != prepared._files.dir
    assert run_program("print(6)", timeout_s=5).stdout == "6\n"


def test_directories_of_dead_processes_are_removed(tmp_path: Path) -> None:
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid now belongs to no process
    base = Path(prepared._base_dir())
    stale, alive = base / f"{prepared.DIR_PREFIX}{gone.pid}-feed", base / f"{prepared.DIR_PREFIX}{os.getpid()}-beef"
    for d in (stale, alive):
        d.mkdir()
        (d / "0.py").write_text("x")
    try:
        made = prepared._make_dir()
        assert not stale.exists() and alive.exists() and oct(os.stat(made).st_mode & 0o777) == "0o711"
        os.rmdir(made)
    finally:
        for d in (stale, alive):
            if d.exists():
                (d / "0.py").unlink()
                d.rmdir()


def test_prepared_sandboxes_keep_the_isolation() -> None:
    # the fresh uid, the seccomp filter and the limits are the launch's: the same as a fresh sandbox's
    got = run_program("import os, socket\nprint(os.getuid())\ntry:\n    socket.socket(socket.AF_INET)\n"
                      "except OSError as e:\n    print(e.errno)\n", timeout_s=5)
    assert got.stdout == "1000\n97\n"  # the inside uid; AF_INET: EAFNOSUPPORT
    if os.getuid() == 0:
        assert got.host_uid is not None and got.host_uid >= 0x7A000000


def test_only_the_most_recently_used_kinds_keep_sandboxes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prepared, "MAX_KINDS", 2)
    keys = [prepared.launch_limits(Limits(timeout_s=2, memory_mb=mb)) for mb in (128, 160, 192)]
    assert run_program("pass", timeout_s=2, memory_mb=128).ok
    deadline = time.monotonic() + 10
    while not prepared._ready.get(keys[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    first = list(prepared._ready[keys[0]])
    assert first
    assert run_program("pass", timeout_s=2, memory_mb=160).ok
    assert run_program("pass", timeout_s=2, memory_mb=192).ok  # a third kind: the least recently used one goes
    assert keys[0] not in prepared._ready and set(keys[1:]) <= set(prepared._ready)
    assert all(box.spawned.run.proc.poll() is not None for box in first)
