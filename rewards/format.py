"""Format rewards for the R1-Zero template: did the model think, then answer, in the right tags?

* ``format.think_answer``: 1.0 when the completion is ``<think>…</think>`` followed by
  ``<answer>…</answer>`` (strict: nothing else around them but white space; lenient, ``strict=False``:
  the two blocks appear in that order anywhere), else 0.0. The R1-Zero template ends the prompt with
  ``<think>``-less "Assistant:", so the completion itself must open the think block.
* ``format.tag_count``: 0.25 for each of the four tags present exactly once (partial credit that helps a
  model that has never produced the format find it).

Both are plain ``str.find`` scans, linear in the completion's length: the equivalent lazy regular
expressions take quadratic time (a minute on 140 KB of repeated ``<think>``), which would stall a run.
"""

from __future__ import annotations

from typing import Any

from rewards.registry import register

TAGS = ("<think>", "</think>", "<answer>", "</answer>")


def is_strict(text: str) -> bool:
    """``^\\s*<think>.*?</think>\\s*<answer>.*?</answer>\\s*$`` (DOTALL), in linear time."""
    t = text.strip()
    if not (t.startswith("<think>") and t.endswith("</answer>")):
        return False
    last_open = len(t) - len("</answer>") - len("<answer>")  # the latest an <answer> may start
    at = t.find("</think>", len("<think>"))
    while 0 <= at:
        j = at + len("</think>")
        while j < len(t) and t[j].isspace():
            j += 1
        if j > last_open:
            return False
        if t.startswith("<answer>", j):
            return True
        at = t.find("</think>", at + 1)
    return False


def is_lenient(text: str) -> bool:
    """``<think>.*?</think>.*?<answer>.*?</answer>`` anywhere (DOTALL), in linear time."""
    at = 0
    for tag in TAGS:
        at = text.find(tag, at)
        if at < 0:
            return False
        at += len(tag)
    return True


@register("format.think_answer")
def think_answer(completions: list[str], strict: bool = True, **_: Any) -> list[float | None]:
    """1.0 for <think>…</think><answer>…</answer> (strict: nothing else; lenient: in order), else 0.0."""
    check = is_strict if strict else is_lenient
    return [1.0 if check(c) else 0.0 for c in completions]


@register("format.tag_count")
def tag_count(completions: list[str], **_: Any) -> list[float | None]:
    """0.25 for each of <think>, </think>, <answer>, </answer> that appears exactly once."""
    return [sum(0.25 for tag in TAGS if c.count(tag) == 1) for c in completions]
