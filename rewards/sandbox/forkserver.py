"""The sandbox launcher process: forks, prepares and execs every bubblewrap; this file runs as a script.

:mod:`rewards.sandbox.launcher` starts it once per trainer process (``python -I -S -B forkserver.py FD``,
a small single-threaded process, so a fork costs a fraction of a millisecond whatever the trainer's
size) with one end of a ``SOCK_SEQPACKET`` socket pair, whose number is its argument. Each request is a marshal of
``{"argv", "targets", "oom", "join", "rlimits", "uid"}`` with the descriptors the program gets (its stdin,
stdout and stderr pipes, bubblewrap's inputs) attached. The forked child, before ``execve(bwrap)``:

1. puts each received descriptor at its target number and closes every other descriptor, starts a
   session, restores the signals Python ignores (SIGPIPE, SIGXFSZ);
2. makes itself the OOM killer's first choice (``oom_score_adj`` 1000; as root this also pins the
   minimum, so the program cannot lower it);
3. joins the run's cgroups (``0`` to each ``tasks`` file: the whole single-threaded process moves
   without the kernel's global migration lock);
4. sets the rlimits (as root this may raise them);
5. with ``uid`` (the trainer is root): drops every capability from the bounding set, clears the
   supplementary groups, becomes ``uid``/``uid`` (real, effective, saved), clears the inheritable set,
   and sets ``no_new_privs``: what ``setpriv --reuid --regid --clear-groups --inh-caps=-all
   --bounding-set=-all --no-new-privs`` did, one exec and a shell fewer per program.

A step that fails aborts the launch: the child writes why on a close-on-exec pipe and exits, and the
reply is ``("error", why)``; else ``("ok", pid)`` with a pidfd of the child attached (taken before the
child can be reaped, so it names this child and no other). A child's end is reported as ``("exit",
pid, wait status)``. Bubblewrap's ``--die-with-parent`` follows this process, which dies with the
trainer's spawning thread (``PR_SET_PDEATHSIG``) or at the end of its socket. Stdlib only, Python 3.9+.
"""

import ctypes
import fcntl
import marshal
import os
import resource
import select
import signal
import socket
import sys

PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS, PR_CAPBSET_DROP = 1, 38, 24
MAX_FDS, MAX_MESSAGE = 64, 1 << 20
libc = ctypes.CDLL(None, use_errno=True)


def check(result):  # type: ignore[no-untyped-def]
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def drop_privileges(uid):  # type: ignore[no-untyped-def]
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        check(libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0))
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to non-root: permitted, effective and ambient sets are emptied
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    check(libc.capset(header, (ctypes.c_uint32 * 6)()))  # and the inheritable set, the one left
    check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))


def child(request, fds, report):  # type: ignore[no-untyped-def]
    """In the forked child: prepare as the request says, then exec; on failure say why and exit."""
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        above = max([*request["targets"], report, *fds]) + 1  # no dup2 below may overwrite a source
        report = fcntl.fcntl(report, fcntl.F_DUPFD_CLOEXEC, above)
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, above) for fd in fds]
        for fd, target in zip(high, request["targets"]):
            os.dup2(fd, target)  # the target is inheritable
        keep = {*request["targets"], report}  # report is close-on-exec
        for name in os.listdir("/proc/self/fd"):  # nothing else of this process may reach the sandbox
            if int(name) not in keep:
                try:
                    os.close(int(name))
                except OSError:
                    pass
        os.setsid()
        if request["oom"]:
            try:
                with open("/proc/self/oom_score_adj", "w") as f:
                    f.write("1000")
            except OSError:
                pass
        for path in request["join"]:
            with open(path, "w") as f:
                f.write("0")
        for name, soft, hard in request["rlimits"]:
            resource.setrlimit(getattr(resource, "RLIMIT_" + name.upper()), (soft, hard))
        if request["uid"] is not None:
            drop_privileges(request["uid"])
        os.chdir("/")
        os.execve(request["argv"][0], request["argv"], {})
    except BaseException as exc:  # noqa: BLE001
        try:
            os.write(report, f"{type(exc).__name__}: {exc}".encode()[:1000])
        finally:
            os._exit(127)


def launch(sock, request, fds):  # type: ignore[no-untyped-def]
    read, write = os.pipe()  # both close-on-exec: end of file on read means the exec happened
    pid = os.fork()
    if pid == 0:
        os.close(read)
        child(request, fds, write)
    os.close(write)
    pidfd = os.pidfd_open(pid)
    try:
        why = b""
        while True:
            chunk = os.read(read, 1000)
            if not chunk:
                break
            why += chunk
        os.close(read)
        if why:
            os.waitpid(pid, 0)
            sock.send(marshal.dumps(("error", why.decode("utf-8", "replace"))))
        else:
            socket.send_fds(sock, [marshal.dumps(("ok", pid))], [pidfd])
    finally:
        os.close(pidfd)


def reap(sock):  # type: ignore[no-untyped-def]
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        sock.send(marshal.dumps(("exit", pid, status)))


def serve(sock):  # type: ignore[no-untyped-def]
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    while True:
        ready, _, _ = select.select([sock, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
        reap(sock)
        if sock not in ready:
            continue
        data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
        for fd in fds:
            os.set_inheritable(fd, False)
        if not data:
            return  # the trainer closed its end (or died): bubblewrap's --die-with-parent ends the rest
        try:
            launch(sock, marshal.loads(data), fds)
        finally:
            for fd in fds:
                os.close(fd)


def main():  # type: ignore[no-untyped-def]
    check(libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0))
    if os.getppid() == 1:  # the trainer died before the line above took effect
        sys.exit(0)
    fd = int(sys.argv[1])
    os.set_inheritable(fd, False)  # never into a sandbox: it would be a way to ask for launches
    serve(socket.socket(fileno=fd))


if __name__ == "__main__":
    main()
