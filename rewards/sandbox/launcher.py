"""The trainer's side of the sandbox launcher: one small fork server starts every bubblewrap.

Launching from the trainer itself meant a chain of execs per program (``sh`` for the OOM score, the
cgroup join and the rlimits; ``setpriv`` for the fresh uid; then ``bwrap``): about 3 ms of a 25 ms
sandboxed ``pass`` on this machine. :mod:`rewards.sandbox.forkserver` does those steps in a forked child
of a small process and execs ``bwrap`` directly. :func:`launch` sends it the command, the descriptors
the process gets (at their numbers) and the :class:`Setup`, and returns a :class:`Launched`, the
``Popen``-like handle :class:`rewards.sandbox.run.Run` drives: ``pid``, ``pidfd`` (readable at the exit;
it names this process and no other, so a kill never reaches a recycled pid), ``poll``, ``wait``, ``kill``.

The server is started on first use from one long-lived thread (its ``PR_SET_PDEATHSIG`` follows the
thread that forked it) and restarted if it dies; a forked trainer child starts its own. If it cannot
start or answer, the launch raises :class:`SandboxError` (the run cannot be scored: ours, not the program's).
"""

from __future__ import annotations

import marshal
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path


class SandboxError(RuntimeError):
    """The sandbox machinery failed for one run (not the program): the run cannot be scored."""


SERVER = Path(__file__).with_name("forkserver.py")
EXIT_WAIT_S = 1.0  # after the pidfd said "exited", how long the server may take to report the status


@dataclass(frozen=True)
class Setup:
    """What the launched process's pre-exec steps do (:mod:`rewards.sandbox.forkserver`)."""

    uid: int | None = None  # become this uid/gid with no capabilities (the trainer is root)
    join: tuple[str, ...] = ()  # cgroup ``tasks`` files to write 0 to
    rlimits: tuple[tuple[str, int, int], ...] = ()  # (name, soft, hard), e.g. ("nofile", 64, 64)
    oom: bool = True  # oom_score_adj 1000


class Launched:
    """A process the fork server started: the subset of ``subprocess.Popen`` that :class:`Run` uses."""

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid, self.pidfd = pid, pidfd
        self.returncode: int | None = None
        self.lost = False  # the server died before it could report this process's end
        self._ended = threading.Event()

    def _exited(self, status: int | None) -> None:
        self.lost = status is None
        self.returncode = -signal.SIGKILL if status is None else os.waitstatus_to_exitcode(status)
        self._ended.set()

    def poll(self) -> int | None:
        if not self._ended.is_set() and select.select([self.pidfd], [], [], 0)[0]:
            self._ended.wait(EXIT_WAIT_S)  # it exited: its status is on the way
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._ended.wait(timeout):
            raise subprocess.TimeoutExpired("bwrap", timeout or 0.0)
        assert self.returncode is not None
        return self.returncode

    def kill(self) -> None:
        signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)

    def close(self) -> None:
        if self.pidfd >= 0:
            os.close(self.pidfd)
            self.pidfd = -1


class _Server:
    """One running fork server and the thread reading its replies and exit reports."""

    def __init__(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = subprocess.Popen([sys.executable, "-I", "-S", "-B", str(SERVER), str(theirs.fileno())],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         pass_fds=[theirs.fileno()], env={}, cwd="/")
        finally:
            theirs.close()
        self.sock = mine
        self.lock = threading.Lock()  # one request at a time: replies come back in order
        self.replies: deque[tuple[object, list[int]]] = deque()
        self.reply_ready = threading.Condition()
        self.running: dict[int, Launched] = {}
        self.early: dict[int, int] = {}  # exit reports that came before their launch's reply was handled
        self.alive = True
        threading.Thread(target=self._read, name="r1train-sandbox-launcher", daemon=True).start()

    def _read(self) -> None:
        try:
            while True:
                data, fds, _, _ = socket.recv_fds(self.sock, 1 << 16, 4)
                if not data:
                    break
                message = marshal.loads(data)
                if message[0] == "exit":
                    with self.reply_ready:
                        proc = self.running.pop(message[1], None)
                        if proc is None:
                            self.early[message[1]] = message[2]
                    if proc is not None:
                        proc._exited(message[2])
                    continue
                with self.reply_ready:
                    self.replies.append((message, fds))
                    self.reply_ready.notify_all()
        except OSError:
            pass
        finally:
            with self.reply_ready:
                self.alive = False
                self.reply_ready.notify_all()
                running, self.running = self.running, {}
            for proc in running.values():  # the server is gone, and with it (die-with-parent) every bwrap
                proc._exited(None)

    def launch(self, argv: list[str], fds: dict[int, int], setup: Setup) -> Launched:
        request = {"argv": list(argv), "targets": list(fds), "oom": setup.oom, "join": list(setup.join),
                   "rlimits": [list(r) for r in setup.rlimits], "uid": setup.uid}
        with self.lock:
            try:
                socket.send_fds(self.sock, [marshal.dumps(request)], list(fds.values()))
            except OSError as exc:
                raise SandboxError(f"the sandbox launcher is gone: {exc}") from exc
            with self.reply_ready:
                while not self.replies and self.alive:
                    self.reply_ready.wait()
                if not self.replies:
                    raise SandboxError("the sandbox launcher exited")
                message, reply_fds = self.replies.popleft()
                if message[0] != "ok":
                    for fd in reply_fds:
                        os.close(fd)
                    raise SandboxError(f"could not start the sandbox: {message[1]}")
                proc = Launched(message[1], reply_fds[0])
                status = self.early.pop(proc.pid, None)
                if status is None:
                    self.running[proc.pid] = proc
        if status is not None:
            proc._exited(status)
        return proc


_server: list[_Server] = []
_server_lock = threading.Lock()
# The server's PR_SET_PDEATHSIG fires when the *thread* that forked it exits: it is forked from this one
# long-lived thread, never from a batch's worker thread.
_spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="r1train-sandbox-spawner")


def launch(argv: list[str], fds: dict[int, int], setup: Setup) -> Launched:
    """Start ``argv`` with ``fds`` (target number -> descriptor; 0, 1 and 2 included) after ``setup``."""
    with _server_lock:
        if not _server or not _server[0].alive or _server[0].proc.poll() is not None:
            try:
                _server[:] = [_spawner.submit(_Server).result()]
            except OSError as exc:
                raise SandboxError(f"could not start the sandbox launcher: {exc}") from exc
        server = _server[0]
    return server.launch(argv, fds, setup)


def _forget_in_child() -> None:
    """A forked trainer child must not write to its parent's server: it starts its own."""
    global _server_lock, _spawner
    _server_lock = threading.Lock()
    _server.clear()
    _spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="r1train-sandbox-spawner")


os.register_at_fork(after_in_child=_forget_in_child)
