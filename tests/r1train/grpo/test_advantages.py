"""Advantage estimators: values worked out by hand, a slow per-sample loop, and cross-rank statistics."""

from __future__ import annotations

import math

import pytest
import torch

from r1train import grpo
from r1train.grpo.advantages import EPS, compute_advantages, grpo_advantages, reinforce_pp_advantages, rloo_advantages

NAN = float("nan")


def t(values: list[float]) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_registry_names() -> None:
    assert set(grpo.ADVANTAGES) >= {"grpo", "rloo", "reinforce_pp"}


def test_grpo_by_hand() -> None:
    # group [1, 0, 0, 1]: mean 0.5, unbiased std sqrt(4 * 0.25 / 3) = 0.57735 -> +-0.5 / 0.57735 = +-0.866025
    # group [1, 1, 1, 1]: all equal -> 0 everywhere
    adv = grpo_advantages(t([1, 0, 0, 1, 1, 1, 1, 1]), 4)
    a = 0.5 / (math.sqrt(1 / 3) + EPS)
    assert adv.tolist() == pytest.approx([a, -a, -a, a, 0, 0, 0, 0], abs=1e-12)
    assert a == pytest.approx(0.866025, abs=2e-6)  # eps shifts the 7th digit


def test_grpo_nan_rewards_are_left_out() -> None:
    # [2, nan, 0, 1]: valid {2, 0, 1}, mean 1, unbiased std sqrt((1 + 1 + 0) / 2) = 1 -> [1, 0, -1, 0]
    # [nan, 5, nan, nan]: one valid sample has no baseline -> 0
    adv = grpo_advantages(t([2, NAN, 0, 1, NAN, 5, NAN, NAN]), 4)
    assert adv.tolist() == pytest.approx([1 / (1 + EPS), 0, -1 / (1 + EPS), 0, 0, 0, 0, 0], abs=1e-12)


def test_dr_grpo_is_grpo_without_std() -> None:
    # scale none: r - mean(group) = [0.5, -0.5, -0.5, 0.5]
    assert grpo_advantages(t([1, 0, 0, 1]), 4, "none").tolist() == [0.5, -0.5, -0.5, 0.5]


def test_rloo_by_hand() -> None:
    # A_0 = 1 - (0 + 0 + 1) / 3 = 2/3; A_1 = 0 - (1 + 0 + 1) / 3 = -2/3  (= 4/3 * (r - 0.5))
    adv = rloo_advantages(t([1, 0, 0, 1]), 4)
    assert adv.tolist() == pytest.approx([2 / 3, -2 / 3, -2 / 3, 2 / 3], abs=1e-12)
    # with a NaN: valid {3, 0, 1}: A_0 = 3 - 1/2 = 2.5, A_2 = 0 - 2 = -2, A_3 = 1 - 1.5 = -0.5
    assert rloo_advantages(t([3, NAN, 0, 1]), 4).tolist() == pytest.approx([2.5, 0, -2, -0.5], abs=1e-12)


def test_reinforce_pp_by_hand() -> None:
    # batch [1,0,0,1,1,1,1,1]: mean 0.75; squared deviations 6 * 0.0625 + 2 * 0.5625 = 1.5;
    # unbiased std sqrt(1.5 / 7) = 0.462910 -> 0.25 / 0.46291 = 0.540062, -0.75 / 0.46291 = -1.620185
    adv = reinforce_pp_advantages(t([1, 0, 0, 1, 1, 1, 1, 1]), 4)
    hi, lo = 0.25 / (math.sqrt(1.5 / 7) + EPS), -0.75 / (math.sqrt(1.5 / 7) + EPS)
    assert adv.tolist() == pytest.approx([hi, lo, lo, hi, hi, hi, hi, hi], abs=1e-12)
    assert hi == pytest.approx(0.540062, abs=5e-6) and lo == pytest.approx(-1.620185, abs=5e-6)  # eps: 6th digit


# --- slow, obviously-correct loops ---------------------------------------------------------------------


