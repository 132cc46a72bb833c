"""Run untrusted, model-written Python in an OS-level sandbox: :func:`execute`, the engine under ``run_program``.

``run_program(source, stdin)`` (:mod:`rewards.sandbox.prepared`, which starts sandboxes through
:class:`Spawned` ahead of their program) runs one program and returns an :class:`ExecResult` (status,
exit code, stdout, stderr, wall time); ``run_tests(source, tests)`` (:mod:`rewards.sandbox.judge`; both
are exported by :mod:`rewards.sandbox`) scores a program against test cases. Code rewards
(``rewards.code``) call these thousands of times per training step, so one run costs a few milliseconds
more than a bare ``python3 -c``. Nothing here uses Python-level guards: isolation is the kernel's.

How a run is isolated (:mod:`rewards.sandbox.host` finds what this machine provides, ``describe_isolation()``
prints it):

* **bubblewrap** puts the program in fresh user, PID, network, IPC, UTS and (where possible) cgroup
  namespaces, with further user namespaces disabled. It sees a read-only ``/usr`` (the interpreter and
  the standard library; ``/bin``, ``/lib``… as on the host), a synthetic minimal ``/etc``, its own
  ``/proc`` and a minimal ``/dev``, read-only inputs under ``/box``, and one writable place: a fresh,
  size-limited tmpfs at ``/tmp`` that vanishes with the run. The host's ``/root``, ``/home``, ``/work``,
  ``/tmp``, the project, checkpoints, sockets and every other path simply do not exist inside. The
  environment is empty but for ``PATH``, ``HOME``, ``LANG``; the network is a private loopback only.
* **An unprivileged user.** When the trainer is root, the launcher drops to a fresh, random, otherwise
  unused uid with no capabilities, no supplementary groups and ``no_new_privs`` before bubblewrap
  starts, so root's files, root's rlimit exemptions and root's processes are out of reach even if a
  namespace were escaped. When the trainer is not root, the program runs in the user namespace as the
  trainer's uid mapped to an unprivileged id (the trainer's files are still invisible; see below).
* **A seccomp allowlist** (:mod:`rewards.sandbox.seccomp`): only the syscalls judged programs need;
  everything else, including syscalls newer than the list (``listmount``, ``statmount``,
  ``open_tree_attr``, ``mseal``…), fails with ``ENOSYS``. Refused: keyrings, ``bpf``,
  ``perf_event_open``, ``userfaultfd``, ``io_uring``, Linux AIO, ``inotify``/``fanotify``/dnotify,
  ``flock`` and fcntl record locks, ``ptrace``, the mount API, namespace changes, ``memfd_secret``,
  and the i386/x32 syscall ABIs. Sockets: ``AF_UNIX`` only, unless the caller asks for ``loopback``.
* **Limits** (:mod:`rewards.sandbox.limits`): wall time enforced from outside; CPU time, address space,
  stack, file size, open files, processes via rlimits that cannot be raised inside; memory of all
  processes together (socket buffers included: TCP through ``memory.kmem.tcp``), the number of tasks,
  a CPU quota (``cpus``, default one CPU for all the run's processes) and the CPU time of all processes
  together (``cpu_s`` per run) via per-run cgroup v1 groups where this machine allows (else per-process
  rlimits, said so by ``describe_isolation()``); stdout/stderr capped, cut and reported as
  ``"output_limit"``. Measured: 8 forked burners with ``cpus=0.5`` for 2 s used ~1.05 CPU-s (before:
  as much as the machine had, each burner under its own RLIMIT_CPU); with ``cpu_s=1`` the run ends at
  ~1 CPU-s.
* **Machine-wide resources.** The 65,536 AIO contexts (``io_setup``) are one pool for the machine, and
  so are pty slots (``kernel.pty.max``), vsock ports, locks on shared files and inotify watches on the
  shared ``/usr``: AIO, inotify, ``flock``/record locks and ``AF_VSOCK`` are refused by the filter, and an
  empty read-only tmpfs covers ``/dev/pts`` so no pty can be opened. Measured on the old code (Linux
  6.18, cgroup v1): a run opened 253 ptys and AIO contexts until its memory limit, held ``flock`` and
  OFD locks on ``/usr/bin/python3``, watched ``/usr`` with inotify and dnotify, created ``AF_VSOCK``
  sockets, and queued 379-440 MiB in 48 loopback TCP connections with ``memory_mb=256``; now each fails
  (``tests/rewards/sandbox/sandbox_corpus.py``), and with ``loopback`` TCP queues stop at 64 MiB.
* **Clean ends** (:mod:`rewards.sandbox.run`). The program is the init of its own PID namespace:
  when it exits, or is SIGKILLed from outside on timeout or output overflow, the kernel kills and reaps
  every other process in the namespace (``setsid``/double-fork daemons included) before bubblewrap can
  exit, so nothing survives ``run_program``. The trainer reads the pipes with a non-blocking loop and
  a deadline, so a closed, stalled or flooded stdout cannot hang it; nothing inside can see or signal
  any host process.
* **Refusal, not fallback.** Without bubblewrap, ``prlimit``, a usable interpreter, or kernel support
  for unprivileged user namespaces, every call raises :class:`SandboxUnavailable` with what to install.
  Only ``unsafe_no_isolation=True`` or ``R1TRAIN_SANDBOX_UNSAFE_NO_ISOLATION=1`` runs code without the
  sandbox (rlimits and a temp dir only), with a loud warning each process.

What it protects against: reading or writing host files and secrets (the project, home directories,
checkpoints, the host's /tmp); reading the trainer's environment; network access, loopback included
(the namespace has its own; IPv4/IPv6 sockets exist only with ``loopback``) and abstract unix sockets; seeing, signalling or tracing host processes,
the trainer included; fork and thread bombs; memory, scratch-disk and file-descriptor exhaustion; CPU
burners that ignore signals; output floods and closed pipes; processes surviving the run; and, for
``run_tests``, a program that fakes its results (exiting 0 early, printing "PASSED", patching builtins,
``sys.exit`` or ``atexit``, forging harness lines, returning objects whose ``__eq__`` always says yes):
expected outputs never enter the sandbox and are compared on the host, on plain decoded data.

What it does not protect against: kernel vulnerabilities reachable from an unprivileged user namespace
(keep the kernel patched; the seccomp filter narrows but does not close that surface); side channels
and host information (CPU model, ``/proc/meminfo``, load, timing); CPU contention within the quota (each
run may keep one CPU busy until its limits end it; without writable cgroups, each process may use its
own CPU-time limit); memory the kernel does not charge to a cgroup (AF_UNIX queues, bounded by the
open-file limit, are charged on this kernel: a flood of socketpairs ends as ``"memory"``); a
host ``core_pattern`` that pipes core dumps to a helper (RLIMIT_CORE=0 stops file dumps only); without
writable cgroups, memory is bounded per process only (up to ``memory_mb`` x ``max_processes`` in
total); with a non-root trainer, the sandbox's processes belong to the trainer's uid on the host (only
the namespaces separate them). It is a sandbox for code written by a model under RL, not a defence
against an adversary holding kernel 0-days.
"""

