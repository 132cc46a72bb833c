"""format.think_answer (strict and lenient) and format.tag_count; the fast checks against the regexes."""

from __future__ import annotations

import random
import re
import time

import pytest

import rewards
from rewards.format import is_lenient, is_strict

STRICT_RE = re.compile(r"^\s*<think>.*?</think>\s*<answer>.*?</answer>\s*$", re.DOTALL)  # the definition
LENIENT_RE = re.compile(r"<think>.*?</think>.*?<answer>.*?</answer>", re.DOTALL)


@pytest.mark.parametrize(
    "text, strict, lenient",
    [
        ("<think>a</think><answer>1</answer>", 1.0, 1.0),
        ("  <think>\na\n</think>\n\n<answer>\n1\n</answer>\n ", 1.0, 1.0),  # white space around is fine
        ("<think></think><answer></answer>", 1.0, 1.0),  # empty blocks still have the format
        ("Sure! <think>a</think><answer>1</answer>", 0.0, 1.0),  # text before: lenient only
        ("<think>a</think> so <answer>1</answer>", 0.0, 1.0),  # text between
        ("<think>a</think><answer>1</answer> done", 0.0, 1.0),  # text after
        ("<answer>1</answer><think>a</think>", 0.0, 0.0),  # wrong order
        ("<think>a</think>", 0.0, 0.0),  # no answer
        ("<think>a<answer>1</answer>", 0.0, 0.0),  # think never closed
        ("<think>a</think><answer>1", 0.0, 0.0),  # answer never closed
        ("", 0.0, 0.0),
    ],
)
def test_think_answer(text: str, strict: float, lenient: float) -> None:
    fn = rewards.resolve("format.think_answer")
    assert fn([text]) == [strict]
    assert fn([text], strict=False) == [lenient]


def test_fast_checks_agree_with_the_regular_expressions() -> None:
    # slow-but-obvious reference (the regexes) against the linear scans, on random tag soup
    rng = random.Random(0)
    pieces = ["<think>", "</think>", "<answer>", "</answer>", " ", "\n", "x", "<", ">"]
    for _ in range(3000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        assert is_strict(text) == bool(STRICT_RE.search(text)), text
        assert is_lenient(text) == bool(LENIENT_RE.search(text)), text


def test_hostile_completions_are_scored_in_linear_time() -> None:
    fn = rewards.resolve("format.think_answer")
    texts = ["<think>" * 20_000, "<think></think>" * 10_000 + " x", "<think>x</think>" + "<answer>" * 20_000]
    start = time.monotonic()
    assert fn(texts) == [0.0, 0.0, 0.0]
    assert fn(texts, strict=False) == [0.0, 0.0, 0.0]
    assert time.monotonic() - start < 2.0  # the regexes take about a minute on the first one


def test_tag_count_gives_a_quarter_per_tag_present_once() -> None:
    fn = rewards.resolve("format.tag_count")
    assert fn(["<think>a</think><answer>1</answer>"]) == [1.0]  # 4 tags x 0.25
    assert fn(["<think>a</think>"]) == [0.5]  # 2 tags
    assert fn(["<think><think>a</think><answer>1</answer>"]) == [0.75]  # <think> twice: no credit for it
    assert fn(["nothing"]) == [0.0]
