"""Policy losses, aggregation, KL estimators and rollout IS weights: by hand and against slow loops."""

from __future__ import annotations

import math

import pytest
import torch

from r1train import grpo
from r1train.grpo.losses import aggregate, clipped_surrogate, gspo_surrogate, kl_penalty, rollout_is_weights

LN = math.log
CLIP = {"clip_low": 0.2, "clip_high": 0.28}


def test_registry_names() -> None:
    assert set(grpo.LOSSES) >= {"grpo", "gspo"}
    assert grpo.aggregate is aggregate  # re-exported from the registry module


def test_clipped_surrogate_by_hand() -> None:
    # ratios 1.5, 0.5, 0.5, 1.5, 4.0 with advantages +1, +1, -1, -1, -1; clip range [0.8, 1.28]
    # r=1.5 A=+1: -min(1.5, 1.28) = -1.28 (clip/high, no gradient)
    # r=0.5 A=+1: -min(0.5, 0.8)  = -0.5  (unclipped, d/dlogp = -r A = -0.5)
    # r=0.5 A=-1: -min(-0.5, -0.8) = 0.8  (clip/low, no gradient)
    # r=1.5 A=-1: -min(-1.5, -1.28) = 1.5 (unclipped, d/dlogp = 1.5)
    # r=4.0 A=-1: 4.0; with dual clip c=3 capped at 3 (clip/dual, no gradient)
    ratios = torch.tensor([[1.5], [0.5], [0.5], [1.5], [4.0]], dtype=torch.float64)
    adv = torch.tensor([1.0, 1.0, -1.0, -1.0, -1.0], dtype=torch.float64)
    logp = ratios.log().requires_grad_()
    old = torch.zeros_like(ratios)
    mask = torch.ones_like(ratios)
    loss, stats = clipped_surrogate(logp, old, adv, mask, **CLIP)
    assert loss.squeeze(-1).tolist() == pytest.approx([-1.28, -0.5, 0.8, 1.5, 4.0], abs=1e-12)
    assert (stats["clip/low"], stats["clip/high"]) == (1, 1)
    assert float(stats["ratio/sum"]) == pytest.approx(8.0)
    loss.sum().backward()
    assert logp.grad.squeeze(-1).tolist() == pytest.approx([0.0, -0.5, 0.0, 1.5, 4.0], abs=1e-12)

    logp.grad = None
    loss, stats = clipped_surrogate(logp, old, adv, mask, **CLIP, dual_clip=3.0)
    assert loss.squeeze(-1).tolist() == pytest.approx([-1.28, -0.5, 0.8, 1.5, 3.0], abs=1e-12)
    assert stats["clip/dual"] == 1
    loss.sum().backward()
    assert logp.grad.squeeze(-1).tolist() == pytest.approx([0.0, -0.5, 0.0, 1.5, 0.0], abs=1e-12)


def slow_surrogate(logp, old, adv, lo, hi, dual):
    n, t = logp.shape
    out = torch.zeros(n, t, dtype=torch.float64)
    for i in range(n):
        for j in range(t):
            r = math.exp(float(logp[i, j] - old[i, j]))
            a = float(adv[i])
            v = -min(r * a, min(max(r, 1 - lo), 1 + hi) * a)
            if dual is not None and a < 0:
                v = min(v, -dual * a)
            out[i, j] = v
    return out


@pytest.mark.parametrize("dual", [None, 2.0])
def test_clipped_surrogate_fast_equals_slow(dual: float | None) -> None:
    gen = torch.Generator().manual_seed(1)
    logp = -torch.rand(6, 7, generator=gen, dtype=torch.float64) * 3
    old = logp + torch.randn(6, 7, generator=gen, dtype=torch.float64) * 0.5
    adv = torch.randn(6, generator=gen, dtype=torch.float64)
    fast, _ = clipped_surrogate(logp, old, adv, torch.ones_like(logp), clip_low=0.2, clip_high=0.28, dual_clip=dual)
    assert torch.allclose(fast, slow_surrogate(logp, old, adv, 0.2, 0.28, dual), atol=1e-12)


