"""A sandboxed process the host talks to line by line: a stdin pipe in, output split into lines out.

:class:`Session` starts one sandbox (:class:`rewards.sandbox.bwrap.Spawned`, every limit and isolation of
a run) whose stdin is a pipe the host keeps writing to, and whose stdout goes, chunk by chunk, to a
:class:`Lines` reader that cuts it into lines of at most ``MAX_LINE_BYTES`` (longer ones become
:data:`OVERLONG`; the end of the process is :data:`EOF`) on a queue the host reads with a deadline.
The assertion-test pool (:mod:`rewards.sandbox.pool`) keeps its warm testers and prepared candidates
as sessions.

Sessions are forked from one long-lived thread, because bubblewrap's ``--die-with-parent`` follows the
*thread* that forked it: a sandbox meant to outlive a call must not die with a batch's worker thread.
"""

from __future__ import annotations

import os
import queue
import select
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewards.sandbox.bwrap import Spawned, isolation
from rewards.sandbox.limits import Limits
from rewards.sandbox.run import ExecResult, SandboxError
from rewards.sandbox.verdict import MAX_LINE_BYTES, LineReader

EOF, OVERLONG = b"\0eof", b"\0overlong"
SEND_S = 10.0  # how long a write waits, by default, for a process that stopped reading its stdin


class Lines:
    """``on_stdout`` for a session: splits output into lines (each at most ``cap`` bytes) onto a queue."""

    def __init__(self, cap: int = MAX_LINE_BYTES, max_queued: int = 0) -> None:
        self.cap, self.reader, self.max_queued = cap, LineReader(), max_queued
        self.queue: queue.SimpleQueue[bytes] = queue.SimpleQueue()  # C: no Python-level locking per line

    def __call__(self, chunk: bytes) -> str | None:
        for line in self.reader.feed(chunk, lambda: self.cap):
            self.queue.put(OVERLONG if line is None else line)
            if self.max_queued and self.queue.qsize() > self.max_queued:
                return "stop"  # a flood nobody asked for: the run ends (the reader sees EOF), memory stays bounded
        return None

    def get(self, deadline: float) -> bytes | None:
        """The next line, :data:`EOF` once the process is gone, or None at the deadline."""
        try:
            return self.queue.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return None


# bubblewrap's --die-with-parent (PR_SET_PDEATHSIG) fires when the *thread* that forked it exits, not the
# process: a sandbox meant to outlive a call (a warm tester, a prepared candidate) is forked from this one
# long-lived thread, never from a row's thread (a batch's executor ends its threads, killing their sandboxes).
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="r1train-sandbox-spawner")


def spawn(fn: Callable[..., Any], *args: Any, wait: bool = True, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)`` on the spawner thread: its result (or exception) with ``wait``, else at
    once None."""
    future = _spawner.submit(fn, *args, **kwargs)
    return future.result() if wait else None


class Session:
    """A sandboxed process the host talks to line by line (stdin pipe in, :class:`Lines` out)."""

    def __init__(self, args: list[str], files: dict[str, bytes], limits: Limits, *, keep_stdout: bool = False,
                 max_queued: int = 0) -> None:
        self.lines = Lines(max_queued=max_queued)
        self.stdin_lock = threading.Lock()
        read_end, self.stdin = os.pipe()
        os.set_blocking(self.stdin, False)  # a process that stops reading must not block the host's writes
        try:
            iso = isolation()
            self.spawned = spawn(Spawned, iso, args, files, read_end, limits, on_stdout=self.lines,
                                 keep_stdout=keep_stdout)
        except BaseException:
            os.close(self.stdin)
            raise
        finally:
            os.close(read_end)
        self.result: ExecResult | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._wait, daemon=True)
        self.thread.start()

    def _wait(self) -> None:
        try:
            self.result = self.spawned.wait()
        except BaseException as exc:  # noqa: BLE001  (reported by close())
            self.error = exc
        finally:
            self.lines.queue.put(EOF)

    def send(self, line: bytes) -> bool:
        """Write one line; False if the process no longer reads."""
        return self.send_raw(line + b"\n")

    def send_raw(self, data: bytes, deadline: float | None = None) -> bool:
        """Write ``data`` by ``deadline`` (default: :data:`SEND_S` from now); False if the process no longer
        reads, or stopped reading and its pipe stayed full until then."""
        end = time.monotonic() + SEND_S if deadline is None else deadline
        view, poll = memoryview(data), select.poll()
        try:
            poll.register(self.stdin, select.POLLOUT)
            while view:
                try:
                    view = view[os.write(self.stdin, view) :]
                except BlockingIOError:
                    left = end - time.monotonic()
                    if left <= 0 or not poll.poll(left * 1000):
                        return False
        except (OSError, ValueError):  # ValueError: stdin already closed (-1) by stop()
            return False
        return True

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

    def stop(self) -> None:
        """Close its stdin and kill the process (if still running) without waiting for it to end: its own
        thread reaps it and removes its cgroups; :meth:`close` also waits."""
        with self.stdin_lock:  # closed once: the number may belong to another file afterwards
            fd, self.stdin = self.stdin, -1
        if fd >= 0:
            os.close(fd)
        if self.thread.is_alive():
            self.spawned.kill("stop")

    def close(self) -> ExecResult | None:
        """Kill the process (if still running), wait for it, and return what its run did."""
        self.stop()
        self.thread.join()
        if isinstance(self.error, SandboxError):
            raise self.error
        return self.result


def _new_spawner_in_child() -> None:
    """In a forked child the spawner thread is the parent's (and gone): make a fresh one."""
    global _spawner
    _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="r1train-sandbox-spawner")


os.register_at_fork(after_in_child=_new_spawner_in_child)
