"""The policy update: micro-batched forward/backward of the registered loss, then one optimizer step.

``update_policy`` runs ``algorithm.iterations`` optimizer steps (the paper's mu) on one batch of rollouts.
Before the first step it records, once, what later steps compare against:

* old logprobs (the policy that generated the batch, in the trainer's numerics) when ``iterations > 1``;
  with one iteration they equal the current logprobs, so the ratio is exactly 1 and no extra forward
  pass is spent (``old = logp.detach()``);
* reference logprobs when ``kl_beta > 0`` and the KL goes into the loss (see :mod:`r1train.train.reference`).

Per token the loss is ``w_t * l_t + kl_beta * KL_t - entropy_coef * H_t``: ``l_t`` the registered
surrogate (:mod:`r1train.grpo.losses`), ``w_t`` the truncated rollout importance weight (``rollout_is``, 1
when off). It is aggregated with token and sequence counts summed over every micro-batch and rank, so
the gradient does not depend on how the batch is split (``tests/r1train/train/test_update.py``).

Statistics are summed over micro-batches, ranks and iterations and returned as means per token (per
iteration): ``loss``, ``kl``, ``entropy``, ``clip/*``, ``ratio/*``, ``grad_norm``, ``lr``, ``sampling/*``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from r1train import grpo
from r1train.config import Config
from r1train.grpo import losses
from r1train.runtime.distributed import micro_batch
from r1train.telemetry.profile import StageTimer, maybe_stage
from r1train.train.batch import MicroBatch

if TYPE_CHECKING:
    from accelerate import Accelerator

    from r1train.config import AlgorithmConfig

# statistics summed over micro-batches, iterations and ranks (``max`` ones take the maximum instead)
SUMS = ("loss", "clip/low", "clip/high", "clip/dual", "ratio/sum", "entropy/sum", "kl/sum", "is/sum", "is/capped")
SUMS += ("logp_diff/sum", "logp_diff/tokens", "grad_norm")
MAXES = ("ratio/max", "ratio/-min", "logp_diff/max")


@torch.no_grad()
def record_logprobs(policy: Any, batches: list[MicroBatch], temperature: float) -> list[Tensor]:
    """The current policy's logprobs for each micro-batch (no grad), aligned like ``loss_mask``."""
    out = []
    for mb in batches:
        logp, _ = policy(mb.input_ids, mb.attention_mask, mb.completion_mask, temperature)  # (n, L-1)
        out.append(logp.detach())
    return out


def global_counts(batches: list[MicroBatch], accelerator: Accelerator) -> tuple[float, float]:
    """Loss tokens and loss sequences (at least one loss token) of the whole batch, over all ranks."""
    tokens = sum(float(mb.loss_mask.sum()) for mb in batches)
    seqs = sum(float((mb.loss_mask.sum(-1) > 0).sum()) for mb in batches)
    counts = torch.tensor([tokens, seqs], dtype=torch.float64, device=accelerator.device)
    if accelerator.num_processes > 1:
        counts = accelerator.reduce(counts, reduction="sum")
    total_tokens, total_seqs = counts.tolist()
    return total_tokens, total_seqs


def update_policy(
    policy: Any,
    optimizer: Any,
    scheduler: Any,
    accelerator: Accelerator,
    batches: list[MicroBatch],
    cfg: Config,
    reference: Any | None = None,
    timer: StageTimer | None = None,
    ref_logprobs: list[Tensor] | None = None,
) -> dict[str, float]:
    """Run ``cfg.algorithm.iterations`` optimizer steps over ``batches``; return the step's statistics.

    ``timer`` (optional) receives ``old_logprobs``, ``ref_logprobs``, ``forward_backward`` and ``optimizer``
    seconds. ``ref_logprobs``: the reference's logprobs per micro-batch when the caller has already
    computed them (the trainer does so while the rewards are being scored); otherwise they are computed
    here, once per batch, whatever ``iterations`` is.
    """
    algo = cfg.algorithm
    loss_fn = grpo.LOSSES[algo.loss]
    temperature = cfg.rollout.temperature
    batches = [mb.to(accelerator.device) for mb in batches]
    total_tokens, total_seqs = global_counts(batches, accelerator)
    world = float(accelerator.num_processes)  # DDP averages gradients over ranks; each loss is scaled back up
    old = None
    if algo.iterations > 1:  # with one iteration old == current logprobs: no extra forward pass
        with maybe_stage(timer, "old_logprobs"):
            old = record_logprobs(policy, batches, temperature)
    ref = None
    if algo.kl_in_loss and reference is not None:
        with maybe_stage(timer, "ref_logprobs"):
            if ref_logprobs is None:
                ref = reference.logprobs(batches, temperature)
            else:  # computed before the keep mask was known: zero where this batch has no loss token
                ref = [r.to(accelerator.device) * mb.loss_mask for r, mb in zip(ref_logprobs, batches, strict=True)]
    sums = dict.fromkeys(SUMS + MAXES, 0.0) | {"ratio/max": -math.inf, "ratio/-min": -math.inf}
    bad_steps = 0
    for iteration in range(algo.iterations):
        for i, mb in enumerate(batches):
            with maybe_stage(timer, "forward_backward"):
                logp, entropy = policy(mb.input_ids, mb.attention_mask, mb.completion_mask, temperature)  # (n, L-1)
                mask = mb.loss_mask.to(logp.dtype)  # (n, L-1)
                old_logp = old[i] if old is not None else logp.detach()  # (n, L-1)
                per_token, s = loss_fn(
                    logp, old_logp, mb.advantages, mask, clip_low=algo.clip_low, clip_high=algo.clip_high, dual_clip=algo.dual_clip
                )  # (n, L-1)
                weights = losses.rollout_is_weights(
                    old_logp, mb.sampler_logp, mask, mb.has_sampler, algo.rollout_is, algo.rollout_is_cap
                )  # (n, L-1)
                per_token = per_token * weights
                kl = losses.kl_penalty(logp, ref[i], algo.kl_estimator) if ref is not None else None  # (n, L-1)
                if kl is not None:
                    per_token = per_token + algo.kl_beta * kl
                if algo.entropy_coef:
                    if not entropy.requires_grad:
                        raise RuntimeError("algorithm.entropy_coef needs the policy's entropy with gradient (r1train/models/logprobs.py)")
                    per_token = per_token - algo.entropy_coef * entropy
                loss = grpo.aggregate(per_token, mask, algo.loss_agg, total_tokens, total_seqs, cfg.rollout.max_new_tokens)
                with micro_batch(accelerator, last=i == len(batches) - 1):  # DeepSpeed steps only after the last
                    accelerator.backward(loss * world)
                _accumulate(sums, loss, s, mask, logp, old_logp, entropy, kl, weights, mb, algo, first=iteration == 0)
        with maybe_stage(timer, "optimizer"):
            grad_norm = accelerator.clip_grad_norm_(policy.parameters(), cfg.optim.max_grad_norm)
            finite = grad_norm is None or math.isfinite(float(grad_norm))  # the same verdict on every rank
            if finite:
                sums["grad_norm"] += float(grad_norm) / world  # the same on every rank; the reduction sums ranks
                optimizer.step()
            else:  # a non-finite loss or gradient: skip the update, keep the weights; the trainer counts it
                bad_steps += 1
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
    stats = _finish(sums, accelerator, total_tokens, algo, ref is not None, scheduler.get_last_lr()[0])
    stats["bad_step"] = float(bad_steps > 0)
    return stats


