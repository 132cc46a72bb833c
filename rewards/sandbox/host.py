"""What this machine offers the code sandbox: the tools, the interpreter, the mounts, cgroups, the filter.

:func:`discover` looks once at the host and returns an :class:`Isolation` (bubblewrap and prlimit on the
PATH, ``setpriv`` when the trainer is root, the Python to run inside and what besides ``/usr`` it needs,
how ``/bin``, ``/lib``… look, whether per-run cgroups can be made, the compiled seccomp filter, the
host paths a mounted tree would expose, whether ``/bin/sh`` is dash). It raises
:class:`SandboxUnavailable`, naming what to install, when a piece is missing. It runs nothing: the
launcher (:func:`rewards.sandbox.bwrap.isolation`) starts one probe sandbox with what was found before
anything is trusted to it.
"""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from rewards.sandbox.limits import cgroup_bases, describe
from rewards.sandbox.seccomp import filter_bytes
from rewards.sandbox.unsafe import UNSAFE_ENV


class SandboxUnavailable(RuntimeError):
    """No isolation is possible here; the message says what to install or enable."""


@dataclass(frozen=True)
class Isolation:
    """What this machine provides, found once by :func:`discover`."""

    bwrap: str
    prlimit: str
    python: str
    python_mounts: tuple[str, ...]  # directories bound read-only besides /usr
    root_dirs: tuple[tuple[str, str], ...]  # ("symlink"|"bind", path) for /bin, /lib, … as on the host
    setpriv: str | None  # set when the trainer is root: drop to a fresh uid
    cgroups: bool
    seccomp: bytes | None  # the compiled syscall filter, None where this architecture has no table
    hidden: tuple[str, ...] = ()  # host paths inside a mounted tree (project, home…) covered by empty tmpfs
    dash_ulimit: bool = False  # /bin/sh is dash: the launcher's shell sets the rlimits (no prlimit exec)

    def describe(self) -> str:
        user = "a fresh unprivileged uid per run" if self.setpriv else "the trainer's uid in a user namespace"
        filt = "seccomp allowlist" if self.seccomp else "NO seccomp filter (no syscall table for this machine)"
        return f"bubblewrap namespaces, {user}, {filt}, {describe()}; python {self.python}"


def find_python() -> tuple[str, tuple[str, ...]]:
    """The interpreter to run inside, and what besides /usr must be mounted for it."""
    override = os.environ.get("R1TRAIN_SANDBOX_PYTHON")
    candidates = [override] if override else ["/usr/bin/python3", "/usr/local/bin/python3", sys.executable]
    for cand in candidates:
        real = os.path.realpath(cand)
        if not os.access(real, os.X_OK):
            continue
        if real.startswith("/usr/"):
            return real, ()
        prefix = os.path.realpath(sys.base_prefix) if real == os.path.realpath(sys.executable) else ""
        if prefix and real.startswith(prefix + "/") and prefix not in ("/", "/root", "/home", "/tmp", "/work"):
            return real, (prefix,)
    raise SandboxUnavailable(
        "the code sandbox found no Python under /usr to run programs with; install one "
        "('apt-get install python3') or set R1TRAIN_SANDBOX_PYTHON to an interpreter outside your home and project"
    )


def paths_to_hide(python: str, mounted: tuple[str, ...]) -> tuple[str, ...]:
    """The project, the working directory, home and the trainer's environment, where they lie inside a
    tree the sandbox mounts (e.g. a checkout under /usr/src): each gets an empty tmpfs on top."""
    project = str(Path(__file__).resolve().parents[2])  # the checkout: rewards/sandbox/host.py -> ../..
    found = []
    for path in {project, os.getcwd(), str(Path.home()), sys.prefix}:
        real = os.path.realpath(path)
        inside = any(real.startswith(m.rstrip("/") + "/") for m in mounted)
        if inside and not python.startswith(real.rstrip("/") + "/"):
            found.append(real)
    return tuple(sorted(found))


def discover() -> Isolation:
    """Find the isolation this machine offers (not yet tested); raise :class:`SandboxUnavailable` if none."""
    bwrap, prlimit = shutil.which("bwrap"), shutil.which("prlimit")
    if not bwrap:
        raise SandboxUnavailable(
            "the code sandbox needs bubblewrap; install it ('apt-get install bubblewrap', or 'make system-deps' "
            f"as root), or set {UNSAFE_ENV}=1 to run model-written code WITHOUT isolation"
        )
    if not prlimit:
        raise SandboxUnavailable("the code sandbox needs prlimit; install util-linux ('apt-get install util-linux')")
    setpriv = None
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if not setpriv:
            raise SandboxUnavailable(
                "running as root, the code sandbox needs setpriv to drop privileges; install util-linux"
            )
    python, mounts = find_python()
    root_dirs = []
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = f"/{name}"
        if os.path.islink(path):
            root_dirs.append(("symlink", path))
        elif os.path.isdir(path):
            root_dirs.append(("bind", path))
    hidden = paths_to_hide(python, ("/usr", *mounts))
    dash = os.path.basename(os.path.realpath("/bin/sh")) == "dash"
    return Isolation(bwrap, prlimit, python, mounts, tuple(root_dirs), setpriv, cgroup_bases()["memory"] is not None,
                     filter_bytes(), hidden, dash)
