"""Row adapters for code datasets: put a dataset's own test fields into the ``tests`` column the code
rewards read (``rewards.code``), and its prompt into ``question``, without a conversion step on disk.

Most code sets load as they are (HumanEval ``{"test", "entry_point"}``, MBPP ``test_list``, APPS/TACO
``{"inputs", "outputs", "fn_name"}``: see :mod:`rewards.sandbox.assertions` and
:mod:`rewards.sandbox.judge`). The ones here keep their tests in a shape the sandbox does not read:

* ``livecodebench`` (``livecodebench/code_generation_lite``): ``public_test_cases`` and
  ``private_test_cases`` (JSON, or base64 of zlib of a pickled JSON string), each
  ``{"input", "output", "testtype": "stdin" | "functional"}``; ``metadata`` (JSON) names ``func_name``.
  A functional input is one JSON value per line (the arguments of ``Solution().<func_name>``), its output
  one JSON value. The prompt is LiveCodeBench's own wording, with the starter code when there is one.
* ``deepcoder`` (``agentica-org/DeepCoder-Preview-Dataset``, every subset): ``tests`` is JSON text of
  LiveCodeBench-style cases (``lcbv5``), PrimeIntellect cases ``{"type": "stdin_stdout" |
  "function_call", "input", "output", "fn_name"}`` (``primeintellect``) or APPS-style (``taco``, read by
  the sandbox as it is: outputs that are lists of lines, call outputs wrapped in one-element lists).
* ``kodcode`` (``KodCode/KodCode-Light-RL-10K``): ``test`` is a pytest module that imports the
  candidate with ``from solution import f``; it becomes ``{"test": ...}`` unchanged (the sandbox's
  tester gives it a module ``solution`` whose names are the candidate's functions, and a ``pytest``);
  the declarations in ``test_info`` are added to the question so the model knows the names the tests call.

An adapter is ``fn(row) -> row`` (a new dict: the row's columns plus ``question`` and ``tests``);
a row it cannot read raises :class:`UserError` naming the field. Each is registered with ``example``,
one row of its dataset's shape (what the recipe tests run a step on). Used by ``data.adapter`` in a
recipe and ``adapter:`` in a benchmark card.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zlib
from collections.abc import Callable
from typing import Any

from r1train.errors import UserError
from r1train.registry import registrar

Adapter = Callable[[dict[str, Any]], dict[str, Any]]
ADAPTERS: dict[str, Adapter] = {}
register = registrar(ADAPTERS, example=None)

LCB_WITH_STARTER = (
    "You will use the following starter code to write the solution to the problem and enclose your code "
    "within delimiters.\n```python\n{starter}\n```"
)
LCB_STDIN = (
    "Read the inputs from stdin solve the problem and write the answer to stdout (do not directly test on "
    "the sample inputs). Enclose your code within delimiters as follows. Ensure that when the python program "
    "runs, it reads the inputs, runs the algorithm and writes output to STDOUT.\n```python\n# YOUR CODE HERE\n```"
)


def get(name: str) -> Adapter:
    if name not in ADAPTERS:
        raise UserError(f"unknown row adapter {name!r}; use one of {', '.join(sorted(ADAPTERS))}")
    return ADAPTERS[name]


def apply(name: str | None, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every row through adapter ``name`` (rows unchanged when ``name`` is None)."""
    if not name:
        return rows
    fn = get(name)
    return [fn(row) for row in rows]


