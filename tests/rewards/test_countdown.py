"""countdown.equation: each number once, + - * / ( ), exactly the target; parsed, never eval'd."""

from __future__ import annotations

from fractions import Fraction

import pytest

import rewards
from rewards.countdown import EquationError, equation_score, parse_equation


@pytest.mark.parametrize(
    "text, value, numbers",
    [
        ("1 + 2 * 3", Fraction(7), [1, 2, 3]),  # precedence: 1 + 6
        ("(1 + 2) * 3", Fraction(9), [1, 2, 3]),
        ("8 / 3 - 2", Fraction(2, 3), [8, 3, 2]),  # exact: 8/3 - 6/3 = 2/3, not 0.666…
        ("6 / 4 * 2", Fraction(3), [6, 4, 2]),  # left to right: (6/4)*2 = 3
        ("10 - 2 - 3", Fraction(5), [10, 2, 3]),  # left-associative: (10-2)-3
        ("2 × 3 ÷ 6", Fraction(1), [2, 3, 6]),
    ],
)
def test_parse_equation(text: str, value: Fraction, numbers: list[int]) -> None:
    assert parse_equation(text) == (value, numbers)


@pytest.mark.parametrize(
    "text",
    ["-3 + 5", "2 ** 3", "2 ^ 3", "__import__('os')", "1 / 0", "(1 + 2", "1 + ", "3.5 * 2", "(" * 100 + "1" + ")" * 100],
)
def test_parse_equation_refuses(text: str) -> None:
    with pytest.raises(EquationError):
        parse_equation(text)


@pytest.mark.parametrize(
    "completion, expected",
    [
        ("<answer>(6 / 4) * 2</answer>", 1.0),  # 6/4*2 = 3 with 6, 4, 2 each once
        ("<answer>6 * 4 - 2 = 3</answer>", 0.0),  # 24 - 2 = 22, not 3 (the "= 3" tail is ignored)
        ("<answer>6 / 2</answer>", 0.0),  # 3, but 4 is unused
        ("<answer>6 / 4 * 2 * 1</answer>", 0.0),  # 1 was not given
        ("<answer>64 / 2 / 2</answer>", 0.0),  # digits glued into 64
        ("<answer>6 / 4 * 2 * 4 / 4</answer>", 0.0),  # 4 used three times
        ("\\boxed{(6/4)*2}", 1.0),  # a boxed equation is read too
        ("no answer", 0.0),
    ],
)
def test_equation_score(completion: str, expected: float) -> None:
    assert equation_score(completion, [6, 4, 2], 3) == expected


def test_registered_reward_and_format_score() -> None:
    fn = rewards.resolve("countdown.equation")
    out = fn(["<answer>1 + 2</answer>", "<answer>1 * 2</answer>", "x"], nums=[[1, 2]] * 3, target=[3, 3, 3], format_score=0.1)
    assert out == [1.0, 0.1, 0.0]  # right; readable but wrong; no equation
    assert fn(["<answer>1</answer>"], nums=[None], target=[1]) == [None]  # a row without numbers
