"""Format rewards for the R1-Zero template: did the model think, then answer, in the right tags?

* ``format.think_answer``: 1.0 when the completion is ``<think>…</think>`` followed by
  ``<answer>…</answer>`` (strict: nothing else around them but white space; lenient, ``strict=False``:
  the two blocks appear in that order anywhere), else 0.0. The R1-Zero template ends the prompt with
  ``<think>``-less "Assistant:", so the completion itself must open the think block.
* ``format.tag_count``: 0.25 for each of the four tags present exactly once (partial credit that helps a
  model that has never produced the format find it).
"""

from __future__ import annotations

import re
from typing import Any

from rewards.registry import register

STRICT_RE = re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)
LENIENT_RE = re.compile(r"<think>.*?</think>.*?<answer>.*?</answer>", re.DOTALL)
TAGS = ("<think>", "</think>", "<answer>", "</answer>")


@register("format.think_answer")
def think_answer(completions: list[str], strict: bool = True, **_: Any) -> list[float | None]:
    """1.0 for <think>…</think><answer>…</answer> (strict: nothing else; lenient: in order), else 0.0."""
    pattern = STRICT_RE if strict else LENIENT_RE
    return [1.0 if pattern.search(c) else 0.0 for c in completions]


@register("format.tag_count")
def tag_count(completions: list[str], **_: Any) -> list[float | None]:
    """0.25 for each of <think>, </think>, <answer>, </answer> that appears exactly once."""
    return [sum(0.25 for tag in TAGS if c.count(tag) == 1) for c in completions]
