"""Judging call tests on the host: the harness's result stream, per-test clocks, typed comparison.

:class:`CallWatch` reads the harness's JSON lines (protocol in :mod:`rewards.sandbox.harness`) as they
arrive and turns them into one :class:`TestResult` per case. Everything it reads is written by a process
the model's program shares, so it is treated as hostile input, and every way it can misbehave maps to a
verdict the program cannot improve on by misbehaving (0.0 for that test, never "could not verify"):

* **A strict protocol.** The stream must be exactly ``ready``, then results for cases 0, 1, 2… in order,
  then ``done``. The first line that is anything else (an empty line, a heartbeat, a second ``ready``,
  a result out of order, bad JSON) ends the run: the cases not yet judged are ``"error"``. So the number
  of lines parsed is at most ``cases + 2`` and the host's CPU per run is bounded by the bytes read
  (measured, Linux 6.18, load ~9: a run whose program writes 4 MiB of empty lines and heartbeats costs
  the host's thread 14 ms of CPU in all, launch included; before, 13 s with the GIL held).
* **Bounded lines.** A result line longer than what the expected value could encode to
  (:func:`line_cap`: 4x its own encoding + 4 KiB, at most ``max_line_bytes``) is ``"wrong_answer"``
  without being parsed; its bytes are skipped, not buffered. Parsing cost and memory follow the
  expected value's size, not the program's output (a 3 MiB result line for an expected ``1`` now peaks
  at 64 KiB of host memory and 0.7 ms of CPU; before, 65 MiB).
* **Host-only clocks.** Case ``k``'s clock starts when the host accepts case ``k-1``'s result (case 0's:
  ``ready``) and only an accepted, in-order result stops it; nothing else the program writes moves it,
  so a thread printing heartbeats cannot stretch a slow call past ``timeout_s``.
* **Total judging.** Decoding, comparing and describing a value never raises: huge integers
  (``10**5000``, whose ``repr`` hits Python's digit limit), deep nesting, unhashable keys or any other
  surprise make that case ``"error"`` or ``"wrong_answer"``; no exception reaches the trainer.
"""

from __future__ import annotations

import json
import math
import reprlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

TestStatus = Literal["passed", "wrong_answer", "error", "timeout", "memory", "output_limit", "killed", "not_run"]
FLOAT_TOL = 1e-9
MAX_LINE_BYTES = 1 << 20  # no result line longer than this is ever parsed


@dataclass(frozen=True)
class TestResult:
    """One case's verdict; ``detail`` is a short human-readable reason (never shown to the program)."""

    index: int
    status: TestStatus
    wall_s: float = 0.0
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def decode(tagged: Any, sets: type = frozenset) -> Any:
    """Invert the harness's ``encode``: plain data only, no code from the program runs here.

    Sets come back as ``sets`` (frozenset for comparing; set for arguments handed to a program).
    """
    if tagged is None or isinstance(tagged, (bool, str)):
        return tagged
    if isinstance(tagged, list):
        return [decode(v, sets) for v in tagged]
    if not isinstance(tagged, dict) or len(tagged) != 1:
        raise ValueError("malformed value from the harness")
    ((tag, body),) = tagged.items()
    if tag == "int":
        return int(body, 16)  # base 16 has no digit limit
    if tag == "float":
        return float(body)
    if tag == "complex":
        return complex(float(body[0]), float(body[1]))
    if tag == "bytes":
        return bytes.fromhex(body)
    if tag == "tuple":
        return tuple(decode(v, sets) for v in body)
    if tag == "set":
        return sets(decode(v, frozenset) for v in body)
    if tag == "dict":
        return {_hashable(decode(k, frozenset)): decode(v, sets) for k, v in body}
    raise ValueError(f"unknown tag {tag!r} from the harness")


def _hashable(value: Any) -> Any:
    return tuple(_hashable(v) for v in value) if isinstance(value, list) else value


def values_equal(expected: Any, got: Any) -> bool:
    """Compare with types: bool/int/str/None exactly, floats within 1e-9, containers element-wise."""
    if isinstance(expected, bool) or expected is None:
        return type(got) is type(expected) and got == expected
    if isinstance(expected, int):
        return type(got) is int and got == expected
    if isinstance(expected, float):
        if type(got) not in (float, int):
            return False
        if math.isnan(expected) or math.isnan(got):
            return math.isnan(expected) and math.isnan(got)
        return math.isclose(expected, got, rel_tol=FLOAT_TOL, abs_tol=FLOAT_TOL)
    if isinstance(expected, (list, tuple)):
        if not isinstance(got, (list, tuple)):
            return False
        return len(got) == len(expected) and all(values_equal(e, g) for e, g in zip(expected, got))
    if isinstance(expected, dict):
        if type(got) is not dict or set(got) != {_hashable(k) for k in expected}:
            return False
        return all(values_equal(v, got[_hashable(k)]) for k, v in expected.items())
    if isinstance(expected, (set, frozenset)):
        return isinstance(got, (set, frozenset)) and frozenset(got) == frozenset(expected)
    return type(got) is type(expected) and got == expected


_short = reprlib.Repr()
_short.maxstring = _short.maxother = 60


def shown(value: Any) -> str:
    """A short description of ``value`` that cannot raise (huge ints, deep or odd values included)."""
    try:
        if isinstance(value, int) and value.bit_length() > 256:
            return f"<int of {value.bit_length()} bits>"
        return _short.repr(value)
    except Exception:  # noqa: BLE001  (the digit limit, recursion, anything: a description is not worth a crash)
        return f"<{type(value).__name__}>"


