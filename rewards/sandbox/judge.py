"""Score a program against test cases in the sandbox: ``run_tests`` -> ``TestReport``.

Two kinds of test case, mixable in one list:

* **stdin/stdout** ``{"stdin": "1 2\\n", "stdout": "3\\n"}``: one fresh sandbox per case; the case passes
  when the program exits 0 and its stdout matches, whitespace-tolerantly by default (lines compared after
  collapsing runs of blanks and dropping leading/trailing blank lines) or byte for byte with
  ``compare="exact"`` (per case: ``{"compare": "exact", ...}``).
* **call-based** ``{"call": "add", "args": [100, 23], "kwargs": {}, "expected": 123}``: all call cases run
  in one sandbox through :mod:`rewards.sandbox_harness`, which imports the program once and calls the
  function (top level, or a method of ``Solution()``). The return value comes back type-tagged and is
  compared here, with its type: ``True`` is not ``1``, ``1`` is not ``1.0`` or ``"1"``; a list expected
  also accepts a tuple (JSON has no tuples); floats match within 1e-9 (relative or absolute).

Each case has the time limit ``timeout_s`` (call cases: measured here, between the harness's reports).
Expected values never enter the sandbox and the verdict is made here, so printing "PASSED", exiting 0
early, patching builtins, ``sys.exit``/``atexit`` or reading files cannot earn credit.

``deadline`` (a ``time.monotonic()`` instant) is the caller's budget: cases that would start after it
are ``"not_run"`` and the report says ``budget_exhausted`` (the reward then is "could not verify").
"""

from __future__ import annotations

import json
import math
import reprlib
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from rewards.sandbox.bwrap import execute
from rewards.sandbox.limits import Limits
from rewards.sandbox.run import STARTUP_S, ExecResult

HARNESS = Path(__file__).with_name("harness.py")
TestStatus = Literal["passed", "wrong_answer", "error", "timeout", "memory", "output_limit", "killed", "not_run"]
FLOAT_TOL = 1e-9


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


@dataclass(frozen=True)
class TestReport:
    """All cases' verdicts, in the order given."""

    results: tuple[TestResult, ...]
    budget_exhausted: bool = False

    @property
    def total(self) -> int:
        return len(self.results)

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def all_passed(self) -> bool:
        return self.total > 0 and self.passed == self.total

    @property
    def pass_rate(self) -> float:
        return self.passed / self.total if self.total else 0.0


def normalize_tests(tests: Any) -> list[dict[str, Any]]:
    """Accept a list of case dicts, its JSON text, or APPS-style ``{"inputs", "outputs"[, "fn_name"]}``."""
    if isinstance(tests, (str, bytes)):
        tests = json.loads(tests)
    if isinstance(tests, dict) and "inputs" in tests and "outputs" in tests:
        fn = tests.get("fn_name")
        pairs = zip(tests["inputs"], tests["outputs"], strict=True)
        if fn:
            tests = [{"call": fn, "args": list(i), "expected": o} for i, o in pairs]
        else:
            tests = [{"stdin": i, "stdout": o} for i, o in pairs]
    if not isinstance(tests, list):
        raise ValueError(f"tests must be a list of test dicts, got {type(tests).__name__}")
    cases = []
    for n, case in enumerate(tests):
        if not isinstance(case, dict):
            raise ValueError(f"test {n} must be a dict, got {type(case).__name__}")
        if "call" in case:
            if not isinstance(case["call"], str) or "expected" not in case:
                raise ValueError(f"test {n}: a call test needs a function name 'call' and an 'expected' value")
            args, kwargs = case.get("args", []), case.get("kwargs") or {}
            if not isinstance(args, (list, tuple)) or not isinstance(kwargs, dict):
                raise ValueError(f"test {n}: 'args' must be a list and 'kwargs' a dict")
            cases.append({"call": case["call"], "args": list(args), "kwargs": kwargs, "expected": case["expected"]})
        elif "stdout" in case:
            stdin, stdout = case.get("stdin", ""), case["stdout"]
            if not isinstance(stdin, str) or not isinstance(stdout, str):
                raise ValueError(f"test {n}: 'stdin' and 'stdout' must be strings")
            cases.append({"stdin": stdin, "stdout": stdout, "compare": case.get("compare")})
        else:
            raise ValueError(f"test {n} has neither 'stdout' (stdin/stdout test) nor 'call' (call test)")
    return cases


