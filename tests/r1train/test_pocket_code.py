"""The pocket code run: the synthetic ``function`` task, scored by the real sandbox through
``code.pass_rate``, and a short CPU run through the real CLI whose reward rises (not a timing test).

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


@pytest.mark.slow
def test_a_short_run_through_the_cli_raises_the_pass_rate(tmp_path: Path) -> None:
    base, run = tmp_path / "base", tmp_path / "run"
    pre = [sys.executable, "-m", "r1train", "pretrain", str(ROOT / "recipes" / "pocket-code-base.yaml"),
           f"train.output_dir={base}", "eval.size=0"]
    done = subprocess.run(pre, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    cmd = [sys.executable, "-m", "r1train", "train", str(ROOT / "recipes" / "pocket-code.yaml"),
           f"model.name_or_path={base / 'model'}", "train.steps=30", f"train.output_dir={run}", "logging.progress=false"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    rewards = [json.loads(line)["reward"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert len(rewards) == 30
    first, last = sum(rewards[:8]) / 8, sum(rewards[-8:]) / 8
    assert last > first + 0.1, rewards
    summary = json.loads((run / "summary.json").read_text())
    assert summary["accuracy_after"] > summary["accuracy_before"], summary  # held out: pass rate of 128 problems
