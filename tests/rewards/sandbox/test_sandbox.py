"""Adversarial tests of the code sandbox: hostile programs must not escape, benign ones must pass.

The programs live in ``sandbox_corpus.py``. One module fixture sets up things a program could attack on
the host (a secret file in the host's /tmp and in the project, a secret environment variable, TCP/UDP
servers and an abstract unix socket on loopback, a canary process), runs every program concurrently
(short limits, so the whole file takes well under a minute on two cores), then records what the host
saw. The tests then check each run's status and output, and the host: nothing written, nothing
received, no process left behind, canary and trainer alive, cgroups removed. No timings are asserted.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from string import Template
from typing import Any

import pytest

from rewards.sandbox import (
    ExecResult,
    SandboxUnavailable,
    close_pool,
    host,
    run_program,
    run_tests,
    unsafe,
)
from rewards.sandbox import bwrap as sandbox
from rewards.sandbox.limits import MIB, Limits, cgroup_bases, prlimit_args
from rewards.sandbox.seccomp import compile_filter, filter_bytes

_spec = importlib.util.spec_from_file_location("sandbox_corpus", Path(__file__).with_name("sandbox_corpus.py"))
corpus = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules["sandbox_corpus"] = corpus
_spec.loader.exec_module(corpus)  # type: ignore[union-attr]

PROJECT = Path(__file__).resolve().parents[3]
WRITE_TARGETS = ["/usr", "/etc", "/", "/root", str(PROJECT), "/tmp", "/home", "/bin"]


def _listener(kind: int, family: int = socket.AF_INET, address: Any = ("127.0.0.1", 0)) -> socket.socket:
    s = socket.socket(family, kind)
    s.bind(address)
    if kind == socket.SOCK_STREAM:
        s.listen(16)
    s.setblocking(False)
    return s


def _received(s: socket.socket) -> bool:
    """Did anything connect to / send to this socket?"""
    try:
        if s.type == socket.SOCK_STREAM:
            s.accept()
        else:
            s.recv(100)
        return True
    except BlockingIOError:
        return False


def _pids_matching(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if marker.encode() in Path(f"/proc/{entry}/cmdline").read_bytes():
                    found.append(int(entry))
            except OSError:
                pass
    return found


def _pids_of_uids(uids: set[int | None]) -> list[int]:
    """Processes on the host owned by any of ``uids`` (the fresh uids this module's runs used)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uid = os.stat(f"/proc/{entry}").st_uid
            except OSError:
                continue
            if uid in uids and uid != os.getuid():
                found.append(int(entry))
    return found


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run every corpus program once against a prepared host; return results and host observations."""
    tag = uuid.uuid4().hex[:12]
    token, env_token, marker = f"tok-{tag}", f"envtok-{tag}", f"r1t-marker-{tag}"
    host_tmp = tmp_path_factory.mktemp("sandbox-host")
    secret_file = host_tmp / "secret.txt"
    secret_file.write_text(token)
    secret_file.chmod(0o644)  # world-readable: only the mount namespace hides it
    project_secret = PROJECT / f".sandbox-test-secret-{tag}"
    project_secret.write_text(token)
    os.environ["R1TRAIN_TEST_SECRET"] = env_token
    tcp, udp = _listener(socket.SOCK_STREAM), _listener(socket.SOCK_DGRAM)
    abstract = f"r1train-test-{tag}"
    unix = _listener(socket.SOCK_STREAM, socket.AF_UNIX, "\0" + abstract)
    canary = subprocess.Popen(["sleep", "120"])
    ctx = {
        "token": token, "env_token": env_token, "marker": marker, "host_tmp": str(host_tmp),
        "secret_file": str(secret_file), "project_secret": str(project_secret), "project": str(PROJECT),
        "port": tcp.getsockname()[1], "udp_port": udp.getsockname()[1], "abstract": abstract,
        "canary_pid": canary.pid, "trainer_pid": os.getpid(),
    }

    def run_case(case: Any) -> ExecResult:
        source = Template(case.source).substitute(ctx)
        return run_program(source, case.stdin, timeout_s=case.timeout_s, memory_mb=case.memory_mb, loopback=case.loopback)

    def run_tamper(item: tuple[str, str, str]) -> Any:
        name, kind, source = item
        if kind == "call":
            tests = [{"call": "f", "args": ["x"], "expected": token}, {"call": "f", "args": ["y"], "expected": token}]
        else:
            tests = [{"stdin": "x\n", "stdout": token + "\n"}]
        return run_tests(source, tests, timeout_s=2.0, memory_mb=256)

    try:
        with ThreadPoolExecutor(max_workers=6) as pool:
            hostile = pool.map(run_case, corpus.HOSTILE)
            tamper = pool.map(run_tamper, corpus.TAMPER)
            benign = pool.map(run_case, corpus.BENIGN)
            results = {
                "hostile": dict(zip([c.name for c in corpus.HOSTILE], hostile)),
                "tamper": dict(zip([t[0] for t in corpus.TAMPER], tamper)),
                "benign": dict(zip([c.name for c in corpus.BENIGN], benign)),
            }
        time.sleep(0.2)  # anything that escaped would have had time to act
        results["survivors"] = _pids_matching(marker)
        runs = [*results["hostile"].values(), *results["benign"].values()]
        results["sandbox_uid_pids"] = _pids_of_uids({r.host_uid for r in runs})
        results["received"] = {name: _received(s) for name, s in (("tcp", tcp), ("udp", udp), ("unix", unix))}
        results["canary_alive"] = canary.poll() is None
        results["written"] = [d for d in WRITE_TARGETS if Path(d, f"r1t-{marker}").exists()]
        results["secret_intact"] = secret_file.read_text() == token
        close_pool()  # warm tester sandboxes (assertion tests) are live by design; end them first
        results["leftover_cgroups"] = [
            p.name
            for base in cgroup_bases().values()
            if base is not None
            for p in base.glob(f"r1train-sbx-{os.getpid()}-*")
        ]
        results["ctx"] = ctx
        yield results
    finally:
        for pid in _pids_matching(marker):  # never expected; keep the machine clean if a test fails
            os.kill(pid, signal.SIGKILL)
        for d in WRITE_TARGETS:
            Path(d, f"r1t-{marker}").unlink(missing_ok=True)
        canary.kill()
        canary.wait()
        project_secret.unlink(missing_ok=True)
        os.environ.pop("R1TRAIN_TEST_SECRET", None)
        for s in (tcp, udp, unix):
            s.close()


@pytest.mark.parametrize("case", corpus.HOSTILE, ids=lambda c: c.name)
def test_hostile_program_is_contained(world: dict[str, Any], case: Any) -> None:
    result = world["hostile"][case.name]
    assert "ESCAPED" not in result.stdout, result.stdout[-2000:]
    assert result.status in case.statuses, (result.status, result.stdout[-500:], result.stderr[-500:])
    assert len(result.stdout.encode()) <= 4 << 20 and len(result.stderr.encode()) <= 4 << 20 + 4
    if case.check is not None and (sandbox.isolation().cgroups or not case.needs_cgroups):
        case.check(result)


@pytest.mark.parametrize("name", [t[0] for t in corpus.TAMPER])
def test_harness_tampering_earns_nothing(world: dict[str, Any], name: str) -> None:
    report = world["tamper"][name]
    assert report.passed == 0 and not report.all_passed, report


@pytest.mark.parametrize("case", corpus.BENIGN, ids=lambda c: c.name)
def test_benign_program_runs(world: dict[str, Any], case: Any) -> None:
    result = world["benign"][case.name]
    assert result.status in case.statuses, (result.status, result.stdout[-500:], result.stderr[-1000:])
    if case.check is not None:
        case.check(result)


def test_no_process_survives_any_run(world: dict[str, Any]) -> None:
    # setsid + double fork, multiprocessing daemons, signal-ignoring sleepers: all gone when runs return.
    assert world["survivors"] == []
    assert world["sandbox_uid_pids"] == []


def test_host_is_untouched(world: dict[str, Any]) -> None:
    assert world["written"] == []
    assert world["received"] == {"tcp": False, "udp": False, "unix": False}
    assert world["canary_alive"]
    assert world["secret_intact"]
    assert world["leftover_cgroups"] == []


def test_environment_is_scrubbed(world: dict[str, Any]) -> None:
    printed = world["hostile"]["environment_leak"].stdout.splitlines()[0]
    # Only the sandbox's own variables (bwrap adds PWD; Python may add LC_CTYPE).
    assert set(eval(printed)) <= {"HOME", "LANG", "PATH", "PWD", "TMPDIR", "LC_CTYPE"}


def test_program_runs_as_unprivileged_user_without_capabilities() -> None:
    marker = f"r1t-uid-{uuid.uuid4().hex[:8]}"
    src = (
        "import os, subprocess, sys\nst = open('/proc/self/status').read()\n"
        "print(os.getuid(), os.getgroups(), [l.split()[1] for l in st.splitlines() if l.startswith(('Cap', 'NoNewPrivs'))])\n"
        f"subprocess.run([sys.executable, '-c', 'import time; time.sleep(1.5)  # {marker}'])\n"
    )
    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(run_program, src, timeout_s=10)
        seen: list[str] = []
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            seen = [Path(f"/proc/{pid}/status").read_text() for pid in _pids_matching(marker)]
            time.sleep(0.02)
        result = future.result()
    # Inside: uid 1000, no groups, every capability set empty, no_new_privs.
    assert result.stdout.splitlines()[0] == "1000 [] " + str(["0" * 16] * 5 + ["1"]), result
    # Outside (seen from the host): a fresh uid from the reserved range when the trainer is root.
    assert seen, "the sandboxed process was not visible from the host"
    fields = {line.split(":")[0]: line.split(":")[1].split() for line in seen[0].splitlines() if ":" in line}
    host_uid = int(fields["Uid"][0])
    assert result.host_uid == host_uid  # the result reports the uid the program really had
    if os.geteuid() == 0:
        assert sandbox.UID_BASE <= host_uid < sandbox.UID_BASE + sandbox.UID_SPAN
    else:
        assert host_uid == os.getuid()
    assert fields["CapEff"] == ["0" * 16] and fields["CapBnd"] == ["0" * 16]


def test_scratch_is_private_and_removed() -> None:
    first = run_program("open('/tmp/note', 'w').write('hi')\nimport os\nprint(os.listdir('/tmp'))", timeout_s=5)
    second = run_program("import os\nprint(os.listdir('/tmp'))", timeout_s=5)
    assert first.stdout.strip() == "['note']" and second.stdout.strip() == "[]"


def test_no_isolation_means_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(host.shutil, "which", lambda name: None)
    monkeypatch.delenv(unsafe.UNSAFE_ENV, raising=False)
    sandbox.isolation.cache_clear()
    try:
        with pytest.raises(SandboxUnavailable, match="bubblewrap"):
            run_program("print(1)")
        with pytest.raises(SandboxUnavailable):
            run_tests("print(1)", [{"stdin": "", "stdout": "1"}])
    finally:
        sandbox.isolation.cache_clear()


def test_explicit_unsafe_option_runs_unisolated_with_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(unsafe, "_warned_unsafe", False)
    with pytest.warns(RuntimeWarning, match="WITHOUT a sandbox"):
        result = run_program("print(6 * 7)", unsafe_no_isolation=True, timeout_s=5)
    assert result.status == "ok" and result.stdout == "42\n"


def test_limits_and_rlimit_arguments() -> None:
    limits = Limits(timeout_s=1.5, memory_mb=256, max_file_mb=8, max_open_files=100)
    assert limits.cpu_limit_s == 2  # ceil(1.5); SIGKILL comes one second later
    assert limits.scratch_bytes == 256 * MIB  # scratch defaults to the memory limit
    args = dict(a.lstrip("-").split("=") for a in prlimit_args(limits, cgroups=True, nproc=68))
    # With cgroups, the address space is a backstop: 256 MiB + 1 GiB = 1342177280; stack min(32 MiB, 64 MiB),
    # soft only (hard unlimited, so programs may raise it).
    assert args["as"] == "1342177280" and args["stack"] == f"{32 * MIB}:unlimited" and args["cpu"] == "2:3"
    assert args["fsize"] == str(8 * MIB) and args["nofile"] == "100" and args["nproc"] == "68" and args["core"] == "0"
    alone = dict(a.lstrip("-").split("=") for a in prlimit_args(limits, cgroups=False, nproc=68))
    assert alone["as"] == str(256 * MIB)  # without cgroups RLIMIT_AS is the memory bound itself
    with pytest.raises(ValueError, match="timeout_s"):
        Limits(timeout_s=0)


def test_seccomp_allowlist_layout() -> None:
    # arch check (3), load nr, x32 check (2) = 6; socket: match + [load family, AF_UNIX?, EAFNOSUPPORT, allow]
    # = 5; fcntl: match + [load cmd, 6 lock/lease/notify commands, allow, EPERM] = 10; read: match + allow = 2;
    # the final ENOSYS = 1. 6 + 5 + 10 + 2 + 1 = 24 instructions of 8 bytes.
    prog = compile_filter(0xC000003E, {"read": 0, "socket": 41, "fcntl": 72}, deny_x32=True)
    insns = [struct.unpack("=HBBI", prog[i : i + 8]) for i in range(0, len(prog), 8)]
    assert len(insns) == 24
    assert insns[1] == (0x15, 1, 0, 0xC000003E) and insns[2] == (0x06, 0, 0, 0x00050026)  # else ENOSYS (38)
    assert insns[4] == (0x35, 0, 1, 0x40000000) and insns[5] == (0x06, 0, 0, 0x00050026)  # x32 -> ENOSYS
    assert insns[6] == (0x15, 0, 4, 41) and insns[7] == (0x20, 0, 0, 16)  # socket: load family (args[0])
    assert insns[8] == (0x15, 1, 0, 1) and insns[9] == (0x06, 0, 0, 0x00050061)  # AF_UNIX, else EAFNOSUPPORT (97)
    assert insns[10] == (0x06, 0, 0, 0x7FFF0000)
    assert insns[11] == (0x15, 0, 9, 72) and insns[12] == (0x20, 0, 0, 24)  # fcntl: load cmd (args[1])
    assert insns[13] == (0x15, 6, 0, 6) and insns[20] == (0x06, 0, 0, 0x00050001)  # F_SETLK -> EPERM
    assert insns[21] == (0x15, 0, 1, 0) and insns[22] == (0x06, 0, 0, 0x7FFF0000)  # read -> allow
    assert insns[23] == (0x06, 0, 0, 0x00050026)  # anything else -> ENOSYS
    inet = compile_filter(0xC000003E, {"socket": 41}, deny_x32=False, inet=True)
    assert struct.unpack("=HBBI", inet[8 * 6 : 8 * 7]) == (0x15, 3, 0, 1)  # AF_UNIX, AF_INET, AF_INET6 -> allow
    assert filter_bytes("riscv64") is None and filter_bytes("x86_64") and filter_bytes("aarch64")


def test_project_inside_a_mounted_tree_is_covered(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Were the checkout inside a tree the sandbox mounts (say /usr/src/…), an empty tmpfs would cover it,
    # unless the interpreter itself lives there. Run from elsewhere, so the working directory (also
    # hidden) cannot stand in for the project.
    monkeypatch.chdir(tmp_path)
    parent = str(PROJECT.parent)
    assert str(PROJECT) in host.paths_to_hide("/usr/bin/python3", (parent,))
    assert str(PROJECT) not in host.paths_to_hide(f"{PROJECT}/bin/python3", (parent,))


def test_rlimits_inside_the_sandbox_are_the_computed_ones() -> None:
    # Where /bin/sh is dash the launcher's shell sets the rlimits (no prlimit exec): the program must see
    # exactly prlimit_args' values. memory 256 MiB with cgroups: address space 256 MiB + 1 GiB = 1342177280,
    # stack 32 MiB soft / unlimited hard, CPU 5 s soft / 6 s hard, file size 8 MiB, 256 files, no core.
    result = run_program("print(open('/proc/self/limits').read())", memory_mb=256, max_file_mb=8, timeout_s=5)
    rows = {line[:26].strip(): line[26:].split()[:2] for line in result.stdout.splitlines()[1:] if line.strip()}
    cgroups = sandbox.isolation().cgroups
    assert rows["Max cpu time"] == ["5", "6"]
    assert rows["Max file size"] == [str(8 * MIB)] * 2 and rows["Max open files"] == ["256", "256"]
    assert rows["Max core file size"] == ["0", "0"] and rows["Max locked memory"] == ["0", "0"]
    assert rows["Max address space"] == [str((256 + 1024 * cgroups) * MIB)] * 2
    assert rows["Max stack size"] == [str(32 * MIB if cgroups else 8 * MIB), "unlimited"]


def test_every_process_of_a_run_is_in_each_of_its_groups() -> None:
    # The launcher joins by writing 0 to each group's `tasks` (the shell's own thread, before it execs
    # setpriv and bubblewrap), so bubblewrap and the program (forked after the join) are in every group:
    # two or more pids in each cgroup.procs, the same in all, and inside the cgroup namespace is rooted
    # at the run's groups (every line of /proc/self/cgroup for a joined controller ends in ":/").
    iso = sandbox.isolation()
    if not iso.cgroups:
        pytest.skip("no writable cgroups here")
    src = b"import os, time\nif os.fork() == 0:\n    time.sleep(3)\nprint(open('/proc/self/cgroup').read(), flush=True)\ntime.sleep(3)\n"
    spawned = sandbox.Spawned(iso, ["/box/main.py"], {"main.py": src}, b"", Limits(timeout_s=1.5))
    cgroups = spawned.cgroups
    assert cgroups is not None
    time.sleep(0.8)
    members = {name: sorted(int(p) for p in (d / "cgroup.procs").read_text().split()) for name, d in cgroups.dirs.items()}
    result = spawned.wait()
    assert result.status == "timeout", result
    assert set(members) == {name for name, base in cgroup_bases().items() if base is not None}
    pids = members["memory"]
    assert len(pids) >= 3 and all(found == pids for found in members.values()), members  # bwrap, program, child
    lines = [ln.split(":") for ln in result.stdout.splitlines() if ln.count(":") == 2]
    joined = [path for _, controllers, path in lines if set(controllers.split(",")) & set(members)]
    assert joined and all(path == "/" for path in joined), result.stdout
