"""length.cosine and length.soft_overlong, with the expected values worked out by hand."""

from __future__ import annotations

import math

import pytest

import rewards
from rewards.length import cosine_value, overlong_penalty


def test_cosine_value_endpoints_and_midpoint() -> None:
    assert cosine_value(0, 100, at_zero=1.0, at_max=0.5) == 1.0  # cos(0) = 1: all of at_zero
    assert cosine_value(100, 100, at_zero=1.0, at_max=0.5) == pytest.approx(0.5)  # cos(pi) = -1
    assert cosine_value(50, 100, at_zero=1.0, at_max=0.5) == pytest.approx(0.75)  # cos(pi/2) = 0: the mean
    assert cosine_value(500, 100, at_zero=1.0, at_max=0.5) == pytest.approx(0.5)  # past max_len: clipped


def test_cosine_reward_prefers_short_right_and_long_wrong() -> None:
    fn = rewards.resolve("length.cosine")
    completions = ["<answer>4</answer>", "<answer>4</answer>", "<answer>5</answer>", "<answer>5</answer>", "x"]
    lengths = [0, 1000, 0, 1000, 250]
    out = fn(completions, answer=["4", "4", "4", "4", "\\frac{"], completion_lengths=lengths, max_len=1000)
    # right: 1.0 at length 0, 0.5 at max_len; wrong: -1.0 at 0, -0.5 at max_len; unreadable gold: None
    assert out[:4] == [1.0, pytest.approx(0.5), -1.0, pytest.approx(-0.5)]
    assert out[4] is None


def test_cosine_reward_counts_characters_without_token_lengths() -> None:
    fn = rewards.resolve("length.cosine")
    text = "<answer>4</answer>"  # 18 characters
    (value,) = fn([text], answer=["4"], max_len=36)
    assert value == pytest.approx(0.5 + 0.25 * (1 + math.cos(math.pi / 2)))  # half-way: 0.75


@pytest.mark.parametrize(
    "length, expected",
    [(0, 0.0), (768, 0.0), (832, -0.25), (896, -0.5), (1024, -1.0), (5000, -1.0)],
)
def test_overlong_penalty(length: int, expected: float) -> None:
    # max 1024, buffer 256: free up to 768, then (768 - length) / 256, e.g. 832 -> -64/256 = -0.25
    assert overlong_penalty(length, 1024, 256) == pytest.approx(expected)


def test_soft_overlong_reward() -> None:
    fn = rewards.resolve("length.soft_overlong")
    out = fn(["a", "b"], completion_lengths=[100, 1000], max_new_tokens=1024, overlong_buffer=256)
    assert out == [0.0, pytest.approx((768 - 1000) / 256)]
    assert fn(["x" * 900], max_new_tokens=1024) == [pytest.approx((768 - 900) / 256)]  # chars; buffer 1024 // 4
    with pytest.raises(ValueError, match="max_new_tokens"):
        fn(["a"])
    with pytest.raises(ValueError, match="completion_lengths"):
        fn(["a", "b"], completion_lengths=[1], max_new_tokens=10)
