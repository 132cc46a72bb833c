"""One step's batch (:class:`Batch`), and how it becomes padded training tensors in micro-batches.

:class:`Batch` is what the step passes from stage to stage: this process's prompt rows, their rollouts
(``num_generations`` per row, grouped), then their scores, then their advantages. It answers "which row
does this rollout belong to" once (:meth:`Batch.column`), instead of every stage indexing rows itself.

A sequence is ``prompt_ids + completion_ids``, right-padded. ``completion_mask`` marks completion tokens
(1) against prompt and padding (0), and against the observations inside a multi-turn completion
(``Rollout.loss_mask`` 0). Micro-batches hold sequences of similar length (sorted by length),
so little compute is spent on padding.

``max_tokens`` also caps a micro-batch's padded size (rows x width), and the sorted batch is then cut
where padding plus a fixed cost per micro-batch is least (:func:`split_points`). On CPU
(``train.micro_batch_tokens`` unset: :data:`CPU_MICRO_BATCH_TOKENS`) small sorted micro-batches both pad
less and keep activations in cache. Measured on one thread (2026-11-29, the other core busy) for tiny:3m
on a real batch of 128 samples (10.4k tokens), forward/backward: 64-sequence micro-batches padded to 14.1k
tokens, 6.8 s; capped at 2048 tokens and filled greedily, 7 micro-batches of 11.6k tokens, 5.2 s; then
(without the attention mask, see :mod:`r1train.models.logprobs`) greedy 5.52 s vs cut where padding is least,
10 micro-batches of 10.8k tokens, 4.96 s (medians of 5 alternating runs). Packing several sequences into
each row (a block-diagonal mask from ``position_ids``, 10.7k tokens) was no faster in the same kind of
run and was not adopted: it relies on the model honouring packed ``position_ids`` (one that does not
attends across sequences). The cap applies to one process only: under data parallelism every rank must
run the same number of micro-batches.

``keep`` (N,) leaves samples out of the loss (their ``completion_mask`` row is all 0) without changing
the batch's shape: unverifiable rewards, and with ``algorithm.mask_truncated`` completions cut off at
``max_new_tokens`` (DAPO's overlong filtering; see :func:`loss_keep`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from r1train.rollout.base import Rollout
from r1train.train.scoring import Scores


@dataclass
class Batch:
    """This process's share of one step: rows, their rollouts, then scores and advantages as stages add them."""

    rows: list[dict[str, Any]]
    rollouts: list[Rollout]  # grouped by prompt; ``prompt_index`` indexes ``rows``
    scores: Scores | None = None
    advantages: Tensor | None = None  # (N,)

    def column(self, key: str) -> list[Any]:
        """The rows' ``key`` value for every rollout, in rollout order (``None`` where a row lacks it)."""
        return [self.rows[r.prompt_index].get(key) for r in self.rollouts]

    @property
    def texts(self) -> list[str]:
        return [r.text for r in self.rollouts]

    @property
    def lengths(self) -> list[int]:
        """Policy tokens per rollout (a multi-turn rollout's observation tokens are not counted)."""
        return [r.policy_tokens for r in self.rollouts]


@dataclass
class MicroBatch:
    """Tensors for one forward/backward; ``index`` maps rows back to positions in the batch."""

    input_ids: Tensor  # (n, L)
    attention_mask: Tensor  # (n, L)
    completion_mask: Tensor  # (n, L) 1 on completion tokens
    advantages: Tensor  # (n,)
    sampler_logp: Tensor  # (n, L-1) the sampler's logprobs aligned with predicted tokens; 0 elsewhere
    index: list[int]
    has_sampler: Tensor | None = None  # (n,) bool: the engine gave logprobs for this row (None: all did)

    def __post_init__(self) -> None:
        if self.has_sampler is None:
            self.has_sampler = torch.ones(self.input_ids.shape[0], dtype=torch.bool)

    @property
    def loss_mask(self) -> Tensor:
        """(n, L-1): which predicted positions are completion tokens (what the loss averages over)."""
        return self.completion_mask[:, 1:]

    def to(self, device: torch.device) -> MicroBatch:
        return MicroBatch(
            self.input_ids.to(device),
            self.attention_mask.to(device),
            self.completion_mask.to(device),
            self.advantages.to(device),
            self.sampler_logp.to(device),
            self.index,
            self.has_sampler.to(device),  # type: ignore[union-attr]
        )


