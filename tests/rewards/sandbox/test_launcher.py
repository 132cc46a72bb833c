"""The launcher (``rewards.sandbox.launcher`` + ``forkserver``): what a launched process gets, and what
happens when the server or the trainer dies. Every process here is real; nothing is mocked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from rewards.sandbox import bwrap, isolation, launcher, run_program
from rewards.sandbox.launcher import SandboxError, Setup, launch

PROJECT = Path(__file__).resolve().parents[3]


def _run(argv: list[str], setup: Setup, extra: dict[int, int] | None = None) -> tuple[int, str]:
    """Launch ``argv`` with stdin /dev/null and stdout+stderr one pipe; its exit code and output."""
    null = os.open("/dev/null", os.O_RDONLY)
    out_r, out_w = os.pipe()
    try:
        proc = launch(argv, {0: null, 1: out_w, 2: out_w, **(extra or {})}, setup)
    finally:
        os.close(null)
        os.close(out_w)
    with os.fdopen(out_r) as f:
        text = f.read()
    code = proc.wait(10)
    proc.close()
    return code, text


def _pids_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


def _sleeper(marker: str, seconds: int) -> str:
    """A program whose child's command line carries ``marker``, so the host can see it in /proc."""
    return f"import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'import time; time.sleep({seconds})  # {marker}'])\n"


def test_a_launched_process_gets_its_descriptors_and_nothing_else() -> None:
    # targets 0, 1, 2 and 7 (a pipe's read end); the server's socket, its other requests' descriptors and
    # the copies it made must not be there: fstat finds exactly fd 7 among 3..255
    keep_r, keep_w = os.pipe()
    probe = "import os\nfound = []\nfor fd in range(3, 256):\n    try:\n        os.fstat(fd)\n        found.append(fd)\n" \
            "    except OSError:\n        pass\nprint(found)\n"
    try:
        code, out = _run([isolation().python, "-I", "-S", "-c", probe], Setup(oom=False), {7: keep_r})
    finally:
        os.close(keep_r)
        os.close(keep_w)
    assert (code, out.strip()) == (0, "[7]")


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another uid needs root")
def test_the_setup_steps_take_effect_before_the_exec() -> None:
    uid = bwrap.UID_BASE + 4242
    probe = ("import os, resource\nst = open('/proc/self/status').read()\n"
             "caps = [l.split()[1] for l in st.splitlines() if l.startswith(('CapInh', 'CapPrm', 'CapEff', 'CapBnd', "
             "'CapAmb', 'NoNewPrivs'))]\n"
             "print(os.getresuid(), os.getresgid(), os.getgroups(), caps, resource.getrlimit(resource.RLIMIT_NOFILE), "
             "open('/proc/self/oom_score_adj').read().strip(), os.getsid(0) == os.getpid())\n")
    code, out = _run([isolation().python, "-I", "-S", "-c", probe], Setup(uid=uid, rlimits=(("nofile", 50, 60),)))
    zero = "0" * 16
    assert code == 0, out
    assert out.strip() == f"{(uid,) * 3} {(uid,) * 3} [] {[zero] * 5 + ['1']} (50, 60) 1000 True"


def test_a_failed_step_is_one_sentence_and_the_server_goes_on() -> None:
    with pytest.raises(SandboxError, match=r"could not start the sandbox: FileNotFoundError"):
        _run(["/nonexistent/bwrap"], Setup(oom=False))
    with pytest.raises(SandboxError, match=r"could not start the sandbox: .*No such file"):
        _run(["/bin/true"], Setup(oom=False, join=("/nonexistent/cgroup/tasks",)))
    assert _run(["/bin/sh", "-c", "exit 3"], Setup(oom=False)) == (3, "")


def test_a_dead_server_fails_its_running_sandboxes_as_ours_and_is_replaced() -> None:
    marker = f"r1t-srv-{uuid.uuid4().hex[:8]}"
    run_program("pass", timeout_s=5)  # the server is up
    server = launcher._server[0]
    outcome: list[object] = []

    def long_run() -> None:
        try:
            outcome.append(run_program(_sleeper(marker, 20), timeout_s=30))
        except SandboxError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=long_run)
    worker.start()
    deadline = time.monotonic() + 10
    while not _pids_with(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _pids_with(marker)
    server.proc.kill()
    worker.join(10)
    assert not worker.is_alive()
    # its bwrap died with the server (die-with-parent): the run cannot be scored, and says why
    assert isinstance(outcome[0], SandboxError) and "launcher process died" in str(outcome[0])
    time.sleep(0.2)
    assert _pids_with(marker) == []
    assert run_program("print(6 * 7)", timeout_s=5).stdout == "42\n"  # a fresh server
    assert launcher._server[0] is not server


def test_a_forked_trainer_child_starts_its_own_server() -> None:
    run_program("pass", timeout_s=5)
    parent_server = launcher._server[0].proc.pid
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: sandbox through its own server, report, and leave without cleanup handlers
        try:
            out = run_program("print('hi')", timeout_s=5).stdout.strip()
            os.write(write, f"{out} {launcher._server[0].proc.pid != parent_server}".encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        said = f.read()
    os.waitpid(pid, 0)
    assert said == "hi True"


def test_nothing_outlives_a_killed_trainer(tmp_path: Path) -> None:
    # a trainer SIGKILLed in the middle of a run: its server dies with it (PR_SET_PDEATHSIG) and the
    # sandbox with the server (bubblewrap's --die-with-parent); no process of the run survives
    marker = f"r1t-trainer-{uuid.uuid4().hex[:8]}"
    script = tmp_path / "trainer.py"
    script.write_text(textwrap.dedent(f"""
        import sys, threading
        sys.path.insert(0, {str(PROJECT)!r})
        from rewards.sandbox import run_program
        threading.Thread(target=run_program, args=({_sleeper(marker, 30)!r},),
                         kwargs={{"timeout_s": 60}}).start()
        threading.Event().wait()
    """))
    trainer = subprocess.Popen([sys.executable, str(script)])
    try:
        deadline = time.monotonic() + 20
        while not _pids_with(marker) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _pids_with(marker), "the sandboxed program never started"
    finally:
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
    deadline = time.monotonic() + 5
    while _pids_with(marker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _pids_with(marker) == []
