"""Synthetic tasks, registered by name: seeded generators of (question, answer) rows.

``data.source: synthetic:addition`` with ``data.task: {digits: 3, train_size: 20000, eval_size: 256}``.
Train and held-out rows come from disjoint seeds and the held-out questions never appear in train.
A task is ``fn(rng: random.Random, **options) -> dict`` returning one row with at least ``question`` and
``answer`` (more columns are allowed, e.g. ``level``).

Tasks: ``chain`` (the pocket lab's task: a chain of one-digit operations), ``sum``, ``addition``, ``multiplication``,
``copy`` (smoke tests), ``calc`` (the pocket tool lab's: products a calculator call answers),
``countdown`` (TinyZero's task; its verifier is the ``countdown.equation`` reward) and ``function``
(the pocket code task: write ``f`` from input/output examples; verified by running it,
``code.pass_rate`` on its ``tests`` column).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from r1train.errors import UserError
from r1train.registry import registrar

Task = Callable[..., dict[str, Any]]
TASKS: dict[str, Task] = {}


register = registrar(TASKS)


@register("addition")
def addition(rng: random.Random, digits: int = 3, min_digits: int = 1) -> dict[str, Any]:
    """``a+b`` with each operand having between ``min_digits`` and ``digits`` digits."""
    da, db = rng.randint(min_digits, digits), rng.randint(min_digits, digits)
    a = rng.randint(0 if da == 1 else 10 ** (da - 1), 10**da - 1)
    b = rng.randint(0 if db == 1 else 10 ** (db - 1), 10**db - 1)
    return {"question": f"{a}+{b}", "answer": str(a + b), "level": max(da, db)}


CHAIN_OPS = {"+": lambda x, d: (x + d) % 10, "-": lambda x, d: (x - d) % 10, "*": lambda x, d: (x * d) % 10}
LABELS = "abcdefghijklmnopqrstuvwxyz"


def chain_values(question: str) -> list[int]:
    """The running values of a ``chain`` question: the start digit, then the value after each operation."""
    values = [int(question[0])]
    for i in range(1, len(question), 3):
        op, d = question[i + 1], int(question[i + 2])
        values.append(CHAIN_OPS[op](values[-1], d))
    return values


@register("chain")
def chain(rng: random.Random, min_ops: int = 2, ops: int = 6) -> dict[str, Any]:
    """``7a+3b*7c-2``: a start digit, then labelled one-digit operations, all modulo 10; level = how many.

    The example reads: start at 7; a: +3 gives 0; b: *7 gives 0; c: -2 gives 8, the answer. Each step
    is a single-digit fact, but the answer is a composition of several maps of the digits, which a
    tiny model cannot do in one pass: it has to write the steps down (see ``corpus.chain_work``). The
    labels let each written step find its operation by content, not by counting.
    """
    if not 1 <= min_ops <= ops <= len(LABELS):
        raise UserError(f"chain task: need 1 <= min_ops ({min_ops}) <= ops ({ops}) <= {len(LABELS)}; change data.task")
    n = rng.randint(min_ops, ops)
    question = str(rng.randint(0, 9)) + "".join(f"{LABELS[i]}{rng.choice('+-*')}{rng.randint(1, 9)}" for i in range(n))
    return {"question": question, "answer": str(chain_values(question)[-1]), "level": n}


@register("sum")
def sum_terms(rng: random.Random, digits: int = 2, min_terms: int = 2, terms: int = 5) -> dict[str, Any]:
    """``a+b+c…``: between ``min_terms`` and ``terms`` numbers of ``digits`` digits; level = how many numbers.

    Adding two numbers is one local step; adding five at once needs every column's carry from four
    numbers together, which a tiny model rarely gets right without writing the running sums down.
    """
    n = rng.randint(min_terms, terms)
    low = 10 ** (digits - 1) if digits > 1 else 0
    nums = [rng.randint(low, 10**digits - 1) for _ in range(n)]
    return {"question": "+".join(map(str, nums)), "answer": str(sum(nums)), "level": n}


@register("copy")
def copy(rng: random.Random, length: int = 4) -> dict[str, Any]:
    """Repeat a random digit string: the easiest task, for smoke tests of the learning loop."""
    s = "".join(rng.choice("0123456789") for _ in range(length))
    return {"question": s, "answer": s, "level": length}


@register("multiplication")
def multiplication(rng: random.Random, digits: int = 2, min_digits: int = 1) -> dict[str, Any]:
    """``a*b``: ``a`` has ``digits`` digits, ``b`` between ``min_digits`` and ``digits``; level = digits of b."""
    a = rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1)
    db = rng.randint(min_digits, digits)
    b = rng.randint(0 if db == 1 else 10 ** (db - 1), 10**db - 1)
    return {"question": f"{a}*{b}", "answer": str(a * b), "level": db}


@register("countdown")
def countdown(rng: random.Random, count: int = 4, min_count: int = 3, max_number: int = 99, max_target: int = 1000) -> dict[str, Any]:
    """TinyZero's Countdown: reach ``target`` with each of ``nums`` once and + - * /; level = how many numbers.

    The target is made by combining the numbers in a random order with random operations (integer
    division only where exact), so every problem has at least one solution, kept in ``solution``.
    Verified by the ``countdown.equation`` reward (columns ``nums`` and ``target``).
    """
    while True:
        n = rng.randint(min_count, count)
        nums = [rng.randint(1, max_number) for _ in range(n)]
        order = rng.sample(nums, n)
        value, expr = order[0], str(order[0])
        for x in order[1:]:
            ops = ["+", "*"] + (["-"] if value > x else []) + (["/"] if value % x == 0 else [])
            op = rng.choice(ops)
            value = {"+": value + x, "-": value - x, "*": value * x, "/": value // x}[op]
            expr = f"({expr}){op}{x}" if op in "*/" and not expr.isdigit() else f"{expr}{op}{x}"
        if 0 < value <= max_target:
            break
    question = (
        f"Using the numbers {nums}, create an equation that equals {value}. You can use basic arithmetic "
        "operations (+, -, *, /) and each number can only be used once. Show your work in <think> </think> "
        "tags and return the final equation in <answer> </answer> tags, for example <answer> (1 + 2) / 3 </answer>."
    )
    return {"question": question, "answer": expr, "nums": nums, "target": value, "solution": expr, "level": n}


FUNCTION_OPS = {"+": lambda x, k: x + k, "*": lambda x, k: x * k, "-": lambda x, k: x - k}


def function_program(op: str, k: int) -> str:
    """The one-line program of a ``function`` row: ``f=lambda x:x+3``."""
    return f"f=lambda x:x{op}{k}"


@register("function")
def function(rng: random.Random, shown: int = 3, hidden: int = 3, ops: str = "+*", max_k: int = 9,
             read_off: bool = False, wrong: float = 0.0) -> dict[str, Any]:
    """Write ``f`` from examples: ``f(2)=5 f(7)=10 f(4)=7`` -> a fenced ``f=lambda x:x+3``; level = which op.

    ``f`` is ``x <op> k`` with ``op`` one of ``ops`` and ``2 <= k <= max_k``; the question shows ``shown``
    one-digit inputs, and the row's ``tests`` (call cases of ``f``, the sandbox's format) hold those and
    ``hidden`` inputs from 10 to 29 that the question does not show, so copying the examples into a
    lookup table does not pass. The ``answer`` is the program in a fenced block on its own lines (the
    code rewards read the last fenced block), e.g. ``"\n```python\nf=lambda x:x+3\n```\n"``.

    ``read_off``: the shown inputs include 0 and 1 (at random places among the others, drawn from 2-9),
    so the constant can be read off the examples, not computed: ``f(0)=k`` for ``+``, ``f(1)=k`` for
    ``*``, and ``f(0)=0`` tells ``*`` from ``+`` (``k >= 2``). ``f(5)=8 f(0)=3 f(1)=4`` is ``x+3``.

    ``wrong``: the share of rows whose ``document`` column (what a pretraining document writes,
    :func:`r1train.data.corpus.build_corpus`) is a wrong program, the same op with another constant
    drawn uniformly from ``2..max_k``: a corpus that mixes right and wrong programs. ``answer``,
    ``program`` and ``tests`` are always the true ``f``'s. Both draws are made on every row, so ``wrong``
    changes no question (the corpus keeps the RL run's held-out questions out by comparing them).
    """
    if (not ops or any(op not in FUNCTION_OPS for op in ops) or not 2 <= max_k <= 9 or not 1 <= shown <= 9
            or hidden < 0 or not 0.0 <= wrong <= 1.0 or (read_off and shown < 2)):
        raise UserError(f"function task: need ops from {''.join(FUNCTION_OPS)}, 2 <= max_k <= 9, 1 <= shown <= 9 "
                        "(2 or more with read_off), hidden >= 0, 0 <= wrong <= 1; change data.task")
    op, k = rng.choice(ops), rng.randint(2, max_k)
    if read_off:
        seen = [0, 1, *rng.sample(range(2, 10), shown - 2)]
        rng.shuffle(seen)
    else:
        seen = rng.sample(range(1, 10), shown)
    xs = seen + rng.sample(range(10, 30), hidden)
    flip, other = rng.random(), rng.choice([j for j in range(2, max_k + 1) if j != k] or [k])
    question = " ".join(f"f({x})={FUNCTION_OPS[op](x, k)}" for x in xs[:shown])
    tests = [{"call": "f", "args": [x], "expected": FUNCTION_OPS[op](x, k)} for x in xs]
    program = function_program(op, k)
    written = function_program(op, other) if flip < wrong else program
    return {"question": question, "answer": f"\n```python\n{program}\n```\n", "program": program, "tests": tests,
            "level": ops.index(op) + 1, "document": f"\n```python\n{written}\n```\n"}


@register("calc")
def calc(rng: random.Random, digits: int = 3, min_terms: int = 2, terms: int = 2, ops: str = "*") -> dict[str, Any]:
    """``347*285``: ``min_terms`` to ``terms`` numbers of ``digits`` digits joined by operators from ``ops``
    (Python precedence); level = how many numbers. The pocket tool lab's task: a product of two 3-digit
    numbers is out of a tiny model's reach in one pass, but one calculator call (``<calc>347*285</calc>``,
    ``corpus.calc_work``) is a copy of the question, and the answer a copy of the tool's output."""
    if not 1 <= min_terms <= terms or not ops or set(ops) - set("+-*"):
        raise UserError(f"calc task: need 1 <= min_terms ({min_terms}) <= terms ({terms}) and ops from '+-*'; change data.task")
    n = rng.randint(min_terms, terms)
    nums = [str(rng.randint(10 ** (digits - 1) if digits > 1 else 0, 10**digits - 1)) for _ in range(n)]
    question = nums[0] + "".join(rng.choice(ops) + x for x in nums[1:])
    value = 0
    for term in question.replace("-", "+-").split("+"):  # sums of products, no eval
        product = 1
        for factor in term.split("*"):
            product *= -int(factor[1:]) if factor.startswith("-") else int(factor)
        value += product
    return {"question": question, "answer": str(value), "level": n}


