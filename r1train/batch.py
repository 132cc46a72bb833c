"""Turn scored rollouts into padded training tensors, bucketed into micro-batches by length.

A sequence is ``prompt_ids + completion_ids``, right-padded. ``completion_mask`` marks completion tokens
(1) against prompt and padding (0). Micro-batches hold sequences of similar length (sorted by length),
so little compute is spent on padding.

``keep`` (N,) leaves samples out of the loss (their ``completion_mask`` row is all 0) without changing
the batch's shape: unverifiable rewards, and with ``algorithm.mask_truncated`` completions cut off at
``max_new_tokens`` (DAPO's overlong filtering; see :func:`loss_keep`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from r1train.rollout.base import Rollout


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
        if keep[i]:
            completion[row, p : p + c] = 1.0
        if r.logprobs is not None and c:
            sampler[row, p - 1 : p - 1 + c] = torch.tensor(r.logprobs[:c], dtype=torch.float32)
    return MicroBatch(input_ids, attention, completion, advantages[index].float(), sampler, index, has_sampler)


def micro_batches(
    rollouts: list[Rollout], advantages: Tensor, size: int, pad_id: int, keep: Tensor | None = None
) -> list[MicroBatch]:
    """Split the batch into micro-batches of at most ``size`` sequences, bucketed by total length."""
    keep = torch.ones(len(rollouts), dtype=torch.bool) if keep is None else keep
    order = sorted(range(len(rollouts)), key=lambda i: len(rollouts[i].prompt_ids) + len(rollouts[i].completion_ids))
    return [collate(rollouts, advantages, order[s : s + size], pad_id, keep) for s in range(0, len(order), size)]


def loss_keep(rollouts: list[Rollout], rewards: Tensor, mask_truncated: bool) -> Tensor:
    """(N,) bool: which samples the loss sees; NaN rewards never, truncated ones not if ``mask_truncated``."""
    keep = ~torch.isnan(rewards)  # (N,)
    if mask_truncated:
        keep &= torch.tensor([not r.truncated for r in rollouts], dtype=torch.bool)
    return keep
