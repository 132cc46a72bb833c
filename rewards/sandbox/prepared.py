"""Plain programs in sandboxes started before their program is known: :func:`run_program`, :func:`run_plain`.

A plain program's run (``run_program``, each stdin/stdout case of ``run_tests``) spends most of its wall
time before the program's first line: the launcher chain (sh, setpriv, bubblewrap, ~4.6 ms here), the
sandbox's set-up and the interpreter's start (~14 ms). A *prepared* sandbox has done all of that before
a run needs it. It is started with the run's launch-time limits (every limit of :mod:`rewards.sandbox.bwrap`:
rlimits, cgroups, seccomp, the same mounts) and boots (:mod:`rewards.sandbox.boot` ``--prepared``) up to
the point where it would read the program; then it waits on a go pipe. A run then only

1. writes the program into ``/box/main.py``, a read-only bind of a host file in a private directory
   (``/dev/shm/r1train-sandbox-<pid>-…``, mode 0711, the file 0644): the program sees a real file at the
   path a fresh sandbox has (``__file__``, tracebacks with source lines, ``inspect``) and cannot write it;
2. writes the program's input into its stdin, a memfd the host created empty at launch (``pwrite``: the
   sandbox's own offset stays 0), so stdin is a regular file, as in a fresh run (``os.fstat(0).st_size``,
   ``seek``);
3. sends one byte on the go pipe. The run's clocks start there (:meth:`rewards.sandbox.run.Run.restart`):
   the wall time and the CPU cap count from this moment, the boot's CPU time is left out of ``cpu_s``.

What the program sees is a fresh sandbox's (the tests in ``tests/rewards/sandbox/test_prepared.py`` compare
the two); the one difference is that each process's RLIMIT_CPU also counted the boot's ~15 ms. Each
prepared sandbox runs exactly one program and then ends, as a fresh one does: nothing a program leaves
(files in ``/tmp``, processes) reaches another. Pools are keyed by the launch-time limits only
(:func:`launch_limits`: not the wall time, the output cap or the per-run CPU cap, which apply from the
send), so the judge's runs with a shortened wall time still find one ready. ``PREPARED_PER_KIND`` (one
per core) wait per kind; taking one starts its replacement on the sandbox spawner thread
(:mod:`rewards.sandbox.session`: ``--die-with-parent`` follows the forking thread), which returns once
the launcher is forked, so the boot itself runs in parallel with the current program. A run that finds
none ready starts one for itself on its own thread. A sandbox nobody took within ``LIFETIME_S`` is
ended; so are those of kinds beyond the ``MAX_KINDS`` most recently used. :func:`close_prepared` (and
the interpreter's exit) end them all.

Where a sandbox cannot be prepared (no writable ``/dev/shm`` or temporary directory) or the unsafe
mode is on, a run starts a fresh sandbox as before (:func:`rewards.sandbox.bwrap.execute`).

Measured on 2 cores, 2026-12-01 18:40, against fresh sandboxes and alternating: a sequential
``run_program('pass')`` takes 8.6-11.3 ms of wall time, down from 22-25 ms. Trivial programs run at
79.6/s on one worker, up from 42.9/s, and at 81.5/s on two, against 80.9/s. Two workers were already
CPU-bound at ~23 ms of machine CPU per program, and preparing moves that work off the row's path without
making it smaller (``r1train/bench/PERFORMANCE.md``).
"""

from __future__ import annotations

import atexit
import itertools
import os
import secrets
import shutil
import tempfile
import threading
import time
from dataclasses import replace

from rewards.sandbox.bwrap import Spawned, execute, isolation, program, unsafe_requested
from rewards.sandbox.limits import MIB, Limits
from rewards.sandbox.run import ExecResult, SandboxError, memfd
from rewards.sandbox.scripts import SCRIPTS
from rewards.sandbox.session import spawn

# Ready sandboxes kept per kind of limits: one per core this process may use (2 to 8). Refills are serial
# on the spawner thread; a run that finds none ready starts its own on its own thread.
PREPARED_PER_KIND = min(8, max(2, len(os.sched_getaffinity(0))))
LIFETIME_S = 300.0  # a prepared sandbox nobody took for this long is ended and replaced
MAX_KINDS = 8  # kinds of limits with sandboxes kept ready (each ready sandbox holds ~10 MB)
DIR_PREFIX = "r1train-sandbox-"