def test_gspo_by_hand() -> None:
    # one sequence, token log-ratios [ln 1.2, 0] -> s = exp((ln 1.2 + 0) / 2) = sqrt(1.2) = 1.095445, A = +1
    # inside [0.8, 1.28]: loss -1.095445 at each token; seq_mean_token_mean gradient per token = -s / 2
    logp = torch.tensor([[LN(1.2), 0.0]], dtype=torch.float64, requires_grad=True)
    old = torch.zeros(1, 2, dtype=torch.float64)
    mask = torch.ones(1, 2, dtype=torch.float64)
    loss, _ = gspo_surrogate(logp, old, torch.tensor([1.0], dtype=torch.float64), mask, **CLIP)
    assert loss.tolist()[0] == pytest.approx([-1.095445, -1.095445], abs=1e-6)
    aggregate(loss, mask, "seq_mean_token_mean", 2, 1, 2).backward()
    assert logp.grad.tolist()[0] == pytest.approx([-0.547723, -0.547723], abs=1e-6)


@pytest.mark.parametrize("dual", [None, 3.0])
def test_gspo_equals_the_sequence_level_objective(dual: float | None) -> None:
    """GSPO-token + seq_mean_token_mean == the paper's -1/G sum_i min(s_i A_i, clip(s_i) A_i): value and gradient."""
    gen = torch.Generator().manual_seed(2)
    n, t = 5, 6
    base = -torch.rand(n, t, generator=gen, dtype=torch.float64) * 2
    old = base + torch.randn(n, t, generator=gen, dtype=torch.float64) * 0.3
    adv = torch.randn(n, generator=gen, dtype=torch.float64)
    mask = (torch.arange(t) < torch.tensor([6, 3, 1, 4, 5]).unsqueeze(-1)).double()  # (n, t)

    logp = base.clone().requires_grad_()
    per_token, _ = gspo_surrogate(logp, old, adv, mask, clip_low=0.1, clip_high=0.1, dual_clip=dual)
    fast = aggregate(per_token, mask, "seq_mean_token_mean", float(mask.sum()), n, t)
    fast.backward()

    logp2 = base.clone().requires_grad_()
    slow = 0.0
    for i in range(n):
        length = int(mask[i].sum())
        s = torch.exp(sum(logp2[i, j] - old[i, j] for j in range(length)) / length)
        a = float(adv[i])
        v = -torch.minimum(s * a, s.clamp(0.9, 1.1) * a)
        if dual is not None and a < 0:
            v = torch.minimum(v, torch.tensor(-dual * a, dtype=torch.float64))
        slow = slow + v / n
    slow.backward()
    assert float(fast) == pytest.approx(float(slow), abs=1e-12)
    assert torch.allclose(logp.grad, logp2.grad, atol=1e-12)


def slow_aggregate(loss, mask, mode, max_len):
    seqs = [i for i in range(loss.shape[0]) if mask[i].sum() > 0]
    tokens = [(i, j) for i in seqs for j in range(loss.shape[1]) if mask[i, j]]
    if mode == "token_mean":
        return sum(float(loss[i, j]) for i, j in tokens) / len(tokens)
    total = 0.0
    for i in seqs:
        s = sum(float(loss[i, j]) for j in range(loss.shape[1]) if mask[i, j])
        total += s / (float(mask[i].sum()) if mode == "seq_mean_token_mean" else max_len)
    return total / len(seqs)


@pytest.mark.parametrize("mode", ["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"])
def test_aggregate_fast_equals_slow_and_splits_add_up(mode: str) -> None:
    gen = torch.Generator().manual_seed(3)
    loss = torch.randn(8, 9, generator=gen, dtype=torch.float64)
    lengths = torch.tensor([9, 1, 4, 0, 7, 3, 9, 2])
    mask = (torch.arange(9) < lengths.unsqueeze(-1)).double()  # (8, 9), one empty row
    tokens, seqs = float(mask.sum()), float((mask.sum(-1) > 0).sum())
    whole = aggregate(loss, mask, mode, tokens, seqs, 16)
    assert float(whole) == pytest.approx(slow_aggregate(loss, mask, mode, 16), abs=1e-12)
    parts = sum(float(aggregate(loss[s : s + 2], mask[s : s + 2], mode, tokens, seqs, 16)) for s in range(0, 8, 2))
    assert parts == pytest.approx(float(whole), abs=1e-12)


