"""The pocket code run's task, the synthetic ``function`` task scored by the real sandbox through
``code.pass_rate``, and the run itself: `r1train train recipes/pocket-code.yaml`, shortened, from the shipped
base (r1train/assets/pocket-code-base), through the real CLI, the vLLM engine and the sandbox.

By hand: ``f(2)=5 f(7)=10 f(4)=7`` is ``f=lambda x:x+3``; ``f=lambda x:x*3`` agrees with it on no input
of the row (3x = x+3 only at x = 1.5), so it passes 0 of the 6 tests; a program right on the shown inputs
only (a lookup table) passes 3 of 6 = 0.5.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from r1train.data import corpus, tasks
from r1train.errors import UserError
from rewards import code

ROOT = Path(__file__).resolve().parents[2]
STEPS = 40  # the whole recipe: the run took 181 s at load ~2 on 2 cores, 231 s at load 3-4 (2026-12-01)
MARGIN = 0.2


def _row_with(op: str, k: int) -> dict:
    rng = random.Random(0)
    while True:
        row = tasks.function(rng)
        if row["program"] == f"f=lambda x:x{op}{k}":
            return row


def test_a_function_row_by_hand() -> None:
    row = _row_with("+", 3)
    shown = [int(part[2:].split(")")[0]) for part in row["question"].split(" ")]
    assert [t["args"][0] for t in row["tests"]][:3] == shown and len(row["tests"]) == 6
    assert all(t["expected"] == t["args"][0] + 3 for t in row["tests"])
    assert all(10 <= t["args"][0] < 30 for t in row["tests"][3:])  # hidden inputs, never shown
    assert row["answer"] == "\n```python\nf=lambda x:x+3\n```\n" and row["level"] == 1


def test_worked_answers_pass_the_sandbox_and_wrong_programs_do_not() -> None:
    rows = tasks.generate("function", {"train_size": 0, "eval_size": 12}, 0)[1]
    row = _row_with("+", 3)
    table = "d={" + ",".join(f"{t['args'][0]}:{t['expected']}" for t in row["tests"][:3]) + "}\nf=lambda x:d[x]\n"
    completions = [corpus.completion_text(r["answer"], None) for r in rows]  # the corpus's own documents
    completions += ["<answer>\n```python\nf=lambda x:x*3\n```\n</answer>", f"```python\n{table}```", "<answer>x+3</answer>"]
    tests = [r["tests"] for r in rows] + [row["tests"]] * 3
    assert code.pass_rate(completions, tests=tests) == [1.0] * 12 + [0.0, 0.5, 0.0]


def test_the_worker_reads_the_constant_off_the_first_example() -> None:
    row = _row_with("*", 7)
    x, y = row["question"].split(" ")[0][2:].split(")=")
    assert corpus.function_work(row) == f"{y}/{x}=7" and int(y) == 7 * int(x)


def test_bad_options_are_one_sentence() -> None:
    with pytest.raises(UserError, match="function task"):
        tasks.check_options("function", {"ops": "+/"})


def test_read_off_shows_f0_and_f1_so_the_constant_is_a_copy() -> None:
    rng = random.Random(0)
    for _ in range(50):
        row = tasks.function(rng, shown=4, read_off=True)
        shown = dict(part[2:].split(")=") for part in row["question"].split(" "))
        op, k = row["program"][len("f=lambda x:x"):][0], int(row["program"][len("f=lambda x:x") + 1:])
        assert len(shown) == 4 and {"0", "1"} <= set(shown)
        # f(0)=k for +; f(0)=0 for * (k >= 2, so 0 never means +) and then f(1)=k
        assert (int(shown["0"]), op) == (k, "+") or (int(shown["0"]), int(shown["1"]), op) == (0, k, "*")


def test_wrong_documents_keep_the_questions_the_tests_and_the_gold() -> None:
    opts = {"shown": 4, "read_off": True, "train_size": 400, "eval_size": 64}
    clean_train, clean_held = tasks.generate("function", opts, 0)
    noisy_train, noisy_held = tasks.generate("function", {**opts, "wrong": 0.65}, 0)
    for clean, noisy in zip(clean_train + clean_held, noisy_train + noisy_held, strict=True):
        assert {k: v for k, v in clean.items() if k != "document"} == {k: v for k, v in noisy.items() if k != "document"}
        assert clean["document"] == clean["answer"]
    wrong = [r for r in noisy_train if r["document"] != r["answer"]]
    # 400 rows at 0.65: mean 260, std sqrt(400 * 0.65 * 0.35) = 9.5; 220-300 is over 4 std either side
    assert 220 < len(wrong) < 300
    for r in wrong:  # the same op, another constant from 2-9
        assert r["document"][:len("\n```python\nf=lambda x:x+")] == r["answer"][:len("\n```python\nf=lambda x:x+")]
    docs = corpus.build_corpus("function", {"shown": 4, "read_off": True, "wrong": 0.65}, 200, 0.0, 0, holdout_size=64)
    held = {r["question"] for r in clean_held}
    assert not held & {d.question for d in docs}  # the RL run's held-out questions stay out of the corpus
    right = sum(d.answer == f"\n```python\n{_read_off(d.question)}\n```\n" for d in docs)
    assert 40 < right < 100  # 200 documents at 0.35 right: mean 70, std 6.7


def _read_off(question: str) -> str:
    """The program of a read_off question, read off it: ``x+f(0)``, or ``x*f(1)`` when f(0) is 0."""
    shown = dict(part[2:].split(")=") for part in question.split(" "))
    return f"f=lambda x:x+{shown['0']}" if shown["0"] != "0" else f"f=lambda x:x*{shown['1']}"


def test_grpo_in_the_sandbox_raises_the_held_out_pass_rate(tmp_path: Path) -> None:
    out = tmp_path / "pocket-code"
    cmd = [sys.executable, "-m", "r1train", "train", str(ROOT / "recipes" / "pocket-code.yaml"),
           f"train.steps={STEPS}", f"train.output_dir={out}", "logging.progress=false"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == STEPS and summary["held_out"] == 128
    # The held-out pass rate is a mean over n = 128 problems of scores in [0, 1], each of variance at most
    # p(1 - p) <= 1/4: its std is at most 0.5 / sqrt(128) = 0.044, and the difference of two such means
    # (before and after, even if they were independent) at most sqrt(2) * 0.044 = 0.063. MARGIN = 0.2 is 3.2 of
    # those: noise alone gives it with probability under 1e-3 (normal tail). Measured: 18.0% -> 51.6%.
    assert 0.1 < summary["accuracy_before"] < 0.45, summary  # the regime where GRPO groups carry signal
    assert summary["accuracy_after"] > summary["accuracy_before"] + MARGIN, summary
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(rows) == STEPS and all(row["reward/code.pass_rate/none"] == 0 for row in rows)  # every program ran
