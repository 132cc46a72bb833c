"""The code recipes read their datasets' own test fields: a row of each dataset's shape, through the
recipe's row adapter and the recipe's own reward (the real sandbox), scores its reference solution 1
and a wrong program 0; and the adapters keep the sandbox's formats."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1train.data import code_rows
from r1train.errors import UserError
from r1train.recipe import load_recipe
from r1train.train import scoring

ROOT = Path(__file__).resolve().parents[2]
CODE_RECIPES = sorted((ROOT / "recipes").glob("code-*.yaml"))


def fenced(code: str) -> str:
    return f"<think>easy</think>\n```python\n{code}```"


RIGHT = {"kodcode": "def add(a, b):\n    return a + b\n", "deepcoder": "print(sum(map(int, input().split())))\n"}
WRONG = {"kodcode": "def add(a, b):\n    return a - b\n", "deepcoder": "print(3)\n"}  # deepcoder: 3 is right for "1 2" only


@pytest.mark.parametrize("path", CODE_RECIPES, ids=lambda p: p.name)
def test_the_recipe_reward_scores_its_dataset_row(path: Path) -> None:
    cfg = load_recipe(path)
    adapter = cfg.data.adapter
    assert adapter in ("kodcode", "deepcoder")
    row = code_rows.get(adapter)(dict(code_rows.get(adapter).example))
    assert row[cfg.data.prompt_column] and cfg.data.answer_column in row
    fns = scoring.load(list(cfg.rewards))
    columns = {k: [v, v] for k, v in row.items()} | {"prompts": ["p", "p"], "completion_lengths": [9, 9]}
    scores = scoring.score(fns, [fenced(RIGHT[adapter]), fenced(WRONG[adapter])], columns)
    assert scores.total == [1.0, 0.0]


def test_kodcode_keeps_the_test_module_and_adds_the_declarations() -> None:
    # The module goes to the sandbox as it is: its tester resolves ``from solution import …`` itself.
    row = {"question": "Add.", "test": "from solution import add, sub\nimport math\nimport solution as s\n\ndef test_a():\n    pass\n",
           "test_info": [{"function_name": "add", "function_declaration": "def add(a, b):"}]}
    out = code_rows.kodcode(row)
    assert out["tests"] == {"test": row["test"]}
    assert out["question"] == "Add.\n\nNote that the function declaration is `def add(a, b):`."


def test_deepcoder_reads_each_subsets_tests_form() -> None:
    prime = json.dumps([{"type": "function_call", "fn_name": "f", "input": [1, 2], "output": [3]},
                        {"type": "stdin_stdout", "fn_name": None, "input": "1\n", "output": "2\n"}])
    lcb = json.dumps([{"input": "[1]\n2", "output": "3", "testtype": "functional", "metadata": {"func_name": "g"}}])
    taco = json.dumps({"inputs": ["1\n"], "outputs": ["1\n"]})
    assert code_rows.deepcoder({"problem": "p", "tests": prime})["tests"] == [
        {"call": "f", "args": [1, 2], "expected": 3}, {"stdin": "1\n", "stdout": "2\n"}]
    assert code_rows.deepcoder({"problem": "p", "tests": lcb})["tests"] == [{"call": "g", "args": [[1], 2], "expected": 3}]
    assert code_rows.deepcoder({"problem": "p", "tests": taco})["tests"] == {"inputs": ["1\n"], "outputs": ["1\n"]}
    # an output given as a list of lines stays a list (str() would make it "['3', '4']", which no program prints)
    lines = json.dumps([{"type": "stdin_stdout", "input": "2\n", "output": ["3", "4"]}])
    assert code_rows.deepcoder({"problem": "p", "tests": lines})["tests"] == [{"stdin": "2\n", "stdout": ["3", "4"]}]
    with pytest.raises(UserError, match="needs column 'tests'"):
        code_rows.deepcoder({"problem": "p"})


def test_an_unknown_adapter_is_one_sentence(tmp_path: Path) -> None:
    from r1train.cli import main

    assert main(["check", str(CODE_RECIPES[0]), "data.adapter=kodcod"]) == 2