from __future__ import annotations

import functools
import os
import secrets
from collections.abc import Sequence

from rewards.sandbox.host import Isolation, SandboxUnavailable, discover
from rewards.sandbox.limits import HELPER_TASKS, CgroupRun, Limits, prlimit_args, ulimit_steps
from rewards.sandbox.run import ExecResult, OnStdout, Run, SandboxError, memfd
from rewards.sandbox.scripts import SCRIPTS, prepare
from rewards.sandbox.seccomp import filter_bytes
from rewards.sandbox.unsafe import execute_unisolated, unsafe_requested, user_task_count

# Fresh sandbox uids (root trainer only) are drawn from [UID_BASE, UID_BASE + UID_SPAN): far above real users
# and subordinate-id ranges, so no file or process on the host belongs to them.
UID_BASE, UID_SPAN = 0x7A000000, 1 << 24
INSIDE_UID = 1000
SANDBOX_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "TMPDIR": "/tmp", "LANG": "C.UTF-8"}
ETC_FILES = {
    "/etc/passwd": f"root:x:0:0:root:/:/usr/sbin/nologin\nsandbox:x:{INSIDE_UID}:{INSIDE_UID}::/tmp:/usr/sbin/nologin\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
    "/etc/group": f"root:x:0:\nsandbox:x:{INSIDE_UID}:\nnogroup:x:65534:\n",
    "/etc/hosts": "127.0.0.1 localhost sandbox\n::1 localhost\n",
    "/etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
}
HOST_ETC = ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives")  # the only host /etc files shown


@functools.lru_cache(maxsize=1)
def isolation() -> Isolation:
    """Find (:func:`rewards.sandbox.host.discover`) and test the isolation this machine offers: one probe
    sandbox must start and run as the inside uid; raise :class:`SandboxUnavailable` if it cannot."""
    iso = discover()
    try:
        probe = _execute_isolated(iso, ["-c", "import os; print(os.getuid())"], {}, b"", Limits(timeout_s=20))
    except SandboxError as exc:
        raise SandboxUnavailable(f"the code sandbox cannot start here: {exc}") from None
    if probe.status != "ok" or probe.stdout.strip() != str(INSIDE_UID):
        raise SandboxUnavailable(
            "bubblewrap is installed but cannot create the sandbox here (it needs unprivileged user namespaces: "
            "check 'sysctl kernel.unprivileged_userns_clone=1' / 'user.max_user_namespaces', or AppArmor's "
            f"userns restriction); bwrap said: {probe.stderr.strip()[-500:] or probe.status}"
        )
    return iso


