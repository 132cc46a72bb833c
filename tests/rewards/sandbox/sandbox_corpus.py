"""Hostile and benign programs for the sandbox tests (``test_sandbox.py`` loads this file by path).

Each :class:`Case` is a program (a ``string.Template``: ``$secret_file``, ``$token``, ``$port``… are
filled from the test's host context), the limits to run it under, the statuses it may end with, and
optionally a check on its :class:`~rewards.sandbox.ExecResult`. Hostile programs print ``ESCAPED`` when
an attack step works; the test also checks the host (files, processes, sockets) after the runs.
Every attack targets only the sandbox itself or loopback addresses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    statuses: tuple[str, ...]  # the statuses the run may end with
    stdin: str = ""
    timeout_s: float = 5.0  # generous: programs that must finish have time to even on a loaded machine
    memory_mb: int = 256
    check: Callable[[Any], None] | None = None  # extra assertion on the ExecResult
    needs_cgroups: bool = False  # apply ``check`` only where memory is bounded across processes
    loopback: bool = False  # run with IPv4/IPv6 sockets on the private loopback allowed


def _stdout_has(text: str) -> Callable[[Any], None]:
    def check(result: Any) -> None:
        assert text in result.stdout, (result.stdout[-500:], result.stderr[-500:])

    return check


ANY_END = ("timeout", "killed", "error", "memory", "ok", "output_limit")
FAIL_END = ("timeout", "killed", "error", "memory", "output_limit")

# Helpers pasted in front of programs that try many things: try_(label, fn) prints ESCAPED if fn succeeds.
TRY = """
import os, sys, socket, signal, time, ctypes, ctypes.util
def try_(label, fn):
    try:
        fn()
    except BaseException as exc:
        print("blocked", label, type(exc).__name__)
    else:
        print("ESCAPED", label)
def wr(path, data=b"x"):  # unbuffered: a failing write raises here, not in a swallowed flush at exit
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
def struct_flock():  # struct flock for F_OFD_SETLK: F_RDLCK, SEEK_SET, whole file, pid 0
    import struct as st
    return st.pack("hhqqi4x", 0, 0, 0, 0, 0)
def csys(label, ok, *args):  # raw syscalls, x86_64 numbers
    if os.uname().machine != "x86_64":
        return print("skipped", label)
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    r = libc.syscall(*args)
    print(("ESCAPED " if ok(r) else "blocked ") + label, r, ctypes.get_errno())
