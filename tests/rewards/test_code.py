"""Tests of the code rewards and of run_tests' judging: code extraction, typed comparison, budgets.

Expected values are worked out by hand in the comments. Programs run in the real sandbox (bubblewrap
is installed by ``make test``); each is tiny, so the file takes a few seconds.
"""

from __future__ import annotations

import json
import time

import pytest

from rewards import code, registry
from rewards.sandbox import SandboxError, run_tests
from rewards.sandbox.harness import encode
from rewards.sandbox.judge import decode, normalize_tests, outputs_match, values_equal

FENCE = "```"


def block(body: str, tag: str = "python") -> str:
    return f"{FENCE}{tag}\n{body}\n{FENCE}"


# --- extract_code ---------------------------------------------------------------------------------------


def test_extract_code_takes_the_last_python_or_untagged_block() -> None:
    text = f"first\n{block('x = 1')}\nthen\n{block('x = 2', '')}\noutput:\n{block('2', 'text')}\n"
    # python block, then untagged block, then a ```text block that is skipped -> the untagged one.
    assert code.extract_code(text) == "x = 2\n"
    assert code.extract_code(text, language=None) == "2\n"  # any tag: the last block of all
    assert code.extract_code(block("y = 3", "py")) == "y = 3\n"


def test_extract_code_none_without_a_complete_block() -> None:
    assert code.extract_code("just prose, print(1)") is None
    assert code.extract_code(f"{FENCE}python\nprint(1)\n") is None  # cut off before the closing fence
    assert code.extract_code(block("fn main() {}", "rust")) is None


# --- comparisons ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "got", "equal"),
    [
        (123, 123, True),
        (123, 123.0, False),  # the type counts: an int is expected
        (123, "123", False),
        (True, 1, False),  # bool is not int, either way round
        (1, True, False),
        (1.0, 1, True),  # a float expected accepts an int of the same value
        (0.3, 0.1 + 0.2, True),  # 0.30000000000000004 is within 1e-9
        (0.3, 0.31, False),
        ([1, 2], (1, 2), True),  # JSON has no tuples
        ([1, 2], [2, 1], False),
        ({"a": [1]}, {"a": (1,)}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        (None, None, True),
        (None, 0, False),
        ("abc", "abc", True),
    ],
)
def test_values_equal(expected: object, got: object, equal: bool) -> None:
    assert values_equal(expected, got) is equal


def test_outputs_match_exact_and_tolerant() -> None:
    assert outputs_match("3\n", "3") and not outputs_match("3\n", "3", "exact")
    assert outputs_match("1   2 \n\n\n", "1 2")  # blank runs collapse, trailing blank lines drop
    assert not outputs_match("1\n2", "1 2")  # line structure still counts
    with pytest.raises(ValueError):
        outputs_match("a", "a", "fuzzy")


def test_encode_decode_round_trip_keeps_types() -> None:
    value = [1, True, 2.5, "s", None, (1, 2), {"k": [3]}, frozenset({4}), b"\x00", 10**5000]
    assert decode(json.loads(json.dumps(encode(value)))) == value
    assert type(decode(encode((1,)))) is tuple and type(decode(encode(True))) is bool
    assert decode(encode(7)) == 7 and encode(7) == {"int": "0x7"}


def test_normalize_tests_accepts_json_and_apps_style() -> None:
    assert normalize_tests('[{"stdin": "1", "stdout": "2"}]') == [{"stdin": "1", "stdout": "2", "compare": None}]
    apps = {"inputs": [[1, 2]], "outputs": [3], "fn_name": "add"}
    assert normalize_tests(apps) == [{"call": "add", "args": [1, 2], "kwargs": {}, "expected": 3}]
    with pytest.raises(ValueError, match="test 0"):
        normalize_tests([{"stdin": "1"}])


# --- run_tests ------------------------------------------------------------------------------------------