def launch_limits(limits: Limits) -> Limits:
    """The part of ``limits`` fixed when a sandbox starts (rlimits, cgroups, mounts, filter): the pool's key.

    Wall time, output cap and the per-run CPU cap are applied when the program is sent; the per-process
    RLIMIT_CPU (``cpu_limit_s``, whole seconds) is set at launch and kept.
    """
    cpu = float(limits.cpu_limit_s)
    return replace(limits, timeout_s=cpu, cpu_s=cpu, max_output_bytes=1, scratch_mb=limits.scratch_bytes // MIB)


class _Files:
    """This process's private host directory of prepared sandboxes' ``main.py`` files."""

    def __init__(self) -> None:
        self.dir: str | None = None
        self.pid = -1
        self.names = itertools.count()
        self.lock = threading.Lock()

    def new(self) -> str:
        """A new empty file (0644) in the directory (made 0711 on first use, stale ones of dead processes removed)."""
        with self.lock:
            if self.dir is None or self.pid != os.getpid():
                self.dir, self.pid = _make_dir(), os.getpid()
            path = f"{self.dir}/{next(self.names)}.py"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        os.fchmod(fd, 0o644)  # whatever the umask: the sandbox's fresh uid must read it
        os.close(fd)
        return path

    def remove(self) -> None:
        with self.lock:
            if self.dir is not None and self.pid == os.getpid():
                shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def _base_dir() -> str:
    return "/dev/shm" if os.access("/dev/shm", os.W_OK | os.X_OK) else tempfile.gettempdir()


def _make_dir() -> str:
    base = _base_dir()
    for entry in os.listdir(base):  # directories of processes that died without cleaning up
        pid = entry[len(DIR_PREFIX) :].partition("-")[0]
        if entry.startswith(DIR_PREFIX) and pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(os.path.join(base, entry), ignore_errors=True)
    path = os.path.join(base, f"{DIR_PREFIX}{os.getpid()}-{secrets.token_hex(8)}")
    os.mkdir(path, 0o700)
    os.chmod(path, 0o711)  # searchable, not listable: the sandbox's uid opens its own file by name
    return path


_files = _Files()


class Prepared:
    """A booted sandbox waiting for one plain program. One kept in the pool is made on the spawner thread
    (:func:`spawn`: bubblewrap's ``--die-with-parent`` follows the thread that forked it); one a run makes
    for itself, on the run's thread."""

    def __init__(self, key: Limits) -> None:
        self.born, self.key = time.monotonic(), key
        self.path = _files.new()
        self.stdin = self.go = -1
        go_read = -1
        try:
            self.stdin = memfd("stdin", b"")
            go_read, self.go = os.pipe()
            args = ["-S", "/box/boot.py", "--prepared", str(go_read)]
            self.spawned = Spawned(isolation(), args, {"boot.py": SCRIPTS["boot.py"]}, self.stdin, key,
                                   binds={"/box/main.py": self.path}, pass_fds=[go_read])
        except BaseException:
            self._release()
            raise
        finally:
            if go_read >= 0:
                os.close(go_read)

    @property
    def usable(self) -> bool:
        return self.spawned.run.proc.poll() is None and time.monotonic() - self.born < LIFETIME_S

    def send(self, source: bytes, stdin: bytes, limits: Limits) -> bool:
        """Give the sandbox its program and input and start its clocks; False if it can no longer take them."""
        if self.spawned.run.proc.poll() is not None:
            return False
        with open(self.path, "r+b") as f:  # the same inode the sandbox has bound: written in place
            f.write(source)
        view, offset = memoryview(stdin), 0
        while offset < len(view):
            offset += os.pwrite(self.stdin, view[offset:], offset)
        os.close(self.stdin)
        self.stdin = -1
        self.spawned.run.restart(limits)
        try:
            return os.write(self.go, b"\x01") == 1
        except OSError:  # the boot is gone
            return False
        finally:
            os.close(self.go)
            self.go = -1

    def wait(self) -> ExecResult:
        try:
            return self.spawned.wait()
        finally:
            self._release()

    def discard(self) -> None:
        """End it unused: its boot reads end of file and exits (a kill makes sure), then it is reaped."""
        self.spawned.kill("stop")
        try:
            self.wait()
        except SandboxError:
            pass

    def _release(self) -> None:
        for fd in (self.stdin, self.go):
            if fd >= 0:
                os.close(fd)
        self.stdin = self.go = -1
        try:
            os.unlink(self.path)
        except OSError:
            pass


_ready: dict[Limits, list[Prepared]] = {}
_starting: dict[Limits, int] = {}
_epoch = [0]  # bumped by close_prepared: a sandbox started before it is discarded, not kept
_lock = threading.Lock()


def _take(key: Limits) -> Prepared | None:
    """A ready sandbox for ``key``, or None; replacements start meanwhile, to keep ``PREPARED_PER_KIND`` ready.

    Kinds are kept most recently used last; beyond ``MAX_KINDS`` the oldest kind's sandboxes are ended,
    and so is any sandbox, of any kind, that waited ``LIFETIME_S`` (a run sweeps them all by age, a clock
    read each; only the one taken is asked whether its process still runs).
    """
    found, stale = None, []
    now = time.monotonic()
    with _lock:
        ready = _ready.pop(key, [])
        _ready[key] = ready  # now the most recently used kind
        while len(_ready) > MAX_KINDS:
            stale += _ready.pop(next(iter(_ready)))
        for boxes in _ready.values():
            old = [box for box in boxes if now - box.born >= LIFETIME_S]
            if old:
                stale += old
                boxes[:] = [box for box in boxes if box not in old]
        while ready and found is None:
            box = ready.pop(0)
            if box.usable:
                found = box
            else:
                stale.append(box)
        missing = max(0, PREPARED_PER_KIND - len(ready) - _starting.get(key, 0))
        _starting[key] = _starting.get(key, 0) + missing
        epoch = _epoch[0]
    for box in stale:
        box.discard()
    for _ in range(missing):
        spawn(_refill, key, epoch, wait=False)
    return found


def _refill(key: Limits, epoch: int) -> None:
    """On the spawner thread: start one sandbox for ``key`` and add it to the pool."""
    box = None
    try:
        box = Prepared(key)
    except (OSError, RuntimeError):  # SandboxError, SandboxUnavailable; RuntimeError: the interpreter exits
        pass  # a later run starts its own and reports the failure
    finally:
        with _lock:
            _starting[key] = max(0, _starting.get(key, 0) - 1)
            keep = box is not None and epoch == _epoch[0]
            if keep:
                _ready.setdefault(key, []).append(box)  # (a kind evicted meanwhile comes back, last)
    if box is not None and not keep:  # close_prepared() ran meanwhile: nothing may outlive it
        box.discard()


def _fresh(source: bytes, stdin: bytes, limits: Limits, unsafe: bool = False) -> ExecResult:
    """The run in a sandbox started for it (where none can be prepared), or unisolated when asked."""
    args, files = program(source.decode("utf-8", "surrogateescape"))
    return execute(args, files, stdin, limits, unsafe=unsafe)


def run_plain(source: bytes, stdin: bytes, limits: Limits, *, unsafe: bool = False) -> ExecResult:
    """Run ``source`` as ``python3 -I main.py`` with ``stdin`` under ``limits``, in a prepared sandbox
    (a fresh one where none can be prepared). Raises what :func:`rewards.sandbox.bwrap.execute` raises."""
    if unsafe_requested(unsafe):
        return _fresh(source, stdin, limits, unsafe=True)
    isolation()  # raises SandboxUnavailable where no sandbox can run, ready ones or not
    key = launch_limits(limits)
    for attempt in range(2):
        box = _take(key) if attempt == 0 else None
        try:
            box = box or Prepared(key)  # used before this call returns: this thread may fork it
            sent = box.send(source, stdin, limits)
        except OSError:  # no host file for main.py (no writable /dev/shm or temp dir, or full): a fresh sandbox
            if box is not None:
                box.discard()
            return _fresh(source, stdin, limits)
        except BaseException:
            if box is not None:
                box.discard()
            raise
        if sent:
            return box.wait()
        box.discard()  # it died waiting (ours): one fresh try
    raise SandboxError("a fresh prepared sandbox ended before it was given its program")


def run_program(
    source: str,
    stdin: str = "",
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    max_processes: int = 64,
    max_output_bytes: int = 4 << 20,
    max_file_mb: int = 64,
    loopback: bool = False,
    unsafe_no_isolation: bool = False,
) -> ExecResult:
    """Run Python ``source`` with ``stdin`` in the sandbox and report what happened.

    ``timeout_s`` is wall time (CPU time per process is bounded by the same number); ``memory_mb`` bounds
    all the program's processes together where cgroups are available. ``loopback`` allows IPv4/IPv6
    sockets on the sandbox's private loopback (by default only ``AF_UNIX`` sockets exist). Raises
    :class:`rewards.sandbox.SandboxUnavailable` when no isolation exists (never runs unisolated unless
    ``unsafe_no_isolation``) and :class:`SandboxError` when the machinery fails for this run.
    """
    limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb, max_processes=max_processes,
                    max_output_bytes=max_output_bytes, max_file_mb=max_file_mb, loopback=loopback)
    data = stdin.encode("utf-8", "surrogateescape")
    return run_plain(source.encode("utf-8", "surrogateescape"), data, limits, unsafe=unsafe_no_isolation)


def close_prepared() -> None:
    """End every prepared sandbox, those still starting included (the pool refills on the next run)."""
    with _lock:
        boxes = [box for ready in _ready.values() for box in ready]
        _ready.clear()
        _epoch[0] += 1
    for box in boxes:
        box.discard()
    try:
        spawn(lambda: None)  # the spawner runs its tasks in order: every refill queued before has ended
    except RuntimeError:  # the spawner is shut down (interpreter exit): nothing more can start
        pass


def _at_exit() -> None:
    close_prepared()
    _files.remove()


atexit.register(_at_exit)


def _forget_in_child() -> None:
    """In a forked child the prepared sandboxes are the parent's: start afresh, in a directory of its own."""
    global _lock, _files
    _lock = threading.Lock()
    _ready.clear()
    _starting.clear()
    _files = _Files()


os.register_at_fork(after_in_child=_forget_in_child)
