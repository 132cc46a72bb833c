"""Assertion tests across two sandboxes: the candidate's and a warm tester's, with the host relaying calls.

:func:`run_assertions` scores a program against assertion-test cases (:mod:`rewards.sandbox.assertions`)
without ever running the test code where the program can reach it:

* the **candidate** sandbox (fresh for every program, every limit of :mod:`rewards.sandbox.bwrap`) runs
  the program under ``harness.py --serve``: it imports it, then answers one call per line. Candidates
  are *prepared*: started (bubblewrap, interpreter, harness) before a row needs one, so a row only sends
  its program; each is used for exactly one program, then killed, and replaced in the background;
* a **tester** sandbox (:mod:`rewards.sandbox.tester`, same isolation, never given a program) runs the
  test code; each call of the candidate's function becomes a request line;
* the **host** relays each request to the candidate and its answer back (a line at most
  ``max_line_bytes`` long; a slower answer than the case's remaining time kills the candidate and the
  tester sees a failure), and judges the tester's case reports with
  :class:`rewards.sandbox.verdict.CallWatch`: strict protocol, host-only per-case clocks.

Guarantees: the asserts execute in the tester, which receives only type-tagged plain values (None,
bool, int, float, complex, str, bytes, list, tuple, set, dict) decoded by its own code, so nothing the
program does (``os._exit(0)`` before the asserts, patching ``AssertionError``, ``builtins`` or the test
module, printing a fake verdict, returning objects whose ``__eq__`` says yes, reading the tests from
disk: they are never in its sandbox) can make a failing case pass. What the program can do is answer
each call with any plain value or exception, exactly what a correct or wrong program can do. Lists,
dicts and sets a call changes in place are copied back into the test's own objects, and objects of the
candidate's classes stay in its sandbox behind handles (``==`` on a handle is identity). Not supported by
design: tests that hand the candidate a function or an object of a class the test defines.

**Warm testers.** A tester sandbox costs a sandbox start (~20 ms of CPU); it is kept and reused for
further rows (a fresh namespace per job) unless anything went wrong in its row, in which case it is
killed and replaced. Testers and prepared candidates are kept in process-wide pools (:func:`close_pool`
ends them; they end with the process too); they are sessions (:mod:`rewards.sandbox.session`), forked
from one long-lived thread because bubblewrap's ``--die-with-parent`` follows the forking *thread*. A candidate sandbox is never reused.

``r1train bench sandbox`` prints the throughput on HumanEval's 164 canonical solutions with their real
tests (71.4 programs/s on 2 cores, median of 5 rounds, 2026-12-01 18:34; the history is in
``r1train/bench/PERFORMANCE.md``).
"""

from __future__ import annotations

import atexit
import json
import marshal
import os
import threading
import time
from dataclasses import replace
from typing import Any

from rewards.sandbox.limits import Limits
from rewards.sandbox.prepared import close_prepared
from rewards.sandbox.run import STARTUP_S, SandboxError
from rewards.sandbox.scripts import SCRIPTS
from rewards.sandbox.session import EOF, OVERLONG, Session
from rewards.sandbox.verdict import (
    MAX_LINE_BYTES,
    CallWatch,
    TestResult,
    TestStatus,
    decode,
)

TESTER_LIMITS = Limits(timeout_s=24 * 3600.0, cpu_s=1e7, memory_mb=512, max_output_bytes=1 << 62)
MAX_TESTER_JOBS = 1000  # recycle a tester after this many rows


class Tester(Session):
    """A warm tester sandbox: runs test code only, one job per row."""

    def __init__(self) -> None:
        files = {name: SCRIPTS[name] for name in ("tester.py", "harness.py", "pytest_shim.py")}
        super().__init__(["-S", "/box/tester.py"], files, TESTER_LIMITS)
        self.jobs = 0


PREPARED_LIFETIME_S = 600.0  # a prepared candidate nobody takes ends after this long (it is replaced)
MAX_QUEUED = 16  # lines a candidate may have written unread: it owes one per call, more is a flood
PREPARED_PER_KIND = 2


def _frame(value: Any) -> bytes:
    body = marshal.dumps(value)
    return len(body).to_bytes(4, "big") + body


class Candidate(Session):
    """A prepared candidate sandbox: the harness waits for one program (``load``), then serves calls."""

    def __init__(self, limits: Limits) -> None:
        self.born = time.monotonic()
        files = {"harness.py": SCRIPTS["harness.py"]}
        super().__init__(["-S", "/box/harness.py", "--serve"], files, limits, max_queued=MAX_QUEUED)

    def load(self, source: str) -> bool:
        return self.send_raw(_frame(source))


def _prepared_limits(limits: Limits) -> Limits:
    """The limits a candidate is prepared with: the row's, with a wall and CPU bound the host cuts short."""
    return replace(limits, timeout_s=PREPARED_LIFETIME_S, cpu_s=PREPARED_LIFETIME_S)


