"""Code rewards: run the completion's last code block against the row's tests in the sandbox.

* ``code.pass_rate``: the fraction of the row's tests the program passes (0.0 … 1.0).
* ``code.all_pass``: 1.0 when every test passes, else 0.0 (stops at the first failing test).

Both read the dataset column ``tests`` for each row: a list of test dicts (``{"stdin", "stdout"}`` or
``{"call", "args", "kwargs", "expected"}``, see :mod:`rewards.sandbox.judge`), its JSON text, or
APPS-style ``{"inputs": [...], "outputs": [...], "fn_name": ...}``. The code is the last fenced block of
the completion (:func:`extract_code`); no block scores 0.0.

``None`` ("could not verify") is returned only for our failures: the row has no usable tests, the sandbox
failed internally for that row (:class:`rewards.sandbox.SandboxError`), or the batch's time budget
could not cover the row. A wrong, crashing, slow, hanging, flooding or hostile program scores 0.0
for what it fails. Rows are scored in parallel on ``workers`` threads (each waits on one sandboxed
process; default: one per CPU this process may use) within ``budget_s`` seconds for the whole batch.

**The budget is decided before any program runs** (:func:`admit`): each row's worst case (the longest
its runs can take under their limits, :func:`rewards.sandbox.judge.worst_case_s`) is known from its
tests alone, and rows are admitted in order while ``sum(worst) / workers + max(worst) <= budget_s``
(Graham's bound for greedy scheduling of independent jobs: whatever the programs do, the admitted rows
finish within the budget). The others are None, counted (:data:`last_batch`) and logged with the
budget that would have covered them. So no program, by hanging or otherwise, can turn its own or
another row's score into None, and an admitted row is never cut short. The price is pessimism:
at ``timeout_s: 5`` a row of 10 call tests has a worst case of 56.5 s, so ``budget_s`` must be sized
to the batch (the log says by how much) or ``timeout_s`` lowered. Recipe options: ``timeout_s`` (per
test), ``memory_mb``, ``workers``, ``budget_s``, ``language``, ``tests_column`` (a column other than
``tests``). If no sandbox can be built on this machine the call raises
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
from rewards.sandbox.run import SandboxError
from rewards.sandbox.judge import TestReport, normalize_tests, run_tests, worst_case_s

log = logging.getLogger(__name__)

FENCE_RE = re.compile(r"^[ \t]*```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)
LANGUAGE_TAGS = {"python": {"python", "python3", "py", "py3"}}
DEFAULT_BUDGET_S = 540.0  # under the trainer's default 600 s limit on one reward call


@dataclass(frozen=True)
class BatchStats:
    """What the last :func:`score_batch` call did: rows scored and rows left unverified, by cause."""

    rows: int
    unscored_budget: int  # not admitted: the budget could not cover their worst case
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


def admit(worst: list[float | None], workers: int, budget_s: float) -> tuple[list[bool], float]:
    """Which rows to run: in order, each while ``sum / workers + max`` of the admitted worst cases fits.

    ``worst[i]`` is row i's worst case in seconds (None: nothing to run). Returns the admission per row
    and the budget that would admit every row. Depends on the tests and limits only, never on programs.
    """
    total = longest = 0.0
    admitted = []
    for w in worst:
        if w is None:
            admitted.append(False)
            continue
        fits = (total + w) / workers + max(longest, w) * (1 - 1 / workers) <= budget_s
        if fits:
            total, longest = total + w, max(longest, w)
        admitted.append(fits)
    every = [w for w in worst if w is not None]
    needed = sum(every) / workers + max(every, default=0.0) * (1 - 1 / workers)
    return admitted, needed


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
    admitted, needed = admit(worst, n_workers, budget_s)
    errors = 0

    def one(row: int) -> TestReport | float | None:
        nonlocal errors
        if cases[row] is None:
            return None
        if codes[row] is None:
            return 0.0
        if not admitted[row]:
            return None
        try:
            return run_tests(codes[row], cases[row], timeout_s=timeout_s, memory_mb=memory_mb,
                             stop_at_first_failure=stop_at_first_failure)
        except SandboxError as exc:
            errors += 1
            log.warning("code sandbox failed on row %d: %s (scored None)", row, exc)
            return None

    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        reports = list(pool.map(one, range(len(completions))))
    unscored = sum(1 for w, a in zip(worst, admitted) if w is not None and not a)
    last_batch = BatchStats(len(completions), unscored, errors, sum(c is None for c in cases), round(needed, 3))
    if unscored:
        log.warning("code rewards: %d of %d rows not scored (None): budget_s=%g s cannot cover their worst case; "
                    "budget_s >= %.0f s (or a lower timeout_s) would score every row", unscored, len(completions),
                    budget_s, needed)
    log.debug("code rewards: %d rows in %.2f s", len(completions), time.monotonic() - start)
    return reports


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


__all__ = ["BatchStats", "SandboxUnavailable", "admit", "all_pass", "extract_code", "last_batch", "pass_rate", "score_batch"]
