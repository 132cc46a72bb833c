"""Syscall numbers for the sandbox's seccomp allowlist (:mod:`rewards.sandbox.seccomp`), per machine.

Numbers are the kernel's (``arch/x86/entry/syscalls/syscall_64.tbl`` for x86-64, the generic table
``include/uapi/asm-generic/unistd.h`` for aarch64), read from this machine's linux-libc-dev headers
(``asm/unistd_64.h``, ``asm-generic/unistd.h``, Linux 6.1) plus ``fchmodat2`` (452, Linux 6.6). A
syscall missing from a machine's table (aarch64 has no ``open``, ``fork``…: libc uses ``openat``,
``clone``) is simply not allowed there.
"""

# The filter tests numbers in this order: the calls a Python start-up makes most come first.
HOT = "newfstatat rt_sigaction read lseek openat close mmap ioctl getdents64 brk fstat write futex mprotect".split()
ALLOWED = """
    read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 open openat openat2 close
    close_range creat lseek stat fstat lstat newfstatat statx statfs fstatfs access faccessat faccessat2
    readlink readlinkat getdents getdents64 getcwd chdir fchdir mkdir mkdirat rmdir unlink unlinkat rename
    renameat renameat2 link linkat symlink symlinkat chmod fchmod fchmodat fchmodat2 chown fchown lchown
    fchownat truncate ftruncate fallocate fsync fdatasync sync_file_range fadvise64 utime utimes utimensat
    futimesat umask dup dup2 dup3 pipe pipe2 ioctl sendfile copy_file_range splice tee memfd_create select
    pselect6 poll ppoll epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 eventfd
    eventfd2 signalfd signalfd4 timerfd_create timerfd_settime timerfd_gettime getxattr lgetxattr fgetxattr
    listxattr llistxattr flistxattr brk mmap munmap mremap mprotect madvise msync mincore membarrier clone fork
    vfork execve execveat exit exit_group wait4 waitid kill tkill tgkill getpid getppid gettid getpgid setpgid
    getpgrp getsid setsid getuid geteuid getgid getegid getgroups getresuid getresgid prctl arch_prctl
    set_tid_address set_robust_list get_robust_list rseq futex futex_waitv sched_yield sched_getaffinity
    sched_setaffinity sched_getparam sched_getscheduler sched_get_priority_max sched_get_priority_min
    getpriority setpriority nanosleep clock_nanosleep clock_gettime clock_getres gettimeofday time times
    getrusage getrlimit setrlimit prlimit64 sysinfo uname getrandom capget pidfd_open pidfd_send_signal
    restart_syscall alarm setitimer getitimer timer_create timer_settime timer_gettime timer_getoverrun
    timer_delete pause rt_sigaction rt_sigprocmask rt_sigreturn rt_sigsuspend rt_sigpending rt_sigtimedwait
    rt_sigqueueinfo rt_tgsigqueueinfo sigaltstack getcpu shmget shmat shmdt shmctl semget semop semctl
    semtimedop msgget msgsnd msgrcv msgctl socket socketpair bind connect listen accept accept4 getsockname
    getpeername sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown setsockopt getsockopt fcntl
""".split()
ALLOWED = HOT + [name for name in ALLOWED if name not in HOT]

