"""APPS/TACO test rows in their own shapes (issue 20): outputs as lists of lines, call outputs wrapped.

APPS and TACO store ``{"inputs": [...], "outputs": [...], "fn_name"?}``. A stdin/stdout output (or input)
may be a list of strings, the text's lines; with ``fn_name`` each output is the return value wrapped in
a one-element list. Expected values are worked out by hand beside each case; both directions are
checked: the right program passes, and outputs that only resemble the expected ones fail.
"""

from __future__ import annotations

import json

import pytest

from r1train.data import code_rows
from rewards import code
from rewards.sandbox import run_tests
from rewards.sandbox.judge import lines_text, normalize_tests

FENCE = "```"


def block(body: str) -> str:
    return f"{FENCE}python\n{body}\n{FENCE}"


def test_lists_of_lines_become_one_text() -> None:
    assert lines_text(["3", "4"], "x") == "3\n4\n"
    assert lines_text(["3\n", "4\n"], "x") == "3\n4\n"  # each line gets one newline, never two
    assert lines_text(["1 2\n3", ""], "x") == "1 2\n3\n\n"  # a line may hold several; "" is a blank line
    assert lines_text("as is", "x") == "as is"
    with pytest.raises(ValueError, match="list of strings"):
        lines_text([3, 4], "x")  # numbers are not lines: the row is unusable, not guessed at


def test_apps_rows_normalize_to_the_sandbox_cases() -> None:
    stdio = {"inputs": ["2\n", ["1 2", "3 4"]], "outputs": [["3", "4"], "7\n"]}
    assert normalize_tests(stdio) == [{"stdin": "2\n", "stdout": "3\n4\n", "compare": None},
                                      {"stdin": "1 2\n3 4\n", "stdout": "7\n", "compare": None}]
    # Every output a one-element list: the return values are wrapped (13, and the list [1, 2]).
    wrapped = {"fn_name": "f", "inputs": [[5, 8], [[2, 1]]], "outputs": [[13], [[1, 2]]]}
    assert [c["expected"] for c in normalize_tests(wrapped)] == [13, [1, 2]]
    # One output is not: nothing is unwrapped ([2] stays the list [2]), so only one value is right per case.
    mixed = {"fn_name": "f", "inputs": [[1], [2]], "outputs": [[2], 5]}
    assert [c["expected"] for c in normalize_tests(mixed)] == [[2], 5]
    # JSON text, as TACO and DeepCoder ship it, reads the same.
    assert normalize_tests(json.dumps(wrapped)) == normalize_tests(wrapped)
    with pytest.raises(ValueError, match="same length"):
        normalize_tests({"inputs": ["1\n"], "outputs": []})
    with pytest.raises(ValueError, match="list of arguments"):
        normalize_tests({"fn_name": "f", "inputs": ["1"], "outputs": [[1]]})


# n on stdin: print n + 1 and n + 2 on two lines.
TWO_LINES = json.dumps({"inputs": ["2\n", "10\n"], "outputs": [["3", "4"], ["11\n", "12\n"]]})
TWO_LINES_PROGRAMS = {
    "n = int(input())\nprint(n + 1)\nprint(n + 2)\n": 1.0,
    "n = int(input())\nprint(f'{n + 1}\\n{n + 2}')\n": 1.0,  # the same text, one print
    "n = int(input())\nprint(n + 1, n + 2)\n": 0.0,  # "3 4" on one line is not the two lines
    "n = int(input())\nprint(n + 1)\n": 0.0,  # the first line only
    "n = int(input())\nprint([str(n + 1), str(n + 2)])\n": 0.0,  # the list's repr, not its lines
    "n = int(input())\nprint(n + 1)\nprint(n + 3)\n": 0.0,  # the second line wrong
    "print(3)\nprint(4)\n": 0.5,  # right for n = 2 only
}


def test_stdio_rows_with_lists_of_lines_score_right_programs_one() -> None:
    programs = list(TWO_LINES_PROGRAMS)
    got = code.pass_rate([block(p) for p in programs], tests=[TWO_LINES] * len(programs), timeout_s=5)
    assert got == list(TWO_LINES_PROGRAMS.values())


def test_exact_comparison_of_a_list_of_lines() -> None:
    # ["a", "b"] is the text "a\nb\n": print twice matches byte for byte; without the last newline it does not.
    case = [{"stdin": "", "stdout": ["a", "b"], "compare": "exact"}]
    assert run_tests("print('a')\nprint('b')\n", case, timeout_s=5).all_passed
    assert not run_tests("import sys\nsys.stdout.write('a\\nb')\n", case, timeout_s=5).all_passed


# TACO-style call row: sum of the two smallest numbers, return values wrapped in one-element lists.
WRAPPED = json.dumps({"fn_name": "two_smallest_sum", "inputs": [[[5, 8, 12, 18, 22]], [[7, 15, 12, 3]]],
                      "outputs": [[13], [10]]})


def test_wrapped_call_outputs_are_the_return_values() -> None:
    right = "def two_smallest_sum(xs):\n    a, b = sorted(xs)[:2]\n    return a + b\n"
    as_list = "def two_smallest_sum(xs):\n    a, b = sorted(xs)[:2]\n    return [a + b]\n"  # [13] is not 13
    first_two = "def two_smallest_sum(xs):\n    return xs[0] + xs[1]\n"  # 5 + 8 = 13 (right), 7 + 15 = 22 != 10
    as_float = "def two_smallest_sum(xs):\n    a, b = sorted(xs)[:2]\n    return float(a + b)\n"  # 13.0 is not 13
    got = code.pass_rate([block(p) for p in (right, as_list, first_two, as_float)], tests=[WRAPPED] * 4, timeout_s=5)
    assert got == [1.0, 0.0, 0.5, 0.0]


def test_a_deepcoder_taco_row_scores_through_its_adapter() -> None:
    row = code_rows.deepcoder({"problem": "Print n + 1 and n + 2 on two lines.", "tests": TWO_LINES})
    assert row["tests"] == json.loads(TWO_LINES)  # read by the sandbox as it is
    right, wrong = "n = int(input())\nprint(n + 1)\nprint(n + 2)\n", "n = int(input())\nprint(n + 1, n + 2)\n"
    assert code.pass_rate([block(right), block(wrong)], tests=[row["tests"]] * 2, timeout_s=5) == [1.0, 0.0]
    prime = code_rows.deepcoder({"problem": "p", "tests": json.dumps(
        [{"type": "stdin_stdout", "input": "2\n", "output": ["3", "4"], "fn_name": None}])})
    assert code.pass_rate([block(right)], tests=[prime["tests"]], timeout_s=5) == [1.0]
