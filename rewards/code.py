"""Code rewards: run the completion's last code block against the row's tests in the sandbox.

* ``code.pass_rate``: the fraction of the row's tests the program passes (0.0 … 1.0).
* ``code.all_pass``: 1.0 when every test passes, else 0.0 (stops at the first failing test).

Both read the dataset column ``tests`` for each row: a list of test dicts (``{"stdin", "stdout"}`` or
``{"call", "args", "kwargs", "expected"}``, see :mod:`rewards.sandbox.judge`), its JSON text, or
APPS-style ``{"inputs": [...], "outputs": [...], "fn_name": ...}`` in APPS/TACO's own shapes (outputs as
lists of lines, call outputs wrapped in one-element lists); or, with no ``tests`` column, an
**assertion-test program in the datasets' own columns** (:mod:`rewards.sandbox.assertions`): HumanEval's
``test`` + ``entry_point`` (with ``prefix_column: prompt`` the program is ``prompt`` + the completion's
code, as HumanEval's harness builds it), MBPP's ``test_list`` + ``test_setup_code`` + ``test_imports``,
or ``test`` alone with pytest-style ``test_*`` functions (KodCode's modules as they are: ``from solution
import f``, ``import pytest``). The test code runs in a sandbox of its own;
the program cannot make a failing assert pass (:mod:`rewards.sandbox.pool`). The code is the last fenced block of
the completion (:func:`extract_code`); no block scores 0.0.

``None`` ("could not verify") is returned only for our failures: the row has no usable tests, the sandbox
failed internally for that row (:class:`rewards.sandbox.SandboxError`), or the batch's time budget
could not cover the row. A wrong, crashing, slow, hanging, flooding or hostile program scores 0.0
for what it fails. Rows are scored in parallel on ``workers`` threads (each waits on one sandboxed
process; default: one per CPU this process may use) within ``budget_s`` seconds for the whole batch.

**The budget is decided before any program runs** (:func:`admit`), from the tests and limits alone:
each row's worst case (the longest its runs can take under their limits,
:func:`rewards.sandbox.judge.worst_case_s`) is known before it runs. When the batch's worst cases fit
``budget_s`` on ``workers`` (Graham's bound for greedy scheduling of independent jobs,
``sum / workers + max``), every row runs under its own limits. Otherwise every row gets the same time
allowance ``A``, the largest with which the batch still fits; a program that needs more than ``A`` for
its tests fails the ones it has not finished ("timeout", 0.0), exactly as with a per-test limit. Only
when ``A`` would be below one test at its full limit are rows (in order) left unscored: None, counted
(:data:`last_batch`) and logged with the budget that would have covered them. So no program, by
hanging or otherwise, can turn its own or another row's score into None, nor change another row's
allowance; and a row is never cut short by time other rows took. At ``timeout_s: 5`` on 2 workers,
``budget_s: 540`` gives every row of a 64-row batch an allowance of 16.6 s; a row of 10 call tests
has a worst case of 56.25 s. Recipe options: ``timeout_s`` (per
test), ``memory_mb``, ``workers``, ``budget_s``, ``language``, ``tests_column`` (a column other than
``tests``), ``prefix_column``. If no sandbox can be built on this machine the call raises
:class:`rewards.sandbox.SandboxUnavailable` (a configuration error, not a score).

Recipe: ``rewards: [{name: code.pass_rate, weight: 1.0, args: {timeout_s: 2, budget_s: 300}}]``. The entry's own
``timeout_s`` (outside ``args``) is the trainer's limit on the whole call; keep it above ``budget_s``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rewards.registry import register
from rewards.sandbox.bwrap import SandboxUnavailable, isolation, unsafe_requested
from rewards.sandbox.judge import (
    TestReport,
    min_allowance_s,
    normalize_tests,
    run_tests,
    worst_case_s,
)
from rewards.sandbox.run import SandboxError

log = logging.getLogger(__name__)

FENCE_RE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
LANGUAGE_TAGS = {"python": {"python", "python3", "py", "py3"}}
DEFAULT_BUDGET_S = 540.0  # under the trainer's default 600 s limit on one reward call


@dataclass(frozen=True)
class BatchStats:
    """What the last :func:`score_batch` call did: rows scored and rows left unverified, by cause."""

    rows: int
    unscored_budget: int  # not admitted: the budget could not give them even one test at its limit
    capped: int  # run with a time allowance below their worst case
    sandbox_errors: int  # our machinery failed on the row
    no_tests: int  # the row's tests column was empty or unusable
    budget_needed_s: float  # the budget that would have admitted every row with tests


last_batch: BatchStats | None = None


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


def _makespan(times: list[float], workers: int) -> float:
    """Graham's bound on greedy scheduling of independent jobs: sum / workers + (1 - 1/workers) * max."""
    return sum(times) / workers + max(times, default=0.0) * (1 - 1 / workers)