def test_run_tests_call_based_with_types_and_solution_class() -> None:
    src = "class Solution:\n    def add(self, a, b):\n        return a + b\n    def pair(self):\n        return (1, 2)\n"
    tests = [
        {"call": "add", "args": [100, 23], "expected": 123},  # 123: pass
        {"call": "add", "args": [1.5, 1], "expected": 2.5},  # 2.5: pass
        {"call": "add", "args": [1, 1], "expected": 3},  # 2 != 3: wrong answer
        {"call": "pair", "args": [], "expected": [1, 2]},  # tuple vs list: pass
        {"call": "nope", "args": [], "expected": 1},  # no such method: error
    ]
    report = run_tests(src, tests, timeout_s=5)
    assert [r.status for r in report.results] == ["passed", "passed", "wrong_answer", "passed", "error"]
    assert (report.passed, report.total, report.all_passed) == (3, 5, False)


def test_run_tests_stdio_and_stop_at_first_failure() -> None:
    src = "n = int(input())\nprint(n * 2)\n"
    tests = [{"stdin": "2", "stdout": "4"}, {"stdin": "3", "stdout": "7"}, {"stdin": "5", "stdout": "10"}]
    full = run_tests(src, tests, timeout_s=5)
    assert [r.status for r in full.results] == ["passed", "wrong_answer", "passed"]  # 6 != 7
    short = run_tests(src, tests, timeout_s=5, stop_at_first_failure=True)
    assert [r.status for r in short.results] == ["passed", "wrong_answer", "not_run"]
    exact = run_tests("print(4, end='')", [{"stdin": "", "stdout": "4\n", "compare": "exact"}], timeout_s=5)
    assert exact.results[0].status == "wrong_answer"  # "4" != "4\n" byte for byte


def test_run_tests_per_test_time_limit_on_call_tests() -> None:
    src = "import time\ndef f(x):\n    if x == 1:\n        time.sleep(30)\n    return x\n"
    tests = [{"call": "f", "args": [0], "expected": 0}, {"call": "f", "args": [1], "expected": 1}]
    report = run_tests(src, tests, timeout_s=1)
    assert [r.status for r in report.results] == ["passed", "timeout"]


def test_run_tests_respects_the_batch_deadline() -> None:
    report = run_tests("print(1)", [{"stdin": "", "stdout": "1"}], timeout_s=1, deadline=time.monotonic() - 1)
    assert report.budget_exhausted and report.results[0].status == "not_run"


# --- the rewards ----------------------------------------------------------------------------------------


def test_rewards_are_registered() -> None:
    assert registry.resolve("code.pass_rate") is code.pass_rate
    assert registry.resolve("code.all_pass") is code.all_pass


def test_pass_rate_and_all_pass_on_a_batch() -> None:
    tests = [{"stdin": "1 2", "stdout": "3"}, {"stdin": "2 2", "stdout": "4"}]
    right = block("a, b = map(int, input().split())\nprint(a + b)")
    other = block("a, b = map(int, input().split())\nprint(a * b + (a == 1))")  # another way: 1*2+1 = 3, 2*2 = 4
    wrong = block("print(0)")
    completions = [right, other, wrong, "I cannot write code.", right]
    columns = [tests, json.dumps(tests), tests, tests, None]  # the last row has no tests
    assert code.pass_rate(completions, tests=columns, timeout_s=5) == [1.0, 1.0, 0.0, 0.0, None]
    assert code.all_pass(completions, tests=columns, timeout_s=5) == [1.0, 1.0, 0.0, 0.0, None]
    partial = block("a, b = map(int, input().split())\nprint(3)")  # right on the first case only
    assert code.pass_rate([partial], tests=[tests], timeout_s=5) == [0.5]
    assert code.all_pass([partial], tests=[tests], timeout_s=5) == [0.0]


def test_rewards_read_another_column_and_reject_mismatched_lengths() -> None:
    apps = {"inputs": ["4\n"], "outputs": ["16\n"]}
    assert code.pass_rate([block("print(int(input()) ** 2)")], input_output=[apps], tests_column="input_output") == [1.0]
    with pytest.raises(ValueError, match="rows"):
        code.pass_rate(["x", "y"], tests=[[]])


def test_sandbox_failure_is_could_not_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise SandboxError("launcher could not start")

    monkeypatch.setattr(code, "run_tests", broken)
    assert code.pass_rate([block("print(1)")], tests=[[{"stdin": "", "stdout": "1"}]]) == [None]


def test_spent_budget_is_could_not_verify() -> None:
    tests = [[{"stdin": "", "stdout": "1"}]]
    assert code.pass_rate([block("print(1)")], tests=tests, budget_s=0.0) == [None]