_pool: list[Tester] = []
_prepared: dict[Limits, list[Candidate]] = {}
_retiring: list[Session] = []  # used sandboxes killed, their teardown not yet waited for
_refilling: set[Limits] = set()  # kinds whose replacement candidate is being started
_epoch = [0]  # bumped by close_pool: a candidate started before it is closed, not kept
_pool_lock = threading.Lock()


def _take_candidate(limits: Limits) -> Candidate:
    """A prepared candidate for ``limits`` (started now if none is ready); a replacement starts meanwhile."""
    kind = _prepared_limits(limits)
    found, stale = None, []
    with _pool_lock:
        ready = _prepared.setdefault(kind, [])
        while ready and found is None:
            cand = ready.pop(0)
            if cand.alive and cand.lines.queue.empty() and time.monotonic() - cand.born < PREPARED_LIFETIME_S / 2:
                found = cand
            else:
                stale.append(cand)
        refill, epoch = kind not in _refilling and len(ready) < PREPARED_PER_KIND, _epoch[0]
        if refill:
            _refilling.add(kind)
    for cand in stale:
        _retire(cand)
    if refill:
        threading.Thread(target=_refill, args=(kind, epoch), daemon=True).start()
    return found if found is not None else Candidate(kind)


def _refill(kind: Limits, epoch: int) -> None:
    cand = None
    try:
        cand = Candidate(kind)
    except (SandboxError, RuntimeError):  # RuntimeError: the spawner is gone (interpreter exit)
        pass  # the next row starts its own and reports the failure
    finally:
        with _pool_lock:
            _refilling.discard(kind)
            keep = cand is not None and epoch == _epoch[0]
            if keep:
                _prepared.setdefault(kind, []).append(cand)
    if cand is not None and not keep:  # close_pool() ran meanwhile: nothing may outlive it
        _close_quietly(cand)


def _acquire() -> Tester:
    dead = []
    found = None
    with _pool_lock:
        while _pool and found is None:
            tester = _pool.pop()
            if tester.alive and tester.lines.queue.empty():
                found = tester
            else:
                dead.append(tester)
    for tester in dead:
        _close_quietly(tester)
    return found if found is not None else Tester()


def _release(tester: Tester, clean: bool) -> None:
    tester.jobs += 1
    if clean and tester.alive and tester.jobs < MAX_TESTER_JOBS and tester.lines.queue.empty():
        with _pool_lock:
            _pool.append(tester)
            return
    _retire(tester)


def _close_quietly(session: Session) -> None:
    try:
        session.close()
    except SandboxError:
        pass


def _retire(session: Session) -> None:
    """Kill a used sandbox without waiting for its teardown (bubblewrap's exit, reaping, cgroup removal:
    a few ms, more on a loaded machine) on the row's path; its own thread finishes it, close_pool() waits."""
    session.stop()
    with _pool_lock:
        _retiring[:] = [s for s in _retiring if s.alive]
        _retiring.append(session)


def close_pool() -> None:
    """End every idle tester, prepared candidate and prepared plain-program sandbox
    (:func:`rewards.sandbox.prepared.close_prepared`; the pools refill on the next use), and wait for the
    used ones still being torn down."""
    with _pool_lock:
        sessions: list[Session] = [*_pool, *(c for ready in _prepared.values() for c in ready), *_retiring]
        _pool[:] = []
        _prepared.clear()
        _retiring.clear()
        _epoch[0] += 1
    for session in sessions:
        _close_quietly(session)
    close_prepared()


atexit.register(close_pool)


def _forget_in_child() -> None:
    """In a forked child (a data-loader worker…), the pools' sandboxes are the parent's: start afresh
    instead of writing to another process's sandboxes (:mod:`rewards.sandbox.session` renews its spawner)."""
    global _pool_lock
    _pool_lock = threading.Lock()
    _pool.clear()
    _prepared.clear()
    _retiring.clear()
    _refilling.clear()


os.register_at_fork(after_in_child=_forget_in_child)


