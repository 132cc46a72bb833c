"""Length-shaping rewards: ``length.cosine`` (Demystifying Long CoT) and ``length.soft_overlong`` (DAPO).

Both measure a completion in tokens when the trainer passes ``completion_lengths`` (one int per
completion), else in characters.

* ``length.cosine`` (Yeo et al. 2025, "Demystifying Long Chain-of-Thought Reasoning in LLMs"): a cosine
  schedule over the length ``t`` in ``[0, max_len]``,
  ``r(t) = lo + (hi - lo) * (1 + cos(pi * t / max_len)) / 2`` (``hi`` at t = 0, ``lo`` at t = max_len).
  A correct answer goes from ``max_value_correct`` (short) down to ``min_value_correct`` (long), so
  shorter is better; a wrong one from ``min_value_wrong`` (short) up to ``max_value_wrong`` (long), so a
  long wrong attempt is penalised less than a short guess. Lengths past ``max_len`` count as ``max_len``.
  Correctness comes from the math verifier on the ``answer`` column; ``None`` when gold is unreadable.
* ``length.soft_overlong`` (Yu et al. 2025, DAPO): 0 up to ``max_new_tokens - overlong_buffer``, then
  linear down to -1 at ``max_new_tokens``, and -1 beyond.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from rewards.math import score_batch
from rewards.registry import register


def lengths_of(completions: Sequence[str], completion_lengths: Sequence[int] | None) -> list[int]:
    """Token counts when given (one per completion), else character counts."""
    if completion_lengths is None:
        return [len(c) for c in completions]
    if len(completion_lengths) != len(completions):
        raise ValueError(
            f"completion_lengths has {len(completion_lengths)} entries for {len(completions)} completions"
        )
    return [int(n) for n in completion_lengths]


def cosine_value(length: int, max_len: int, at_zero: float, at_max: float) -> float:
    """``at_zero`` at length 0, ``at_max`` at ``max_len`` (and beyond), a half cosine in between."""
    progress = min(max(length, 0), max_len) / max_len
    return at_max + 0.5 * (at_zero - at_max) * (1.0 + math.cos(math.pi * progress))


@register("length.cosine")
def cosine(
    completions: list[str],
    answer: list[Any],
    completion_lengths: Sequence[int] | None = None,
    max_len: int | None = None,
    max_new_tokens: int | None = None,
    min_value_wrong: float = -1.0,
    max_value_wrong: float = -0.5,
    min_value_correct: float = 0.5,
    max_value_correct: float = 1.0,
    **_: Any,
) -> list[float | None]:
    """Cosine-scaled correctness: short right answers score most, long wrong ones are penalised least."""
    limit = max_len or max_new_tokens or 1000
    if limit <= 0:
        raise ValueError(f"length.cosine needs a positive max_len, got {limit}")
    correct = score_batch(completions, answer)
    out: list[float | None] = []
    for ok, n in zip(correct, lengths_of(completions, completion_lengths), strict=True):
        if ok is None:
            out.append(None)
        elif ok >= 1.0:
            out.append(cosine_value(n, limit, at_zero=max_value_correct, at_max=min_value_correct))
        else:
            out.append(cosine_value(n, limit, at_zero=min_value_wrong, at_max=max_value_wrong))
    return out


def overlong_penalty(length: int, max_new_tokens: int, overlong_buffer: int) -> float:
    """DAPO's soft overlong punishment for one completion of ``length`` tokens."""
    start = max_new_tokens - overlong_buffer
    if length <= start:
        return 0.0
    if length > max_new_tokens or overlong_buffer <= 0:
        return -1.0
    return (start - length) / overlong_buffer


@register("length.soft_overlong")
def soft_overlong(
    completions: list[str],
    completion_lengths: Sequence[int] | None = None,
    max_new_tokens: int | None = None,
    overlong_buffer: int | None = None,
    **_: Any,
) -> list[float | None]:
    """DAPO: 0 until max_new_tokens - overlong_buffer, then linearly down to -1 at max_new_tokens."""
    if not max_new_tokens or max_new_tokens <= 0:
        raise ValueError("length.soft_overlong needs max_new_tokens (e.g. rollout.max_new_tokens); pass it as an option")
    buffer = max_new_tokens // 4 if overlong_buffer is None else overlong_buffer
    if not 0 <= buffer <= max_new_tokens:
        raise ValueError(f"overlong_buffer must be between 0 and max_new_tokens ({max_new_tokens}), got {buffer}")
    return [overlong_penalty(n, max_new_tokens, buffer) for n in lengths_of(completions, completion_lengths)]
