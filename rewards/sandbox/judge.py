"""Score a program against test cases in the sandbox: ``run_tests`` -> ``TestReport``.

Three kinds of test case, mixable in one list:

* **stdin/stdout** ``{"stdin": "1 2\\n", "stdout": "3\\n"}`` (either may be a list of lines, as APPS and
  TACO store them: :func:`lines_text`): one fresh sandbox per case; the case passes
  when the program exits 0 and its stdout matches, whitespace-tolerantly by default (lines compared after
  collapsing runs of blanks and dropping leading/trailing blank lines) or byte for byte with
  ``compare="exact"`` (per case: ``{"compare": "exact", ...}``).
* **call-based** ``{"call": "add", "args": [100, 23], "kwargs": {}, "expected": 123}``: all call cases run
  in one sandbox through :mod:`rewards.sandbox.harness`, which imports the program once and calls the
  function (top level, or a method of ``Solution()``). The return value comes back type-tagged and is
  judged here by :mod:`rewards.sandbox.verdict` (strict protocol, host-only per-test clocks, bounded
  reading, typed comparison: ``True`` is not ``1``, ``1`` is not ``1.0``; floats within 1e-9).

* **assertion tests**: a test program in the datasets' own fields (HumanEval ``test`` + ``entry_point``,
  MBPP ``test_list``, pytest-style ``test_*`` functions; :mod:`rewards.sandbox.assertions`), run in a
  tester sandbox apart from the program, calls crossing by value (:mod:`rewards.sandbox.pool`).

Each case has the time limit ``timeout_s`` (call cases: measured here, between accepted results).
Expected values never enter the sandbox and the verdict is made here, so printing "PASSED", exiting 0
early, patching builtins, ``sys.exit``/``atexit`` or reading files cannot earn credit.

**Every program outcome is a verdict.** Slow, hanging, crashing, flooding, huge or unprintable values
are a failed case (0.0 for it); :class:`rewards.sandbox.SandboxError` (the machinery failed) is the only
exception a program's run can lead to. A row's time is decided before it starts: ``allowance_s`` (from the
batch's budget, see :mod:`rewards.code`) bounds all its runs together, and cases the program has not
finished within it are ``"timeout"``; ``deadline`` (a ``time.monotonic()`` instant) is checked once,
*before* anything runs, against :func:`worst_case_s`, the longest the row's runs can take under their
limits; a row that does not fit is ``"not_run"`` with ``budget_exhausted`` (the reward is then "could
not verify": our decision, made before the program ran, which its behaviour cannot influence).
"""

from __future__ import annotations

import json
import marshal
import time
from dataclasses import dataclass, replace
from typing import Any

from rewards.sandbox.assertions import explicit_case, is_test_program, jobs, to_cases
from rewards.sandbox.bwrap import SandboxUnavailable, execute, unsafe_requested
from rewards.sandbox.limits import Limits
from rewards.sandbox.pool import run_assertions
from rewards.sandbox.prepared import run_plain
from rewards.sandbox.run import STARTUP_S, ExecResult
from rewards.sandbox.scripts import SCRIPTS
from rewards.sandbox.verdict import (
    FLOAT_TOL,
    CallWatch,
    TestResult,
    TestStatus,
    decode,
    values_equal,
)

# Launching and tearing down one sandbox beyond its limits (bwrap, cgroups, reaping), for worst_case_s.
RUN_OVERHEAD_S = 0.25
__all__ = ["FLOAT_TOL", "TestReport", "TestResult", "TestStatus", "decode", "min_allowance_s", "run_tests", "values_equal",
           "worst_case_s"]


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
    if is_test_program(tests):
        return to_cases(tests)
    if isinstance(tests, dict) and "inputs" in tests and "outputs" in tests:
        tests = apps_cases(tests)
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
        elif "assert" in case:
            cases.append(explicit_case(case, n))
        elif "stdout" in case:
            stdin = lines_text(case.get("stdin", ""), f"test {n}: 'stdin'")
            stdout = lines_text(case["stdout"], f"test {n}: 'stdout'")
            cases.append({"stdin": stdin, "stdout": stdout, "compare": case.get("compare")})
        else:
            raise ValueError(f"test {n} has none of 'stdout' (stdin/stdout test), 'call' (call test), 'assert'")
    return cases


