"""answer_span: the last complete <answer> block, in linear time."""

from __future__ import annotations

import time

from rewards.tags import answer_span


def test_last_complete_block() -> None:
    assert answer_span("<answer> 12 </answer>") == "12"
    assert answer_span("<answer>1</answer> then <answer>2</answer>") == "2"
    assert answer_span("<answer>3</answer> <answer>unclosed") == "3"
    assert answer_span("no tags") is None and answer_span("</answer><answer>") is None
    # the text between the last opening before the last close: nested openings take the innermost
    assert answer_span("<answer>a <answer>b</answer>") == "b"


def test_hostile_input_is_linear() -> None:
    text = "<answer>" * 50_000 + "</answer" * 50_000
    t = time.perf_counter()
    assert answer_span(text) is None
    assert time.perf_counter() - t < 5  # a backtracking regex takes minutes on this
