"""One process per run directory: an exclusive ``flock`` on ``<output_dir>/.lock``, held for the whole run.

Two runs writing into one directory interleave their metrics and overwrite each other's checkpoints, so
``r1train train`` takes this lock before it reads the directory (under ``accelerate launch`` only the
main process does) and keeps it until the run ends. The file holds the holder's pid, host and start
time, so a refused run can say who holds it. The kernel drops an ``flock`` when its process dies,
SIGKILL included, so a crashed run never leaves the directory locked; a ``.lock`` file left behind is
empty of meaning (it counts as nothing when deciding whether the directory holds a run).

Use::

    lock = RunLock.acquire(Path("runs/x"))   # UserError naming the holder if another run has it
    ...
    lock.release(failed_start=True)           # a start-up failure; the kernel releases it on a crash
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from r1train.errors import UserError

LOCK_NAME = ".lock"


def _holder(path: Path) -> str:
    """``pid 123 on host h since 2025-01-01 10:00:00`` from the lock file, or a plain phrase."""
    try:
        info = json.loads(path.read_text() or "{}")
        return f"pid {info['pid']} on host {info['host']} since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "another process"


def _not_writable(out: Path, exc: OSError) -> UserError:
    why = exc.strerror or type(exc).__name__
    return UserError(
        f"train.output_dir {str(out)!r} cannot be written ({why}); choose a directory you can write to "
        "or fix its permissions"
    )


@dataclass
class RunLock:
    """A held exclusive lock on ``<dir>/.lock``; ``created`` says whether acquiring made the directory."""

    dir: Path
    fd: int
    created: bool

    @classmethod
    def acquire(cls, out: Path) -> RunLock:
        """Lock ``out`` (created if missing) for this process, or raise naming the process that holds it."""
        if out.exists() and not out.is_dir():
            raise UserError(f"train.output_dir {str(out)!r} is a file; choose a directory path")
        created = not out.exists()
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _not_writable(out, exc) from None
        path = out / LOCK_NAME
        while True:
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                if created:
                    _rmdir_quiet(out)
                raise _not_writable(out, exc) from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP):  # e.g. an NFS mount without locks
                    print(f"r1train: warning: {out} does not support file locks; a second run on it cannot be refused")
                    break
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise _not_writable(out, exc) from None
                raise UserError(
                    f"train.output_dir {str(out)!r} is in use by another run ({_holder(path)}); wait for it to "
                    "finish or stop it, or choose another train.output_dir"
                ) from None
            # the holder may have removed the file between our open and our lock: then lock the new one
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        os.ftruncate(fd, 0)
        os.write(fd, (json.dumps(info) + "\n").encode())
        return cls(out, fd, created)

    def release(self, failed_start: bool = False) -> None:
        """Drop the lock. ``failed_start``: the run never began; delete the lock file (and the directory,
        if acquiring made it and it is empty), so the corrected rerun finds no trace. Deleting while still
        holding is safe: a process that opened the old file re-checks it after locking (see acquire)."""
        if self.fd < 0:
            return
        if failed_start:
            (self.dir / LOCK_NAME).unlink(missing_ok=True)
            if self.created:
                _rmdir_quiet(self.dir)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = -1


def _rmdir_quiet(path: Path) -> None:
    try:
        path.rmdir()  # only an empty directory
    except OSError:
        pass