def admit(worst: list[float | None], workers: int, budget_s: float, floor_s: float) -> tuple[list[float | None], float]:
    """Each row's time allowance (None: not run), from the rows' worst cases and the budget alone.

    ``worst[i]`` is row i's worst case in seconds (None: nothing to run). If every row's worst case fits
    (Graham's bound <= ``budget_s``), each row gets its worst case. Otherwise every row's allowance is
    capped at the largest ``A`` with which the batch still fits, provided ``A >= floor_s`` (one test at
    its full limit); below that, rows are admitted in order at ``min(worst, floor_s)`` while they fit
    and the rest are None. Returns the allowances and the budget that would give every row its worst case.
    """
    present = [w for w in worst if w is not None]
    needed = _makespan(present, workers)
    if needed <= budget_s:
        return list(worst), needed
    low, high = 0.0, max(present)
    for _ in range(60):  # the batch's bound grows with the cap: bisect for the largest cap that fits
        mid = (low + high) / 2
        low, high = (mid, high) if _makespan([min(w, mid) for w in present], workers) <= budget_s else (low, mid)
    if low >= floor_s:
        return [None if w is None else min(w, low) for w in worst], needed
    allowances: list[float | None] = []
    taken: list[float] = []
    for w in worst:
        share = None if w is None else min(w, floor_s)
        if share is not None and _makespan([*taken, share], workers) <= budget_s:
            taken.append(share)
            allowances.append(share)
        else:
            allowances.append(None)
    return allowances, needed


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
    global last_batch
    if tests is None:
        return [None] * len(completions)
    if len(tests) != len(completions):
        raise ValueError(f"the tests column has {len(tests)} rows but there are {len(completions)} completions")
    if not unsafe_requested():
        isolation()  # raise SandboxUnavailable once, up front, instead of once per row
    start = time.monotonic()
    cases = [_parse_tests(t) for t in tests]
    codes = [extract_code(c, language) for c in completions]
    n_workers = min(_workers(workers), max(1, len(completions)))
    worst = [worst_case_s(c, timeout_s) if c is not None and code is not None else None
             for c, code in zip(cases, codes)]
    allowance, needed = admit(worst, n_workers, budget_s, min_allowance_s(timeout_s))
    errors = 0

    def one(row: int) -> TestReport | float | None:
        nonlocal errors
        if cases[row] is None:
            return None
        if codes[row] is None:
            return 0.0
        if allowance[row] is None:
            return None
        try:
            return run_tests(codes[row], cases[row], timeout_s=timeout_s, memory_mb=memory_mb,
                             stop_at_first_failure=stop_at_first_failure, allowance_s=allowance[row])
        except SandboxError as exc:
            errors += 1
            log.warning("code sandbox failed on row %d: %s (scored None)", row, exc)
            return None

    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        reports = list(pool.map(one, range(len(completions))))
    unscored = sum(1 for w, a in zip(worst, allowance) if w is not None and a is None)
    capped = sum(1 for w, a in zip(worst, allowance) if w is not None and a is not None and a < w)
    last_batch = BatchStats(len(completions), unscored, capped, errors, sum(c is None for c in cases), round(needed, 3))
    if unscored:
        log.warning("code rewards: %d of %d rows not scored (None): budget_s=%g s cannot cover their worst case; "
                    "budget_s >= %.0f s (or a lower timeout_s) would score every row", unscored, len(completions),
                    budget_s, needed)
    log.debug("code rewards: %d rows in %.2f s", len(completions), time.monotonic() - start)
    return reports