def line_cap(expected: Any, max_line_bytes: int = MAX_LINE_BYTES) -> int:
    """The longest result line that could still hold a value equal to ``expected``.

    An equal value encodes to about the same length as the expected one (floats within tolerance may
    print a little longer; a tuple adds a tag per level): 4x the expected encoding plus 4 KiB covers it.
    """
    try:
        size = len(json.dumps(_encode_expected(expected)))
    except (TypeError, ValueError, RecursionError):
        return max_line_bytes
    return min(max_line_bytes, 4 * size + 4096)


def _encode_expected(value: Any) -> Any:
    """Roughly the harness's encoding of an expected value (for its length only)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return {"int": hex(value)}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, (list, tuple, set, frozenset)):
        return {"tuple": [_encode_expected(v) for v in value]}
    if isinstance(value, dict):
        return {"dict": [[_encode_expected(k), _encode_expected(v)] for k, v in value.items()]}
    return repr(value)


class LineReader:
    """Cuts a pipe's byte stream into lines of at most a cap, holding at most a cap of bytes: an over-long
    line is reported once and the rest of it skipped, not buffered. The reader of every sandbox's output."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.skipping = False  # discarding the rest of an over-long line

    def feed(self, chunk: bytes, cap: Callable[[], int]) -> Iterator[bytes | None]:
        """Each line ``chunk`` completes, or None for one longer than ``cap()`` (asked per line, so the cap
        may change with what was read); a line still open waits for the next chunk."""
        start = 0
        while start < len(chunk):
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            start = len(chunk) if end < 0 else end + 1
            if self.skipping:
                self.skipping = end < 0
                continue
            if len(self.buffer) + len(piece) > cap():
                self.buffer.clear()
                self.skipping = end < 0
                yield None
            elif end < 0:
                self.buffer += piece
            else:
                line = bytes(self.buffer) + piece
                self.buffer.clear()
                yield line


class CallWatch:
    """Follows the harness's lines as they arrive: per-case clocks and verdicts, early stop.

    Used as ``on_stdout`` of :func:`rewards.sandbox.bwrap.execute`: it answers ``"progress"`` only when a
    new case's result is accepted (the run's per-test idle clock restarts), ``"stop"`` to end the run.
    """

    def __init__(self, cases: list[dict[str, Any]], timeout_s: float, stop_at_first_failure: bool,
                 max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.cases, self.timeout_s, self.stop_first = cases, timeout_s, stop_at_first_failure
        self.caps = [line_cap(c["expected"], max_line_bytes) for c in cases]
        self.ready_cap = 64 * 1024  # ready / import_error / done lines are short
        self.reader = LineReader()
        self.last = time.monotonic()
        self.ready = False
        self.done = False
        self.violation: str | None = None
        self.import_error: str | None = None
        self.results: dict[int, TestResult] = {}

    @property
    def next_index(self) -> int:
        return len(self.results)

    def _cap(self) -> int:
        i = self.next_index
        return self.caps[i] if self.ready and i < len(self.cases) else self.ready_cap

    def __call__(self, chunk: bytes) -> str | None:
        action: str | None = None
        for line in self.reader.feed(chunk, self._cap):
            step = self._too_long() if line is None else self._line(line)
            if step == "stop":
                return "stop"
            action = step or action
        return action

    def _stop(self, why: str) -> str:
        self.violation = why
        return "stop"

    def _too_long(self) -> str | None:
        if not self.ready or self.next_index >= len(self.cases):
            return self._stop("an over-long line outside a result")
        return self._record(TestResult(self.next_index, "wrong_answer", self._elapsed(),
                                       "result line longer than any value equal to the expected one"))

    def _elapsed(self) -> float:
        now = time.monotonic()
        elapsed, self.last = now - self.last, now
        return elapsed

    def _record(self, result: TestResult) -> str:
        self.results[result.index] = result
        if self.stop_first and not result.passed:
            return "stop"
        return "progress"

    def _line(self, line: bytes) -> str | None:
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):
            return self._stop("a line that is not JSON")
        if not isinstance(event, dict):
            return self._stop("a line that is not a JSON object")
        if self.done:
            return self._stop("output after done")
        if not self.ready:
            if event == {"ready": True}:
                self.ready = True
                self._elapsed()  # case 0's clock starts now
                return "progress"
            if set(event) == {"import_error"}:
                self.import_error = str(event["import_error"])[:300]
                return "stop"
            return self._stop("a line before ready")
        if event == {"done": True} and self.next_index == len(self.cases):
            self.done = True
            return None
        if event.get("i") != self.next_index or type(event.get("i")) is not int or self.next_index >= len(self.cases):
            return self._stop("a line that is not the next case's result")
        return self._record(self._judge(self.next_index, event, self._elapsed()))

    def _judge(self, i: int, event: dict[str, Any], elapsed: float) -> TestResult:
        if elapsed > self.timeout_s:
            return TestResult(i, "timeout", elapsed, f"took {elapsed:.2f}s > {self.timeout_s}s")
        if set(event) == {"i", "error"}:
            return TestResult(i, "error", elapsed, str(event["error"])[:300])
        if set(event) != {"i", "value"}:
            return TestResult(i, "error", elapsed, "malformed result")
        try:
            got = decode(event["value"])
            equal = values_equal(self.cases[i]["expected"], got)
        except Exception as exc:  # noqa: BLE001  (whatever the program's value makes decoding do is its error)
            return TestResult(i, "error", elapsed, f"unreadable return value: {type(exc).__name__}")
        if equal:
            return TestResult(i, "passed", elapsed)
        detail = f"returned {shown(got)} != expected {shown(self.cases[i]['expected'])}"
        return TestResult(i, "wrong_answer", elapsed, detail)
