"""Turn scored rollouts into padded training tensors, bucketed into micro-batches by length.

A sequence is ``prompt_ids + completion_ids``, right-padded. ``completion_mask`` marks completion tokens
(1) against prompt and padding (0). Micro-batches hold sequences of similar length (sorted by length),
so little compute is spent on padding.

``max_tokens`` also caps a micro-batch's padded size (rows x width). On CPU (``train.micro_batch_tokens``
unset: :data:`CPU_MICRO_BATCH_TOKENS`) small sorted micro-batches both pad less and keep activations in
cache. Measured on one thread (2026-11-29, the other core busy) for tiny:3m on a real batch of 128 samples
(10.4k tokens): 64-sequence micro-batches pad to 14.1k tokens and a forward/backward took 6.8 s; capped at
2048 tokens, 7 micro-batches pad to 11.6k and took 5.2 s. Packing several sequences into each row (a
block-diagonal mask from ``position_ids``, 10.7k tokens) took 4.6-4.9 s, within that run's noise of the
cap, and was not adopted: it relies on the model honouring packed ``position_ids`` (one that does not
attends across sequences). The cap applies to one process only: under data parallelism every rank must
run the same number of micro-batches.

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
    """Split the batch into micro-batches of at most ``size`` sequences (and, if ``max_tokens``, at most
    that many padded tokens, or one sequence), bucketed by total length."""
    keep = torch.ones(len(rollouts), dtype=torch.bool) if keep is None else keep
    lengths = [len(r.prompt_ids) + len(r.completion_ids) for r in rollouts]
    order = sorted(range(len(rollouts)), key=lambda i: lengths[i])
    groups: list[list[int]] = []
    for i in order:  # ascending: sequence i sets its group's padded width
        if groups and len(groups[-1]) < size and (not max_tokens or (len(groups[-1]) + 1) * lengths[i] <= max_tokens):
            groups[-1].append(i)
        else:
            groups.append([i])
    return [collate(rollouts, advantages, group, pad_id, keep) for group in groups]


def loss_keep(rollouts: list[Rollout], rewards: Tensor, mask_truncated: bool) -> Tensor:
    """(N,) bool: which samples the loss sees; NaN rewards never, truncated ones not if ``mask_truncated``."""
    keep = ~torch.isnan(rewards)  # (N,)
    if mask_truncated:
        keep &= torch.tensor([not r.truncated for r in rollouts], dtype=torch.bool)
    return keep