@torch.no_grad()
def _accumulate(
    sums: dict[str, float],
    loss: Tensor,
    s: dict[str, Tensor],
    mask: Tensor,
    logp: Tensor,
    old_logp: Tensor,
    entropy: Tensor,
    kl: Tensor | None,
    weights: Tensor,
    mb: MicroBatch,
    algo: AlgorithmConfig,
    first: bool,
) -> None:
    m = mask.bool()  # (n, L-1)
    sums["loss"] += float(loss)
    for key, value in s.items():
        sums[key] = sums.get(key, 0.0) + float(value)
    ratio = torch.exp(logp.detach() - old_logp)[m]  # (K,)
    if ratio.numel():
        sums["ratio/max"] = max(sums["ratio/max"], float(ratio.max()))
        sums["ratio/-min"] = max(sums["ratio/-min"], -float(ratio.min()))
    sums["entropy/sum"] += float((entropy.detach() * mask).sum())
    if kl is not None:
        sums["kl/sum"] += float((kl.detach() * mask).sum())
    sums["is/sum"] += float((weights * mask).sum())
    sums["is/capped"] += float(((weights >= algo.rollout_is_cap) & m).sum()) if algo.rollout_is != "off" else 0.0
    if first:  # the sampler's logprobs against the policy that sampled (fixed across iterations)
        has = m & mb.has_sampler.unsqueeze(-1)  # (n, L-1)
        diff = (old_logp - mb.sampler_logp).abs()[has]  # (K,)
        sums["logp_diff/sum"] += float(diff.sum())
        sums["logp_diff/tokens"] += float(diff.numel())
        if diff.numel():
            sums["logp_diff/max"] = max(sums["logp_diff/max"], float(diff.max()))


def _finish(
    sums: dict[str, float], accelerator: Accelerator, total_tokens: float, algo: AlgorithmConfig, kl_in_loss: bool, lr: float
) -> dict[str, float]:
    """Reduce the sums over ranks and turn them into per-token, per-iteration means."""
    keys = list(sums)
    if accelerator.num_processes > 1:
        vec = torch.tensor([sums[k] for k in keys], dtype=torch.float64, device=accelerator.device)
        rows = accelerator.gather(vec.unsqueeze(0))  # (world, K)
        sums = {k: float(rows[:, j].max() if k in MAXES else rows[:, j].sum()) for j, k in enumerate(keys)}
    mu = float(algo.iterations)
    per_token = max(total_tokens, 1.0) * mu
    stats = {
        "loss": sums["loss"] / mu,
        "grad_norm": sums["grad_norm"] / mu,
        "lr": lr,
        "entropy": sums["entropy/sum"] / per_token,
        "clip/low": sums["clip/low"] / per_token,
        "clip/high": sums["clip/high"] / per_token,
        "ratio/mean": sums["ratio/sum"] / per_token,
        "ratio/max": sums["ratio/max"] if math.isfinite(sums["ratio/max"]) else math.nan,  # nan: no loss tokens
        "ratio/min": -sums["ratio/-min"] if math.isfinite(sums["ratio/-min"]) else math.nan,
        "sampling/logp_diff/mean": sums["logp_diff/sum"] / max(sums["logp_diff/tokens"], 1.0),
        "sampling/logp_diff/max": sums["logp_diff/max"],
        "tokens/train": total_tokens,
    }
    if algo.dual_clip is not None:
        stats["clip/dual"] = sums["clip/dual"] / per_token
    if kl_in_loss:  # with kl_in_reward the trainer logs the KL it penalised the rewards with
        stats["kl"] = sums["kl/sum"] / per_token
    if algo.rollout_is != "off":
        stats["sampling/is_weight/mean"] = sums["is/sum"] / per_token
        stats["sampling/is_weight/capped"] = sums["is/capped"] / per_token
    return stats