OPTION_KEYS = ("train_size", "eval_size")


def get(name: str) -> Task:
    """The task registered as ``name``; an unknown name is one sentence listing the known ones."""
    if name not in TASKS:
        raise UserError(f"unknown synthetic task {name!r} in data.source; use one of {', '.join(sorted(TASKS))}")
    return TASKS[name]


def check_options(name: str, options: dict[str, Any]) -> None:
    """Raise the sentence :func:`generate` would, by drawing one row: unknown task or options that do not fit."""
    task = get(name)
    opts = {k: v for k, v in options.items() if k not in OPTION_KEYS}
    try:
        task(random.Random(0), **opts)
    except TypeError as exc:
        raise UserError(f"data.task options {sorted(opts)} do not fit task {name!r} ({exc}); check data.task") from None


def generate(name: str, options: dict[str, Any], seed: int) -> tuple[list[dict], list[dict]]:
    """(train rows, held-out rows) for task ``name``; held-out questions are removed from train."""
    get(name)
    opts = dict(options)
    train_size = int(opts.pop("train_size", 20000))
    eval_size = int(opts.pop("eval_size", 256))
    task = TASKS[name]
    try:
        held_rng = random.Random(f"{name}-eval-{seed}")
        held = [task(held_rng, **opts) for _ in range(eval_size)]
    except TypeError as exc:
        raise UserError(f"data.task options {sorted(opts)} do not fit task {name!r} ({exc}); check data.task") from None
    held_q = {row["question"] for row in held}
    rng = random.Random(f"{name}-train-{seed}")
    train: list[dict] = []
    tries = 0
    while len(train) < train_size and tries < train_size * 20:
        row = task(rng, **opts)
        tries += 1
        if row["question"] not in held_q:
            train.append(row)
    return train, held