def lines_text(value: Any, what: str) -> str:
    """A stdin or stdout field: a string, or (APPS/TACO) a list of strings, the text's lines: each ends
    with one newline (added where it has none), ``["3", "4"]`` and ``["3\\n", "4\\n"]`` both being ``"3\\n4\\n"``."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "".join(v if v.endswith("\n") else v + "\n" for v in value)
    raise ValueError(f"{what} must be a string or a list of strings (lines), got {type(value).__name__}")


def apps_cases(tests: dict[str, Any]) -> list[dict[str, Any]]:
    """APPS/TACO ``{"inputs", "outputs"[, "fn_name"]}`` as cases. With ``fn_name`` each input is the
    argument list and, when *every* output is a one-element list, the outputs are the return values
    wrapped in lists, as APPS and TACO store them (``"outputs": [[13], [[1, 2]]]``: 13 and [1, 2]); a row
    with any other output is taken as it stands, so exactly one value is right per case. Without
    ``fn_name`` they are stdin and stdout texts, each a string or a list of lines (:func:`lines_text`)."""
    inputs, outputs = tests["inputs"], tests["outputs"]
    if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
        raise ValueError("APPS-style tests need 'inputs' and 'outputs' lists of the same length")
    fn = tests.get("fn_name")
    if not fn:
        return [{"stdin": i, "stdout": o} for i, o in zip(inputs, outputs)]
    if not all(isinstance(i, list) for i in inputs):
        raise ValueError("APPS-style call tests ('fn_name') need each input to be the list of arguments")
    wrapped = bool(outputs) and all(isinstance(o, list) and len(o) == 1 for o in outputs)
    return [{"call": fn, "args": i, "expected": o[0] if wrapped else o} for i, o in zip(inputs, outputs)]


def outputs_match(got: str, expected: str, compare: str = "tolerant") -> bool:
    """Exact, or line by line with blank runs collapsed and outer blank lines dropped."""
    if compare == "exact":
        return got == expected
    if compare != "tolerant":
        raise ValueError(f"compare must be 'exact' or 'tolerant', got {compare!r}")

    def lines(text: str) -> list[str]:
        return [" ".join(line.split()) for line in text.strip().splitlines()]

    return lines(got) == lines(expected)


def call_run_limit_s(n_calls: int, timeout_s: float) -> float:
    """The hard wall limit of one harness run of ``n_calls`` call cases: import + each case + startup."""
    return timeout_s * (n_calls + 1) + STARTUP_S


def worst_case_s(cases: list[dict[str, Any]], timeout_s: float) -> float:
    """The longest ``run_tests`` can take on ``cases`` (normalized) under per-case limit ``timeout_s``."""
    n_calls = sum("call" in c for c in cases)
    n_stdio = sum("stdout" in c for c in cases)
    calls = call_run_limit_s(n_calls, timeout_s) + RUN_OVERHEAD_S if n_calls else 0.0
    asserts = sum(call_run_limit_s(len(idx), timeout_s) + RUN_OVERHEAD_S for idx, _ in jobs(cases))
    return calls + asserts + n_stdio * (timeout_s + RUN_OVERHEAD_S)


def min_allowance_s(timeout_s: float) -> float:
    """The least row time allowance worth running: one test of either kind at its full limit."""
    return max(call_run_limit_s(1, timeout_s), timeout_s) + RUN_OVERHEAD_S


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
    allowance_s: float | None = None,
    unsafe_no_isolation: bool = False,
) -> TestReport:
    """Run ``source`` against ``tests`` (see the module docstring) in the sandbox and report per case.

    ``allowance_s`` bounds the wall time of all the row's runs together (given by the batch's budget
    before the row starts): cases the program has not finished within it are ``"timeout"``.
    """
    cases = normalize_tests(tests)
    limits = Limits(timeout_s=timeout_s, memory_mb=memory_mb, max_output_bytes=max_output_bytes)
    if deadline is not None and deadline - time.monotonic() < worst_case_s(cases, timeout_s):
        skipped = tuple(TestResult(i, "not_run", detail="batch time budget spent") for i in range(len(cases)))
        return TestReport(skipped, budget_exhausted=True)
    results: dict[int, TestResult] = {}
    call_idx = [i for i, c in enumerate(cases) if "call" in c]
    stdio_idx = [i for i, c in enumerate(cases) if "stdout" in c]
    row_end = None if allowance_s is None else time.monotonic() + allowance_s
    if call_idx:
        call_results = _run_calls(source, [cases[i] for i in call_idx], limits, stop_at_first_failure,
                                  unsafe_no_isolation, allowance_s)
        results.update({call_idx[k]: replace(r, index=call_idx[k]) for k, r in enumerate(call_results)})
    groups = jobs(cases)
    if groups and unsafe_requested(unsafe_no_isolation):
        raise SandboxUnavailable("assertion tests need the sandbox (the test code and the program run in two "
                                 "isolated processes); without isolation only stdin/stdout and call tests run")
    for idx, job in groups:
        if stop_at_first_failure and any(not r.passed for r in results.values()):
            results.update({i: TestResult(i, "not_run") for i in idx})
            continue
        run_limit = call_run_limit_s(len(idx), timeout_s)
        if row_end is not None:
            run_limit = max(0.05, min(run_limit, row_end - time.monotonic() - RUN_OVERHEAD_S))
        verdicts = run_assertions(source, job, len(idx), limits, stop_at_first_failure, run_limit)
        results.update({idx[k]: replace(r, index=idx[k]) for k, r in enumerate(verdicts)})
    failed = any(not r.passed for r in results.values())
    for i in stdio_idx:
        if stop_at_first_failure and failed:
            results[i] = TestResult(i, "not_run")
            continue
        case = cases[i]
        run_limits = limits
        if row_end is not None:
            left = row_end - time.monotonic() - RUN_OVERHEAD_S
            if left < min(timeout_s, 0.05):
                results[i] = TestResult(i, "timeout", 0.0, "the row's time allowance is spent")
                failed = True
                continue
            run_limits = replace(limits, timeout_s=min(timeout_s, left), cpu_s=timeout_s) if left < timeout_s else limits
        data = case["stdin"].encode("utf-8", "surrogateescape")
        run = run_plain(source.encode("utf-8", "surrogateescape"), data, run_limits, unsafe=unsafe_no_isolation)
        results[i] = _judge_stdio(i, run, case["stdout"], case["compare"] or compare)
        failed = failed or not results[i].passed
    return TestReport(tuple(results[i] for i in range(len(cases))))


def _judge_stdio(i: int, run: ExecResult, expected: str, compare: str) -> TestResult:
    if run.status != "ok":
        tail = run.stderr.strip().splitlines()[-1:] or [""]
        status: TestStatus = "error" if run.status == "error" else run.status  # type: ignore[assignment]
        return TestResult(i, status, run.wall_s, f"{run.status}: {tail[0][:200]}")
    if outputs_match(run.stdout, expected, compare):
        return TestResult(i, "passed", run.wall_s)
    return TestResult(i, "wrong_answer", run.wall_s, f"stdout {run.stdout[:80]!r} != expected {expected[:80]!r}")




def _run_calls(source: str, cases: list[dict[str, Any]], limits: Limits, stop_first: bool,
               unsafe: bool, allowance_s: float | None = None) -> list[TestResult]:
    """All call cases in one harness run, judged by :class:`CallWatch` as the results arrive."""
    total = call_run_limit_s(len(cases), limits.timeout_s)
    if allowance_s is not None:
        total = max(0.05, min(total, allowance_s - RUN_OVERHEAD_S))
    run_limits = Limits(timeout_s=total, memory_mb=limits.memory_mb, cpu_s=total,
                        max_output_bytes=limits.max_output_bytes)
    calls = [(c["call"], c["args"], c["kwargs"]) for c in cases]
    files = {
        "harness.py": SCRIPTS["harness.py"],
        "solution.py": source.encode("utf-8", "surrogateescape"),
        "calls.bin": marshal.dumps(calls),
    }
    watch = CallWatch(cases, limits.timeout_s, stop_first)
    run = execute(["-S", "/box/harness.py"], files, b"", run_limits, on_stdout=watch,
                  idle_timeout_s=limits.timeout_s, unsafe=unsafe)
    why = run.status
    if watch.import_error is not None:
        why = f"import failed: {watch.import_error}"
    elif watch.violation is not None:
        why = f"the harness's output was tampered with ({watch.violation})"
    elif not watch.ready:
        why = f"{run.status} before the program was imported: {(run.stderr.strip().splitlines() or [''])[-1][:200]}"
    results = []
    for i in range(len(cases)):
        if i in watch.results:
            results.append(watch.results[i])
        elif stop_first and any(not r.passed for r in watch.results.values()):
            results.append(TestResult(i, "not_run"))
        else:
            limit_hit = run.status in ("timeout", "memory", "output_limit") and watch.violation is None
            status: TestStatus = run.status if limit_hit else "error"  # type: ignore[assignment]
            results.append(TestResult(i, status, 0.0, str(why)[:300]))
    return results