def test_aggregate_by_hand() -> None:
    # two sequences: [1, 2, 3] (3 tokens) and [4, -, -] (1 token); max_len 4
    # token_mean: (1+2+3+4)/4 = 2.5; seq_mean_token_mean: (2 + 4)/2 = 3; Dr. GRPO: (6/4 + 4/4)/2 = 1.25
    loss = torch.tensor([[1.0, 2.0, 3.0], [4.0, 9.0, 9.0]], dtype=torch.float64)
    mask = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]], dtype=torch.float64)
    assert float(aggregate(loss, mask, "token_mean", 4, 2, 4)) == 2.5
    assert float(aggregate(loss, mask, "seq_mean_token_mean", 4, 2, 4)) == 3.0
    assert float(aggregate(loss, mask, "seq_mean_token_sum_norm", 4, 2, 4)) == 1.25


def test_kl_estimators_by_hand() -> None:
    # pi = 2 pi_ref: x = ln 2 = 0.693147; k1 = 0.693147, k2 = x^2/2 = 0.240227, k3 = 1/2 - 1 + ln 2 = 0.193147
    logp = torch.tensor([[LN(0.5)]], dtype=torch.float64)
    ref = torch.tensor([[LN(0.25)]], dtype=torch.float64)
    assert float(kl_penalty(logp, ref, "k1")) == pytest.approx(0.693147, abs=1e-6)
    assert float(kl_penalty(logp, ref, "k2")) == pytest.approx(0.240227, abs=1e-6)
    assert float(kl_penalty(logp, ref, "k3")) == pytest.approx(0.193147, abs=1e-6)
    # equal policies: every estimator is 0; k3 >= 0 always
    assert float(kl_penalty(ref, ref, "k3")) == 0.0
    x = torch.randn(100, 1, dtype=torch.float64)
    assert (kl_penalty(x, torch.zeros_like(x), "k3") >= 0).all()


def test_kl_k3_gradient_is_one_minus_ref_ratio() -> None:
    # d/dlogp [exp(ref - logp) - 1 + logp - ref] = 1 - pi_ref / pi = 1 - 0.25/0.5 = 0.5
    logp = torch.tensor([[LN(0.5)]], dtype=torch.float64, requires_grad=True)
    kl_penalty(logp, torch.tensor([[LN(0.25)]], dtype=torch.float64), "k3").sum().backward()
    assert float(logp.grad) == pytest.approx(0.5, abs=1e-12)


def test_rollout_is_weights_by_hand() -> None:
    # old - sampler per token: ln 3, ln 0.5, (masked) ; cap 2
    # token_truncate: min(3, 2) = 2, min(0.5, 2) = 0.5, masked -> 1
    # sequence_truncate: exp(ln 3 + ln 0.5) = 1.5 on both tokens; row without sampler logprobs -> 1
    old = torch.tensor([[LN(3), LN(0.5), 0.0], [LN(3), LN(0.5), 0.0]], dtype=torch.float64)
    sampler = torch.zeros_like(old)
    mask = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
    has = torch.tensor([True, False])
    w = rollout_is_weights(old, sampler, mask, has, "token_truncate", 2.0)
    assert w.flatten().tolist() == pytest.approx([2.0, 0.5, 1.0, 1.0, 1.0, 1.0], abs=1e-12)
    w = rollout_is_weights(old, sampler, mask, has, "sequence_truncate", 2.0)
    assert w.flatten().tolist() == pytest.approx([1.5, 1.5, 1.0, 1.0, 1.0, 1.0], abs=1e-12)
    assert (rollout_is_weights(old, sampler, mask, has, "off", 2.0) == 1).all()
    assert not rollout_is_weights(old.requires_grad_(), sampler, mask, has, "token_truncate", 2.0).requires_grad


def test_validate_names_the_key() -> None:
    from r1train.config import AlgorithmConfig
    from r1train.errors import UserError
    from r1train.recipe import check_algorithm

    with pytest.raises(UserError, match="dual_clip"):
        check_algorithm(AlgorithmConfig(dual_clip=0.5))
    with pytest.raises(UserError, match="kl_in_reward"):
        check_algorithm(AlgorithmConfig(kl_in_reward=True))
    with pytest.raises(UserError, match="algorithm.loss"):
        check_algorithm(AlgorithmConfig(loss="ppo2"))
    check_algorithm(AlgorithmConfig(loss="gspo", kl_beta=0.04, rollout_is="token_truncate"))
