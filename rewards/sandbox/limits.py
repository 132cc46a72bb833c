"""Resource limits for one sandboxed run: the numbers, the rlimits, and the per-run cgroup v1 groups.

The code sandbox (:mod:`rewards.sandbox.bwrap`) bounds a program in two layers:

* **rlimits**, set by ``prlimit`` on the launcher before it drops to the sandbox user, inherited by every
  process in the sandbox and impossible to raise from inside (raising a hard limit needs
  ``CAP_SYS_RESOURCE`` in the initial user namespace): CPU seconds per process, address space, stack,
  file size, open files, processes per user, no core dumps.
* **cgroups v1** (``memory``, ``pids``, ``cpu``, ``cpuacct``), where this process can create child groups
  of its own groups: one fresh group per run caps the memory of *all* the sandbox's processes together
  (swap included when ``memsw`` exists; TCP socket buffers, which v1 counts apart, bounded by
  ``memory.kmem.tcp`` to a quarter of ``memory_mb`` more), counts OOM
  kills so the run can be reported as ``"memory"``, caps the number of tasks, gives the run at most
  ``cpus`` CPUs (a CFS quota, so 60 burning threads or 8 forked burners get one core, not the machine)
  and measures the CPU time of all its processes together, which :mod:`rewards.sandbox.run` caps at
  ``cpu_s`` per run (the per-process RLIMIT_CPU alone let each forked child burn its own allowance). Where cgroups are not writable (no v1 hierarchy, not root, cgroup v2 only) the
  sandbox degrades to rlimits alone: memory is then bounded per process (``RLIMIT_AS = memory_mb``), so
  the aggregate bound is ``memory_mb x max_processes`` (:func:`describe` says which applies).

Use: ``Limits(timeout_s=1, memory_mb=256)``; ``CgroupRun.create(limits)`` returns ``None`` when cgroups
are unavailable; the launcher joins the groups by writing ``0`` to each of ``join_files`` and the caller
calls ``remove()`` at the end, which kills stragglers first.
"""

from __future__ import annotations

import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

MIB = 1 << 20
# Processes the sandbox machinery itself needs inside the limits: bwrap's monitor and its pid 1.
HELPER_TASKS = 4
CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
CFS_PERIOD_US = 100_000


@dataclass(frozen=True)
class Limits:
    """Every bound on one sandboxed run; ``cpu_s`` and ``scratch_mb`` default from the others."""

    timeout_s: float = 5.0  # wall time, enforced from outside the sandbox
    memory_mb: int = 512  # all processes together with cgroups, per process without
    max_processes: int = 64  # processes and threads
    max_output_bytes: int = 4 * MIB  # per stream (stdout, stderr); more is cut and reported
    max_file_mb: int = 64  # largest file the program may write
    max_open_files: int = 256
    scratch_mb: int | None = None  # size of the private /tmp; defaults to memory_mb
    cpu_s: float | None = None  # CPU seconds per process and, with cgroups, per run; defaults to timeout_s
    cpus: float = 1.0  # CPUs the run's processes may use at once (CFS quota, with cgroups)
    loopback: bool = False  # allow IPv4/IPv6 sockets on the run's private loopback (else AF_UNIX only)

    def __post_init__(self) -> None:
        for name in ("timeout_s", "memory_mb", "max_processes", "max_output_bytes", "max_file_mb", "max_open_files"):
            if not getattr(self, name) > 0:
                raise ValueError(f"sandbox limit {name} must be positive, got {getattr(self, name)!r}")
        if not 0.01 <= self.cpus <= 64:
            raise ValueError(f"sandbox limit cpus must be in [0.01, 64], got {self.cpus!r}")
        if self.memory_mb < 32:
            raise ValueError(f"sandbox memory_mb={self.memory_mb} is too small for Python; give at least 32")

    @property
    def scratch_bytes(self) -> int:
        return (self.scratch_mb if self.scratch_mb is not None else self.memory_mb) * MIB

    @property
    def cpu_limit_s(self) -> int:
        """The soft RLIMIT_CPU (SIGXCPU); the hard limit, one second later, is SIGKILL."""
        return max(1, math.ceil(self.cpu_s if self.cpu_s is not None else self.timeout_s))