@register("code.pass_rate")
def pass_rate(completions: list[str], tests: list[Any] | None = None, **options: Any) -> list[float | None]:
    """Fraction of the row's tests passed by the completion's last code block, run in the sandbox."""
    reports = score_batch(_programs(completions, options), _tests(tests, options), **_options(options))
    return [_rate(r) if isinstance(r, TestReport) else r for r in reports]


@register("code.all_pass")
def all_pass(completions: list[str], tests: list[Any] | None = None, **options: Any) -> list[float | None]:
    """1.0 when the completion's last code block passes every test of the row in the sandbox, else 0.0."""
    reports = score_batch(_programs(completions, options), _tests(tests, options), stop_at_first_failure=True,
                          **_options(options))
    return [_all(r) if isinstance(r, TestReport) else r for r in reports]


def _rate(report: TestReport) -> float | None:
    return None if report.budget_exhausted else report.pass_rate


def _all(report: TestReport) -> float | None:
    if any(r.status not in ("passed", "not_run") for r in report.results):
        return 0.0  # a test failed: the verdict stands even if the budget cut the rest
    return None if report.budget_exhausted else (1.0 if report.all_passed else 0.0)


def _tests(tests: list[Any] | None, options: dict[str, Any]) -> list[Any] | None:
    """The tests column: ``tests``, the column named by ``tests_column``, or a test program in the
    datasets' own columns: HumanEval ``test`` + ``entry_point``, MBPP ``test_list`` (+ ``test_setup_code``,
    ``test_imports``), or ``test`` alone (pytest-style ``test_*`` functions)."""
    column = options.get("tests_column")
    if column:
        return options.get(column)
    if tests is not None:
        return tests
    if options.get("test_list") is not None:
        keys = [k for k in ("test_list", "test_setup_code", "test_imports") if options.get(k) is not None]
        return [dict(zip(keys, row)) for row in zip(*(options[k] for k in keys))]
    if options.get("test") is not None:
        keys = [k for k in ("test", "entry_point") if options.get(k) is not None]
        return [dict(zip(keys, row)) for row in zip(*(options[k] for k in keys))]
    return None


def _programs(completions: list[str], options: dict[str, Any]) -> list[str]:
    """With ``prefix_column`` (e.g. HumanEval's ``prompt``), each program is that column's text followed
    by the completion's code, as HumanEval's own harness builds it; the completion is then wrapped so
    that its code block (or, without one, the completion itself) is what follows the prefix."""
    column = options.get("prefix_column")
    if not column:
        return completions
    prefixes = options.get(column)
    if prefixes is None or len(prefixes) != len(completions):
        raise ValueError(f"prefix_column {column!r} must be a column with one text per completion")
    language = options.get("language", "python")
    out = []
    for prefix, completion in zip(prefixes, completions):
        body = extract_code(completion, language)
        body = completion if body is None else body
        out.append(f"```python\n{prefix}{body}\n```")
    return out


def _options(options: dict[str, Any]) -> dict[str, Any]:
    """Keep the recipe options this reward understands; other columns (``prompts``…) are ignored."""
    keys = ("timeout_s", "memory_mb", "workers", "budget_s", "language")
    return {k: options[k] for k in keys if k in options}


__all__ = ["BatchStats", "SandboxUnavailable", "admit", "all_pass", "extract_code", "last_batch", "pass_rate", "score_batch"]
