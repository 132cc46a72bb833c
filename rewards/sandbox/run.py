"""Launch one sandboxed process and watch it: the pipe-reading loop, deadlines, kills, the verdict.

:class:`Run` starts the launcher command built by :mod:`rewards.sandbox.bwrap` and reads stdout, stderr and
bubblewrap's info pipe with one non-blocking ``selectors`` loop, so a program that floods, closes or
stalls its output can never block the trainer. It enforces the wall-time limit (and, for the test
harness, an idle limit that each "progress" answer of ``on_stdout`` resets), cuts output at the limit,
caps the CPU time of all the run's processes together (``limits.cpu_s``, read from the run's cpuacct
group every ``CPU_POLL_S``: a run over it ends as ``"timeout"``), and ends the run by SIGKILL to the PID
namespace's init (the program itself, ``bwrap --as-pid-1``):
the kernel then kills every process of the namespace, and bubblewrap exits only after reaping it.
:meth:`Run.result` turns what happened into an :class:`ExecResult` status.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from rewards.sandbox.limits import Limits

Status = Literal["ok", "error", "timeout", "memory", "output_limit", "killed"]
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGFPE, signal.SIGILL}
# Reading the pipes: a chunk, and how often the loop wakes without output.
CHUNK, TICK_S = 1 << 16, 0.25
# With an idle limit (the test harness), the first report may also take this long for starting the sandbox
# and the interpreter, so that a loaded machine does not turn a slow start into a failed first test.
STARTUP_S = 1.0
CPU_POLL_S = 0.05
OnStdout = Callable[[bytes], str | None]  # returns "progress" (reset the idle timer), "stop", or None


class SandboxError(RuntimeError):
    """The sandbox machinery failed for one run (not the program): the run cannot be scored."""


@dataclass(frozen=True)
class ExecResult:
    """What one sandboxed run did. ``exit_code`` is None when the sandbox killed the program."""

    status: Status
    exit_code: int | None
    stdout: str
    stderr: str
    wall_s: float
    truncated: bool = False  # stdout or stderr was cut at the output limit
    host_uid: int | None = None  # the uid the program ran as, seen from the host (None: not isolated)
    cpu_s: float | None = None  # CPU time of all its processes together (None: no cpuacct group)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


def memfd(name: str, data: bytes) -> int:
    """A sealed-off in-memory file holding ``data``, positioned at 0, for passing to the launcher."""
    fd = os.memfd_create(name)  # close-on-exec; only pass_fds reach the launcher
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _pidfd(pid: int) -> int:
    """A descriptor that becomes readable when process ``pid`` exits (Linux 5.3+), else -1."""
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):
        return -1


class Run:
    """One launched sandbox: reads its pipes under a deadline and kills its PID namespace when needed."""

    def __init__(
        self,
        cmd: list[str],
        stdin_fd: int,
        pass_fds: list[int],
        info_r: int,
        limits: Limits,
        on_stdout: OnStdout | None,
        idle_timeout_s: float | None,
        *,
        cwd: str = "/",
        process_group: bool = False,
        cpu_usage: Callable[[], float | None] | None = None,
        keep_stdout: bool = True,
    ) -> None:
        self.keep_stdout, self.out_bytes = keep_stdout, 0
        self.limits, self.on_stdout, self.idle_timeout_s = limits, on_stdout, idle_timeout_s
        self.cpu_usage, self.cpu_s = cpu_usage, None
        self.cpu_cap_s = limits.cpu_s if limits.cpu_s is not None else limits.timeout_s
        self.next_cpu_poll = 0.0
        self.process_group = process_group
        self.sandbox_pid: int | None = None  # host pid of the namespace's init, from bwrap's info fd
        self.kill_reason: str | None = None
        self.returncode: int | None = None
        self.out, self.err, self.truncated = bytearray(), bytearray(), False
        self.info, self.info_r = bytearray(), info_r
        self.start = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=stdin_fd,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=pass_fds,
                env={},
                cwd=cwd,
                close_fds=True,
                start_new_session=True,
            )
        except OSError as exc:
            raise SandboxError(f"could not start the sandbox launcher: {exc}") from exc

    def restart(self, limits: Limits) -> None:
        """Start the run's clocks now, under ``limits`` (a prepared sandbox, :mod:`rewards.sandbox.prepared`,
        gets its program): the wall time counts from here, and the CPU time its processes used so far
        (the boot's) is left out of the cap and of the reported ``cpu_s``."""
        self.limits = limits
        self.cpu_cap_s = limits.cpu_s if limits.cpu_s is not None else limits.timeout_s
        usage = self.cpu_usage
        base = usage() if usage is not None else None
        if usage is not None and base is not None:
            self.cpu_usage = lambda: None if (used := usage()) is None else used - base
        self.start = time.monotonic()

    def wait(self) -> None:
        """Read output until the launcher exits, the deadline passes or a limit is hit; then reap.

        The loop ends on the launcher's exit (a pidfd wakes it), not on end-of-file: a process the
        trainer forks meanwhile may hold copies of the pipes, and bubblewrap's exit already means every
        process of the sandbox is gone, so what is left in the pipes is drained without blocking.
        """
        proc = self.proc
        assert proc.stdout is not None and proc.stderr is not None
        hard_deadline = self.start + self.limits.timeout_s
        first = self.idle_timeout_s + STARTUP_S if self.idle_timeout_s else self.limits.timeout_s
        deadline = min(hard_deadline, self.start + first)
        sel = selectors.DefaultSelector()
        streams = {proc.stdout.fileno(): self.out, proc.stderr.fileno(): self.err}
        for fd in streams:
            os.set_blocking(fd, False)
            sel.register(fd, selectors.EVENT_READ)
        if self.info_r >= 0:
            sel.register(self.info_r, selectors.EVENT_READ)
        exit_fd = _pidfd(proc.pid)
        if exit_fd >= 0:
            sel.register(exit_fd, selectors.EVENT_READ)
        try:
            while self.kill_reason is None:
                now = time.monotonic()
                if now >= deadline:
                    self.kill("timeout")
                    break
                for key, _ in sel.select(min(deadline - now, TICK_S)):
                    if key.fd != exit_fd:
                        deadline = self._read(sel, key.fd, streams, deadline, hard_deadline)
                    if self.kill_reason is not None:
                        break
                self._check_cpu()
                if self.kill_reason is None and proc.poll() is not None:
                    self._drain(sel, streams, deadline, hard_deadline)
                    break
        except BaseException:  # KeyboardInterrupt in the trainer, a failing callback: take the sandbox down
            self.kill("interrupted")
            raise
        finally:
            sel.close()
            if exit_fd >= 0:
                os.close(exit_fd)
            if self.kill_reason is not None:
                self._reap()
            proc.stdout.close()
            proc.stderr.close()
        self.wall_s = time.monotonic() - self.start
        self.returncode = proc.returncode
        if self.cpu_usage is not None:
            self.cpu_s = self.cpu_usage()

    def _check_cpu(self) -> None:
        """Kill the run once its processes together have used more CPU time than ``cpu_cap_s``."""
        now = time.monotonic()
        if self.cpu_usage is None or self.kill_reason is not None or now < self.next_cpu_poll:
            return
        self.next_cpu_poll = now + CPU_POLL_S
        used = self.cpu_usage()
        if used is not None and used > self.cpu_cap_s:
            self.kill("cpu")

    def _drain(self, sel: selectors.BaseSelector, streams: dict[int, bytearray], deadline: float, hard: float) -> None:
        """Read what the (now dead) sandbox left in the pipes, without waiting for end-of-file."""
        for fd in [fd for fd in sel.get_map() if fd in streams or fd == self.info_r]:
            while self.kill_reason is None and fd in sel.get_map():
                size = len(self.out) + len(self.err) + len(self.info)
                deadline = self._read(sel, fd, streams, deadline, hard)
                if len(self.out) + len(self.err) + len(self.info) == size:
                    break  # nothing more buffered (or end of file)

    def _read(
        self, sel: selectors.BaseSelector, fd: int, streams: dict[int, bytearray], deadline: float, hard: float
    ) -> float:
        try:
            chunk = os.read(fd, CHUNK)
        except BlockingIOError:
            return deadline
        except OSError:
            chunk = b""
        if not chunk:
            sel.unregister(fd)
            if fd == self.info_r:
                self._parse_info()
                self.info_r = -1
            return deadline
        if fd == self.info_r:
            self.info += chunk
            self._parse_info()
            return deadline
        buf = streams[fd]
        if buf is self.out and not self.keep_stdout:  # counted for the limit, handed on, not kept
            room = self.limits.max_output_bytes - self.out_bytes
            self.out_bytes += min(len(chunk), max(room, 0))
        else:
            room = self.limits.max_output_bytes - len(buf)
            buf += chunk[: max(room, 0)]
        if len(chunk) > room:
            self.truncated = True
            self.kill("output_limit")
            return deadline
        if self.on_stdout is not None and buf is self.out:
            action = self.on_stdout(chunk)
            if action == "stop":
                self.kill("stop")
            elif action == "progress" and self.idle_timeout_s:
                deadline = min(hard, time.monotonic() + self.idle_timeout_s)
        return deadline

    def _parse_info(self) -> None:
        match = re.search(rb'"child-pid"\s*:\s*(\d+)', self.info)
        if match and self.sandbox_pid is None:
            self.sandbox_pid = int(match.group(1))

    def kill(self, reason: str) -> None:
        """SIGKILL the namespace's init (the kernel then kills everything in it), else the launcher."""
        if self.kill_reason is None:
            self.kill_reason = reason
        if self.info_r >= 0 and self.sandbox_pid is None:
            try:  # bwrap writes the child pid right after cloning; pick it up if it is there
                self.info += os.read(self.info_r, CHUNK)
                self._parse_info()
            except OSError:
                pass
        target = self.sandbox_pid
        try:
            if self.process_group:
                os.killpg(self.proc.pid, signal.SIGKILL)
            elif target is not None:
                os.kill(target, signal.SIGKILL)
            else:
                self.proc.kill()  # bwrap not yet in its namespace: --die-with-parent takes the child down
        except OSError:
            pass

    def _reap(self) -> None:
        try:
            self.proc.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def stderr_text(self) -> str:
        return self.err.decode("utf-8", "replace")

    def result(self, *, oom_kills: int = 0, host_uid: int | None = None) -> ExecResult:
        code = self.returncode
        stdout, stderr = self.out.decode("utf-8", "replace"), self.stderr_text()
        reason = self.kill_reason
        status: Status
        if reason == "output_limit":
            status = "output_limit"
        elif reason in ("timeout", "cpu"):
            status = "timeout"
        elif oom_kills > 0:
            status = "memory"
        elif reason == "stop":
            status = "killed"
        elif code == 0:
            status = "ok"
        elif code is not None and code > 128 and code - 128 == signal.SIGXCPU:
            status = "timeout"
        elif code == 128 + signal.SIGKILL and self.wall_s >= self.limits.cpu_limit_s:
            status = "timeout"  # the hard CPU limit (a burner that ignored SIGXCPU)
        elif code is not None and code > 128 and code - 128 not in CRASH_SIGNALS:
            status = "killed"
        elif "MemoryError" in stderr[-2000:]:
            status = "memory"
        else:
            status = "error"
        exit_code = None if reason is not None else code
        cpu = None if self.cpu_s is None else round(self.cpu_s, 6)
        return ExecResult(status, exit_code, stdout, stderr, round(self.wall_s, 6), self.truncated, host_uid, cpu)
