"""Helpers for the R1 answer format: pull the text out of ``<answer>…</answer>``.

Shared by the format and answer verifiers (and the eval harness) so that every reward agrees on what
"the answer" of a completion is. Linear time on any input (no backtracking regex): hostile completions
with thousands of unmatched tags cost one scan.
"""

from __future__ import annotations

OPEN, CLOSE = "<answer>", "</answer>"


def answer_span(text: str) -> str | None:
    """The content of the last complete ``<answer>…</answer>`` block, stripped; ``None`` when there is none."""
    end = text.rfind(CLOSE)
    while end != -1:
        start = text.rfind(OPEN, 0, end)
        if start != -1:
            return text[start + len(OPEN) : end].strip()
        end = text.rfind(CLOSE, 0, end)  # a close tag with no opening before it: try an earlier one
    return None