def describe_isolation() -> str:
    """One line on how programs are isolated on this machine (raises if they cannot be)."""
    return isolation().describe()


def program(source: str) -> tuple[list[str], dict[str, bytes]]:
    """The arguments and files that run ``source`` as a plain program in a fresh sandbox: ``/box/main.py``
    started by :mod:`rewards.sandbox.boot` (``python3 -I main.py``'s behaviour, without ``site``'s start-up
    cost); :mod:`rewards.sandbox.prepared` runs it in a sandbox booted ahead instead."""
    files = {"main.py": source.encode("utf-8", "surrogateescape"), "boot.py": SCRIPTS["boot.py"]}
    return ["-S", "/box/boot.py"], files


def execute(
    args: Sequence[str],
    files: dict[str, bytes],
    stdin: bytes,
    limits: Limits,
    *,
    on_stdout: OnStdout | None = None,
    idle_timeout_s: float | None = None,
    unsafe: bool = False,
) -> ExecResult:
    """Run ``python3 -I -B *args`` with ``files`` placed read-only under ``/box``; the engine under the API.

    ``limits.timeout_s`` caps the whole run. With ``idle_timeout_s`` the run also ends when that long
    passes without ``on_stdout`` answering "progress" (a per-test time limit for the harness).
    """
    if unsafe_requested(unsafe):
        return execute_unisolated(args, files, stdin, limits, on_stdout, idle_timeout_s)
    return _execute_isolated(isolation(), args, files, stdin, limits, on_stdout, idle_timeout_s)


