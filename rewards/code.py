"""Code rewards: run the completion's last code block against the row's tests in the sandbox.

* ``code.pass_rate``: the fraction of the row's tests the program passes (0.0 … 1.0).
* ``code.all_pass``: 1.0 when every test passes, else 0.0 (stops at the first failing test).

Both read the dataset column ``tests`` for each row: a list of test dicts (``{"stdin", "stdout"}`` or
``{"call", "args", "kwargs", "expected"}``, see :mod:`rewards.sandbox.judge`), its JSON text, or
APPS-style ``{"inputs": [...], "outputs": [...], "fn_name": ...}``. The code is the last fenced block of
the completion (:func:`extract_code`); no block scores 0.0.

``None`` ("could not verify") is returned only when the row has no usable tests, the sandbox failed
internally for that row, or the batch's time budget ran out before the row was finished; a wrong,
crashing, slow or hostile program scores 0.0. Rows are scored in parallel on ``workers`` threads (each
waits on one sandboxed process; default: one per CPU this process may use) under one global deadline,
``budget_s`` seconds for the whole batch. Recipe options: ``timeout_s`` (per test), ``memory_mb``,
``workers``, ``budget_s``, ``language``, ``tests_column`` (a column other than ``tests``). If no sandbox
can be built on this machine the call raises
:class:`rewards.sandbox.SandboxUnavailable` (a configuration error, not a score).

Recipe: ``rewards: [{name: code.pass_rate, weight: 1.0, args: {timeout_s: 2, budget_s: 300}}]``. The entry's own
``timeout_s`` (outside ``args``) is the trainer's limit on the whole call; keep it above ``budget_s``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewards.registry import register
from rewards.sandbox.bwrap import SandboxUnavailable, isolation, unsafe_requested
from rewards.sandbox.judge import TestReport, normalize_tests, run_tests
from rewards.sandbox.run import SandboxError

FENCE_RE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
LANGUAGE_TAGS = {"python": {"python", "python3", "py", "py3"}}
DEFAULT_BUDGET_S = 120.0


def extract_code(completion: str, language: str | None = "python") -> str | None:
    """The last complete fenced code block tagged ``language`` (or untagged); None if there is none.

    Blocks tagged with another language (e.g. an example's expected output in ```text) are skipped;
    ``language=None`` takes the last block whatever its tag. An unclosed block (a completion cut off at
    the token limit) does not count.
    """
    tags = LANGUAGE_TAGS.get(language, {language}) if language else None
    found = None
    for match in FENCE_RE.finditer(completion):
        tag, body = match.group(1).lower(), match.group(2)
        if tags is None or tag == "" or tag in tags:
            found = body
    return found


def _workers(requested: int | None) -> int:
    if requested:
        return max(1, int(requested))
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _parse_tests(raw: Any) -> list[dict[str, Any]] | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    try:
        cases = normalize_tests(raw)
    except (ValueError, TypeError, json.JSONDecodeError):
        return None
    return cases or None


def score_batch(
    completions: list[str],
    tests: list[Any] | None,
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 512,
    workers: int | None = None,
    budget_s: float = DEFAULT_BUDGET_S,
    language: str | None = "python",
    stop_at_first_failure: bool = False,
) -> list[TestReport | float | None]:
    """Per row: a :class:`TestReport`, 0.0 (no code block), or None (cannot verify)."""
    if tests is None:
        return [None] * len(completions)
    if len(tests) != len(completions):
        raise ValueError(f"the tests column has {len(tests)} rows but there are {len(completions)} completions")
    if not unsafe_requested():
        isolation()  # raise SandboxUnavailable once, up front, instead of once per row
    deadline = time.monotonic() + budget_s

    def one(row: int) -> TestReport | float | None:
        cases = _parse_tests(tests[row])
        if cases is None:
            return None
        code = extract_code(completions[row], language)
        if code is None:
            return 0.0
        try:
            report = run_tests(code, cases, timeout_s=timeout_s, memory_mb=memory_mb,
                               stop_at_first_failure=stop_at_first_failure, deadline=deadline)
        except SandboxError as exc:
            print(f"r1train: code sandbox failed on row {row}: {exc}", file=sys.stderr)
            return None
        return report

    with ThreadPoolExecutor(max_workers=min(_workers(workers), max(1, len(completions)))) as pool:
        return list(pool.map(one, range(len(completions))))


@register("code.pass_rate")
def pass_rate(completions: list[str], tests: list[Any] | None = None, **options: Any) -> list[float | None]:
    """Fraction of the row's tests passed by the completion's last code block, run in the sandbox."""
    reports = score_batch(completions, _tests(tests, options), **_options(options))
    return [_rate(r) if isinstance(r, TestReport) else r for r in reports]


@register("code.all_pass")
def all_pass(completions: list[str], tests: list[Any] | None = None, **options: Any) -> list[float | None]:
    """1.0 when the completion's last code block passes every test of the row in the sandbox, else 0.0."""
    reports = score_batch(completions, _tests(tests, options), stop_at_first_failure=True, **_options(options))
    return [_all(r) if isinstance(r, TestReport) else r for r in reports]


def _rate(report: TestReport) -> float | None:
    return None if report.budget_exhausted else report.pass_rate


def _all(report: TestReport) -> float | None:
    if any(r.status not in ("passed", "not_run") for r in report.results):
        return 0.0  # a test failed: the verdict stands even if the budget cut the rest
    return None if report.budget_exhausted else (1.0 if report.all_passed else 0.0)


def _tests(tests: list[Any] | None, options: dict[str, Any]) -> list[Any] | None:
    """The tests column: ``tests``, or the column named by the recipe option ``tests_column``."""
    column = options.get("tests_column")
    return options.get(column) if column else tests


def _options(options: dict[str, Any]) -> dict[str, Any]:
    """Keep the recipe options this reward understands; other columns (``prompts``…) are ignored."""
    keys = ("timeout_s", "memory_mb", "workers", "budget_s", "language")
    return {k: options[k] for k in keys if k in options}


__all__ = ["SandboxUnavailable", "all_pass", "extract_code", "pass_rate", "score_batch"]