def outputs_match(got: str, expected: str, compare: str = "tolerant") -> bool:
    """Exact, or line by line with blank runs collapsed and outer blank lines dropped."""
    if compare == "exact":
        return got == expected
    if compare != "tolerant":
        raise ValueError(f"compare must be 'exact' or 'tolerant', got {compare!r}")

    def lines(text: str) -> list[str]:
        return [" ".join(line.split()) for line in text.strip().splitlines()]

    return lines(got) == lines(expected)


def decode(tagged: Any) -> Any:
    """Invert the harness's ``encode``: plain data only, no code from the program runs here."""
    if tagged is None or isinstance(tagged, (bool, str)):
        return tagged
    if isinstance(tagged, list):
        return [decode(v) for v in tagged]
    if not isinstance(tagged, dict) or len(tagged) != 1:
        raise ValueError("malformed value from the harness")
    (tag, body), = tagged.items()
    if tag == "int":
        return int(body, 16)
    if tag == "float":
        return float(body)
    if tag == "complex":
        return complex(float(body[0]), float(body[1]))
    if tag == "bytes":
        return bytes.fromhex(body)
    if tag == "tuple":
        return tuple(decode(v) for v in body)
    if tag == "set":
        return frozenset(decode(v) for v in body)
    if tag == "dict":
        return {_hashable(decode(k)): decode(v) for k, v in body}
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
        if type(got) is not dict or set(got) != set(_hashable(k) for k in expected):
            return False
        return all(values_equal(v, got[_hashable(k)]) for k, v in expected.items())
    if isinstance(expected, (set, frozenset)):
        return isinstance(got, (set, frozenset)) and frozenset(got) == frozenset(expected)
    return type(got) is type(expected) and got == expected


def run_tests(
    source: str,
    tests: Any,
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    stop_at_first_failure: bool = False,
    compare: str = "tolerant",
    deadline: float | None = None,
    max_output_bytes: int = 4 << 20,
    unsafe_no_isolation: bool = False,
) -> TestReport:
    """Run ``source`` against ``tests`` (see the module docstring) in the sandbox and report per case."""
    cases = normalize_tests(tests)
    limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb, max_output_bytes=max_output_bytes)
    results: dict[int, TestResult] = {}
    budget_hit = False
    call_idx = [i for i, c in enumerate(cases) if "call" in c]
    stdio_idx = [i for i, c in enumerate(cases) if "call" not in c]
    if call_idx:
        remaining = None if deadline is None else deadline - time.monotonic()
        call_results, budget_hit = _run_calls(source, [cases[i] for i in call_idx], limits, remaining,
                                              stop_at_first_failure, unsafe_no_isolation)
        results.update({call_idx[k]: replace(r, index=call_idx[k]) for k, r in enumerate(call_results)})
    failed = any(not r.passed for r in results.values())
    for i in stdio_idx:
        if (stop_at_first_failure and failed) or budget_hit:
            results[i] = TestResult(i, "not_run")
            continue
        if deadline is not None and deadline - time.monotonic() < timeout_s:
            budget_hit = True
            results[i] = TestResult(i, "not_run", detail="batch time budget spent")
            continue
        case = cases[i]
        run = execute(["/box/main.py"], {"main.py": source.encode("utf-8", "surrogateescape")},
                              case["stdin"].encode("utf-8", "surrogateescape"), limits, unsafe=unsafe_no_isolation)
        results[i] = _judge_stdio(i, run, case["stdout"], case["compare"] or compare)
        failed = failed or not results[i].passed
    return TestReport(tuple(results[i] for i in range(len(cases))), budget_exhausted=budget_hit)


def _judge_stdio(i: int, run: ExecResult, expected: str, compare: str) -> TestResult:
    if run.status != "ok":
        tail = run.stderr.strip().splitlines()[-1:] or [""]
        status: TestStatus = "error" if run.status == "error" else run.status  # type: ignore[assignment]
        return TestResult(i, status, run.wall_s, f"{run.status}: {tail[0][:200]}")
    if outputs_match(run.stdout, expected, compare):
        return TestResult(i, "passed", run.wall_s)
    return TestResult(i, "wrong_answer", run.wall_s, f"stdout {run.stdout[:80]!r} != expected {expected[:80]!r}")


