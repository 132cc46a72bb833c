"""GRPO maths as pure tensor functions: advantage estimators, policy losses, loss aggregation, KL.

Everything here is registered by name and looked up by the trainer; nothing branches on a name.
Shapes: ``N`` samples in the batch (prompts x group size ``G``), ``T`` completion tokens (padded).

* Advantages (``algorithm.advantage``): ``grpo`` — DeepSeekMath/R1 group-normalised reward
  ``(r - mean_group) / std_group``; ``scale: none`` gives Dr. GRPO's unscaled version.
* Losses (``algorithm.loss``): ``grpo`` — PPO's clipped surrogate on per-token ratios with separate
  ``clip_low``/``clip_high`` (DAPO's clip-higher).
* Aggregation (``algorithm.loss_agg``): ``token_mean`` (DAPO), ``seq_mean_token_mean`` (original GRPO),
  ``seq_mean_token_sum_norm`` (Dr. GRPO). Normalisers are passed in as global counts so that summing
  micro-batch losses gives exactly the loss of the whole batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

AdvantageFn = Callable[..., Tensor]
LossFn = Callable[..., tuple[Tensor, dict[str, Tensor]]]
ADVANTAGES: dict[str, AdvantageFn] = {}
LOSSES: dict[str, LossFn] = {}


def register_advantage(name: str) -> Callable[[AdvantageFn], AdvantageFn]:
    def wrap(fn: AdvantageFn) -> AdvantageFn:
        ADVANTAGES[name] = fn
        return fn

    return wrap


def register_loss(name: str) -> Callable[[LossFn], LossFn]:
    def wrap(fn: LossFn) -> LossFn:
        LOSSES[name] = fn
        return fn

    return wrap


@register_advantage("grpo")
def grpo_advantages(rewards: Tensor, group_size: int, scale: str = "group", eps: float = 1e-6) -> Tensor:
    """GRPO (Shao et al. 2024): ``A_i = (r_i - mean(r_group)) / (std(r_group) + eps)``.

    ``rewards``: (N,) with N = prompts x ``group_size``, groups contiguous. NaN rewards (unverifiable)
    are left out of their group's statistics and get advantage 0. ``scale``: ``group`` divides by the
    group's std (unbiased=False... population std, as DeepSeekMath), ``batch`` by the batch's std
    (REINFORCE++-like), ``none`` not at all (Dr. GRPO).
    """
    grouped = rewards.view(-1, group_size)  # (P, G)
    valid = ~torch.isnan(grouped)  # (P, G)
    filled = torch.where(valid, grouped, torch.zeros_like(grouped))
    count = valid.sum(-1, keepdim=True).clamp(min=1)  # (P, 1)
    mean = filled.sum(-1, keepdim=True) / count  # (P, 1)
    centred = torch.where(valid, grouped - mean, torch.zeros_like(grouped))  # (P, G)
    if scale == "group":
        std = (centred.pow(2).sum(-1, keepdim=True) / count).sqrt()  # (P, 1)
        centred = centred / (std + eps)
    elif scale == "batch":
        n = valid.sum().clamp(min=1)
        std = (centred.pow(2).sum() / n).sqrt()
        centred = centred / (std + eps)
    elif scale != "none":
        raise ValueError(f"unknown advantage scale {scale!r}; use group, batch or none")
    return centred.reshape(-1)  # (N,)


@register_loss("grpo")
def clipped_surrogate(
    logp: Tensor, old_logp: Tensor, advantages: Tensor, mask: Tensor, clip_low: float, clip_high: float, **_: Any
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO clipped surrogate per token (Schulman et al. 2017) with DAPO's asymmetric clip range.

    ``loss_t = -min(rho_t * A, clip(rho_t, 1 - clip_low, 1 + clip_high) * A)``, ``rho_t = exp(logp - old)``.
    logp, old_logp, mask: (N, T); advantages: (N,). Returns the per-token loss (N, T) and statistics.
    """
    ratio = torch.exp(logp - old_logp)  # (N, T)
    adv = advantages.unsqueeze(-1)  # (N, 1)
    unclipped = ratio * adv  # (N, T)
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high) * adv  # (N, T)
    loss = -torch.minimum(unclipped, clipped)  # (N, T)
    with torch.no_grad():
        m = mask.bool()
        low = (ratio < 1.0 - clip_low) & (adv < 0) & m
        high = (ratio > 1.0 + clip_high) & (adv > 0) & m
        stats = {"clip/low": low.sum().float(), "clip/high": high.sum().float(), "ratio/sum": (ratio * mask).sum()}
    return loss, stats


def aggregate(
    per_token: Tensor, mask: Tensor, mode: str, total_tokens: float, total_seqs: float, max_len: int
) -> Tensor:
    """Reduce a (N, T) per-token loss to a scalar whose sum over micro-batches is the batch loss.

    ``total_tokens`` and ``total_seqs`` count the whole batch (all micro-batches and ranks).
    * ``token_mean`` (DAPO): sum of all token losses / total tokens.
    * ``seq_mean_token_mean`` (GRPO): mean over sequences of each sequence's token mean.
    * ``seq_mean_token_sum_norm`` (Dr. GRPO): mean over sequences of token sum / ``max_len`` (a constant).
    """
    masked = per_token * mask  # (N, T)
    if mode == "token_mean":
        return masked.sum() / max(total_tokens, 1.0)
    if mode == "seq_mean_token_mean":
        per_seq = masked.sum(-1) / mask.sum(-1).clamp(min=1)  # (N,)
        return per_seq.sum() / max(total_seqs, 1.0)
    if mode == "seq_mean_token_sum_norm":
        return (masked.sum(-1) / max_len).sum() / max(total_seqs, 1.0)
    raise ValueError(f"unknown loss aggregation {mode!r}")