def collate(rollouts: list[Rollout], advantages: Tensor, index: list[int], pad_id: int, keep: Tensor) -> MicroBatch:
    """Pad ``rollouts[i] for i in index`` into one :class:`MicroBatch`; ``keep`` (N,) zeroes dropped samples."""
    seqs = [rollouts[i].prompt_ids + rollouts[i].completion_ids for i in index]
    width = max(len(s) for s in seqs)
    n = len(index)
    input_ids = torch.full((n, width), pad_id, dtype=torch.long)  # (n, L)
    attention = torch.zeros((n, width), dtype=torch.long)  # (n, L)
    completion = torch.zeros((n, width), dtype=torch.float32)  # (n, L)
    sampler = torch.zeros((n, width - 1), dtype=torch.float32)  # (n, L-1)
    has_sampler = torch.tensor([rollouts[i].logprobs is not None for i in index], dtype=torch.bool)  # (n,)
    for row, i in enumerate(index):
        r = rollouts[i]
        p, c = len(r.prompt_ids), len(r.completion_ids)
        input_ids[row, : p + c] = torch.tensor(seqs[row])
        attention[row, : p + c] = 1
        if keep[i]:  # observation tokens (loss_mask 0) are context: no loss, no KL
            completion[row, p : p + c] = 1.0 if r.loss_mask is None else torch.tensor(r.loss_mask, dtype=torch.float32)
        if r.logprobs is not None and c:
            sampler[row, p - 1 : p - 1 + c] = torch.tensor(r.logprobs[:c], dtype=torch.float32)
    return MicroBatch(input_ids, attention, completion, advantages[index].float(), sampler, index, has_sampler)


CPU_MICRO_BATCH_TOKENS = 2048  # padded tokens per micro-batch on CPU when the recipe leaves it unset


def token_budget(setting: int | None, device_type: str, processes: int) -> int:
    """``train.micro_batch_tokens`` resolved to a cap (0 = none): unset means 2048 on a single CPU process."""
    if processes > 1:  # ranks must agree on the number of micro-batches; a length-based cap would not
        return 0
    if setting is None:
        return CPU_MICRO_BATCH_TOKENS if device_type == "cpu" else 0
    return setting


def micro_batches(
    rollouts: list[Rollout],
    advantages: Tensor,
    size: int,
    pad_id: int,
    keep: Tensor | None = None,
    max_tokens: int = 0,
) -> list[MicroBatch]:
    """Split the batch into micro-batches of at most ``size`` sequences, bucketed by total length; with
    ``max_tokens``, also at most that many padded tokens (or one sequence), split where padding is least."""
    keep = torch.ones(len(rollouts), dtype=torch.bool) if keep is None else keep
    lengths = [len(r.prompt_ids) + len(r.completion_ids) for r in rollouts]
    order = sorted(range(len(rollouts)), key=lambda i: lengths[i])
    if not max_tokens:
        groups = [order[s : s + size] for s in range(0, len(order), size)]
    else:
        groups = [order[a:b] for a, b in split_points([lengths[i] for i in order], size, max_tokens)]
    return [collate(rollouts, advantages, group, pad_id, keep) for group in groups]


GROUP_OVERHEAD = 64  # padded tokens one more micro-batch is worth (its fixed cost per forward/backward)


def split_points(widths: list[int], size: int, max_tokens: int) -> list[tuple[int, int]]:
    """Cut ascending ``widths`` into runs ``[a, b)`` of at most ``size`` items and ``max_tokens`` padded
    tokens (``(b - a) * widths[b - 1]``; a single item may exceed it), minimising padded tokens plus
    :data:`GROUP_OVERHEAD` per run (dynamic programming over where the last run starts)."""
    n = len(widths)
    best = [0.0] + [math.inf] * n  # best[j]: least cost of cutting widths[:j]
    start = [0] * (n + 1)
    for j in range(1, n + 1):
        w = widths[j - 1]  # the widest of any run ending at j
        for i in range(j - 1, max(-1, j - 1 - size), -1):
            rows = j - i
            if rows > 1 and rows * w > max_tokens:
                break
            cost = best[i] + rows * w + GROUP_OVERHEAD
            if cost < best[j]:
                best[j], start[j] = cost, i
    runs, j = [], n
    while j:
        runs.append((start[j], j))
        j = start[j]
    return runs[::-1]


def loss_keep(rollouts: list[Rollout], rewards: Tensor, mask_truncated: bool) -> Tensor:
    """(N,) bool: which samples the loss sees; NaN rewards never, truncated ones not if ``mask_truncated``."""
    keep = ~torch.isnan(rewards)  # (N,)
    if mask_truncated:
        keep &= torch.tensor([not r.truncated for r in rollouts], dtype=torch.bool)
    return keep
