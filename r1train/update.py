"""The policy update: micro-batched forward/backward of the registered loss, then one optimizer step.

``update_policy`` runs ``algorithm.iterations`` optimizer steps on one batch of rollouts. Old logprobs
(the policy that generated the batch, in the trainer's numerics) are recorded once before the first
step when they can matter (``iterations > 1``); with one iteration they equal the current logprobs, so
the ratio is exactly 1 and no extra forward pass is spent. Losses are aggregated with global token and
sequence counts, so the gradient does not depend on how the batch is split into micro-batches.
"""

from __future__ import annotations

from typing import Any

import torch

from r1train import grpo
from r1train.batch import MicroBatch
from r1train.config import Config


@torch.no_grad()
def record_logprobs(policy: Any, batches: list[MicroBatch], temperature: float) -> list[torch.Tensor]:
    """The current policy's logprobs for each micro-batch (no grad), aligned like ``loss_mask``."""
    out = []
    for mb in batches:
        logp, _ = policy(mb.input_ids, mb.attention_mask, mb.completion_mask, temperature)
        out.append(logp.detach())
    return out


def update_policy(
    policy: Any, optimizer: Any, scheduler: Any, accelerator: Any, batches: list[MicroBatch], cfg: Config
) -> dict[str, float]:
    """Run ``cfg.algorithm.iterations`` optimizer steps over ``batches``; return summed statistics."""
    algo = cfg.algorithm
    loss_fn = grpo.LOSSES[algo.loss]
    temperature = cfg.rollout.temperature
    device = accelerator.device
    batches = [mb.to(device) for mb in batches]
    counts = torch.tensor(
        [sum(float(mb.loss_mask.sum()) for mb in batches), sum(float((mb.loss_mask.sum(-1) > 0).sum()) for mb in batches)],
        device=device,
    )
    # Counts over all processes; DDP averages gradients over processes, so each loss is scaled back up.
    total_tokens, total_seqs = (accelerator.reduce(counts, reduction="sum") if accelerator.num_processes > 1 else counts).tolist()
    world = float(accelerator.num_processes)
    old = record_logprobs(policy, batches, temperature) if algo.iterations > 1 else None
    stats: dict[str, float] = {}
    for _ in range(algo.iterations):
        sums = {"loss": 0.0, "clip/low": 0.0, "clip/high": 0.0, "ratio/sum": 0.0, "entropy/sum": 0.0}
        sums.update({"logp_diff/sum": 0.0, "logp_diff/max": 0.0})
        for i, mb in enumerate(batches):
            logp, entropy = policy(mb.input_ids, mb.attention_mask, mb.completion_mask, temperature)  # (n, L-1)
            mask = mb.loss_mask  # (n, L-1)
            old_logp = old[i] if old is not None else logp.detach()
            per_token, s = loss_fn(
                logp, old_logp, mb.advantages, mask, clip_low=algo.clip_low, clip_high=algo.clip_high, cfg=algo
            )
            loss = grpo.aggregate(per_token, mask, algo.loss_agg, total_tokens, total_seqs, cfg.rollout.max_new_tokens)
            accelerator.backward(loss * world)
            with torch.no_grad():
                sums["loss"] += loss.item()
                for k, v in s.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
                sums["entropy/sum"] += float((entropy * mask).sum())
                diff = ((logp.detach() - mb.sampler_logp).abs() * mask)
                sums["logp_diff/sum"] += float(diff.sum())
                sums["logp_diff/max"] = max(sums["logp_diff/max"], float(diff.max()) if diff.numel() else 0.0)
        grad_norm = accelerator.clip_grad_norm_(policy.parameters(), cfg.optim.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        tokens = max(total_tokens, 1.0)
        stats = {
            "loss": sums["loss"],
            "grad_norm": float(grad_norm),
            "lr": scheduler.get_last_lr()[0],
            "clip/low": sums["clip/low"] / tokens,
            "clip/high": sums["clip/high"] / tokens,
            "ratio/mean": sums["ratio/sum"] / tokens,
            "entropy": sums["entropy/sum"] / tokens,
            "sampling/logp_diff/mean": sums["logp_diff/sum"] / tokens,
            "sampling/logp_diff/max": sums["logp_diff/max"],
            "tokens/train": total_tokens,
        }
    return stats
