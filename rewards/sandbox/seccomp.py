"""A seccomp filter for the code sandbox: deny syscalls no judged program needs, shrinking the kernel surface.

bubblewrap loads the filter (``--seccomp FD``) just before the program starts; it stays for every
process the program creates. The namespaces and the unprivileged uid already stop most of these calls
(mounting, loading modules, rebooting need capabilities the program lacks); the filter adds a second
wall and closes the calls that are allowed to unprivileged users but reach large or shared kernel code:
kernel keyrings (which user namespaces do not separate), ``bpf``, ``perf_event_open``, ``userfaultfd``,
``io_uring``, ``ptrace`` and cross-process memory access, ``open_by_handle_at``, the new mount API, and
namespace changes. Denied calls fail with ``EPERM``; everything else is allowed. On x86-64 the filter
also refuses 32-bit (``int 0x80``) and x32 system calls, whose different numbers would slip past it.

``filter_bytes()`` returns the compiled classic-BPF program (``struct sock_filter`` array) for this
machine's architecture, or ``None`` where no table exists (then the sandbox runs without the filter and
says so in ``describe_isolation()``).
"""

from __future__ import annotations

import os
import struct

# BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
LD_W_ABS, JEQ_K, JGE_K, RET_K = 0x20, 0x15, 0x35, 0x06
RET_ALLOW, RET_ERRNO, EPERM = 0x7FFF0000, 0x00050000, 1
OFFSET_NR, OFFSET_ARCH = 0, 4
X32_SYSCALL_BIT = 0x40000000

DENIED = (
    "ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "keyctl", "add_key", "request_key",
    "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "mount", "umount2",
    "pivot_root", "swapon", "swapoff", "reboot", "acct", "syslog", "quotactl", "open_by_handle_at",
    "name_to_handle_at", "unshare", "setns", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
    "fspick", "mount_setattr", "lookup_dcookie", "vhangup", "uselib", "settimeofday", "clock_settime",
    "adjtimex", "clock_adjtime", "fanotify_init",
)

# (audit arch, syscall numbers) per machine; numbers from the kernel's syscall tables.
TABLES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (0xC000003E, {
        "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "pidfd_getfd": 438, "keyctl": 250,
        "add_key": 248, "request_key": 249, "bpf": 321, "perf_event_open": 298, "userfaultfd": 323,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "kexec_load": 246,
        "kexec_file_load": 320, "init_module": 175, "finit_module": 313, "delete_module": 176, "mount": 165,
        "umount2": 166, "pivot_root": 155, "swapon": 167, "swapoff": 168, "reboot": 169, "acct": 163,
        "syslog": 103, "quotactl": 179, "open_by_handle_at": 304, "name_to_handle_at": 303, "unshare": 272,
        "setns": 308, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "lookup_dcookie": 212, "vhangup": 153, "uselib": 134,
        "settimeofday": 164, "clock_settime": 227, "adjtimex": 159, "clock_adjtime": 305, "fanotify_init": 300,
    }),
    "aarch64": (0xC00000B7, {
        "ptrace": 117, "process_vm_readv": 270, "process_vm_writev": 271, "pidfd_getfd": 438, "keyctl": 219,
        "add_key": 217, "request_key": 218, "bpf": 280, "perf_event_open": 241, "userfaultfd": 282,
        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427, "kexec_load": 104,
        "kexec_file_load": 294, "init_module": 105, "finit_module": 273, "delete_module": 106, "mount": 40,
        "umount2": 39, "pivot_root": 41, "swapon": 224, "swapoff": 225, "reboot": 142, "acct": 89,
        "syslog": 116, "quotactl": 60, "open_by_handle_at": 265, "name_to_handle_at": 264, "unshare": 97,
        "setns": 268, "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
        "fspick": 433, "mount_setattr": 442, "lookup_dcookie": 18, "vhangup": 58, "settimeofday": 170,
        "clock_settime": 112, "adjtimex": 171, "clock_adjtime": 266, "fanotify_init": 262,
    }),
}


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k)


def compile_filter(arch: int, numbers: list[int], *, deny_x32: bool) -> bytes:
    """Classic BPF: wrong arch -> EPERM; x32 -> EPERM; any listed number -> EPERM; else allow."""
    deny = RET_ERRNO | EPERM
    prog = [_insn(LD_W_ABS, 0, 0, OFFSET_ARCH), _insn(JEQ_K, 1, 0, arch), _insn(RET_K, 0, 0, deny)]
    prog.append(_insn(LD_W_ABS, 0, 0, OFFSET_NR))
    checks = ([X32_SYSCALL_BIT] if deny_x32 else []) + sorted(set(numbers))
    for n, nr in enumerate(checks):
        to_deny = len(checks) - n  # instructions left before the deny return (allow sits in between)
        prog.append(_insn(JGE_K if deny_x32 and n == 0 else JEQ_K, to_deny, 0, nr))
    prog += [_insn(RET_K, 0, 0, RET_ALLOW), _insn(RET_K, 0, 0, deny)]
    return b"".join(prog)


def filter_bytes(machine: str | None = None) -> bytes | None:
    """The compiled filter for ``machine`` (default: this one), or None if there is no table for it."""
    machine = machine or os.uname().machine
    if machine not in TABLES:
        return None
    arch, table = TABLES[machine]
    return compile_filter(arch, [table[name] for name in DENIED if name in table], deny_x32=machine == "x86_64")
