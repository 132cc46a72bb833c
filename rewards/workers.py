"""A pool of warm, killable worker processes: run a function with a hard deadline, from any thread.

Why: sympy can hang (``10^{10^{10}}``, a huge factorial, a pathological ``simplify``) and Python's
``signal.alarm`` only works in the main thread of the main process. A reward that hangs stalls the
whole training run, so the math verifier runs its checks in separate processes and kills a process
that is past its deadline. This module is that mechanism, and nothing math-specific lives here.

How it works:

* A *zygote* process (``python -m rewards.workers``, started with ``subprocess``, so it works from
  daemonic processes and never re-imports the caller's ``__main__``) imports the heavy modules once
  (sympy; a preloaded module's ``warm()`` runs too) and then forks a worker on request. A fork of a warm zygote is ready in milliseconds, so a
  killed worker is replaced at once.
* Each worker owns one socket to the parent; a call checks out an idle worker, sends
  ``(function reference, args)``, and waits ``timeout`` seconds. A late worker is killed (SIGKILL) and
  the call returns :data:`TIMEOUT`.
* Workers die with the parent: the zygote exits when its control socket closes (parent gone), and
  each worker has ``PR_SET_PDEATHSIG`` on the zygote plus a watchdog thread on the parent's pid.
* Each worker caps its address space (``RLIMIT_AS``) so a memory bomb fails with ``MemoryError``.

Use::

    pool = WorkerPool(preload=("rewards.equivalence",), size=4)
    result = pool.call("rewards.equivalence:equivalent", ("1/2", "0.5"), timeout=1.5)
    if result is TIMEOUT: ...
"""

from __future__ import annotations

import atexit
import ctypes
import importlib
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

TIMEOUT = object()  # returned by WorkerPool.call when the deadline passed (the worker was killed)
FAILED = object()  # returned when the function raised or the worker died unexpectedly
UNAVAILABLE = object()  # returned when no worker process can be started here at all

MEMORY_LIMIT_BYTES = 4 * 1024**3


class WorkerPool:
    """Warm worker processes forked from a preloaded zygote; ``call`` runs a function with a deadline."""

    def __init__(self, preload: tuple[str, ...] = (), size: int = 2, start_timeout: float = 60.0) -> None:
        self.preload = preload
        self.size = max(1, size)
        self.start_timeout = start_timeout
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._busy = 0
        self._cond = threading.Condition(self._lock)
        self._zygote: subprocess.Popen[bytes] | None = None
        self._control: socket.socket | None = None
        self._spawn_lock = threading.Lock()
        self._pid = os.getpid()
        self._ready = threading.Event()  # set once the zygote and a first worker are up (or cannot be)
        self._starting = False
        atexit.register(self.close)

    # -- public -------------------------------------------------------------------------------

    def call(self, ref: str, args: tuple[Any, ...], timeout: float, start_wait: float | None = None) -> Any:
        """Run ``ref`` (``"module:function"``) on ``args`` in a worker; TIMEOUT or FAILED if it cannot.

        ``timeout`` bounds the call once the pool is up (waiting for a free worker included). The first
        call of a pool also waits for the zygote to start and import its preloads (about a second):
        without limit when ``start_wait`` is None, else at most ``start_wait`` seconds (TIMEOUT after
        that, while the start goes on in the background for the next calls); the whole call then takes
        at most ``max(timeout, start_wait)``.
        """
        entry = time.monotonic()
        if start_wait is not None and not self._started_here():
            self.start_in_background()
            if not self._ready.wait(start_wait):
                return TIMEOUT
        if not self._ensure_started():
            return UNAVAILABLE
        deadline = time.monotonic() + timeout
        if start_wait is not None:
            deadline = min(deadline, entry + max(timeout, start_wait))
        worker = self._checkout(deadline)
        if worker is None:
            return TIMEOUT
        try:
            worker.conn.send((ref, args))
            left = deadline - time.monotonic()
            if left <= 0 or not worker.conn.poll(left):
                worker.kill()
                return TIMEOUT
            status, value = worker.conn.recv()
        except (OSError, EOFError, ValueError):
            worker.kill()
            return FAILED
        finally:
            self._checkin(worker)
        return value if status == "ok" else FAILED

    def start_in_background(self) -> None:
        """Start the zygote and a first worker in a daemon thread (once); ``call`` waits for it."""
        with self._lock:
            if self._starting and self._pid == os.getpid():
                return
            self._starting = True
        threading.Thread(target=self._ensure_started, name="worker-pool start", daemon=True).start()

    def warm(self) -> None:
        """Start the zygote and ``size`` workers now (otherwise done lazily by the first call)."""
        with self._cond:
            missing = self.size - len(self._idle) - self._busy
        workers = [self._spawn() for _ in range(max(0, missing))]
        with self._cond:
            for w in workers:
                if w is not None:
                    self._idle.append(w)
            self._cond.notify_all()

    def close(self) -> None:
        """Kill every worker and the zygote (only in the process that started them, not in a fork)."""
        if os.getpid() != self._pid:
            return
        with self._cond:
            idle, self._idle = self._idle, []
        for w in idle:
            w.kill()
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._zygote is not None and self._zygote.poll() is None:
            self._zygote.kill()
            self._zygote.wait()
        self._zygote = None

    # -- internals ----------------------------------------------------------------------------

    def _started_here(self) -> bool:
        return self._ready.is_set() and self._zygote is not None and self._pid == os.getpid()

    def _ensure_started(self) -> bool:
        """Start the zygote and one worker if there is none yet (the one-off cost of a pool)."""
        if self._started_here():
            return True
        worker = self._spawn()
        if worker is None:
            return False
        with self._cond:
            self._idle.append(worker)
            self._cond.notify()
        return True

    def _checkout(self, deadline: float) -> _Worker | None:
        with self._cond:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        self._busy += 1
                        return worker
                if self._busy < self.size:
                    self._busy += 1
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)
        worker = self._spawn()
        if worker is None:
            with self._cond:
                self._busy -= 1
                self._cond.notify()
        return worker

    def _checkin(self, worker: _Worker) -> None:
        with self._cond:
            self._busy -= 1
            if worker.alive:
                self._idle.append(worker)
            self._cond.notify()

    def _spawn(self) -> _Worker | None:
        """Ask the zygote for one more worker (starting the zygote if needed)."""
        with self._spawn_lock:
            if os.getpid() != self._pid:  # we were forked: start afresh, never share the parent's zygote
                self._pid, self._zygote, self._control, self._idle = os.getpid(), None, None, []
                self._busy, self._starting, self._ready = 0, False, threading.Event()
            for _attempt in range(2):
                if self._zygote is None or self._zygote.poll() is not None or self._control is None:
                    self._start_zygote()
                assert self._control is not None
                try:
                    self._control.sendall(b"s")
                    self._control.settimeout(self.start_timeout)
                    msg, fds, _flags, _addr = socket.recv_fds(self._control, 64, 1)
                    if not fds or not msg:
                        raise OSError("zygote sent no worker")
                    self._ready.set()
                    return _Worker(Connection(fds[0]), int(msg.decode()))
                except (OSError, ValueError):
                    self.close()
            self._ready.set()  # "cannot start" is an answer too: waiting callers stop waiting
            return None

    def _start_zygote(self) -> None:
        parent_end, child_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = dict(os.environ)
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
        cmd = [sys.executable or "python3", "-m", "rewards.workers", str(child_end.fileno()), str(os.getpid()), *self.preload]
        self._zygote = subprocess.Popen(
            cmd, pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL, env=env, close_fds=True
        )
        child_end.close()
        self._control = parent_end


