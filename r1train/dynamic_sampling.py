"""DAPO's dynamic sampling: train only on groups whose rewards differ, sampling more until the batch is full.

A group whose rewards are all equal (all right or all wrong) has advantage 0 everywhere under ``grpo`` and
``rloo``: it costs compute and only dilutes ``token_mean``. With ``algorithm.dynamic_sampling: true`` the
trainer's stage calls ``fill(trainer, rows, rollouts, scores)`` after the first generate + score; it
keeps the informative groups (:func:`informative_groups`) and calls the trainer's own ``next_prompts``
/ ``generate`` / ``score`` stages again until it holds as many groups as one batch, at most
``algorithm.max_sampling_tries`` generate calls in all (DAPO's ``max_num_gen_batches``). If the tries run
out, the batch is topped up with the most recent filtered-out groups so its shape never changes (every
rank must run the same number of micro-batches); how many is logged as ``sampling/padded_groups``.

Under data parallelism every rank keeps sampling while any rank is short, so ranks stay in step (a
tensor-parallel vLLM engine needs every rank in each generate call).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from r1train.rollout.base import Rollout
from r1train.scoring import Scores


@dataclass
class Group:
    """One prompt's row, its G rollouts and their scores (``per_function`` lists of length G)."""

    row: dict[str, Any]
    rollouts: list[Rollout]
    per_function: dict[str, list[float | None]]
    total: list[float]


def informative_groups(totals: Tensor, group_size: int) -> Tensor:
    """(P,) bool: groups with at least two verifiable rewards that are not all equal; totals (N,)."""
    grouped = totals.view(-1, group_size)  # (P, G)
    valid = ~torch.isnan(grouped)  # (P, G)
    high = torch.where(valid, grouped, torch.full_like(grouped, -torch.inf)).max(-1).values  # (P,)
    low = torch.where(valid, grouped, torch.full_like(grouped, torch.inf)).min(-1).values  # (P,)
    return (valid.sum(-1) >= 2) & (high > low)


def split_groups(rows: list[dict[str, Any]], rollouts: list[Rollout], scores: Scores, group_size: int) -> list[Group]:
    """Cut one generate call's output into groups of ``group_size`` contiguous rollouts."""
    groups = []
    for start in range(0, len(rollouts), group_size):
        members = rollouts[start : start + group_size]
        index = members[0].prompt_index
        assert all(r.prompt_index == index for r in members), "rollouts of one prompt must be contiguous"
        per_function = {k: v[start : start + group_size] for k, v in scores.per_function.items()}
        groups.append(Group(rows[index], members, per_function, scores.total[start : start + group_size]))
    return groups


def merge_groups(groups: list[Group]) -> tuple[list[dict[str, Any]], list[Rollout], Scores]:
    """Rows, rollouts (``prompt_index`` renumbered) and scores of ``groups``, in order."""
    rows, rollouts, total = [], [], []
    per_function: dict[str, list[float | None]] = {k: [] for k in (groups[0].per_function if groups else {})}
    for p, g in enumerate(groups):
        rows.append(g.row)
        rollouts += [dataclasses.replace(r, prompt_index=p) for r in g.rollouts]
        for k in per_function:
            per_function[k] += g.per_function[k]
        total += g.total
    return rows, rollouts, Scores(per_function, total)


def _anyone_short(short: bool, accelerator: Any) -> bool:
    if accelerator is None or accelerator.num_processes == 1:
        return short
    flags = accelerator.gather(torch.tensor([1.0 if short else 0.0], device=accelerator.device))
    return bool(flags.sum() > 0)


def fill(
    trainer: Any, rows: list[dict[str, Any]], rollouts: list[Rollout], scores: Scores
) -> tuple[list[dict[str, Any]], list[Rollout], Scores, dict[str, float]]:
    """Keep informative groups and sample more until the batch is full; returns the batch and its stats.

    ``trainer`` provides ``cfg``, ``accelerator`` and the stages ``next_prompts``, ``generate``, ``score``.
    With dynamic sampling off this returns its input unchanged and no statistics.
    """
    algo = trainer.cfg.algorithm
    if not algo.dynamic_sampling:
        return rows, rollouts, scores, {}
    g = trainer.cfg.rollout.num_generations
    target = len(rows)
    start = time.perf_counter()
    kept: list[Group] = []
    dropped: list[Group] = []
    tries, seen = 0, 0
    while True:
        tries += 1
        groups = split_groups(rows, rollouts, scores, g)
        keep = informative_groups(torch.tensor(scores.total, dtype=torch.float64), g).tolist()
        seen += len(groups)
        kept += [grp for grp, k in zip(groups, keep, strict=True) if k]
        dropped += [grp for grp, k in zip(groups, keep, strict=True) if not k]
        if tries >= algo.max_sampling_tries or not _anyone_short(len(kept) < target, trainer.accelerator):
            break
        rows = trainer.next_prompts()
        rollouts = trainer.generate(rows)
        scores = trainer.score(rows, rollouts)
    informative = len(kept)
    padded = max(0, target - informative)
    batch = kept[:target] + (dropped[-padded:] if padded else [])
    rows, rollouts, scores = merge_groups(batch)
    stats = {
        "sampling/tries": float(tries),
        "sampling/informative_frac": informative / max(seen, 1),
        "sampling/padded_groups": float(padded),
        "time/dynamic_sampling": time.perf_counter() - start,
    }
    return rows, rollouts, scores, stats