def _std(xs: list[float]) -> float:
    if len(xs) < 2:
        return 0.0
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def slow(name: str, rewards: list[float], g: int, scale: str | None) -> list[float]:
    n = len(rewards)
    groups = [list(range(s, s + g)) for s in range(0, n, g)]
    valid_all = [r for r in rewards if not math.isnan(r)]
    centred = [0.0] * n
    for idx in groups:
        valid = [i for i in idx if not math.isnan(rewards[i])]
        for i in valid:
            if name == "grpo" and len(valid) >= 2:
                centred[i] = rewards[i] - sum(rewards[j] for j in valid) / len(valid)
            elif name == "rloo" and len(valid) >= 2:
                centred[i] = rewards[i] - sum(rewards[j] for j in valid if j != i) / (len(valid) - 1)
            elif name == "reinforce_pp":
                centred[i] = rewards[i] - sum(valid_all) / len(valid_all)
    scale = scale or {"grpo": "group", "rloo": "none", "reinforce_pp": "batch"}[name]
    out = []
    for i in range(n):
        if math.isnan(rewards[i]):
            out.append(0.0)
        elif scale == "group":
            idx = groups[i // g]
            out.append(centred[i] / (_std([rewards[j] for j in idx if not math.isnan(rewards[j])]) + EPS))
        elif scale == "batch":
            out.append(centred[i] / (_std([centred[j] for j in range(n) if not math.isnan(rewards[j])]) + EPS))
        else:
            out.append(centred[i])
    return out


@pytest.mark.parametrize("name", ["grpo", "rloo", "reinforce_pp"])
@pytest.mark.parametrize("scale", [None, "group", "batch", "none"])
def test_fast_equals_slow_loop(name: str, scale: str | None) -> None:
    gen = torch.Generator().manual_seed(len(name) * 7 + len(scale or ""))
    g = 5
    rewards = torch.randint(0, 3, (6 * g,), generator=gen).double() + torch.rand(6 * g, generator=gen, dtype=torch.float64)
    rewards[torch.rand(6 * g, generator=gen) < 0.2] = NAN
    rewards[g : 2 * g] = 1.0  # one group all equal
    fast = grpo.ADVANTAGES[name](rewards, g, scale)
    assert fast.tolist() == pytest.approx(slow(name, rewards.tolist(), g, scale), abs=1e-6)


# --- data parallel: statistics over the whole group and the global batch --------------------------------


class FakeRanks:
    """An accelerator for rank ``rank`` of len(per_rank) ranks whose gather returns every rank's values."""

    def __init__(self, per_rank: list[torch.Tensor], rank: int) -> None:
        self.per_rank, self.process_index, self.num_processes = per_rank, rank, len(per_rank)
        self.device = torch.device("cpu")

    def gather(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.int64:  # the sizes
            return torch.tensor([len(r) for r in self.per_rank])
        width = x.shape[0]
        padded = [torch.cat([r, torch.full((width - len(r),), NAN, dtype=r.dtype)]) for r in self.per_rank]
        return torch.cat(padded)


@pytest.mark.parametrize("name", ["grpo", "rloo", "reinforce_pp"])
def test_groups_spread_over_ranks_see_the_whole_group(name: str) -> None:
    rewards = t([1, 0, 3, 1, 2, 2, 0, 5])  # two groups of 4
    whole = grpo.ADVANTAGES[name](rewards, 4)
    # one group of 4 spread over 2 ranks (2 samples each): both halves must see the whole group
    per_rank = [rewards[0:2], rewards[2:4]]
    parts = [compute_advantages(per_rank[r], name, 4, None, FakeRanks(per_rank, r)) for r in range(2)]
    assert torch.cat(parts).tolist() == pytest.approx(grpo.ADVANTAGES[name](rewards[:4], 4).tolist(), abs=1e-12)
    # whole groups, unequal counts per rank (rank 1 is padded with a NaN group internally)
    per_rank = [rewards[0:4], rewards[4:8], rewards[0:0]]
    parts = [compute_advantages(per_rank[r], name, 4, None, FakeRanks(per_rank, r)) for r in range(3)]
    assert torch.cat(parts).tolist() == pytest.approx(whole.tolist(), abs=1e-12)