def prlimit_args(limits: Limits, *, cgroups: bool, nproc: int) -> list[str]:
    """``prlimit`` options for the launcher: soft == hard for everything but CPU and stack.

    With cgroups the memory cgroup is the real bound and RLIMIT_AS only stops absurd reservations early
    (``memory_mb`` + 1 GiB of address space, so threads' stack reservations still fit); without cgroups
    RLIMIT_AS is the memory bound itself, per process.
    """
    mem = limits.memory_mb * MIB
    address_space = mem + 1024 * MIB if cgroups else mem
    stack = min(32 * MIB, mem // 4) if cgroups else 8 * MIB
    cpu = limits.cpu_limit_s
    pairs = {
        "cpu": f"{cpu}:{cpu + 1}",
        "as": address_space,
        # Soft only: the hard limit stays unlimited so the common competitive-programming idiom
        # setrlimit(RLIMIT_STACK, (RLIM_INFINITY, RLIM_INFINITY)) works; address space and memory still bound it.
        "stack": f"{stack}:unlimited",
        "fsize": limits.max_file_mb * MIB,
        "nofile": limits.max_open_files,
        "nproc": nproc,
        "core": 0,
        "memlock": 0,
        "msgqueue": 0,
    }
    return [f"--{key}={value}" for key, value in pairs.items()]


# dash's ulimit: option and unit per prlimit resource (msgqueue has none: the seccomp filter refuses mq_*).
DASH_ULIMIT = {"cpu": ("t", 1), "as": ("v", 1024), "stack": ("s", 1024), "fsize": ("f", 512), "nofile": ("n", 1),
               "nproc": ("p", 1), "core": ("c", 512), "memlock": ("l", 1024)}


def ulimit_steps(limits: Limits, *, cgroups: bool, nproc: int) -> list[str]:
    """The same limits as :func:`prlimit_args`, as dash ``ulimit`` commands, so the launcher's shell sets
    them itself and one exec (prlimit) per program is saved: both limits to the hard value first (as
    root this may raise them), then the soft one down where it differs."""
    steps = []
    for arg in prlimit_args(limits, cgroups=cgroups, nproc=nproc):
        key, _, value = arg[2:].partition("=")
        if key not in DASH_ULIMIT:
            continue
        flag, unit = DASH_ULIMIT[key]
        soft, _, hard = value.partition(":")
        hard = hard or soft
        as_units = [v if v == "unlimited" else str(int(v) // unit) for v in (hard, soft)]
        steps.append(f"ulimit -{flag} {as_units[0]}")
        if as_units[1] != as_units[0]:
            steps.append(f"ulimit -S -{flag} {as_units[1]}")
    return steps


def _mount_points() -> dict[str, str]:
    """cgroup v1 controller name -> mount point, from /proc/self/mountinfo."""
    points: dict[str, str] = {}
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return points
    for line in lines:
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] != "cgroup":
            continue
        for option in tail[2].split(","):
            points.setdefault(option, fields[4])
    return points


def _own_group(controller: str) -> str | None:
    """This process's group path in the v1 hierarchy that holds ``controller``."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) == 3 and controller in parts[1].split(","):
            return parts[2]
    return None


_bases: dict[str, Path | None] | None = None
_bases_lock = threading.Lock()
_counter = 0


def cgroup_bases() -> dict[str, Path | None]:
    """The writable parent directory for per-run groups of each controller (None: not usable); cached."""
    global _bases
    with _bases_lock:
        if _bases is None:
            points = _mount_points()
            found: dict[str, Path | None] = {}
            for controller in CONTROLLERS:
                mount, own = points.get(controller), _own_group(controller)
                base = Path(mount + own) if mount and own is not None else None
                found[controller] = base if base is not None and _can_create_child(base) else None
                if found[controller] is not None:
                    _remove_stale(found[controller])
            _bases = found
        return _bases


def _remove_stale(base: Path) -> None:
    """Delete empty per-run groups left by trainers that died mid-run (their pid is in the name).

    Only groups over a minute old: a live run's group is empty just for the instant between its
    creation and the launcher joining it, and its trainer may be in a pid namespace we cannot see.
    """
    for group in base.glob("r1train-sbx-*"):
        pid = group.name.split("-")[2]
        try:
            old = time.time() - group.stat().st_mtime > 60
            if old and pid.isdigit() and not Path(f"/proc/{pid}").exists():
                group.rmdir()  # fails while tasks remain
        except OSError:
            pass


def _can_create_child(base: Path) -> bool:
    probe = base / f"r1train-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


def describe() -> str:
    """One line on how memory and process counts are bounded on this machine."""
    bases = cgroup_bases()
    cpu = "+cpu quota and per-run CPU time" if bases["cpu"] and bases["cpuacct"] else ", no per-run CPU bound"
    if bases["memory"] and bases["pids"]:
        return f"cgroup v1 memory+pids{cpu} (aggregate memory, task and CPU limits)"
    if bases["memory"]:
        return "cgroup v1 memory (aggregate memory); tasks bounded by RLIMIT_NPROC"
    return "rlimits only (memory bounded per process by RLIMIT_AS; tasks by RLIMIT_NPROC)"


class CgroupRun:
    """The memory and pids groups of one run, created fresh and removed afterwards."""

    def __init__(self, dirs: dict[str, Path]) -> None:
        self.dirs = dirs

    @classmethod
    def create(cls, limits: Limits) -> CgroupRun | None:
        """Make this run's groups with their limits, or return None where cgroups are not usable."""
        global _counter
        bases = cgroup_bases()
        if bases["memory"] is None:
            return None
        with _bases_lock:
            _counter += 1
            name = f"r1train-sbx-{os.getpid()}-{_counter}"
        run = cls({})
        try:
            memory = bases["memory"] / name
            memory.mkdir()
            run.dirs["memory"] = memory
            limit = str(limits.memory_mb * MIB)
            (memory / "memory.limit_in_bytes").write_text(limit)
            memsw = memory / "memory.memsw.limit_in_bytes"
            if memsw.exists():
                memsw.write_text(limit)  # no swap: memory + swap == memory
            tcp = memory / "memory.kmem.tcp.limit_in_bytes"
            if tcp.exists():  # TCP buffers are counted apart from memory.limit_in_bytes in v1: a quarter more
                tcp.write_text(str(limits.memory_mb * MIB // 4))
            for controller in ("pids", "cpu", "cpuacct"):
                if bases[controller] is not None:
                    run.dirs[controller] = bases[controller] / name
                    run.dirs[controller].mkdir()
            if "pids" in run.dirs:
                (run.dirs["pids"] / "pids.max").write_text(str(limits.max_processes + HELPER_TASKS))
            if "cpu" in run.dirs:
                (run.dirs["cpu"] / "cpu.cfs_period_us").write_text(str(CFS_PERIOD_US))
                (run.dirs["cpu"] / "cpu.cfs_quota_us").write_text(str(max(1000, int(limits.cpus * CFS_PERIOD_US))))
        except OSError:
            run.remove()
            raise
        return run

    @property
    def join_files(self) -> list[str]:
        """Files the launcher writes ``0`` to, joining every group before anything else runs.

        ``0`` written to a group's ``tasks`` file moves the writing thread itself: the launcher is a
        single-threaded shell, so that is the whole process, and everything it execs and forks later is
        born inside. The kernel does that move without the global threadgroup lock that writing a pid to
        ``cgroup.procs`` takes for writing (``cgroup_procs_write_start``: the lock is taken when a pid or a
        thread group is given), and entering that lock waits for an RCU grace period whenever no
        migration happened in the last one: measured on Linux 6.18, 2 cores, the first ``cgroup.procs``
        write of a run took 12-13 ms (median of 20, runs 30 ms apart), ``0`` to ``tasks`` 0.3 ms.
        """
        return [str(d / "tasks") for d in self.dirs.values()]

    def oom_kills(self) -> int:
        """How many processes the kernel's OOM killer ended in this run's memory group."""
        try:
            text = (self.dirs["memory"] / "memory.oom_control").read_text()
        except (KeyError, OSError):
            return 0
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill":
                return int(value)
        return 0

    def cpu_seconds(self) -> float | None:
        """CPU time of all the run's processes so far (None without the cpuacct group)."""
        try:
            with open(self.dirs["cpuacct"] / "cpuacct.usage", "rb") as f:  # polled often: no text layer
                return int(f.read()) / 1e9
        except (KeyError, OSError, ValueError):
            return None

    def tasks(self) -> list[int]:
        """Pids still in any of this run's groups (empty once the sandbox is gone)."""
        pids: set[int] = set()
        for d in self.dirs.values():
            try:
                pids.update(int(p) for p in (d / "cgroup.procs").read_text().split())
            except OSError:
                pass
        return sorted(pids)

    def remove(self) -> None:
        """Kill anything left in the groups (there should be nothing) and delete them."""
        deadline = time.monotonic() + 5.0
        for d in list(self.dirs.values()):
            try:  # the common case: the sandbox is gone and the group is empty
                d.rmdir()
                continue
            except FileNotFoundError:
                continue
            except OSError:
                pass
            while True:
                for pid in self.tasks():
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                try:
                    d.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break  # leave an empty-looking group behind rather than hang the trainer
                    time.sleep(0.005)
        self.dirs = {}
