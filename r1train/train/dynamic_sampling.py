"""DAPO's dynamic sampling: train only on groups whose rewards differ, sampling more until the batch is full.

A group whose rewards are all equal (all right or all wrong) has advantage 0 everywhere under ``grpo`` and
``rloo``: it costs compute and only dilutes ``token_mean``. With ``algorithm.dynamic_sampling: true`` the
trainer's stage calls ``fill(batch, sample_more, ...)`` after the first generate + score; it keeps the
informative groups (:func:`informative_groups`) and calls ``sample_more()`` (the trainer's own prompts,
generate and score stages: a new scored :class:`~r1train.train.batch.Batch`) until it holds as many
groups as one batch, at most
``algorithm.max_sampling_tries`` generate calls in all (DAPO's ``max_num_gen_batches``). If the tries run
out, the batch is topped up with the most recent filtered-out groups so its shape never changes (every
rank must run the same number of micro-batches); how many is logged as ``sampling/padded_groups``.

Under data parallelism every rank keeps sampling while any rank is short, so ranks stay in step (a
tensor-parallel vLLM engine needs every rank in each generate call).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from r1train.rollout.base import Rollout
from r1train.train.batch import Batch
from r1train.train.scoring import Scores

if TYPE_CHECKING:
    from accelerate import Accelerator

    from r1train.config import AlgorithmConfig


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


def split_groups(batch: Batch, group_size: int) -> list[Group]:
    """Cut one scored batch into groups of ``group_size`` contiguous rollouts."""
    assert batch.scores is not None, "dynamic sampling needs a scored batch"
    groups = []
    for start in range(0, len(batch.rollouts), group_size):
        members = batch.rollouts[start : start + group_size]
        index = members[0].prompt_index
        assert all(r.prompt_index == index for r in members), "rollouts of one prompt must be contiguous"
        per_function = {k: v[start : start + group_size] for k, v in batch.scores.per_function.items()}
        groups.append(Group(batch.rows[index], members, per_function, batch.scores.total[start : start + group_size]))
    return groups


def merge_groups(groups: list[Group]) -> Batch:
    """One scored batch of ``groups``, in order (``prompt_index`` renumbered)."""
    rows, rollouts, total = [], [], []
    per_function: dict[str, list[float | None]] = {k: [] for k in (groups[0].per_function if groups else {})}
    for p, g in enumerate(groups):
        rows.append(g.row)
        rollouts += [dataclasses.replace(r, prompt_index=p) for r in g.rollouts]
        for k in per_function:
            per_function[k] += g.per_function[k]
        total += g.total
    return Batch(rows, rollouts, Scores(per_function, total))


def _anyone_short(short: bool, accelerator: Accelerator) -> bool:
    if accelerator is None or accelerator.num_processes == 1:
        return short
    flags = accelerator.gather(torch.tensor([1.0 if short else 0.0], device=accelerator.device))
    return bool(flags.sum() > 0)


def fill(
    batch: Batch, sample_more: Callable[[], Batch], group_size: int, max_tries: int, accelerator: Accelerator | None = None
) -> tuple[Batch, dict[str, float]]:
    """Keep informative groups of the scored ``batch`` and call ``sample_more()`` (a new scored batch of the
    same size) until the batch is full or ``max_tries`` generate calls were made; the batch and its stats."""
    target = len(batch.rows)
    kept: list[Group] = []
    dropped: list[Group] = []
    tries, seen = 0, 0
    while True:
        tries += 1
        groups = split_groups(batch, group_size)
        keep = informative_groups(torch.tensor(batch.scores.total, dtype=torch.float64), group_size).tolist()
        seen += len(groups)
        kept += [grp for grp, k in zip(groups, keep, strict=True) if k]
        dropped += [grp for grp, k in zip(groups, keep, strict=True) if not k]
        if tries >= max_tries or not _anyone_short(len(kept) < target, accelerator):
            break
        batch = sample_more()
    informative = len(kept)
    padded = max(0, target - informative)
    stats = {
        "sampling/tries": float(tries),
        "sampling/informative_frac": informative / max(seen, 1),
        "sampling/padded_groups": float(padded),
    }
    return merge_groups(kept[:target] + (dropped[-padded:] if padded else [])), stats


def stage(
    batch: Batch, sample_more: Callable[[], Batch], algorithm: AlgorithmConfig, group_size: int, accelerator: Accelerator | None = None
) -> tuple[Batch, dict[str, float]]:
    """The trainer's dynamic-sampling stage: :func:`fill` with ``algorithm.dynamic_sampling``, else the batch
    unchanged and no statistics."""
    if not algorithm.dynamic_sampling:
        return batch, {}
    return fill(batch, sample_more, group_size, algorithm.max_sampling_tries, accelerator)