"""

TCP_FILL = (
    "import socket\ntotal = 0\ntry:\n    srv = socket.create_server(('127.0.0.1', 0), backlog=64)\nexcept OSError as e:\n"
    "    raise SystemExit(print('blocked tcp', e.errno))\nport = srv.getsockname()[1]\nkeep = []\nfor _ in range(48):\n"
    "    c = socket.create_connection(('127.0.0.1', port))\n    c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 30)\n"
    "    c.setblocking(False)\n    keep.append((c, srv.accept()[0]))\n    try:\n        while True:\n"
    "            total += c.send(b'x' * 65536)\n    except OSError:\n        pass\n"
    "print('queued MiB', total >> 20)\nif total > 256 << 20: print('ESCAPED queued beyond memory_mb', total >> 20)\n"
)

HOSTILE: list[Case] = [
    # --- time and CPU -------------------------------------------------------------------------------
    Case("infinite_loop", "while True:\n    pass\n", ("timeout",), timeout_s=1.0),
    Case("signal_ignoring_burner", "import signal\nfor s in (signal.SIGXCPU, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):\n"
         "    signal.signal(s, signal.SIG_IGN)\nwhile True:\n    pass\n", ("timeout", "killed"), timeout_s=1.0),
    Case("sleep_forever", "import time\ntime.sleep(10_000)\n", ("timeout",), timeout_s=1.0),
    Case("signal_pause", "import signal\nsignal.pause()\n", ("timeout",), timeout_s=1.0),
    # The program is the namespace's init: SIGSTOP from inside is ignored; a stopped child cannot hang the run.
    Case("stop_self", "import os, signal\nif os.fork() == 0:\n    os.kill(os.getpid(), signal.SIGSTOP)\nos.kill(os.getpid(), signal.SIGSTOP)\nos.wait()\n",
         ("timeout", "ok"), timeout_s=1.0),
    Case("burner_threads", "import threading\ndef burn():\n    while True: pass\n"
         "for _ in range(8): threading.Thread(target=burn, daemon=True).start()\nburn()\n", ("timeout", "killed"), timeout_s=1.0),
    # --- processes ----------------------------------------------------------------------------------
    Case("fork_bomb", "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        pass\n", FAIL_END, timeout_s=1.0),
    Case("thread_bomb", "import threading, time\nn = 0\ntry:\n    while True:\n"
         "        threading.Thread(target=time.sleep, args=(100,), daemon=True).start(); n += 1\n"
         "except BaseException as e:\n    print('limit after', n, type(e).__name__)\nif n > 100: print('ESCAPED', n)\n",
         ("ok", "error", "killed", "memory", "timeout"), timeout_s=1.0),
    Case("subprocess_bomb", "import subprocess, sys\nps = []\ntry:\n    for _ in range(500):\n"
         "        ps.append(subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(100)']))\n"
         "except OSError as e:\n    print('limit after', len(ps))\nif len(ps) > 100: print('ESCAPED', len(ps))\n",
         ("ok", "error", "timeout", "killed", "memory"), timeout_s=1.0),
    Case("setsid_double_fork_survivor", "import os, sys\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
         "        os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)  # $marker'])\n"
         "    os._exit(0)\nos.wait()\nprint('parent exits')\n", ("ok",)),
    Case("daemon_holds_stdout", "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    for s in range(1, 32):\n"
         "        try:\n            __import__('signal').signal(s, __import__('signal').SIG_IGN)\n        except (OSError, ValueError):\n"
         "            pass\n    os.execv(sys.executable, [sys.executable, '-c', 'import time; time.sleep(60)  # $marker'])\n"
         "print('parent done', flush=True)\n", ("ok",), check=_stdout_has("parent done")),
    Case("multiprocessing_daemon", "import multiprocessing as mp, time\ndef sleeper():\n    time.sleep(60)  # $marker\n"
         "if __name__ == '__main__':\n    p = mp.get_context('fork').Process(target=sleeper)\n    p.start()\n"
         "    import os; os._exit(0)\n", ("ok",)),
    # The sandbox's init (pid 1, also the parent) ignores signals from inside its namespace; the program lives on.
    Case("kill_parent_and_init", "import os, signal, time\nfor pid in (os.getppid(), 1):\n    try:\n"
         "        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\ntime.sleep(0.1)\nprint('still alive')\n", ("ok",),
         check=_stdout_has("still alive")),
    Case("kill_everything", "import os, signal\nos.kill(-1, signal.SIGKILL)\nprint('after kill -1')\n", ANY_END, timeout_s=1.0),
    Case("kill_host_pids", TRY + "for pid in ($canary_pid, $trainer_pid):\n"
         "    try_('kill %d' % pid, lambda: os.kill(pid, signal.SIGKILL))\n"
         "csys('syscall kill canary', lambda r: r == 0, 62, $canary_pid, 9)\n", ("ok",)),
    Case("proc_scan_kill", "import os, signal\nmine = os.getpid()\nseen = [p for p in os.listdir('/proc') if p.isdigit()]\n"
         "print('visible pids', seen)\nfor p in seen:\n    if int(p) != mine:\n        try:\n"
         "            os.kill(int(p), signal.SIGKILL)\n        except OSError:\n            pass\nif len(seen) > 4: print('ESCAPED', seen)\n",
         ("ok",)),
    Case("ptrace_host", TRY + "csys('ptrace attach trainer', lambda r: r == 0, 101, 16, $trainer_pid, 0, 0)\n"
         "csys('ptrace attach canary', lambda r: r == 0, 101, 16, $canary_pid, 0, 0)\n", ("ok",)),
    # --- memory and disk ----------------------------------------------------------------------------
    Case("memory_bomb_one_block", "x = bytearray(4 << 30)\nprint('ESCAPED allocated 4 GiB')\n", ("memory",), timeout_s=5),
    Case("memory_bomb_growth", "chunks = []\nwhile True:\n    chunks.append(bytearray(16 << 20))\n", ("memory",), timeout_s=5),
    Case("memory_bomb_mmap_touch", "import mmap\nm = mmap.mmap(-1, 1 << 30)\nfor i in range(0, 1 << 30, 4096):\n"
         "    m[i] = 1\nprint('ESCAPED touched 1 GiB')\n", ("memory", "killed"), timeout_s=5),
    Case("memory_aggregate_across_processes", "import os, time\nkids = []\nfor _ in range(4):\n    pid = os.fork()\n"
         "    if pid == 0:\n        b = bytearray(120 << 20)\n        for i in range(0, len(b), 4096): b[i] = 1\n"
         "        print('child holds 120 MiB', flush=True)\n        time.sleep(2)\n        os._exit(0)\n    kids.append(pid)\n"
         "for k in kids:\n    os.waitpid(k, 0)\n", ANY_END,
         check=lambda r: (r.stdout.count("child holds") < 3) or (_ for _ in ()).throw(AssertionError(r.stdout)),
         needs_cgroups=True, timeout_s=1.0),  # 4 x 120 MiB > 256 MiB: at most two children can hold their memory
    Case("disk_fill_scratch", "import os\nn = 0\ntry:\n    with open('/tmp/fill', 'wb') as f:\n        while True:\n"
         "            f.write(b'x' * (1 << 20)); f.flush(); n += 1\nexcept OSError as e:\n    print('stopped at', n, 'MiB', e.errno)\n"
         "if n > 300: print('ESCAPED wrote', n)\n", ("ok", "error", "killed", "memory", "timeout")),
    Case("many_files_scratch", "import os\nn = 0\ntry:\n    while n < 10**7:\n        open('/tmp/f%d' % n, 'w').close(); n += 1\n"
         "except OSError as e:\n    print('stopped at', n, e.errno)\n", ANY_END, timeout_s=1.0),
    Case("memfd_bomb", "import os\nfd = os.memfd_create('x')\nn = 0\nwhile True:\n    os.write(fd, b'm' * (16 << 20)); n += 16\n"
         "    if n > 1024: print('ESCAPED memfd', n); break\n", ("memory", "error", "killed"), timeout_s=5),
    Case("sysv_shm_bomb", "import ctypes, ctypes.util\nlibc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)\n"
         "libc.shmat.restype = ctypes.c_void_p\nsize = 1 << 30\nid_ = libc.shmget(0, ctypes.c_size_t(size), 0o1600)\n"
         "addr = libc.shmat(id_, None, 0) if id_ >= 0 else None\nif addr and addr != ctypes.c_void_p(-1).value:\n"
         "    ctypes.memset(ctypes.c_void_p(addr), 1, size)\n    print('ESCAPED touched 1 GiB of shm')\nelse:\n    print('blocked', id_)\n",
         ("memory", "killed", "ok", "error"), timeout_s=5),
    Case("shm_fill", "n = 0\ntry:\n    with open('/dev/shm/fill', 'wb') as f:\n        while True:\n"
         "            f.write(b'x' * (1 << 20)); f.flush(); n += 1\nexcept OSError as e:\n    print('stopped at', n)\n"
         "if n > 64: print('ESCAPED wrote', n)\n", ("ok", "error", "killed", "memory")),
    # --- filesystem ---------------------------------------------------------------------------------
    Case("write_outside_scratch", TRY + "for p in ['/usr/r1t-$marker', '/etc/r1t-$marker', '/r1t-$marker', '/box/r1t-$marker',\n"
         "          '/root/r1t-$marker', '$project/r1t-$marker', '$host_tmp/r1t-$marker', '/home/r1t-$marker',\n"
         "          '/proc/r1t-$marker', '/dev/r1t-$marker', '/bin/r1t-$marker']:\n"
         "    try_('write ' + p, lambda: wr(p))\n"
         "try_('write hostname', lambda: wr('/proc/sys/kernel/hostname', b'pwned'))\n"
         "try_('sysrq', lambda: wr('/proc/sysrq-trigger', b'h'))\n"
         "try_('core_pattern', lambda: wr('/proc/sys/kernel/core_pattern', b'|/tmp/x'))\n", ("ok",)),
    Case("read_secrets", TRY + "def grab(p):\n    data = open(p, 'rb').read()\n    if b'$token' in data: raise SystemExit(print('ESCAPED secret in', p))\n"
         "    raise FileNotFoundError('no secret')\n"
         "for p in ['$secret_file', '$project_secret', '/root/.bashrc', '/etc/shadow', '$project/pyproject.toml',\n"
         "          '/proc/1/environ', '/proc/self/environ', '/proc/1/root$secret_file']:\n"
         "    try:\n        grab(p)\n    except (OSError, ValueError) as e:\n        print('blocked', p, type(e).__name__)\n", ("ok",)),
    Case("list_host_dirs", "import os\nfor d in ['/root', '/home', '/work', '$project', '$host_tmp', '/sys', '/run', '/var', '/mnt', '/media', '/opt']:\n"
         "    try:\n        print('ESCAPED listed', d, os.listdir(d))\n    except OSError as e:\n        print('blocked', d, e.errno)\n"
         "print(sorted(os.listdir('/')))\n", ("ok",)),
    Case("host_users_in_etc", "t = open('/etc/passwd').read()\nif 'daemon:' in t or '_apt' in t: print('ESCAPED host passwd', t)\n"
         "import os\nif os.path.exists('/etc/shadow'): print('ESCAPED shadow exists')\n", ("ok",)),
    Case("walk_filesystem_for_token", "import os\nfor root, dirs, files in os.walk('/'):\n    if root.startswith(('/proc', '/sys', '/usr', '/dev', '/box')):  # /box holds this source\n"
         "        dirs[:] = []\n        continue\n    for f in files:\n        try:\n            if b'$token' in open(os.path.join(root, f), 'rb').read(1 << 20):\n"
         "                print('ESCAPED found token in', root, f)\n        except OSError:\n            pass\nprint('walk done')\n", ("ok",),
         timeout_s=5),
    Case("environment_leak", "import os\nprint(sorted(os.environ))\nfor k, v in os.environ.items():\n"
         "    if '$env_token' in v or 'R1TRAIN' in k: print('ESCAPED env', k)\n"
         "for p in os.listdir('/proc'):\n    if p.isdigit():\n        try:\n            e = open('/proc/%s/environ' % p, 'rb').read()\n"
         "            if b'$env_token' in e: print('ESCAPED proc environ', p)\n        except OSError:\n            pass\n", ("ok",)),
    Case("symlink_and_proc_root_tricks", TRY + "os.symlink('/proc/1/root', '/tmp/r')\ntry_('proc root', lambda: os.listdir('/tmp/r/root'))\n"
         "os.symlink('../../../../../../root', '/tmp/up')\ntry_('dotdot', lambda: os.listdir('/tmp/up'))\n"
         "try_('proc 1 cwd', lambda: os.listdir('/proc/1/cwd/root'))\n"
         "try_('open_by_handle', lambda: os.listdir('/proc/self/root/root'))\n", ("ok",)),
    Case("mount_chroot_setuid", TRY + "csys('mount tmpfs', lambda r: r == 0, 165, b'none', b'/tmp', b'tmpfs', 0, 0)\n"
         "csys('umount /usr', lambda r: r == 0, 166, b'/usr', 2)\n"
         "try_('chroot', lambda: os.chroot('/tmp'))\ntry_('setuid 0', lambda: os.setuid(0))\n"
         "try_('setgroups', lambda: os.setgroups([0]))\n"
         "csys('unshare user ns', lambda r: r == 0, 272, 0x10000000)\ncsys('unshare mount ns', lambda r: r == 0, 272, 0x20000)\n"
         "csys('setns', lambda r: r == 0, 308, 0, 0)\n", ("ok",)),
    Case("raise_rlimits", TRY + "import resource\nfor name in ('RLIMIT_NPROC', 'RLIMIT_AS', 'RLIMIT_CPU', 'RLIMIT_FSIZE', 'RLIMIT_NOFILE', 'RLIMIT_CORE'):\n"
         "    r = getattr(resource, name)\n    try_('raise ' + name, lambda: resource.setrlimit(r, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)))\n",
         ("ok",)),
    Case("setuid_binaries", "import subprocess\nfor cmd in (['su', '-c', 'id'], ['sudo', 'id'], ['mount', '-t', 'tmpfs', 'x', '/tmp'],\n"
         "            ['newgrp', 'root'], ['chsh', '-s', '/bin/sh']):\n    try:\n"
         "        out = subprocess.run(cmd, capture_output=True, text=True, timeout=2, input='')\n    except Exception as e:\n"
         "        print('blocked', cmd[0], type(e).__name__)\n        continue\n"
         "    if 'uid=0' in out.stdout or (cmd[0] == 'mount' and out.returncode == 0):\n        print('ESCAPED', cmd, out.stdout)\n"
         "    else:\n        print('blocked', cmd[0], out.returncode)\n", ("ok",), timeout_s=10),
    Case("priority_and_oom_tricks", TRY + "try_('nice -5', lambda: os.nice(-5))\n"
         "try_('SCHED_FIFO', lambda: os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(50)))\n"
         "try_('oom_score_adj -1000', lambda: wr('/proc/self/oom_score_adj', b'-1000'))\n"
         "try_('mlock', lambda: libc.mlockall(3) == 0 or (_ for _ in ()).throw(OSError('mlockall failed')))\n", ("ok",)),
    Case("devices_and_sysfs", TRY + "for p in ['/dev/mem', '/dev/kmem', '/dev/kmsg', '/dev/sda', '/dev/vda', '/dev/nvme0n1', '/dev/port', '/dev/fuse']:\n"
         "    try_('open ' + p, lambda: open(p, 'rb').read(1))\ntry_('sysfs', lambda: os.listdir('/sys/fs/cgroup'))\n"
         "try_('mknod', lambda: os.mknod('/tmp/mem', 0o600 | 0o020000, os.makedev(1, 1)))\n", ("ok",)),
    # --- network ------------------------------------------------------------------------------------
    Case("tcp_connect_host_loopback", TRY + "for host in ('127.0.0.1', 'localhost', '::1'):\n"
         "    try_('connect ' + host, lambda: socket.create_connection((host, $port), timeout=0.3))\n", ("ok",), loopback=True),
    Case("udp_to_host_loopback", TRY + "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         "for _ in range(20):\n    try:\n        s.sendto(b'$token', ('127.0.0.1', $udp_port))\n    except OSError as e:\n"
         "        print('blocked udp', e.errno)\nprint('sent')\n", ("ok",), loopback=True),
    Case("abstract_unix_socket", TRY + "def conn():\n    s = socket.socket(socket.AF_UNIX)\n    s.connect(b'\\0$abstract')\n"
         "try_('abstract', conn)\n", ("ok",)),
    Case("network_interfaces", "import socket\ntry:\n    names = socket.if_nameindex()\nexcept OSError as e:\n    names = []\n"
         "    print('blocked netlink', e.errno)\nif len(names) > 1: print('ESCAPED', names)\n", ("ok",)),
    # Issue 18: socket buffers are not charged to the v1 memory group. 48 loopback connections that are never
    # read queued 440 MiB with memory_mb=256. By default there are no IPv4/IPv6 sockets at all ...
    Case("tcp_buffers_beyond_memory_limit", TCP_FILL, ("ok",), check=_stdout_has("blocked tcp 97")),
    # ... and with loopback allowed, memory.kmem.tcp bounds the queues to a quarter of memory_mb (64 MiB).
    Case("tcp_buffers_with_loopback", TCP_FILL, ("ok", "memory", "killed"), loopback=True),
    Case("vsock_shared_with_host", TRY + "try_('AF_VSOCK socket', lambda: socket.socket(40, socket.SOCK_STREAM))\n"
         "try_('AF_VSOCK dgram', lambda: socket.socket(40, socket.SOCK_DGRAM))\n"
         "try_('AF_PACKET', lambda: socket.socket(17, socket.SOCK_RAW))\n", ("ok",)),
    # --- machine-wide resources (issue 18) ------------------------------------------------------------
    Case("aio_contexts_exhaustion", TRY + "ctx = ctypes.c_ulong(0)\nn = 0\nfor _ in range(70000):\n"
         "    ctx.value = 0\n    if libc.syscall(ctypes.c_long(206), ctypes.c_long(1), ctypes.byref(ctx)) != 0:\n        break\n"
         "    n += 1\n    if n == 1:\n        print('ESCAPED io_setup context', flush=True)\nprint('io_setup contexts', n, ctypes.get_errno())\n", ("ok",),
         timeout_s=10),
    Case("pty_slots_exhaustion", TRY + "fds = []\ntry:\n    while len(fds) < 5000:\n        fds.append(os.open('/dev/ptmx', os.O_RDWR | os.O_NOCTTY))\n"
         "except OSError as e:\n    print('stopped', e.errno)\nprint(('ESCAPED ' if fds else 'blocked ') + 'ptys opened', len(fds))\n", ("ok",)),
    Case("locks_on_shared_files", TRY + "import fcntl\nf = open(sys.executable, 'rb')\n"
         "try_('flock', lambda: fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB))\n"
         "try_('fcntl record lock', lambda: fcntl.lockf(f, fcntl.LOCK_SH | fcntl.LOCK_NB))\n"
         "try_('ofd lock', lambda: fcntl.fcntl(f, 37, struct_flock()))\n", ("ok",)),
    Case("watch_host_files", TRY + "import fcntl\n"
         "csys('inotify_init1', lambda r: r >= 0, 294, 0)\ncsys('inotify_init', lambda r: r >= 0, 253)\n"
         "csys('fanotify_init', lambda r: r >= 0, 300, 0, 0)\n"
         "d = os.open('/usr/lib', os.O_RDONLY)\ntry_('dnotify F_NOTIFY', lambda: fcntl.fcntl(d, 1026, 0x80000001))\n", ("ok",)),
    # An allowlist refuses syscalls newer than the list (ENOSYS); the old denylist let them reach the kernel.
    Case("newer_syscalls", TRY + "for name, nr, args in [('open_tree_attr', 467, (-100, 0, 0, 0, 0)), ('listmount', 458, (0, 0, 0, 0)),\n"
         "        ('statmount', 457, (0, 0, 0, 0)), ('quotactl_fd', 443, (0, 0, 0, 0)), ('memfd_secret', 447, (0,)),\n"
         "        ('io_setup', 206, (1, 0)), ('mseal', 462, (0, 0, 0)), ('lsm_get_self_attr', 459, (0, 0, 0, 0)),\n"
         "        ('cachestat', 451, (0, 0, 0, 0)), ('map_shadow_stack', 453, (0, 0, 0)), ('personality', 135, (0xffffffff,))]:\n"
         "    csys(name, lambda r: ctypes.get_errno() not in (1, 38), nr, *args)\n", ("ok",)),
    # --- output -------------------------------------------------------------------------------------
    Case("stdout_flood", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", ("output_limit",)),
    Case("stderr_flood", "import os\nwhile True:\n    os.write(2, b'e' * 65536)\n", ("output_limit",)),
    Case("single_huge_write", "import os\nos.write(1, b'y' * (64 << 20))\n", ("output_limit", "memory")),
    Case("flood_from_children", "import os\nfor _ in range(8):\n    if os.fork() == 0:\n        while True:\n"
         "            os.write(1, b'z' * 65536)\nos.wait()\n", ("output_limit",)),
    Case("close_stdout_then_hang", "import os, time\nos.close(1)\nos.close(2)\ntime.sleep(100)\n", ("timeout",), timeout_s=1.0),
    Case("binary_garbage_output", "import os\nos.write(1, bytes(range(256)) * 4)\n", ("ok",),
         check=lambda r: r.stdout.count("\ufffd") > 0 or (_ for _ in ()).throw(AssertionError("not decoded"))),
    # --- file descriptors ---------------------------------------------------------------------------
    Case("inherited_fd_scan", "import os, stat\nopen_fds = []\nfor fd in range(3, 4096):\n    try:\n        os.fstat(fd)\n"
         "        open_fds.append((fd, os.readlink('/proc/self/fd/%d' % fd)))\n    except OSError:\n        pass\n"
         "if open_fds: print('ESCAPED fds', open_fds)\nprint('fd0', os.readlink('/proc/self/fd/0'))\n", ("ok",)),
    Case("fd_limit_exhaustion", "import os\nfds = []\ntry:\n    while True:\n        fds.append(os.open('/dev/null', os.O_RDONLY))\n"
         "except OSError as e:\n    print('fd limit at', len(fds))\nif len(fds) > 1000: print('ESCAPED', len(fds))\n", ("ok",)),
    # --- ctypes and mmap ----------------------------------------------------------------------------
    Case("ctypes_segfault", "import ctypes\nctypes.string_at(0)\n", ("error", "killed")),
    Case("ctypes_kill_all", TRY + "csys('kill -1 via syscall', lambda r: False, 62, -1, 9)\n", ANY_END),
    Case("ctypes_dangerous_syscalls", TRY + "csys('bpf', lambda r: r >= 0, 321, 0, 0, 0)\ncsys('perf_event_open', lambda r: r >= 0, 298, 0, 0, -1, -1, 0)\n"
         "csys('init_module', lambda r: r == 0, 175, 0, 0, b'')\ncsys('reboot', lambda r: r == 0, 169, 0xfee1dead, 672274793, 0x4321FEDC, 0)\n"
         "csys('kexec_load', lambda r: r == 0, 246, 0, 0, 0, 0)\ncsys('settimeofday', lambda r: r == 0, 164, 0, 0)\n"
         "csys('swapoff', lambda r: r == 0, 168, b'/swap')\n", ("ok",)),
    Case("kernel_surface_syscalls", TRY + "csys('keyctl session keyring', lambda r: r >= 0, 250, 0, -3, 0)\n"
         "csys('add_key', lambda r: r >= 0, 248, b'user', b'k', b'v', 1, -3)\ncsys('io_uring_setup', lambda r: r >= 0, 425, 1, 0)\n"
         "csys('userfaultfd', lambda r: r >= 0, 323, 0)\ncsys('ptrace traceme', lambda r: r == 0, 101, 0, 0, 0, 0)\n"
         "csys('open_by_handle_at', lambda r: r >= 0, 304, -100, 0, 0)\ncsys('fsopen', lambda r: r >= 0, 430, b'tmpfs', 0)\n"
         "csys('x32 getpid', lambda r: r >= 0, 0x40000000 + 39)\n", ("ok",)),
    Case("clone_new_user_namespace", TRY + "r = libc.syscall(ctypes.c_long(56), ctypes.c_long(0x10000000 | 17), ctypes.c_long(0),\n"
         "                 ctypes.c_long(0), ctypes.c_long(0), ctypes.c_long(0)) if os.uname().machine == 'x86_64' else -1\n"
         "if r == 0:\n    os._exit(0)\nprint(('ESCAPED ' if r > 0 else 'blocked ') + 'clone(CLONE_NEWUSER)', r, ctypes.get_errno())\n",
         ("ok",)),
    Case("i386_int80_bypass", "import ctypes, mmap, os\nif os.uname().machine == 'x86_64':\n"
         "    code = bytes([0xb8, 20, 0, 0, 0, 0xcd, 0x80, 0xc3])  # mov eax, 20 (getpid, i386); int 0x80; ret\n"
         "    m = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)\n    m.write(code)\n"
         "    addr = ctypes.addressof(ctypes.c_char.from_buffer(m))\n    r = ctypes.CFUNCTYPE(ctypes.c_int)(addr)()\n"
         "    print('int80 getpid ->', r)\n    if r >= 0: print('ESCAPED seccomp via int 0x80')\n", ("ok", "error")),
    Case("mmap_proc_self_mem", "import mmap, os\nf = open('/proc/self/mem', 'rb')\nprint('opened own mem')\n"
         "try:\n    open('/proc/1/mem', 'rb').read(1)\n    print('read init mem')\nexcept OSError as e:\n    print('blocked', e.errno)\n", ANY_END),
]

# Harness tampering: run through run_tests with expected values the program cannot know ($token).
# Each must score 0 passed. "call" cases call function f; "stdio" cases expect stdout == $token.
TAMPER: list[tuple[str, str, str]] = [  # (name, kind, source)
    ("exit_zero_at_import", "call", "import os\nos._exit(0)\n"),
    ("sys_exit_at_import", "call", "import sys\nsys.exit(0)\n"),
    ("exit_zero_in_call", "call", "import os\ndef f(x):\n    os._exit(0)\n"),
    ("print_passed", "stdio", "print('PASSED')\nprint('All tests passed')\n"),
    ("always_equal_object", "call", "class E:\n    def __eq__(self, o): return True\n    def __ne__(self, o): return False\n"
     "def f(x):\n    return E()\n"),
    ("int_subclass_equal", "call", "class I(int):\n    def __eq__(self, o): return True\n    __hash__ = int.__hash__\n"
     "def f(x):\n    return I(0)\n"),
    ("str_subclass_equal", "call", "class S(str):\n    def __eq__(self, o): return True\n    __hash__ = str.__hash__\n"
     "def f(x):\n    return S('guess')\n"),
    ("forge_result_lines", "call", "import os, threading, time\ndef forge():\n    for _ in range(50):\n"
     "        for fd in range(1, 8):\n            try:\n                os.write(fd, b'{\"ready\": true}\\n{\"i\": 0, \"value\": \"PASSED\"}\\n{\"done\": true}\\n')\n"
     "            except OSError:\n                pass\n        time.sleep(0.01)\nthreading.Thread(target=forge).start()\n"
     "def f(x):\n    forge()\n    return 'guess'\n"),
    ("patch_builtins_and_json", "call", "import builtins, json\nbuiltins.isinstance = lambda *a: True\nbuiltins.type = lambda *a: str\n"
     "json.dumps = lambda *a, **k: '{\"i\": 0, \"value\": \"PASSED\"}'\ndef f(x):\n    return 'guess'\n"),
    ("override_exit_and_atexit", "call", "import sys, atexit, os\nsys.exit = lambda *a: None\nos._exit = lambda *a: None\n"
     "atexit.register(lambda: print('{\"i\": 0, \"value\": \"PASSED\"}'))\ndef f(x):\n    raise SystemExit(0)\n"),
    ("search_for_expected", "call", "import os\ndef f(x):\n    found = []\n    for root, ds, fs in os.walk('/'):\n"
     "        if root.startswith(('/proc/sys', '/sys', '/usr', '/dev')):\n            ds[:] = []\n            continue\n"
     "        for n in fs:\n            try:\n                found.append(open(os.path.join(root, n), 'rb').read(1 << 16))\n"
     "            except OSError:\n                pass\n    blob = b''.join(found)\n    i = blob.find(b'tok-')\n"
     "    return blob[i:i + 40].decode('latin-1') if i >= 0 else 'nothing'\n"),
    ("search_for_expected_stdio", "stdio", "import os, sys\nseen = sys.stdin.read()\nfor root, ds, fs in os.walk('/'):\n"
     "    if root.startswith(('/proc/sys', '/sys', '/usr', '/dev')):\n        ds[:] = []\n        continue\n    for n in fs:\n"
     "        try:\n            b = open(os.path.join(root, n), 'rb').read(1 << 16)\n        except OSError:\n            continue\n"
     "        i = b.find(b'tok-')\n        if i >= 0:\n            print(b[i:i + 40].decode('latin-1'))\n"),
    ("overwrite_harness", "call", "for p in ('/box/harness.py', '/box/calls.json'):\n    try:\n        open(p, 'w').write('')\n"
     "    except OSError:\n        pass\ndef f(x):\n    return 'guess'\n"),
    ("keyboard_interrupt_in_call", "call", "def f(x):\n    raise KeyboardInterrupt\n"),
    ("deeply_nested_result_lines", "call", "import os\ndef f(x):\n    deep = b'[' * 200000 + b']' * 200000\n"
     "    tagged = b'{\"tuple\": ' * 5000 + b'1' + b'}' * 5000\n    for fd in range(1, 8):\n        try:\n"
     "            os.write(fd, b'{\"i\": 0, \"value\": ' + deep + b'}\\n{\"i\": 1, \"value\": ' + tagged + b'}\\n')\n"
     "        except OSError:\n            pass\n    return deep\n"),
    ("deeply_nested_return_value", "call", "def f(x):\n    v = []\n    for _ in range(100000):\n        v = [v]\n    return v\n"),
]

BENIGN: list[Case] = [
    Case("hello", "print('hello')\n", ("ok",), check=lambda r: r.stdout == "hello\n" or _fail(r)),
    Case("stdin_parsing", "import sys\nn = int(sys.stdin.readline())\nxs = list(map(int, sys.stdin.readline().split()))\n"
         "print(n, sum(xs))\nfor line in sys.stdin:\n    print(line.strip()[::-1])\n",
         ("ok",), stdin="3\n1 2 3\nabc\nxy\n", check=lambda r: r.stdout == "3 6\ncba\nyx\n" or _fail(r)),
    Case("input_builtin_eof", "a = input()\ntry:\n    input()\nexcept EOFError:\n    print('eof after', a)\n", ("ok",), stdin="x",
         check=_stdout_has("eof after x")),
    Case("deep_recursion_raised_limit", "import sys\nsys.setrecursionlimit(200000)\ndef d(n):\n    return 0 if n == 0 else 1 + d(n - 1)\n"
         "print(d(100000))\n", ("ok",), timeout_s=10, check=_stdout_has("100000")),
    Case("raised_stack_limit_idiom", "import resource, sys, threading\n"
         "resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))\n"
         "sys.setrecursionlimit(10 ** 6)\nthreading.stack_size(1 << 27)\ndef dfs(n):\n    return 0 if n == 0 else 1 + dfs(n - 1)\n"
         "out = []\nt = threading.Thread(target=lambda: out.append(dfs(200000)))\nt.start()\nt.join()\nprint(out[0])\n",
         ("ok",), timeout_s=10, check=_stdout_has("200000")),
    Case("lru_cache_recursion", "import sys, functools\nsys.setrecursionlimit(100000)\n@functools.lru_cache(None)\n"
         "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\nprint(fib(5000) % 1000000007)\n", ("ok",), timeout_s=10),
    Case("allocate_50mb", "b = bytearray(50 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nxs = list(range(1_000_000))\n"
         "print(len(b) >> 20, sum(xs))\n", ("ok",), memory_mb=512, timeout_s=10, check=_stdout_has("50 499999500000")),
    Case("one_second_of_cpu", "import time\nt = time.process_time()\nn = 0\nwhile time.process_time() - t < 1.0:\n    n += 1\n"
         "print('spun', n > 0)\n", ("ok",), timeout_s=20, check=_stdout_has("spun True")),
    Case("one_mb_of_output", "import sys\nfor i in range(16384):\n    sys.stdout.write('%063d\\n' % i)\n", ("ok",), timeout_s=10,
         check=lambda r: len(r.stdout) == 1 << 20 or _fail(r)),
    Case("stdlib_modules", "import collections, itertools, heapq, bisect, math, functools, re, json, datetime, decimal, fractions\n"
         "import random, string, statistics, typing, dataclasses, array, operator, copy, enum, textwrap, hashlib, struct, io, csv\n"
         "print(math.comb(10, 3), heapq.nsmallest(2, [5, 1, 3]), bisect.bisect([1, 2, 4], 3), collections.Counter('aab')['a'],\n"
         "      decimal.Decimal('0.1') + decimal.Decimal('0.2'), fractions.Fraction(1, 3) * 3, hashlib.sha256(b'').hexdigest()[:8])\n",
         ("ok",), timeout_s=10, check=_stdout_has("120 [1, 3] 2 2 0.3 1 e3b0c442")),
    Case("threads", "import threading\nout = [0] * 4\ndef w(i):\n    out[i] = sum(range(100000 * (i + 1)))\n"
         "ts = [threading.Thread(target=w, args=(i,)) for i in range(4)]\n[t.start() for t in ts]\n[t.join() for t in ts]\n"
         "print(out[0])\n", ("ok",), timeout_s=10, check=_stdout_has("4999950000")),
    Case("multiprocessing_pool", "import multiprocessing as mp\ndef sq(x):\n    return x * x\nif __name__ == '__main__':\n"
         "    with mp.get_context('fork').Pool(2) as p:\n        print(sum(p.map(sq, range(100))))\n", ("ok",), timeout_s=15,
         check=_stdout_has("328350")),
    Case("subprocess_python", "import subprocess, sys\nprint(subprocess.run([sys.executable, '-c', 'print(6 * 7)'],\n"
         "    capture_output=True, text=True).stdout.strip())\n", ("ok",), timeout_s=10, check=_stdout_has("42")),
    Case("scratch_files", "import tempfile, os\nwith tempfile.TemporaryDirectory() as d:\n    p = os.path.join(d, 'a.txt')\n"
         "    open(p, 'w').write('data' * 1000)\n    print(len(open(p).read()), os.getcwd())\nopen('rel.txt', 'w').write('x')\n",
         ("ok",), timeout_s=10, check=_stdout_has("4000 /tmp")),
    Case("unicode_output", "print('h\\u00e9llo \\u2713 \\u4e16\\u754c')\n", ("ok",),
         check=lambda r: r.stdout == "h\u00e9llo \u2713 \u4e16\u754c\n" or _fail(r)),
    Case("time_and_user", "import time, datetime, getpass, os, socket\nprint(datetime.datetime.now().year > 2000, time.localtime().tm_year > 2000,\n"
         "      getpass.getuser(), os.path.expanduser('~'), socket.gethostname())\n", ("ok",), timeout_s=10,
         check=_stdout_has("True True sandbox /tmp sandbox")),
    Case("loopback_inside_sandbox", "import socket, threading\nsrv = socket.create_server(('127.0.0.1', 0))\nport = srv.getsockname()[1]\n"
         "def serve():\n    c, _ = srv.accept()\n    c.sendall(c.recv(10).upper())\n    c.close()\nthreading.Thread(target=serve).start()\n"
         "c = socket.create_connection(('127.0.0.1', port))\nc.sendall(b'ping')\nprint(c.recv(10).decode())\n", ("ok",), timeout_s=10,
         check=_stdout_has("PING"), loopback=True),
    Case("unix_socketpair", "import socket\na, b = socket.socketpair()\na.sendall(b'pong')\nprint(b.recv(10).decode())\n", ("ok",),
         check=_stdout_has("pong")),
    Case("asyncio_and_selectors", "import asyncio\nasync def main():\n    await asyncio.sleep(0.01)\n    return 'async ok'\nprint(asyncio.run(main()))\n",
         ("ok",), timeout_s=10, check=_stdout_has("async ok")),
    Case("large_stdin", "import sys\ndata = sys.stdin.buffer.read()\nprint(len(data), data.count(b'\\n'))\n", ("ok",),
         stdin="123456789\n" * 200_000, timeout_s=10, check=_stdout_has("2000000 200000")),
    Case("exit_code_reported", "import sys\nprint('bye')\nsys.exit(3)\n", ("error",),
         check=lambda r: r.exit_code == 3 or _fail(r)),
    Case("exception_reported", "raise ValueError('boom')\n", ("error",),
         check=lambda r: "ValueError: boom" in r.stderr or _fail(r)),
]


def _fail(result: Any) -> None:
    raise AssertionError(f"unexpected output: {result.stdout[-300:]!r} / {result.stderr[-300:]!r}")