def _bwrap_argv(iso: Isolation, limits: Limits, fds: dict[str, int], info_fd: int,
                binds: dict[str, str] | None = None) -> list[str]:
    argv = [iso.bwrap, "--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    # --as-pid-1: the program is the namespace's init, so bwrap exits only after reaping it, and the kernel
    # kills and reaps every other process in the namespace before init's exit completes.
    argv += ["--unshare-cgroup-try", "--disable-userns", "--die-with-parent", "--new-session", "--as-pid-1"]
    argv += ["--uid", str(INSIDE_UID), "--gid", str(INSIDE_UID), "--hostname", "sandbox"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for kind, path in iso.root_dirs:
        argv += ["--symlink", os.readlink(path), path] if kind == "symlink" else ["--ro-bind", path, path]
    for path in iso.python_mounts:
        argv += ["--ro-bind", path, path]
    for path in iso.hidden:
        argv += ["--tmpfs", path, "--remount-ro", path]
    for path in HOST_ETC:
        argv += ["--ro-bind-try", path, path]
    for dest, fd in fds.items():  # copied into the root tmpfs, made read-only by --remount-ro / below
        argv += ["--seccomp", str(fd)] if dest == "seccomp" else ["--perms", "0444", "--file", str(fd), dest]
    for dest, source in (binds or {}).items():  # host files shown read-only (a prepared sandbox's main.py)
        argv += ["--ro-bind", source, dest]
    argv += ["--proc", "/proc", "--dev", "/dev"]
    # bwrap's /dev has its own devpts instance, but pty slots are counted machine-wide (kernel.pty.max):
    # an empty read-only tmpfs over /dev/pts leaves no pty to open (/dev/ptmx points into it).
    argv += ["--size", "4096", "--tmpfs", "/dev/pts", "--remount-ro", "/dev/pts"]
    argv += ["--size", str(limits.scratch_bytes), "--perms", "1777", "--tmpfs", "/tmp"]
    argv += ["--size", str(16 << 20), "--perms", "1777", "--tmpfs", "/dev/shm"]
    argv += ["--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp", "--clearenv"]
    for key, value in SANDBOX_ENV.items():
        argv += ["--setenv", key, value]
    argv += ["--info-fd", str(info_fd), "--"]
    return argv


def _launcher(iso: Isolation, limits: Limits, cgroups: CgroupRun | None) -> tuple[list[str], int]:
    """sh (OOM score, cgroups, rlimits) [-> prlimit] -> setpriv (root: fresh uid, no caps) -> bwrap.

    Returns the command prefix and the host uid the program will run as.
    """
    if iso.setpriv:
        uid = int(os.environ.get("R1TRAIN_SANDBOX_UID", "0")) or UID_BASE + secrets.randbelow(UID_SPAN)
        nproc = limits.max_processes + HELPER_TASKS
    else:
        uid, nproc = None, user_task_count() + limits.max_processes + HELPER_TASKS
    in_shell = iso.dash_ulimit
    steps = ["{ echo 1000 > /proc/self/oom_score_adj; } 2>/dev/null"]
    steps += [f'echo 0 > "{path}"' for path in (cgroups.join_files if cgroups is not None else [])]
    if in_shell:
        steps += ulimit_steps(limits, cgroups=cgroups is not None, nproc=nproc)
    argv = [] if in_shell else [iso.prlimit, *prlimit_args(limits, cgroups=cgroups is not None, nproc=nproc), "--"]
    if uid is not None:
        argv += [iso.setpriv, f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"]
        argv += ["--inh-caps=-all", "--bounding-set=-all", "--"]
    # The shell first makes the sandbox the OOM killer's first choice (as root this also pins the minimum,
    # so the program cannot lower it again), then joins the run's cgroups (a failed join aborts the run; 0 to
    # `tasks` moves this single-threaded shell without the kernel's global migration lock: CgroupRun.join_files),
    # then, where /bin/sh is dash, sets the rlimits itself (else prlimit does).
    return ["/bin/sh", "-c", " && ".join([*steps, 'exec "$@"']), "sh", *argv], os.getuid() if uid is None else uid


def _execute_isolated(
    iso: Isolation,
    args: Sequence[str],
    files: dict[str, bytes],
    stdin: bytes,
    limits: Limits,
    on_stdout: OnStdout | None = None,
    idle_timeout_s: float | None = None,
) -> ExecResult:
    return Spawned(iso, args, files, stdin, limits, on_stdout, idle_timeout_s).wait()


class Spawned:
    """One started sandbox; :meth:`wait` reads it to the end and returns its :class:`ExecResult`.

    ``stdin`` is the program's whole input (bytes), or a descriptor the caller keeps (a pipe's read end it
    keeps writing to: an interactive session, :mod:`rewards.sandbox.pool`; a memfd it fills later:
    :mod:`rewards.sandbox.prepared`). ``keep_stdout=False`` hands stdout to ``on_stdout`` only, keeping
    nothing (a long-lived process must not accumulate its output). ``binds`` shows host files read-only
    (destination -> host path); ``pass_fds`` reach the program under their own numbers.
    """

    def __init__(self, iso: Isolation, args: Sequence[str], files: dict[str, bytes], stdin: bytes | int,
                 limits: Limits, on_stdout: OnStdout | None = None, idle_timeout_s: float | None = None,
                 keep_stdout: bool = True, binds: dict[str, str] | None = None,
                 pass_fds: Sequence[int] = ()) -> None:
        fds: dict[str, int] = {}
        info_w = stdin_fd = -1
        args, files = prepare(iso.python, args, files)
        self.info_r, self.cgroups = -1, None
        try:
            for dest, text in ETC_FILES.items():
                fds[dest] = memfd(dest, text.encode())
            for name, data in files.items():
                fds[f"/box/{name}"] = memfd(name, data)
            if iso.seccomp is not None:
                fds["seccomp"] = memfd("seccomp", filter_bytes(inet=limits.loopback) or iso.seccomp)
            stdin_fd = memfd("stdin", stdin) if isinstance(stdin, bytes) else stdin
            self.info_r, info_w = os.pipe()
            try:
                self.cgroups = CgroupRun.create(limits) if iso.cgroups else None
            except OSError as exc:
                raise SandboxError(f"could not create this run's cgroups: {exc}") from exc
            launcher, self.host_uid = _launcher(iso, limits, self.cgroups)
            cmd = launcher + _bwrap_argv(iso, limits, fds, info_w, binds)
            cmd += [iso.python, "-I", "-B", *args]
            cg = self.cgroups
            usage = cg.cpu_seconds if cg is not None and "cpuacct" in cg.dirs else None
            self.run = Run(cmd, stdin_fd, [info_w, *fds.values(), *pass_fds], self.info_r, limits, on_stdout,
                           idle_timeout_s, cpu_usage=usage, keep_stdout=keep_stdout)
        except BaseException:
            self._cleanup()
            raise
        finally:
            for fd in [info_w, *fds.values(), *([stdin_fd] if isinstance(stdin, bytes) else [])]:
                if fd >= 0:
                    os.close(fd)

    def wait(self) -> ExecResult:
        try:
            run = self.run
            run.wait()
            oom = self.cgroups.oom_kills() if self.cgroups is not None else 0
            if run.sandbox_pid is None and run.returncode not in (0, None) and run.kill_reason is None:
                raise SandboxError(f"bubblewrap failed to start the sandbox: {run.stderr_text().strip()[-300:]}")
            return run.result(oom_kills=oom, host_uid=self.host_uid)
        finally:
            self._cleanup()

    def kill(self, reason: str = "stop") -> None:
        self.run.kill(reason)

    def _cleanup(self) -> None:
        if self.info_r >= 0:
            os.close(self.info_r)
            self.info_r = -1
        if self.cgroups is not None:
            self.cgroups.remove()
            self.cgroups = None
