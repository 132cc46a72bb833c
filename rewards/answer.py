"""``answer.exact``: the exact-answer reward for synthetic tasks (addition and friends).

The answer is the content of the last ``<answer>…</answer>`` block; the reward is 1.0 when it equals the
dataset's ``answer`` column after stripping white space, else 0.0. A completion with no answer block
scores 0.0 (it answered nothing); a row whose gold answer is empty cannot be verified and scores ``None``.
"""

from __future__ import annotations

from typing import Any

from rewards.registry import register
from rewards.tags import answer_span


@register("answer.exact")
def exact_answer(completions: list[str], answer: list[str], **_: Any) -> list[float | None]:
    """1.0 when the <answer> block equals the gold answer exactly (white space stripped), else 0.0."""
    out: list[float | None] = []
    for completion, gold in zip(completions, answer, strict=True):
        gold_text = str(gold).strip()
        if not gold_text:
            out.append(None)
            continue
        pred = answer_span(completion)
        out.append(1.0 if pred is not None and pred == gold_text else 0.0)
    return out