class _NoObjects(pickle.Unpickler):
    """An unpickler that builds only plain values: LiveCodeBench's private tests are a pickled ``str``;
    anything naming a class or function (the way a pickle runs code) is refused."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only plain values are allowed")


def _field(row: dict[str, Any], key: str, adapter: str) -> Any:
    if key not in row:
        raise UserError(f"row adapter {adapter!r} needs column {key!r}; the row has: {', '.join(row)}")
    return row[key]


def decode_lcb_cases(value: Any) -> list[dict[str, Any]]:
    """LiveCodeBench test cases from JSON text or its compressed form (base64 of zlib of a pickled JSON str)."""
    if isinstance(value, list):
        return value
    if not isinstance(value, str) or not value.strip():
        return []
    try:
        return list(json.loads(value))
    except json.JSONDecodeError:
        pass
    try:
        text = _NoObjects(io.BytesIO(zlib.decompress(base64.b64decode(value.encode("ascii"))))).load()
        return list(json.loads(text))
    except (ValueError, zlib.error, pickle.UnpicklingError, EOFError, TypeError) as exc:
        raise UserError(f"LiveCodeBench test cases could not be decoded ({exc.__class__.__name__}); "
                        "the field is neither JSON nor base64(zlib(pickle(JSON)))") from None


def lcb_case(case: dict[str, Any], func_name: str | None) -> dict[str, Any]:
    """One LiveCodeBench case as a sandbox case: stdin -> ``{stdin, stdout}``, functional -> a call of
    ``func_name`` with one JSON argument per input line."""
    kind = case.get("testtype", "stdin")
    if kind == "functional":
        if not func_name:
            raise UserError("a functional LiveCodeBench test needs metadata.func_name; the row has none")
        args = [json.loads(line) for line in str(case["input"]).split("\n") if line.strip()]
        return {"call": func_name, "args": args, "expected": json.loads(str(case["output"]))}
    return {"stdin": _stdio(case["input"]), "stdout": _stdio(case["output"])}


def _stdio(value: Any) -> Any:
    """A stdin/stdout field: text, or a list of lines kept as it is (the sandbox joins it, one line each;
    ``str`` of a list would be its Python repr, which no program prints)."""
    return value if isinstance(value, list) else str(value)


def _metadata(row: dict[str, Any]) -> dict[str, Any]:
    meta = row.get("metadata") or {}
    if isinstance(meta, str):
        meta = json.loads(meta) if meta.strip() else {}
    return meta if isinstance(meta, dict) else {}


def lcb_question(content: str, starter: str) -> str:
    hint = LCB_WITH_STARTER.format(starter=starter.rstrip()) if starter.strip() else LCB_STDIN
    return f"{content.strip()}\n\n{hint}"


LCB_EXAMPLE = {
    "question_title": "Sum of two", "question_content": "Read two integers and print their sum.",
    "platform": "atcoder", "question_id": "abc000_a", "contest_id": "abc000", "contest_date": "2024-09-01T00:00:00",
    "starter_code": "", "difficulty": "easy",
    "public_test_cases": json.dumps([{"input": "1 2\n", "output": "3\n", "testtype": "stdin"}]),
    "private_test_cases": base64.b64encode(zlib.compress(pickle.dumps(json.dumps(
        [{"input": "5 7\n", "output": "12\n", "testtype": "stdin"}])))).decode(),
    "metadata": "{}",
}


@register("livecodebench", example=LCB_EXAMPLE)
def livecodebench(row: dict[str, Any]) -> dict[str, Any]:
    """Public + private cases as sandbox cases, and the prompt in LiveCodeBench's wording."""
    func_name = _metadata(row).get("func_name")
    cases = decode_lcb_cases(_field(row, "public_test_cases", "livecodebench"))
    cases += decode_lcb_cases(row.get("private_test_cases"))
    question = lcb_question(str(_field(row, "question_content", "livecodebench")), str(row.get("starter_code") or ""))
    return {**row, "question": question, "tests": [lcb_case(c, func_name) for c in cases]}


def _prime_case(case: dict[str, Any]) -> dict[str, Any]:
    """A PrimeIntellect case: stdin_stdout, or function_call with the argument list as input (the
    expected value is the output, unwrapped when it is a one-element list, as their verifier does)."""
    if case.get("type") == "function_call":
        args = case["input"] if isinstance(case["input"], list) else [case["input"]]
        out = case["output"]
        expected = out[0] if isinstance(out, list) and len(out) == 1 else out
        return {"call": case["fn_name"], "args": args, "expected": expected}
    return {"stdin": _stdio(case["input"]), "stdout": _stdio(case["output"])}


DEEPCODER_EXAMPLE = {
    "problem": "Read two integers and print their sum.",
    "tests": json.dumps([{"type": "stdin_stdout", "input": "1 2\n", "output": "3\n", "fn_name": None},
                         {"type": "stdin_stdout", "input": "5 7\n", "output": "12\n", "fn_name": None}]),
    "solutions": ["print(sum(map(int, input().split())))"],
}


@register("deepcoder", example=DEEPCODER_EXAMPLE)
def deepcoder(row: dict[str, Any]) -> dict[str, Any]:
    """DeepCoder's ``tests`` (any subset's form) as sandbox cases; ``problem`` is the question."""
    raw = _field(row, "tests", "deepcoder")
    tests = json.loads(raw) if isinstance(raw, str) else raw
    if isinstance(tests, dict):  # taco: APPS-style, read by the sandbox as it is
        cases: Any = tests
    elif isinstance(tests, list):
        func = _metadata(row).get("func_name")
        cases = [_prime_case(c) if "type" in c else lcb_case(c, (c.get("metadata") or {}).get("func_name") or func)
                 for c in tests]
    else:
        raise UserError(f"deepcoder row: 'tests' must be JSON of a list or a dict, got {type(tests).__name__}")
    return {**row, "question": str(_field(row, "problem", "deepcoder")), "tests": cases}


KODCODE_EXAMPLE = {
    "question": "Write a function add(a, b) that returns the sum of a and b.",
    "solution": "def add(a, b):\n    return a + b\n",
    "test": "from solution import add\n\ndef test_add():\n    assert add(1, 2) == 3\n\ndef test_zero():\n    assert add(0, 0) == 0\n",
}


@register("kodcode", example=KODCODE_EXAMPLE)
def kodcode(row: dict[str, Any]) -> dict[str, Any]:
    """KodCode's pytest module as it is, as a pytest-style test; the question gains the declarations of
    ``test_info`` (the names the tests call), when the row has them."""
    test = str(_field(row, "test", "kodcode"))
    info = row.get("test_info") or []
    decls = [str(i["function_declaration"]).strip() for i in info if isinstance(i, dict) and i.get("function_declaration")]
    question = str(_field(row, "question", "kodcode"))
    if decls:
        question += "\n\nNote that the function declaration is " + "; ".join(f"`{d}`" for d in decls) + "."
    return {**row, "question": question, "tests": {"test": test}}
