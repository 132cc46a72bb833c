"""The reward stage: call each reward function of the recipe on a batch and combine the scores.

Each function gets the completions and the dataset's columns for the same rows (plus ``prompts`` and
``completion_lengths`` in tokens), with the recipe's ``args`` as keyword options. A ``None`` score
("cannot verify") is counted per function and makes that sample's total ``NaN``: it is left out of its
group's statistics and out of the loss, never silently scored as 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import rewards
from r1train.config import RewardSpec
from r1train.errors import UserError

RESERVED = {"completions", "prompts", "completion_lengths"}


@dataclass(frozen=True)
class RewardFunction:
    name: str
    fn: Any
    weight: float
    args: dict[str, Any]


@dataclass
class Scores:
    """Per-function scores (``None`` = unverifiable) and the weighted total per sample (NaN if any None)."""

    per_function: dict[str, list[float | None]]
    total: list[float]


def load(specs: list[RewardSpec]) -> list[RewardFunction]:
    """Resolve every reward reference of the recipe; an unknown name lists the registered ones."""
    out = []
    for spec in specs:
        try:
            fn = rewards.resolve(spec.name)
        except rewards.RewardLookupError as exc:
            raise UserError(str(exc)) from None
        out.append(RewardFunction(spec.name, fn, spec.weight, dict(spec.args)))
    return out


def score(functions: list[RewardFunction], completions: list[str], columns: dict[str, list[Any]]) -> Scores:
    """Score ``completions`` with every function; ``columns`` holds one list per column, same length."""
    n = len(completions)
    per_function: dict[str, list[float | None]] = {}
    for rf in functions:
        try:
            values = rf.fn(completions, **columns, **rf.args)
        except UserError:
            raise
        except Exception as exc:
            raise UserError(
                f"reward {rf.name!r} raised {type(exc).__name__}: {str(exc)[:200]}; fix the reward function"
            ) from None
        values = list(values) if values is not None else []
        if len(values) != n:
            raise UserError(f"reward {rf.name!r} returned {len(values)} scores for {n} completions; return one per completion")
        clean: list[float | None] = []
        for v in values:
            if v is None:
                clean.append(None)
                continue
            f = float(v)
            if not math.isfinite(f):
                raise UserError(f"reward {rf.name!r} returned {f}; return a finite number or None for 'cannot verify'")
            clean.append(f)
        per_function[rf.name] = clean
    total = []
    for i in range(n):
        parts = [per_function[rf.name][i] for rf in functions]
        if any(p is None for p in parts):
            total.append(float("nan"))
        else:
            total.append(sum(rf.weight * p for rf, p in zip(functions, parts)))  # type: ignore[operator]
    return Scores(per_function, total)


def summarise(scores: Scores) -> dict[str, float]:
    """Mean of each function over verifiable samples, the count of unverifiable ones, and the total."""
    out: dict[str, float] = {}
    for name, values in scores.per_function.items():
        ok = [v for v in values if v is not None]
        out[f"reward/{name}"] = sum(ok) / len(ok) if ok else float("nan")
        out[f"reward/{name}/none"] = float(len(values) - len(ok))
    valid = [t for t in scores.total if not math.isnan(t)]
    out["reward"] = sum(valid) / len(valid) if valid else float("nan")
    return out
