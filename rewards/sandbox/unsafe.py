"""Running programs WITHOUT the sandbox, only when asked: ``R1TRAIN_SANDBOX_UNSAFE_NO_ISOLATION=1`` or
``unsafe_no_isolation=True``. rlimits, a temp dir and an empty environment only: the program can read,
change or delete anything the trainer's user can. :mod:`rewards.sandbox.bwrap` calls
:func:`execute_unisolated` when :func:`unsafe_requested` says so and warns loudly once per process.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

from rewards.sandbox.limits import Limits, prlimit_args
from rewards.sandbox.run import ExecResult, OnStdout, Run, memfd

UNSAFE_ENV = "R1TRAIN_SANDBOX_UNSAFE_NO_ISOLATION"


def unsafe_requested(unsafe_no_isolation: bool = False) -> bool:
    """True when the caller or ``R1TRAIN_SANDBOX_UNSAFE_NO_ISOLATION`` asks to run code without the sandbox."""
    return unsafe_no_isolation or os.environ.get(UNSAFE_ENV, "") not in ("", "0")


def user_task_count() -> int:
    """Tasks (threads included) of this uid on the host: RLIMIT_NPROC counts them all."""
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return count


_warned_unsafe = False


def execute_unisolated(
    args: Sequence[str],
    files: dict[str, bytes],
    stdin: bytes,
    limits: Limits,
    on_stdout: OnStdout | None,
    idle_timeout_s: float | None,
) -> ExecResult:
    """UNSAFE: rlimits, a temp dir and an empty environment only. The program can read and write your files."""
    global _warned_unsafe
    if not _warned_unsafe:
        _warned_unsafe = True
        message = (
            f"r1train: {UNSAFE_ENV} / unsafe_no_isolation is set: model-written code runs WITHOUT a sandbox "
            "and can read, change or delete anything this user can"
        )
        warnings.warn(message, RuntimeWarning, stacklevel=3)
        print(message, file=sys.stderr)
    prlimit = shutil.which("prlimit")
    python = os.path.realpath("/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable)
    with tempfile.TemporaryDirectory(prefix="r1train-unsafe-") as tmp:
        box = Path(tmp) / "box"
        box.mkdir()
        for name, data in files.items():
            (box / name).write_bytes(data)
        local_args = [a.replace("/box/", f"{box}/") for a in args]
        prefix = [prlimit, *prlimit_args(limits, cgroups=False, nproc=user_task_count() + limits.max_processes), "--"]
        cmd = (prefix if prlimit else []) + [python, "-I", "-B", *local_args]
        stdin_fd = memfd("stdin", stdin)
        try:
            run = Run(cmd, stdin_fd, [], -1, limits, on_stdout, idle_timeout_s, cwd=tmp, process_group=True)
        finally:
            os.close(stdin_fd)
        try:
            run.wait()
        finally:
            try:  # the whole process group: the program's daemons too (unless they left it with setsid)
                os.killpg(run.proc.pid, signal.SIGKILL)
            except OSError:
                pass
        return run.result()
