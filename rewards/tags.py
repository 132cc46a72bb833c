"""Helpers for the R1 answer format: pull the text out of ``<answer>…</answer>``.

Shared by the format and answer verifiers (and by the math verifier's extraction) so that every reward
agrees on what "the answer" of a completion is.
"""

from __future__ import annotations

import re

ANSWER_RE = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def answer_span(text: str) -> str | None:
    """The content of the last ``<answer>…</answer>`` block, stripped; ``None`` when there is none."""
    found = ANSWER_RE.findall(text)
    return found[-1].strip() if found else None
