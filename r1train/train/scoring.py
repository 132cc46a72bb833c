"""The reward stage: call each reward function of the recipe on a batch and combine the scores.

Each function gets the completions and the dataset's columns for the same rows (plus ``prompts`` and
``completion_lengths`` in tokens), with the recipe's ``args`` as keyword options. A ``None`` score
("cannot verify") is counted per function and makes that sample's total ``NaN``: it is left out of its
group's statistics and out of the loss, never silently scored as 0.
"""

from __future__ import annotations

import inspect
import logging
import math
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rewards
from r1train.config import RewardSpec
from r1train.errors import UserError

log = logging.getLogger("r1train")
RESERVED = {"completions", "prompts", "completion_lengths"}


@dataclass(frozen=True)
class RewardFunction:
    name: str
    fn: Any
    weight: float
    args: dict[str, Any]
    timeout_s: float = 600.0
    on_error: str = "fail"


@dataclass
class Scores:
    """Per-function scores (``None`` = unverifiable) and the weighted total per sample (NaN if any None)."""

    per_function: dict[str, list[float | None]]
    total: list[float]
    errors: dict[str, int] = field(default_factory=dict)  # failed calls per function (on_error: none)


def short_name(ref: str) -> str:
    """The name metrics use: registry names as they are, ``dir/file.py:fn`` as ``file:fn``."""
    target, sep, attr = ref.rpartition(":")
    if not sep or not target.endswith(".py"):
        return ref
    return f"{Path(target).stem}:{attr}"


def load(specs: list[RewardSpec], defaults: dict[str, Any] | None = None) -> list[RewardFunction]:
    """Resolve every reward reference of the recipe; an unknown name lists the registered ones.

    ``defaults`` (e.g. ``max_new_tokens`` from the rollout section) are passed to functions that name
    such a parameter, unless the recipe's ``args`` set it.
    """
    out = []
    for spec in specs:
        try:
            fn = rewards.resolve(spec.name)
        except rewards.RewardLookupError as exc:
            raise UserError(str(exc)) from None
        args = dict(spec.args)
        for key, value in (defaults or {}).items():
            if key not in args and _takes(fn, key):
                args[key] = value
        out.append(RewardFunction(short_name(spec.name), fn, spec.weight, args, spec.timeout_s, spec.on_error))
    return out


def _takes(fn: Any, name: str) -> bool:
    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


class RewardError(Exception):
    """One reward call went wrong (raised, hung, bad output); the message is one sentence for the user."""


_POOL = ThreadPoolExecutor(max_workers=8, thread_name_prefix="r1train-reward")


def _call(rf: RewardFunction, completions: list[str], columns: dict[str, list[Any]]) -> list[float | None]:
    """Run one reward function under its time limit and check what it returned."""
    n = len(completions)
    future = _POOL.submit(rf.fn, completions, **columns, **rf.args)
    try:
        values = future.result(timeout=rf.timeout_s)
    except FuturesTimeout:
        # A Python thread cannot be killed: the call is abandoned and the step goes on without it.
        raise RewardError(f"reward {rf.name!r} did not return within {rf.timeout_s:g} s; make it faster or raise its timeout_s") from None
    except (UserError, RewardError):
        raise
    except Exception as exc:
        raise RewardError(f"reward {rf.name!r} raised {type(exc).__name__}: {str(exc)[:200]}; fix the reward function") from None
    values = list(values) if isinstance(values, list | tuple) else None
    if values is None or len(values) != n:
        got = "no list" if values is None else f"{len(values)} scores"
        raise RewardError(f"reward {rf.name!r} returned {got} for {n} completions; return one score per completion")
    clean: list[float | None] = []
    for v in values:
        if v is None:
            clean.append(None)
            continue
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise RewardError(f"reward {rf.name!r} returned {v!r}; return numbers, or None for 'cannot verify'") from None
        if not math.isfinite(f):
            raise RewardError(f"reward {rf.name!r} returned {f}; return a finite number or None for 'cannot verify'")
        clean.append(f)
    return clean


def columns_for(rows: list[dict[str, Any]], row_of: list[int], lengths: list[int]) -> dict[str, list[Any]]:
    """The reward functions' keyword columns for completions ``i`` of rows ``rows[row_of[i]]``: each dataset
    column, ``prompts`` and ``completion_lengths`` (tokens)."""
    keys = [k for k in rows[0] if k not in RESERVED and k != "prompt"] if rows else []
    columns: dict[str, list[Any]] = {k: [rows[i].get(k) for i in row_of] for k in keys}
    columns["prompts"] = [rows[i]["prompt"] for i in row_of]
    columns["completion_lengths"] = list(lengths)
    return columns


def score(functions: list[RewardFunction], completions: list[str], columns: dict[str, list[Any]]) -> Scores:
    """Score ``completions`` with every function; ``columns`` holds one list per column, same length.

    A function that raises, hangs past its ``timeout_s`` or returns the wrong thing stops the run with
    one sentence (``on_error: fail``) or scores the whole call ``None`` and counts it (``on_error: none``).
    """
    n = len(completions)
    per_function: dict[str, list[float | None]] = {}
    errors: dict[str, int] = {}
    for rf in functions:
        try:
            per_function[rf.name] = _call(rf, completions, columns)
        except RewardError as err:
            if rf.on_error == "fail":
                raise UserError(str(err)) from None
            log.warning("%s (scored None: on_error is 'none')", err)
            per_function[rf.name] = [None] * n
            errors[rf.name] = errors.get(rf.name, 0) + 1
    total = []
    for i in range(n):
        parts = [per_function[rf.name][i] for rf in functions]
        if any(p is None for p in parts):
            total.append(float("nan"))
        else:
            total.append(sum(rf.weight * p for rf, p in zip(functions, parts)))  # type: ignore[operator]
    return Scores(per_function, total, errors)


def summarise(scores: Scores) -> dict[str, float]:
    """Mean of each function over verifiable samples, the count of unverifiable ones, and the total."""
    out: dict[str, float] = {}
    for name, values in scores.per_function.items():
        ok = [v for v in values if v is not None]
        out[f"reward/{name}"] = sum(ok) / len(ok) if ok else float("nan")
        out[f"reward/{name}/none"] = float(len(values) - len(ok))
        out[f"reward/{name}/errors"] = float(scores.errors.get(name, 0))
    valid = [t for t in scores.total if not math.isnan(t)]
    out["reward"] = sum(valid) / len(valid) if valid else float("nan")
    return out
