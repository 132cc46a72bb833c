"""The update step: micro-batch invariance, ratio 1 on the first update, KL, entropy bonus, rollout IS.

A toy float64 policy with the ``PolicyLogprobs`` interface keeps these exact and fast; the optimizer is
plain SGD with lr 1, so a parameter's change is minus its gradient.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from r1train.grpo import losses
from r1train.recipe import build_config
from r1train.train.batch import loss_keep, micro_batches
from r1train.train.update import record_logprobs, update_policy
from tests.helpers import OneProcess, ToyPolicy, ToyReference, make_rollouts
from tests.helpers import update_config as config


def run_update(cfg, micro: int, policy: ToyPolicy | None = None, reference: Any = None, rollouts=None):
    """One ``update_policy`` call with SGD(lr=1); returns (stats, parameter change, policy)."""
    policy = policy or ToyPolicy()
    before = copy.deepcopy(policy.state_dict())
    rollouts = rollouts or make_rollouts()
    adv = torch.tensor([1.0, -0.5, 0.25, -1.0, 2.0, 0.0, -0.75, 0.5])
    keep = loss_keep(rollouts, torch.zeros(len(rollouts)), cfg.algorithm.mask_truncated)
    batches = micro_batches(rollouts, adv, micro, pad_id=0, keep=keep)
    opt = torch.optim.SGD(policy.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    stats = update_policy(policy, opt, sched, OneProcess(), batches, cfg, reference)
    delta = {k: policy.state_dict()[k] - before[k] for k in before}
    return stats, delta, policy


CASES = [
    {"loss_agg": "token_mean"},
    {"loss_agg": "seq_mean_token_mean"},
    {"loss_agg": "seq_mean_token_sum_norm"},
    {"loss": "gspo", "loss_agg": "seq_mean_token_mean", "clip_low": 0.0003, "clip_high": 0.0004},
    {"loss_agg": "token_mean", "kl_beta": 0.1, "kl_estimator": "k3", "entropy_coef": 0.01},
    {"loss_agg": "token_mean", "iterations": 3, "dual_clip": 3.0, "mask_truncated": True},
    {"loss_agg": "seq_mean_token_mean", "iterations": 2, "rollout_is": "sequence_truncate", "rollout_is_cap": 1.5},
]


@pytest.mark.parametrize("algo", CASES, ids=lambda a: "-".join(f"{k}={v}" for k, v in a.items()))
def test_micro_batching_does_not_change_the_update(algo: dict[str, Any]) -> None:
    # 1 micro-batch of 8 vs 4 of 2 (and 3 uneven ones of <= 3): the same parameter change, every iteration
    cfg = config(**algo)
    reference = ToyReference() if algo.get("kl_beta") else None
    s8, d8, _ = run_update(cfg, 8, reference=reference)
    s2, d2, _ = run_update(cfg, 2, reference=reference)
    s3, d3, _ = run_update(cfg, 3, reference=reference)
    for k in d8:
        assert torch.allclose(d8[k], d2[k], atol=1e-12, rtol=1e-10), k
        assert torch.allclose(d8[k], d3[k], atol=1e-12, rtol=1e-10), k
        assert d8[k].abs().sum() > 0
    for key in ("loss", "ratio/mean", "entropy", "clip/low", "clip/high", "grad_norm"):
        assert s8[key] == pytest.approx(s2[key], abs=1e-10), key
    if algo.get("kl_beta"):
        assert s8["kl"] == pytest.approx(s2[kl := "kl"], abs=1e-12) and s8[kl] > 0


@pytest.mark.parametrize("agg", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"])
def test_first_update_is_the_plain_policy_gradient(agg: str) -> None:
    # iterations 1, no KL: ratio exactly 1, so -min(rho A, clip(rho) A) has gradient -A grad(logp):
    # the update equals minus the gradient of aggregate(-A * logp)
    cfg = config(loss_agg=agg)
    stats, delta, _ = run_update(cfg, 3)
    assert stats["ratio/mean"] == 1.0 and stats["ratio/max"] == 1.0 and stats["ratio/min"] == 1.0
    assert stats["clip/low"] == 0.0 and stats["clip/high"] == 0.0

    policy = ToyPolicy()
    rollouts = make_rollouts()
    adv = torch.tensor([1.0, -0.5, 0.25, -1.0, 2.0, 0.0, -0.75, 0.5])
    (batch,) = micro_batches(rollouts, adv, 8, pad_id=0)
    logp, _ = policy(batch.input_ids, batch.attention_mask, batch.completion_mask, 0.7)
    mask = batch.loss_mask.double()
    pg = -batch.advantages.double().unsqueeze(-1) * logp  # (N, T)
    tokens, seqs = float(mask.sum()), float((mask.sum(-1) > 0).sum())
    losses.aggregate(pg, mask, agg, tokens, seqs, 8).backward()
    for name, p in policy.named_parameters():
        assert torch.allclose(delta[name], -p.grad, atol=1e-12), name


def test_old_logprobs_are_recorded_once_and_match_the_training_forward() -> None:
    policy = ToyPolicy()
    (batch,) = micro_batches(make_rollouts(), torch.zeros(8), 8, pad_id=0)
    (old,) = record_logprobs(policy, [batch], 0.7)
    logp, _ = policy(batch.input_ids, batch.attention_mask, batch.completion_mask, 0.7)
    assert torch.equal(old, logp.detach())  # so the first of mu iterations has ratio exactly 1
    # with mu = 3 the later iterations move away from the recorded policy
    stats, _, _ = run_update(config(iterations=3, clip_low=0.01, clip_high=0.01), 2)
    assert stats["ratio/max"] > 1.0 or stats["ratio/min"] < 1.0


def test_mask_truncated_removes_cut_off_completions_from_the_loss() -> None:
    rollouts = make_rollouts()
    truncated = sum(len(r.completion_ids) for r in rollouts if r.truncated)
    on, _, _ = run_update(config(mask_truncated=True), 4)
    off, _, _ = run_update(config(mask_truncated=False), 4)
    assert off["tokens/train"] - on["tokens/train"] == truncated > 0


def test_kl_only_pulls_towards_the_reference() -> None:
    # zero advantages and beta > 0: the only gradient is beta * grad KL, so KL(pi || ref) must drop
    cfg = config(kl_beta=1.0, kl_estimator="k3")
    ref = ToyReference()
    policy = ToyPolicy()
    rollouts = make_rollouts()
    batches = micro_batches(rollouts, torch.zeros(8), 8, pad_id=0)
    opt = torch.optim.SGD(policy.parameters(), lr=0.5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    first = update_policy(policy, opt, sched, OneProcess(), batches, cfg, ref)["kl"]
    second = update_policy(policy, opt, sched, OneProcess(), batches, cfg, ref)["kl"]
    assert second < first


def test_rollout_is_weights_scale_the_gradient_and_are_logged() -> None:
    # the toy's logprobs are far from the rollouts' fake sampler logprobs: token weights are capped at 2
    stats, d_is, _ = run_update(config(rollout_is="token_truncate", rollout_is_cap=2.0), 8)
    _, d_off, _ = run_update(config(), 8)
    assert 0 < stats["sampling/is_weight/mean"] <= 2.0
    assert stats["sampling/logp_diff/mean"] > 0
    assert any(not torch.allclose(d_is[k], d_off[k]) for k in d_is)


def test_entropy_bonus_raises_entropy() -> None:
    # zero advantages, entropy_coef > 0: the update is pure entropy ascent
    cfg = config(entropy_coef=1.0)
    policy = ToyPolicy()
    batches = micro_batches(make_rollouts(), torch.zeros(8), 8, pad_id=0)
    opt = torch.optim.SGD(policy.parameters(), lr=0.5)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    first = update_policy(policy, opt, sched, OneProcess(), batches, cfg)["entropy"]
    second = update_policy(policy, opt, sched, OneProcess(), batches, cfg)["entropy"]
    assert second > first


def test_non_finite_gradient_skips_the_update_and_is_counted() -> None:
    cfg = config(loss_agg="token_mean")
    policy = ToyPolicy()
    before = copy.deepcopy(policy.state_dict())
    rollouts = make_rollouts()
    adv = torch.tensor([1.0, float("nan"), 0.25, -1.0, 2.0, 0.0, -0.75, 0.5])  # one NaN poisons the loss
    batches = micro_batches(rollouts, adv, 4, pad_id=0, keep=torch.ones(8, dtype=torch.bool))
    opt = torch.optim.SGD(policy.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    stats = update_policy(policy, opt, sched, OneProcess(), batches, cfg, None)
    assert stats["bad_step"] == 1.0
    after = policy.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights untouched
    assert all(p.grad is None for p in policy.parameters())  # and no stale gradient left behind
    good = update_policy(policy, opt, sched, OneProcess(), micro_batches(rollouts, adv.nan_to_num(0.0), 4, 0), cfg, None)
    assert good["bad_step"] == 0.0


def test_trainer_stops_after_too_many_bad_steps() -> None:
    from r1train.errors import UserError
    from r1train.runtime.checkpoint import TrainState
    from r1train.train.trainer import Trainer

    trainer = Trainer.__new__(Trainer)  # only the counting logic, no model needed
    trainer.cfg = build_config({"model": {"name_or_path": "x"}, "data": {"source": "y"}, "train": {"max_bad_steps": 1}}, "t")
    trainer.state = TrainState(step=0, batches_consumed=0)
    stats = {"bad_step": 1.0}
    trainer.count_bad_step(stats)
    assert stats["bad_steps"] == 1.0
    with pytest.raises(UserError, match="2 steps had a non-finite loss or gradient.*max_bad_steps=1"):
        trainer.count_bad_step({"bad_step": 1.0})