# Audit architecture (linux/audit.h) and number of each allowed syscall.
TABLES: dict[str, tuple[int, dict[str, int]]] = {
    "x86_64": (0xC000003E, {
        "read": 0, "write": 1, "readv": 19, "writev": 20, "pread64": 17, "pwrite64": 18, "preadv": 295,
        "pwritev": 296, "preadv2": 327, "pwritev2": 328, "open": 2, "openat": 257, "openat2": 437, "close": 3,
        "close_range": 436, "creat": 85, "lseek": 8, "stat": 4, "fstat": 5, "lstat": 6, "newfstatat": 262,
        "statx": 332, "statfs": 137, "fstatfs": 138, "access": 21, "faccessat": 269, "faccessat2": 439,
        "readlink": 89, "readlinkat": 267, "getdents": 78, "getdents64": 217, "getcwd": 79, "chdir": 80,
        "fchdir": 81, "mkdir": 83, "mkdirat": 258, "rmdir": 84, "unlink": 87, "unlinkat": 263, "rename": 82,
        "renameat": 264, "renameat2": 316, "link": 86, "linkat": 265, "symlink": 88, "symlinkat": 266, "chmod": 90,
        "fchmod": 91, "fchmodat": 268, "fchmodat2": 452, "chown": 92, "fchown": 93, "lchown": 94, "fchownat": 260,
        "truncate": 76, "ftruncate": 77, "fallocate": 285, "fsync": 74, "fdatasync": 75, "sync_file_range": 277,
        "fadvise64": 221, "utime": 132, "utimes": 235, "utimensat": 280, "futimesat": 261, "umask": 95, "dup": 32,
        "dup2": 33, "dup3": 292, "pipe": 22, "pipe2": 293, "ioctl": 16, "sendfile": 40, "copy_file_range": 326,
        "splice": 275, "tee": 276, "memfd_create": 319, "select": 23, "pselect6": 270, "poll": 7, "ppoll": 271,
        "epoll_create": 213, "epoll_create1": 291, "epoll_ctl": 233, "epoll_wait": 232, "epoll_pwait": 281,
        "epoll_pwait2": 441, "eventfd": 284, "eventfd2": 290, "signalfd": 282, "signalfd4": 289,
        "timerfd_create": 283, "timerfd_settime": 286, "timerfd_gettime": 287, "getxattr": 191, "lgetxattr": 192,
        "fgetxattr": 193, "listxattr": 194, "llistxattr": 195, "flistxattr": 196, "brk": 12, "mmap": 9,
        "munmap": 11, "mremap": 25, "mprotect": 10, "madvise": 28, "msync": 26, "mincore": 27, "membarrier": 324,
        "clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "exit": 60, "exit_group": 231,
        "wait4": 61, "waitid": 247, "kill": 62, "tkill": 200, "tgkill": 234, "getpid": 39, "getppid": 110,
        "gettid": 186, "getpgid": 121, "setpgid": 109, "getpgrp": 111, "getsid": 124, "setsid": 112, "getuid": 102,
        "geteuid": 107, "getgid": 104, "getegid": 108, "getgroups": 115, "getresuid": 118, "getresgid": 120,
        "prctl": 157, "arch_prctl": 158, "set_tid_address": 218, "set_robust_list": 273, "get_robust_list": 274,
        "rseq": 334, "futex": 202, "futex_waitv": 449, "sched_yield": 24, "sched_getaffinity": 204,
        "sched_setaffinity": 203, "sched_getparam": 143, "sched_getscheduler": 145, "sched_get_priority_max": 146,
        "sched_get_priority_min": 147, "getpriority": 140, "setpriority": 141, "nanosleep": 35,
        "clock_nanosleep": 230, "clock_gettime": 228, "clock_getres": 229, "gettimeofday": 96, "time": 201,
        "times": 100, "getrusage": 98, "getrlimit": 97, "setrlimit": 160, "prlimit64": 302, "sysinfo": 99,
        "uname": 63, "getrandom": 318, "capget": 125, "pidfd_open": 434, "pidfd_send_signal": 424,
        "restart_syscall": 219, "alarm": 37, "setitimer": 38, "getitimer": 36, "timer_create": 222,
        "timer_settime": 223, "timer_gettime": 224, "timer_getoverrun": 225, "timer_delete": 226, "pause": 34,
        "rt_sigaction": 13, "rt_sigprocmask": 14, "rt_sigreturn": 15, "rt_sigsuspend": 130, "rt_sigpending": 127,
        "rt_sigtimedwait": 128, "rt_sigqueueinfo": 129, "rt_tgsigqueueinfo": 297, "sigaltstack": 131,
        "getcpu": 309, "shmget": 29, "shmat": 30, "shmdt": 67, "shmctl": 31, "semget": 64, "semop": 65,
        "semctl": 66, "semtimedop": 220, "msgget": 68, "msgsnd": 69, "msgrcv": 70, "msgctl": 71, "socket": 41,
        "socketpair": 53, "bind": 49, "connect": 42, "listen": 50, "accept": 43, "accept4": 288, "getsockname": 51,
        "getpeername": 52, "sendto": 44, "recvfrom": 45, "sendmsg": 46, "recvmsg": 47, "sendmmsg": 307,
        "recvmmsg": 299, "shutdown": 48, "setsockopt": 54, "getsockopt": 55, "fcntl": 72,
    }),
    "aarch64": (0xC00000B7, {
        "read": 63, "write": 64, "readv": 65, "writev": 66, "pread64": 67, "pwrite64": 68, "preadv": 69,
        "pwritev": 70, "preadv2": 286, "pwritev2": 287, "openat": 56, "openat2": 437, "close": 57,
        "close_range": 436, "lseek": 62, "fstat": 80, "newfstatat": 79, "statx": 291, "statfs": 43, "fstatfs": 44,
        "faccessat": 48, "faccessat2": 439, "readlinkat": 78, "getdents64": 61, "getcwd": 17, "chdir": 49,
        "fchdir": 50, "mkdirat": 34, "unlinkat": 35, "renameat": 38, "renameat2": 276, "linkat": 37,
        "symlinkat": 36, "fchmod": 52, "fchmodat": 53, "fchmodat2": 452, "fchown": 55, "fchownat": 54,
        "truncate": 45, "ftruncate": 46, "fallocate": 47, "fsync": 82, "fdatasync": 83, "sync_file_range": 84,
        "fadvise64": 223, "utimensat": 88, "umask": 166, "dup": 23, "dup3": 24, "pipe2": 59, "ioctl": 29,
        "sendfile": 71, "copy_file_range": 285, "splice": 76, "tee": 77, "memfd_create": 279, "pselect6": 72,
        "ppoll": 73, "epoll_create1": 20, "epoll_ctl": 21, "epoll_pwait": 22, "epoll_pwait2": 441, "eventfd2": 19,
        "signalfd4": 74, "timerfd_create": 85, "timerfd_settime": 86, "timerfd_gettime": 87, "getxattr": 8,
        "lgetxattr": 9, "fgetxattr": 10, "listxattr": 11, "llistxattr": 12, "flistxattr": 13, "brk": 214,
        "mmap": 222, "munmap": 215, "mremap": 216, "mprotect": 226, "madvise": 233, "msync": 227, "mincore": 232,
        "membarrier": 283, "clone": 220, "execve": 221, "execveat": 281, "exit": 93, "exit_group": 94,
        "wait4": 260, "waitid": 95, "kill": 129, "tkill": 130, "tgkill": 131, "getpid": 172, "getppid": 173,
        "gettid": 178, "getpgid": 155, "setpgid": 154, "getsid": 156, "setsid": 157, "getuid": 174, "geteuid": 175,
        "getgid": 176, "getegid": 177, "getgroups": 158, "getresuid": 148, "getresgid": 150, "prctl": 167,
        "set_tid_address": 96, "set_robust_list": 99, "get_robust_list": 100, "rseq": 293, "futex": 98,
        "futex_waitv": 449, "sched_yield": 124, "sched_getaffinity": 123, "sched_setaffinity": 122,
        "sched_getparam": 121, "sched_getscheduler": 120, "sched_get_priority_max": 125,
        "sched_get_priority_min": 126, "getpriority": 141, "setpriority": 140, "nanosleep": 101,
        "clock_nanosleep": 115, "clock_gettime": 113, "clock_getres": 114, "gettimeofday": 169, "times": 153,
        "getrusage": 165, "getrlimit": 163, "setrlimit": 164, "prlimit64": 261, "sysinfo": 179, "uname": 160,
        "getrandom": 278, "capget": 90, "pidfd_open": 434, "pidfd_send_signal": 424, "restart_syscall": 128,
        "setitimer": 103, "getitimer": 102, "timer_create": 107, "timer_settime": 110, "timer_gettime": 108,
        "timer_getoverrun": 109, "timer_delete": 111, "rt_sigaction": 134, "rt_sigprocmask": 135,
        "rt_sigreturn": 139, "rt_sigsuspend": 133, "rt_sigpending": 136, "rt_sigtimedwait": 137,
        "rt_sigqueueinfo": 138, "rt_tgsigqueueinfo": 240, "sigaltstack": 132, "getcpu": 168, "shmget": 194,
        "shmat": 196, "shmdt": 197, "shmctl": 195, "semget": 190, "semop": 193, "semctl": 191, "semtimedop": 192,
        "msgget": 186, "msgsnd": 189, "msgrcv": 188, "msgctl": 187, "socket": 198, "socketpair": 199, "bind": 200,
        "connect": 203, "listen": 201, "accept": 202, "accept4": 242, "getsockname": 204, "getpeername": 205,
        "sendto": 206, "recvfrom": 207, "sendmsg": 211, "recvmsg": 212, "sendmmsg": 269, "recvmmsg": 243,
        "shutdown": 210, "setsockopt": 208, "getsockopt": 209, "fcntl": 25,
    }),
}
