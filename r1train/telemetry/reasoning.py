"""Metrics of reasoning behaviour, computed from completions: pure functions, no torch.

R1-Zero's signature is that a policy rewarded only for correct answers learns to think longer and to
reflect. These numbers make that visible in every run (the trainer logs them each step; the pocket lab's
before/after table and ``curves.png`` show them):

* :func:`thinks` / :func:`think_rate`: a completion *thinks* when it has a non-empty reasoning block
  closed by ``</think>`` (opened by ``<think>`` in the completion, or by the prompt);
* :func:`reflection_rate`: share of completions using a reflection word ("wait", "verify", "check",
  "recheck" by default, as whole words, any case; ``logging.reflection_words`` in a recipe);
* :func:`accuracy_by_level`: accuracy per difficulty level when the task has levels;
* :func:`step_metrics`: all of the above as one flat dict of ``reasoning/…`` and ``accuracy/…`` keys.

"Correct" means the correctness reward (the recipe's first reward) reached 1.0; ``None`` (cannot
verify) is left out of every accuracy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

DEFAULT_REFLECTION_WORDS: tuple[str, ...] = ("wait", "verify", "check", "recheck")
THINK_CLOSE = "</think>"


def thinks(text: str) -> bool:
    """True when ``text`` reasons before ``</think>``: the block's content is not just white space."""
    if THINK_CLOSE not in text:
        return False
    before = text.split(THINK_CLOSE, 1)[0]
    content = before.split("<think>", 1)[1] if "<think>" in before else before
    return bool(content.strip())


def think_rate(completions: Sequence[str]) -> float:
    """Share of completions that think (NaN for none)."""
    return _share([thinks(c) for c in completions])


def reflection_pattern(words: Sequence[str]) -> re.Pattern[str]:
    """A case-insensitive whole-word pattern for ``words`` (multi-word phrases allowed)."""
    alternatives = "|".join(re.escape(w.strip()) for w in words if w.strip()) or r"(?!x)x"
    return re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE)


def reflection_rate(completions: Sequence[str], words: Sequence[str] = DEFAULT_REFLECTION_WORDS) -> float:
    """Share of completions containing at least one reflection word (NaN for none)."""
    pattern = reflection_pattern(words)
    return _share([bool(pattern.search(c)) for c in completions])


def is_correct(score: float | None) -> bool | None:
    """A correctness reward of 1.0 (or more) is correct; ``None`` stays unknown."""
    return None if score is None or (isinstance(score, float) and math.isnan(score)) else score >= 1.0


def accuracy(scores: Sequence[float | None]) -> float:
    """Share of verifiable samples whose correctness reward is 1.0 (NaN when none is verifiable)."""
    return _share([c for c in map(is_correct, scores) if c is not None])


def accuracy_by_level(scores: Sequence[float | None], levels: Sequence[Any]) -> dict[str, float]:
    """``{level: accuracy}`` over the samples of each level (``None`` levels are skipped), sorted by level."""
    groups: dict[Any, list[float | None]] = {}
    for score, level in zip(scores, levels, strict=True):
        if level is not None:
            groups.setdefault(level, []).append(score)
    return {str(level): accuracy(groups[level]) for level in sorted(groups, key=_level_key)}


def step_metrics(
    completions: Sequence[str],
    lengths: Sequence[int],
    scores: Sequence[float | None],
    levels: Sequence[Any] | None = None,
    reflection_words: Sequence[str] = DEFAULT_REFLECTION_WORDS,
) -> dict[str, float]:
    """Every reasoning metric of one batch as flat keys for ``metrics.jsonl``.

    ``lengths`` are completion lengths in tokens, ``scores`` the correctness reward per completion,
    ``levels`` the difficulty per completion (or None). Keys: ``accuracy``, ``accuracy/think``,
    ``accuracy/direct``, ``accuracy/level_<L>``, ``reasoning/think_rate``, ``reasoning/reflection_rate``,
    ``reasoning/think_length`` and ``reasoning/direct_length`` (mean tokens of thinking / other samples).
    """
    flags = [thinks(c) for c in completions]
    think_scores = [s for s, f in zip(scores, flags, strict=True) if f]
    direct_scores = [s for s, f in zip(scores, flags, strict=True) if not f]
    out = {
        "accuracy": accuracy(scores),
        "accuracy/think": accuracy(think_scores),
        "accuracy/direct": accuracy(direct_scores),
        "reasoning/think_rate": _share(flags),
        "reasoning/reflection_rate": reflection_rate(completions, reflection_words),
        "reasoning/think_length": _mean([n for n, f in zip(lengths, flags, strict=True) if f]),
        "reasoning/direct_length": _mean([n for n, f in zip(lengths, flags, strict=True) if not f]),
    }
    if levels is not None and any(level is not None for level in levels):
        for level, acc in accuracy_by_level(scores, levels).items():
            out[f"accuracy/level_{level}"] = acc
    return out


def _share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else float("nan")


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else float("nan")


def _level_key(level: Any) -> tuple[int, Any]:
    return (0, level) if isinstance(level, int | float) else (1, str(level))
