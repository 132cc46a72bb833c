"""The sandbox's seccomp filter: an allowlist of the syscalls judged Python programs need, compiled to BPF.

bubblewrap loads the filter (``--seccomp FD``) just before the program starts; it stays for every
process the program creates. Only the syscalls in :data:`rewards.sandbox.syscalls.ALLOWED` pass (file
I/O, memory, processes and threads, signals, time, pipes, epoll, SysV IPC in the private IPC namespace,
sockets); every other one fails with ``ENOSYS``, as if the kernel were older, which libc and Python
handle (``clone3`` falls back to ``clone``). An allowlist is the robust shape: a syscall added to the
kernel after this list was written (``listmount``, ``statmount``, ``open_tree_attr``, ``mseal``…) is
refused without anyone having to know about it, where the old denylist let each new one through.

Refused, among others: ``io_setup`` and the rest of Linux AIO (the 65,536 AIO contexts are one
machine-wide pool: a run could take them all), ``io_uring``, ``inotify``/``fanotify`` (watches on the
shared read-only ``/usr`` would observe the host's file accesses), ``flock`` (locks on shared files are
seen by the host and by other runs), keyrings, ``bpf``, ``perf_event_open``, ``userfaultfd``,
``ptrace`` and cross-process memory access, the mount API, namespace changes, ``memfd_secret``,
``quotactl_fd``, module loading, clock setting, ``personality``, NUMA policy, POSIX message queues.
Three calls are allowed only with some arguments:

* ``socket``/``socketpair``: ``AF_UNIX`` only, unless the run asks for ``loopback`` (then also
  ``AF_INET``/``AF_INET6``, on the run's private loopback, whose socket buffers the run's memory group
  bounds through ``memory.kmem.tcp``). ``AF_VSOCK`` (ports shared with the host), netlink, packet and
  every other family fail with ``EAFNOSUPPORT``.
* ``fcntl``: everything but record locks (``F_SETLK``, ``F_SETLKW``, ``F_OFD_SETLK``, ``F_OFD_SETLKW``:
  shared with the host like ``flock``), leases and ``F_NOTIFY`` (dnotify, inotify's ancestor), which fail
  with ``EPERM``.

On x86-64 the filter also refuses 32-bit (``int 0x80``) and x32 system calls, whose different numbers
would slip past it. ``filter_bytes()`` returns the compiled classic-BPF program (``struct sock_filter``
array) for this machine, or ``None`` where no table exists (the sandbox then runs without a filter and
says so in ``describe_isolation()``).
"""

from __future__ import annotations

import functools
import os
import struct

from rewards.sandbox.syscalls import ALLOWED, TABLES

# BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
EPERM, ENOSYS, EAFNOSUPPORT = 1, 38, 97
OFFSET_NR, OFFSET_ARCH = 0, 4
X32_SYSCALL_BIT = 0x40000000
AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
# fcntl commands refused: F_SETLK, F_SETLKW, F_OFD_SETLK, F_OFD_SETLKW, F_SETLEASE, F_NOTIFY.
FCNTL_DENIED = (6, 7, 37, 38, 1024, 1026)
ARGUMENT_CHECKED = ("socket", "socketpair", "fcntl")


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def _arg_low(n: int) -> int:
    """Offset of the low 32 bits of argument ``n`` in ``struct seccomp_data`` (little-endian machines)."""
    return 16 + 8 * n


def _one_of(offset: int, values: tuple[int, ...], hit: int, miss: int) -> list[bytes]:
    """Load a 32-bit word; return ``hit`` if it is one of ``values``, else ``miss``."""
    prog = [_insn(LD_W_ABS, 0, 0, offset)]
    for n, value in enumerate(values):
        prog.append(_insn(JEQ_K, len(values) - n, 0, value))  # jump to the "hit" return
    return prog + [_insn(RET_K, 0, 0, miss), _insn(RET_K, 0, 0, hit)]


def compile_filter(arch: int, allowed: dict[str, int], *, deny_x32: bool, inet: bool = False) -> bytes:
    """Classic BPF: wrong arch or x32 -> ENOSYS; allowed numbers (some with argument checks) -> allow;
    every other syscall -> ENOSYS."""
    nosys = RET_ERRNO | ENOSYS
    prog = [_insn(LD_W_ABS, 0, 0, OFFSET_ARCH), _insn(JEQ_K, 1, 0, arch), _insn(RET_K, 0, 0, nosys)]
    prog.append(_insn(LD_W_ABS, 0, 0, OFFSET_NR))
    if deny_x32:
        prog += [_insn(JGE_K, 0, 1, X32_SYSCALL_BIT), _insn(RET_K, 0, 0, nosys)]
    families = (AF_UNIX, AF_INET, AF_INET6) if inet else (AF_UNIX,)
    blocks = {
        "socket": _one_of(_arg_low(0), families, RET_ALLOW, RET_ERRNO | EAFNOSUPPORT),
        "socketpair": _one_of(_arg_low(0), families, RET_ALLOW, RET_ERRNO | EAFNOSUPPORT),
        "fcntl": _one_of(_arg_low(1), FCNTL_DENIED, RET_ERRNO | EPERM, RET_ALLOW),
    }
    for name, block in blocks.items():
        if name in allowed:  # the block returns; other numbers jump over it
            prog += [_insn(JEQ_K, 0, len(block), allowed[name]), *block]
    for name, nr in allowed.items():
        if name not in blocks:
            prog += [_insn(JEQ_K, 0, 1, nr), _insn(RET_K, 0, 0, RET_ALLOW)]
    prog.append(_insn(RET_K, 0, 0, nosys))
    return b"".join(prog)


@functools.lru_cache(maxsize=8)
def filter_bytes(machine: str | None = None, *, inet: bool = False) -> bytes | None:
    """The compiled filter for ``machine`` (default: this one), or None if there is no table for it.

    ``inet`` also allows IPv4/IPv6 sockets (the run's private loopback only; see the module docstring).
    """
    machine = machine or os.uname().machine
    if machine not in TABLES:
        return None
    arch, table = TABLES[machine]
    allowed = {name: table[name] for name in ALLOWED if name in table}
    return compile_filter(arch, allowed, deny_x32=machine == "x86_64", inet=inet)
