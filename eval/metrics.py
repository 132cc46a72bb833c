"""The estimators: pass@1, unbiased pass@k, maj@k, and intervals over problems.

* :func:`pass_at_k` is the unbiased estimator of Chen et al. 2021 ("Evaluating Large Language Models
  Trained on Code", eq. 1): with ``n`` samples of which ``c`` are correct,
  ``pass@k = 1 - C(n-c, k) / C(n, k)``, computed as a stable product. pass@1 is its ``k = 1`` case,
  ``c / n``: the mean over the ``n`` samples, which is how AIME pass@1 "averaged over 64 samples" is meant.
* :func:`majority_vote` groups extracted answers by an equivalence function (so ``1/2`` and ``0.5`` are
  one vote under the math kind), picks the largest group (ties: the one seen first) and reports whether
  it is right. Completions with no extractable answer do not vote; no votes at all counts as wrong.
* :func:`stderr` and :func:`bootstrap_ci` give the uncertainty of a mean over problems.
* :func:`aggregate` turns a benchmark's per-problem records into the report's flat metric dict.

Everything here is plain Python on lists; it knows nothing of models or engines.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one problem with ``n`` samples, ``c`` correct (Chen et al. 2021)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n; got n={n}, c={c}, k={k}")
    if n - c < k:  # every k-subset holds a correct sample
        return 1.0
    prod = 1.0
    for i in range(n - c + 1, n + 1):  # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k/i)
        prod *= 1.0 - k / i
    return 1.0 - prod


def report_ks(n: int) -> list[int]:
    """The k values a report shows for ``n`` samples: 1, powers of two below n, and n."""
    ks = {1, n}
    k = 2
    while k < n:
        ks.add(k)
        k *= 2
    return sorted(ks)


@dataclass(frozen=True)
class Vote:
    """The outcome of a majority vote over one problem's samples."""

    answer: str | None  # the winning answer (its first-seen spelling); None when nobody answered
    count: int  # votes for it
    correct: bool  # whether the verifier accepted the winning group's first member
    groups: int  # distinct answers after equivalence


def majority_vote(
    answers: Sequence[str | None], correct: Sequence[bool], equivalent: Callable[[str, str], bool]
) -> Vote:
    """Majority vote over extracted ``answers``; ``correct[i]`` is the verifier's verdict on sample i.

    Each answer joins the first group whose representative it is ``equivalent`` to, else opens a new
    group. The largest group wins; among equals, the group opened first.
    """
    if len(answers) != len(correct):
        raise ValueError(f"{len(answers)} answers but {len(correct)} verdicts")
    groups: list[list[int]] = []  # sample indices; groups[g][0] is the representative
    for i, ans in enumerate(answers):
        if ans is None:
            continue
        for members in groups:
            if equivalent(ans, answers[members[0]]):  # type: ignore[arg-type]
                members.append(i)
                break
        else:
            groups.append([i])
    if not groups:
        return Vote(None, 0, False, 0)
    best = max(groups, key=len)  # max keeps the first of equal lengths
    return Vote(answers[best[0]], len(best), bool(correct[best[0]]), len(groups))


def stderr(values: Sequence[float]) -> float:
    """Standard error of the mean (sample standard deviation / sqrt(n)); 0 for fewer than two values."""
    if len(values) < 2:
        return 0.0
    return statistics.stdev(values) / math.sqrt(len(values))


def bootstrap_ci(values: Sequence[float], resamples: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, resampling problems with replacement (seeded)."""
    if not values:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    lo = means[int(math.floor((1 - level) / 2 * (resamples - 1)))]
    hi = means[int(math.ceil((1 + level) / 2 * (resamples - 1)))]
    return (lo, hi)


def aggregate(records: Sequence[dict[str, Any]], ci_resamples: int = 1000) -> dict[str, Any]:
    """The flat metrics of one benchmark from its per-problem records.

    A record has ``correct`` (list of bools, one per sample), ``lengths`` (completion tokens),
    ``truncated`` (list of bools), ``maj_correct`` (bool), ``unverifiable`` (count) and ``level``.
    Keys: ``pass@1`` (+ ``/stderr``, ``/ci95_low``, ``/ci95_high``), ``pass@<k>``, ``maj@<n>``,
    ``length/mean``, ``length/truncated``, ``unverifiable``, ``problems``, ``samples`` and, where
    problems have levels, ``level/<L>/pass@1`` and ``level/<L>/problems``.
    """
    if not records:
        return {"problems": 0}
    n = min(len(r["correct"]) for r in records)
    per_problem = [sum(r["correct"][:n]) / n for r in records]
    out: dict[str, Any] = {"problems": len(records), "samples": n}
    out["pass@1"] = statistics.fmean(per_problem)
    out["pass@1/stderr"] = stderr(per_problem)
    out["pass@1/ci95_low"], out["pass@1/ci95_high"] = bootstrap_ci(per_problem, ci_resamples)
    for k in report_ks(n)[1:]:
        out[f"pass@{k}"] = statistics.fmean(pass_at_k(n, sum(r["correct"][:n]), k) for r in records)
    if n > 1:
        out[f"maj@{n}"] = statistics.fmean(float(r["maj_correct"]) for r in records)
    lengths = [x for r in records for x in r["lengths"]]
    out["length/mean"] = statistics.fmean(lengths) if lengths else 0.0
    out["length/truncated"] = statistics.fmean(float(t) for r in records for t in r["truncated"])
    out["unverifiable"] = sum(r.get("unverifiable", 0) for r in records)
    levels = sorted({str(r["level"]) for r in records if r.get("level") is not None}, key=_level_order)
    for level in levels:
        mine = [p for p, r in zip(per_problem, records) if str(r.get("level")) == level]
        out[f"level/{level}/pass@1"] = statistics.fmean(mine)
        out[f"level/{level}/problems"] = len(mine)
    return out


def _level_order(level: str) -> tuple[int, float, str]:
    try:
        return (0, float(level.removeprefix("Level ").strip()), level)
    except ValueError:
        return (1, 0.0, level)
