"""Extraction rules added for the peer suites: <think>, box runs, the last marker, prose, lenient mode."""

from __future__ import annotations

import pytest

import rewards
from rewards.math import extract_answer, gold_answer, warm_up
from rewards.math.extract import undouble_backslashes


@pytest.mark.parametrize(
    "text, mode, expected",
    [
        ("<think>\\boxed{5}</think> so \\boxed{6}", "strict", "6"),  # only what follows the reasoning counts
        ("<think>\\boxed{5}</think> nothing", "strict", None),
        ("\\boxed{2}, \\boxed{3}, and \\boxed{5}", "strict", "2, 3, 5"),  # a run of boxes is one answer
        ("\\boxed{k = 45} \\quad \\text{and} \\quad \\boxed{n = 2}", "strict", "k = 45, n = 2"),
        ("\\boxed{1} then \\boxed{2}", "strict", "2"),  # prose between boxes: the last one
        ("\\boxed{004} so \\boxed{004}", "strict", "004"),
        ("so \\boxed{255}. Final Answer: The final answer is $10,455$. I hope it is correct.", "strict", "10,455"),
        ("The answer is 5. Final Answer: the answer is 6", "strict", "6"),  # the last marker wins
        ("\\boxed{7}. I think the answer is right.", "strict", "7"),  # a marker with no maths is no answer
        ("Final Answer: The largest $n$ is 34.", "strict", "34"),
        ("Final Answer: Jane started growing Sphere 3 hours ago.", "strict", "3"),
        ("Answer $9$", "strict", None),  # no marker: strict reads nothing
        ("Answer $9$", "lenient", "9"),
        ("the probability is 2/3. <|im_start|>user", "lenient", "2/3"),
        ("we get $x = 2$, so there are 12 sequences in all", "lenient", "12"),  # the number after the span
        ("\\frac{10}{9}", "lenient", "\\frac{10}{9}"),  # a bare expression is itself
        ("AZYUK2A", "lenient", None),  # a digit glued to letters is no number
        ("it is 1 000", "lenient", "1 000"),
        ("$\\\\boxed{\\\\frac{1}{2}}$", "strict", "\\frac{1}{2}"),  # backslashes escaped once too often
    ],
)
def test_extract_answer_rules(text: str, mode: str, expected: str | None) -> None:
    assert extract_answer(text, mode) == expected


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="lenient"):
        extract_answer("x", "greedy")


def test_gold_answer_reads_every_box_of_a_separated_run() -> None:
    assert gold_answer("$$\\boxed{2}, \\boxed{3}$$") == "2, 3"
    assert gold_answer("\\boxed{35} ++ \\boxed{4}") == "35, 4"  # a gold: no letters between, one run
    assert gold_answer("\\boxed{1} no no no \\boxed{2}") == "2"
    assert gold_answer("Final Answer: The final answer is $28 \\%$. I hope it is correct.") == "28 \\%"


def test_undouble_backslashes_keeps_real_row_breaks() -> None:
    assert undouble_backslashes("\\\\frac{1}{2} + \\\\left( x \\\\right)") == "\\frac{1}{2} + \\left( x \\right)"
    assert undouble_backslashes("1 \\\\ 2") == "1 \\\\ 2"  # a row break followed by a digit
    assert undouble_backslashes("\\\\begin{pmatrix}1\\\\\\\\2\\\\end{pmatrix}") == "\\begin{pmatrix}1\\\\2\\end{pmatrix}"


def test_the_reward_takes_its_extraction_mode_from_the_recipe_args() -> None:
    warm_up()
    fn = rewards.resolve("math.accuracy")
    completions = ["so it is $42$", "\\boxed{42}"]
    assert fn(completions, answer=["42", "42"]) == [0.0, 1.0]  # strict by default
    assert fn(completions, answer=["42", "42"], extraction="lenient") == [1.0, 1.0]
    with pytest.raises(ValueError, match="extraction"):
        fn(completions, answer=["42", "42"], extraction="greedy")