class _CallWatch:
    """Follows the harness's JSON lines as they arrive: per-case times and verdicts, early stop."""

    def __init__(self, cases: list[dict[str, Any]], timeout_s: float, stop_at_first_failure: bool) -> None:
        self.cases, self.timeout_s, self.stop_first = cases, timeout_s, stop_at_first_failure
        self.buffer = b""
        self.last = time.monotonic()
        self.ready = False
        self.import_error: str | None = None
        self.results: dict[int, TestResult] = {}

    def __call__(self, chunk: bytes) -> str | None:
        self.buffer += chunk
        if b"\n" not in chunk:
            return None  # no complete line yet (and no rescanning of a long partial line)
        *lines, self.buffer = self.buffer.split(b"\n")
        action = None
        for line in lines:
            now = time.monotonic()
            elapsed, self.last = now - self.last, now
            action = self._event(line, elapsed) or action
            if action == "stop":
                return "stop"
        return action

    def _event(self, line: bytes, elapsed: float) -> str | None:
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):  # the program can write anything to this pipe
            return None
        if not isinstance(event, dict):
            return None
        if "import_error" in event and not self.ready:
            self.import_error = str(event["import_error"])[:300]
            return "stop"
        if event.get("ready") is True:
            self.ready = True
            return "progress"
        i = event.get("i")
        if not self.ready or type(i) is not int or not 0 <= i < len(self.cases) or i in self.results:
            return None
        self.results[i] = self._judge(i, event, elapsed)
        if self.stop_first and not self.results[i].passed:
            return "stop"
        return "progress"

    def _judge(self, i: int, event: dict[str, Any], elapsed: float) -> TestResult:
        if elapsed > self.timeout_s:
            return TestResult(i, "timeout", elapsed, f"took {elapsed:.2f}s > {self.timeout_s}s")
        if "error" in event:
            return TestResult(i, "error", elapsed, str(event["error"])[:300])
        try:
            got = decode(event["value"])
            equal = values_equal(self.cases[i]["expected"], got)
        except (KeyError, ValueError, TypeError, IndexError, OverflowError, RecursionError) as exc:
            return TestResult(i, "error", elapsed, f"unreadable return value: {type(exc).__name__}")
        if equal:
            return TestResult(i, "passed", elapsed)
        shown = reprlib.repr(got), reprlib.repr(self.cases[i]["expected"])
        return TestResult(i, "wrong_answer", elapsed, f"returned {shown[0]} != expected {shown[1]}")


def _run_calls(source: str, cases: list[dict[str, Any]], limits: Limits, remaining: float | None,
               stop_first: bool, unsafe: bool) -> tuple[list[TestResult], bool]:
    """All call cases in one harness run; returns the verdicts and whether the budget cut the run short."""
    per_case = limits.timeout_s
    total = per_case * (len(cases) + 1) + STARTUP_S
    budget_cut = remaining is not None and remaining < total
    if remaining is not None and remaining < per_case:
        return [TestResult(i, "not_run", detail="batch time budget spent") for i in range(len(cases))], True
    if budget_cut:
        total = remaining  # type: ignore[assignment]
    run_limits = Limits(timeout_s=total, memory_mb=limits.memory_mb, cpu_s=total,
                                max_output_bytes=limits.max_output_bytes)
    calls = [{"call": c["call"], "args": c["args"], "kwargs": c["kwargs"]} for c in cases]
    files = {
        "harness.py": HARNESS.read_bytes(),
        "solution.py": source.encode("utf-8", "surrogateescape"),
        "calls.json": json.dumps(calls).encode(),
    }
    watch = _CallWatch(cases, per_case, stop_first)
    run = execute(["/box/harness.py"], files, b"", run_limits, on_stdout=watch,
                          idle_timeout_s=per_case, unsafe=unsafe)
    results = []
    why = run.status
    if watch.import_error is not None:
        why = f"import failed: {watch.import_error}"
    elif not watch.ready:
        why = f"{run.status} before the program was imported: {(run.stderr.strip().splitlines() or [''])[-1][:200]}"
    for i in range(len(cases)):
        if i in watch.results:
            results.append(watch.results[i])
        elif stop_first and any(not r.passed for r in watch.results.values()):
            results.append(TestResult(i, "not_run"))
        else:
            limit_hit = run.status in ("timeout", "memory", "output_limit")
            status: TestStatus = run.status if limit_hit else "error"  # type: ignore[assignment]
            if status == "timeout" and budget_cut:
                return results + [TestResult(j, "not_run", detail="batch time budget spent")
                                  for j in range(i, len(cases))], True
            results.append(TestResult(i, status, 0.0, str(why)[:300]))
    return results, False
