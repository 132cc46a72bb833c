"""Synthetic tasks, registered by name: seeded generators of (question, answer) rows.

``data.source: synthetic:addition`` with ``data.task: {digits: 3, train_size: 20000, eval_size: 256}``.
Train and held-out rows come from disjoint seeds and the held-out questions never appear in train.
A task is ``fn(rng: random.Random, **options) -> dict`` returning one row with at least ``question`` and
``answer`` (more columns are allowed, e.g. ``level``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from r1train.errors import UserError

Task = Callable[..., dict[str, Any]]
TASKS: dict[str, Task] = {}


def register(name: str) -> Callable[[Task], Task]:
    def wrap(fn: Task) -> Task:
        TASKS[name] = fn
        return fn

    return wrap


@register("addition")
def addition(rng: random.Random, digits: int = 3, min_digits: int = 1) -> dict[str, Any]:
    """``a+b`` with each operand having between ``min_digits`` and ``digits`` digits."""
    da, db = rng.randint(min_digits, digits), rng.randint(min_digits, digits)
    a = rng.randint(0 if da == 1 else 10 ** (da - 1), 10**da - 1)
    b = rng.randint(0 if db == 1 else 10 ** (db - 1), 10**db - 1)
    return {"question": f"{a}+{b}", "answer": str(a + b), "level": max(da, db)}


@register("copy")
def copy(rng: random.Random, length: int = 4) -> dict[str, Any]:
    """Repeat a random digit string: the easiest task, for smoke tests of the learning loop."""
    s = "".join(rng.choice("0123456789") for _ in range(length))
    return {"question": s, "answer": s, "level": length}


OPTION_KEYS = ("train_size", "eval_size")


def generate(name: str, options: dict[str, Any], seed: int) -> tuple[list[dict], list[dict]]:
    """(train rows, held-out rows) for task ``name``; held-out questions are removed from train."""
    if name not in TASKS:
        raise UserError(f"unknown synthetic task {name!r} in data.source; use one of {', '.join(sorted(TASKS))}")
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