def run_assertions(source: str, job: dict[str, Any], n_cases: int, limits: Limits, stop_first: bool,
                   run_limit_s: float) -> list[TestResult]:
    """Score ``source`` on one test program (``job``: setup, cases, entry point): one verdict per case.

    ``run_limit_s`` bounds the whole row (the candidate's import, then each case within ``limits.timeout_s``
    on the host's clock). Raises :class:`SandboxError` only when our sandboxes fail to start.
    """
    candidate = _take_candidate(limits)
    if not candidate.load(source):  # a prepared sandbox that died waiting (ours): one fresh try
        _close_quietly(candidate)
        candidate = Candidate(_prepared_limits(limits))
        if not candidate.load(source):
            _close_quietly(candidate)
            raise SandboxError("a fresh candidate sandbox stopped reading before it was given the program")
    start = time.monotonic()
    row_end = start + run_limit_s
    tester: Tester | None = None
    clean = False
    try:
        first = candidate.lines.get(min(row_end, start + limits.timeout_s + STARTUP_S))
        if first != b'{"ready": true}':
            why = "the program did not finish importing in time" if first is None else "the program failed to import"
            if first not in (None, EOF, OVERLONG):
                try:
                    why = "import failed: " + str(json.loads(first).get("import_error"))[:300]
                except (ValueError, AttributeError, RecursionError):
                    why = "the program's harness output was tampered with"
            status: TestStatus = "timeout" if first is None else "error"
            return [TestResult(i, status, 0.0, why) for i in range(n_cases)]
        tester = _acquire()
        if not tester.send(json.dumps({"job": job}).encode()):  # it died idle (ours): one fresh try
            _close_quietly(tester)
            tester = Tester()
            if not tester.send(json.dumps({"job": job}).encode()):
                raise SandboxError("a fresh tester sandbox stopped reading before it was given the tests")
        watch = CallWatch([{"expected": True}] * n_cases, limits.timeout_s, stop_first)
        clean = _relay(candidate, tester, watch, limits.timeout_s, row_end)
        return _verdicts(watch, n_cases, stop_first)
    finally:
        _retire(candidate)
        if tester is not None:
            _release(tester, clean)


def _relay(candidate: Session, tester: Tester, watch: CallWatch, per_case: float,
           row_end: float) -> bool:
    """Relay the tester's calls for the job it was sent, feed its reports to ``watch``; True if it ended cleanly."""
    dead: str | None = None
    case_start = time.monotonic()
    while True:
        limit = per_case + (STARTUP_S if not watch.ready else 0.0)
        line = tester.lines.get(min(row_end, case_start + limit))
        if line is None or line == EOF or line == OVERLONG:
            watch.violation = watch.violation or ("timeout" if line is None else "the tester ended")
            return False
        if line.startswith(b'{"call": '):
            answer = _answer(candidate, line, dead, min(row_end, case_start + limit))
            if answer is None or answer.startswith(b'{"fail": '):  # a fail line (ours, or the program's own)
                dead = dead or ("the program did not answer in time" if answer is None else _fail_text(answer))
                answer = answer or json.dumps({"fail": dead}).encode()
                candidate.spawned.kill("stop")
            if not tester.send(answer):
                return False
            continue
        before = len(watch.results) + watch.ready
        action = watch(line + b"\n")
        if len(watch.results) + watch.ready != before:
            case_start = time.monotonic()  # the next case's clock starts now
        if action == "stop" or watch.done:
            return watch.done and watch.violation is None


def _request(line: bytes) -> bytes | None:
    """The tester's JSON call request as the candidate's length-prefixed marshal, None if malformed."""
    try:
        req = json.loads(line)
        args = decode(req["args"], sets=set)
        kwargs = {str(k): decode(v, sets=set) for k, v in req["kwargs"].items()}
        return _frame((str(req["call"]), list(args), kwargs))
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        return None


def _fail_text(line: bytes) -> str:
    """Why a fail line says the program failed; later calls of the row report the same."""
    try:
        return str(json.loads(line)["fail"])[:300]
    except (ValueError, TypeError, KeyError, RecursionError):
        return "the program answered a call with a malformed line"


def _answer(candidate: Session, line: bytes, dead: str | None, deadline: float) -> bytes | None:
    """Forward one call to the candidate and return its answer line (a ``fail`` line if it cannot)."""
    if dead is not None:
        return json.dumps({"fail": dead}).encode()
    request = _request(line)
    if request is None or len(request) > MAX_LINE_BYTES:
        return b'{"fail": "the test code passed a value that cannot cross to the program"}'
    if not candidate.send_raw(request, deadline):
        return b'{"fail": "the program exited or stopped reading its calls"}'
    reply = candidate.lines.get(deadline)
    if reply is None:
        return None
    if reply == EOF:
        return b'{"fail": "the program exited"}'
    if reply == OVERLONG:
        return b'{"fail": "return value too large"}'
    return reply


def _verdicts(watch: CallWatch, n_cases: int, stop_first: bool) -> list[TestResult]:
    results = []
    for i in range(n_cases):
        if i in watch.results:
            results.append(watch.results[i])
        elif stop_first and any(not r.passed for r in watch.results.values()):
            results.append(TestResult(i, "not_run"))
        elif watch.import_error is not None:
            results.append(TestResult(i, "error", 0.0, f"the test code failed: {watch.import_error}"))
        else:
            status: TestStatus = "timeout" if watch.violation == "timeout" else "error"
            results.append(TestResult(i, status, 0.0, str(watch.violation or "no report")[:300]))
    return results
