"""``math.accuracy``: 1.0 when a completion's final answer equals the gold answer, else 0.0.

``None`` (logged) when the gold answer cannot be read: that is the dataset's problem, never the
completion's. A batch is scored by all of the verifier's worker processes in parallel.

Option ``extraction`` (the recipe's ``args``): ``strict`` (the default) reads only a marked final answer
(``<answer>``, ``\\boxed``, ``####``, "the answer is"); ``lenient`` falls back to the completion's last
math span or number, as Math-Verify does. Strict is the default because the reward teaches: a lenient
reader pays for the last number a rambling or truncated completion happens to end on, and so teaches
the policy to skip the format. Recipe: ``rewards: [{name: math.accuracy, args: {extraction: lenient}}]``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rewards.math.extract import MODES, extract_answer, gold_answer
from rewards.math.verify import check, is_equivalent, plain_rational, pool
from rewards.registry import register

log = logging.getLogger("rewards.math")


def score(completion: str, gold: Any, extraction: str = "strict") -> float | None:
    """1.0 when the completion's final answer equals the gold answer, 0.0 if not, None if gold is unreadable."""
    gold_text = gold_answer(gold)
    if not gold_text or not _gold_parses(gold_text):
        log.warning("math.accuracy: cannot parse the gold answer %r; scoring None", str(gold)[:200])
        return None
    pred = extract_answer(completion, mode=extraction)
    if pred is None:
        return 0.0
    return 1.0 if is_equivalent(pred, gold_text) else 0.0


def _gold_parses(gold: str) -> bool:
    if plain_rational(gold) is not None:
        return True
    return check("parses", gold) is True


def score_batch(completions: Sequence[str], golds: Sequence[Any], extraction: str = "strict") -> list[float | None]:
    """:func:`score` for every pair, spread over the worker processes (one thread per worker)."""
    if extraction not in MODES:
        raise ValueError(f"math.accuracy: extraction {extraction!r} is not one of {', '.join(MODES)}")
    if len(completions) != len(golds):
        raise ValueError(f"{len(completions)} completions but {len(golds)} gold answers; they must match")
    workers = pool()
    workers.warm()  # a trainer waits for the workers to start rather than score its first batch 0
    if len(completions) <= 1:
        return [score(c, g, extraction) for c, g in zip(completions, golds)]
    with ThreadPoolExecutor(max_workers=workers.size) as executor:
        return list(executor.map(score, completions, golds, [extraction] * len(golds)))


@register("math.accuracy")
def accuracy(completions: list[str], answer: list[Any], extraction: str = "strict", **_: Any) -> list[float | None]:
    """1.0 when the final answer (answer tags, \\boxed, ####; ``extraction``) equals the gold ``answer``, else 0.0."""
    return score_batch(completions, answer, extraction)
