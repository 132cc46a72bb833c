"""Micro-batching: length buckets capped by sequences and by padded tokens, and the cap's resolution."""

from __future__ import annotations

import copy

import torch

from r1train.rollout.base import Rollout
from r1train.train.batch import CPU_MICRO_BATCH_TOKENS, GROUP_OVERHEAD, micro_batches, split_points, token_budget
from r1train.train.update import update_policy
from tests.helpers import OneProcess, ToyPolicy, make_rollouts
from tests.helpers import update_config as config


def rollouts_of_lengths(lengths: list[int]) -> list[Rollout]:
    """One prompt token and ``length - 1`` completion tokens each."""
    return [Rollout([1], [2] * (n - 1), [-0.5] * (n - 1), "stop", "") for n in lengths]


def test_token_cap_splits_sorted_lengths_by_padded_size() -> None:
    # lengths by index: 3 5 4 9 6 2; ascending: #5 (2), #0 (3), #2 (4), #1 (5), #4 (6), #3 (9).
    # size 4, cap 12 padded tokens: [#5 #0 #2] is 3 rows x width 4 = 12; adding #1 makes 4 x 5 = 20 > 12.
    # [#1 #4] is 2 x 6 = 12; adding #3 makes 3 x 9 = 27 > 12; [#3] alone is 9.
    r = rollouts_of_lengths([3, 5, 4, 9, 6, 2])
    capped = micro_batches(r, torch.zeros(6), 4, pad_id=0, max_tokens=12)
    assert [mb.index for mb in capped] == [[5, 0, 2], [1, 4], [3]]
    assert [tuple(mb.input_ids.shape) for mb in capped] == [(3, 4), (2, 6), (1, 9)]
    # no cap: 4 sequences, then the rest (the old bucketing)
    assert [mb.index for mb in micro_batches(r, torch.zeros(6), 4, pad_id=0)] == [[5, 0, 2, 1], [4, 3]]
    # a sequence longer than the cap still gets a micro-batch of its own
    assert [mb.index for mb in micro_batches(r, torch.zeros(6), 4, pad_id=0, max_tokens=8)] == [[5, 0], [2], [1], [4], [3]]


def test_split_points_minimise_padding_plus_a_cost_per_micro_batch() -> None:
    # widths 2 2 2 10 10, at most 4 rows and 40 tokens, 64 tokens per micro-batch:
    #   filling greedily: [2 2 2 10] = 4 x 10 = 40, [10] = 10 -> 50 + 2 x 64 = 178
    #   [2 2 2] = 6, [10 10] = 20                            -> 26 + 2 x 64 = 154  (the least)
    #   [2 2] = 4, [2 10 10] = 30                            -> 34 + 2 x 64 = 162
    #   three or more runs cost at least 3 x 64 = 192; one run of 5 breaks the 4-row limit
    assert GROUP_OVERHEAD == 64
    assert split_points([2, 2, 2, 10, 10], 4, 40) == [(0, 3), (3, 5)]
    # a tight cap: every run at most 8 tokens: [2 2 2] = 6, then 10 and 10 alone (over the cap, one row each)
    assert split_points([2, 2, 2, 10, 10], 4, 8) == [(0, 3), (3, 4), (4, 5)]
    assert split_points([], 4, 8) == []


def test_token_budget_resolution() -> None:
    assert token_budget(None, "cpu", 1) == CPU_MICRO_BATCH_TOKENS == 2048
    assert token_budget(None, "cuda", 1) == 0  # GPUs like big micro-batches
    assert token_budget(None, "cpu", 2) == 0 and token_budget(512, "cuda", 2) == 0  # ranks must agree on the count
    assert token_budget(512, "cuda", 1) == 512 and token_budget(0, "cpu", 1) == 0


def test_token_capped_micro_batches_make_the_same_update() -> None:
    # the loss is normalised by counts over the whole batch, so the split does not change the update
    cfg = config(loss_agg="seq_mean_token_mean")
    rollouts = make_rollouts()
    adv = torch.tensor([1.0, -0.5, 0.25, -1.0, 2.0, 0.0, -0.75, 0.5])
    deltas = []
    for cap in (0, 20):
        policy = ToyPolicy()
        before = copy.deepcopy(policy.state_dict())
        batches = micro_batches(rollouts, adv, 8, pad_id=0, max_tokens=cap)
        assert len(batches) == (1 if cap == 0 else 4)  # lengths 5 6 6 | 6 7 | 8 10 | 12 under 20 tokens
        opt = torch.optim.SGD(policy.parameters(), lr=1.0)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
        update_policy(policy, opt, sched, OneProcess(), batches, cfg, None)
        deltas.append({k: policy.state_dict()[k] - before[k] for k in before})
    for k in deltas[0]:
        assert torch.allclose(deltas[0][k], deltas[1][k], atol=1e-12, rtol=1e-10), k
        assert deltas[0][k].abs().sum() > 0