class _Worker:
    """One forked worker: its connection and pid (it is the zygote's child, so we only signal it)."""

    def __init__(self, conn: Connection, pid: int) -> None:
        self.conn = conn
        self.pid = pid
        self.alive = True

    def kill(self) -> None:
        if not self.alive:
            return
        self.alive = False
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        self.conn.close()


# -- the zygote and worker side (runs in the child processes) ------------------------------------


def _zygote_main(control_fd: int, parent_pid: int, preload: list[str]) -> None:
    """Import ``preload`` once, then fork a worker each time the parent asks; exit when it goes."""
    control = socket.socket(fileno=control_fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps our dead workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the parent, which then closes us
    for module in preload:
        try:
            warm = getattr(importlib.import_module(module), "warm", None)
            if callable(warm):  # let the module fill its caches once, before any fork
                warm()
        except Exception:  # a bad preload only costs speed: the worker imports lazily
            pass
    zygote_pid = os.getpid()
    while True:
        try:
            request = control.recv(1)
        except OSError:
            request = b""
        if not request:  # the parent is gone (or closed the pool)
            os._exit(0)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            control.close()
            ours.close()
            _worker_main(theirs, parent_pid, zygote_pid)
            os._exit(0)
        theirs.close()
        socket.send_fds(control, [str(pid).encode()], [ours.fileno()])
        ours.close()


def _worker_main(sock: socket.socket, parent_pid: int, zygote_pid: int) -> None:
    _die_with_parent(parent_pid, zygote_pid)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    except (ValueError, OSError):
        pass
    conn = Connection(sock.detach())
    cache: dict[str, Callable[..., Any]] = {}
    while True:
        try:
            ref, args = conn.recv()
        except (EOFError, OSError):
            os._exit(0)
        try:
            fn = cache.get(ref)
            if fn is None:
                module, _, name = ref.partition(":")
                fn = cache[ref] = getattr(importlib.import_module(module), name)
            reply: tuple[str, Any] = ("ok", fn(*args))
        except BaseException as exc:  # noqa: BLE001 - report every failure, never die silently
            reply = ("err", f"{type(exc).__name__}: {exc}"[:500])
        try:
            conn.send(reply)
        except (OSError, ValueError):
            os._exit(0)


def _die_with_parent(parent_pid: int, zygote_pid: int) -> None:
    try:  # Linux: SIGKILL us when the (single-threaded) zygote dies
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while True:
            time.sleep(0.5)
            try:
                os.kill(parent_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                pass
            if os.getppid() != zygote_pid:
                os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


if __name__ == "__main__":
    _zygote_main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:])
