"""Advantage estimators for outcome rewards: one scalar per sample, shared by all its tokens.

Every estimator is *baseline, then scale*, as pure functions of the rewards (N,) of ``N = P x G``
samples, groups of ``G`` contiguous:

============== ======================================== ======================= =======================
name           paper                                    baseline b_i            default scale
============== ======================================== ======================= =======================
``grpo``       DeepSeekMath (Shao et al. 2024), R1      mean of the group       ``group``
``rloo``       Kool et al. 2019; Ahmadian et al. 2024   mean of the *other* G-1  ``none``
``reinforce_pp`` REINFORCE++ (Hu 2025)                  mean of the batch       ``batch``
============== ======================================== ======================= =======================

``algorithm.advantage_scale`` overrides the scale: ``group`` divides by the group's reward std,
``batch`` by the std over the whole batch of the baseline-subtracted values (REINFORCE++-baseline's
whitening: the std of group-centred values; this is *not* Lite PPO's "group mean, batch std of the raw
rewards", which is ROLL's ``reward_norm`` with a batch std), ``none`` not at all (Dr. GRPO, Liu et al.
2025). Stds are unbiased (Bessel), as ``torch.std`` in TRL and verl, plus ``eps`` = 1e-6, which is
verl's epsilon; TRL's ``GRPOTrainer`` adds 1e-4 instead (``(std_grouped_rewards + 1e-4)``), so for a
group whose std is near 0 TRL's advantages are smaller than ours. Dr. GRPO is ``grpo`` with
``advantage_scale: none``.

NaN rewards ("cannot verify", see :mod:`r1train.train.scoring`) are left out of every mean and std and get
advantage 0; a group with fewer than two valid rewards has advantage 0 throughout.

Under data parallelism :func:`compute_advantages` gathers every rank's rewards first, so group and
batch statistics are over the whole group and the global batch, wherever their samples were generated.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import torch
from torch import Tensor

from r1train.registry import registrar

if TYPE_CHECKING:
    from accelerate import Accelerator

EPS = 1e-6
SCALES = ("group", "batch", "none")

AdvantageFn = Callable[..., Tensor]
ADVANTAGES: dict[str, AdvantageFn] = {}
# fn(rewards (N,), group_size, scale) -> advantages (N,); group_relative: its baseline needs >= 2 samples per prompt
register_advantage = registrar(ADVANTAGES, group_relative=False)


def _valid(rewards: Tensor) -> tuple[Tensor, Tensor]:
    valid = ~torch.isnan(rewards)
    return valid, torch.where(valid, rewards, torch.zeros_like(rewards))


def _group_stats(grouped: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Per-group (count, mean, unbiased std) over non-NaN entries of ``grouped`` (P, G), each (P, 1)."""
    valid, filled = _valid(grouped)
    count = valid.sum(-1, keepdim=True)  # (P, 1)
    mean = filled.sum(-1, keepdim=True) / count.clamp(min=1)  # (P, 1)
    sq = torch.where(valid, grouped - mean, torch.zeros_like(grouped)).pow(2).sum(-1, keepdim=True)  # (P, 1)
    std = (sq / (count - 1).clamp(min=1)).sqrt()  # (P, 1)
    return count, mean, std


def _scale(centred: Tensor, rewards: Tensor, group_size: int, scale: str) -> Tensor:
    """Divide baseline-subtracted values (N,) by the chosen std; NaN rewards -> advantage 0."""
    valid, _ = _valid(rewards)
    centred = torch.where(valid, centred, torch.zeros_like(centred))  # (N,)
    if scale == "group":
        _, _, std = _group_stats(rewards.view(-1, group_size))  # (P, 1)
        centred = (centred.view(-1, group_size) / (std + EPS)).reshape(-1)  # (N,)
    elif scale == "batch":
        n = valid.sum()
        mean = centred.sum() / n.clamp(min=1)
        sq = torch.where(valid, centred - mean, torch.zeros_like(centred)).pow(2).sum()
        centred = centred / ((sq / (n - 1).clamp(min=1)).sqrt() + EPS)
    elif scale != "none":
        raise ValueError(f"unknown advantage scale {scale!r}; use one of {', '.join(SCALES)}")
    return centred


@register_advantage("grpo", group_relative=True)
def grpo_advantages(rewards: Tensor, group_size: int, scale: str | None = None) -> Tensor:
    """GRPO (Shao et al. 2024): ``A_i = (r_i - mean(group)) / (std(group) + eps)``; rewards (N,) -> (N,).

    ``scale="none"`` is Dr. GRPO's unbiased ``A_i = r_i - mean(group)``.
    """
    grouped = rewards.view(-1, group_size)  # (P, G)
    count, mean, _ = _group_stats(grouped)
    centred = grouped - mean  # (P, G)
    centred = torch.where(count >= 2, centred, torch.zeros_like(centred))  # a lone valid sample has no baseline
    return _scale(centred.reshape(-1), rewards, group_size, scale or "group")  # (N,)


@register_advantage("rloo", group_relative=True)
def rloo_advantages(rewards: Tensor, group_size: int, scale: str | None = None) -> Tensor:
    """RLOO: ``A_i = r_i - mean_{j != i} r_j = k/(k-1) (r_i - mean(group))`` over the ``k`` valid samples."""
    grouped = rewards.view(-1, group_size)  # (P, G)
    valid, filled = _valid(grouped)
    count = valid.sum(-1, keepdim=True)  # (P, 1)
    others = (filled.sum(-1, keepdim=True) - filled) / (count - 1).clamp(min=1)  # (P, G) leave-one-out mean
    centred = torch.where(count >= 2, grouped - others, torch.zeros_like(grouped))  # (P, G)
    return _scale(centred.reshape(-1), rewards, group_size, scale or "none")  # (N,)


@register_advantage("reinforce_pp")
def reinforce_pp_advantages(rewards: Tensor, group_size: int, scale: str | None = None) -> Tensor:
    """REINFORCE++ (Hu 2025), outcome reward, gamma = 1: ``A_i = (r_i - mean(batch)) / std(batch)``.

    The batch is the global batch (every rank's samples). verl whitens over tokens, which weighs long
    completions more; here every sample counts once (the two agree when lengths are equal).
    """
    valid, filled = _valid(rewards)
    mean = filled.sum() / valid.sum().clamp(min=1)
    return _scale(rewards - mean, rewards, group_size, scale or "batch")  # (N,)


def compute_advantages(
    rewards: Tensor, name: str, group_size: int, scale: str | None = None, accelerator: Accelerator | None = None
) -> Tensor:
    """Advantages (n,) of this rank's rewards (n,), with statistics over every rank's rewards.

    Ranks' rewards are gathered in rank order (padded with NaN to equal length, whole NaN groups, which
    the estimators ignore), the estimator runs on the global batch, and this rank's slice comes back.
    """
    fn = ADVANTAGES[name]
    world = accelerator.num_processes if accelerator is not None else 1
    if world == 1:
        return fn(rewards, group_size, scale)
    device = accelerator.device
    n = rewards.shape[0]
    sizes = accelerator.gather(torch.tensor([n], device=device)).tolist()  # (world,)
    width = max(sizes)
    padded = torch.full((width,), float("nan"), dtype=rewards.dtype, device=device)  # (width,)
    padded[:n] = rewards.to(device)
    everyone = accelerator.gather(padded)  # (world * width,)
    adv = fn(everyone, group_size, scale)  # (world * width,)
    start = accelerator.process_index * width
    return adv[start : start + n].to(rewards.device)  # (n,)
