"""Policy losses of the GRPO family as pure tensor functions: surrogates, aggregation, KL, rollout IS.

Shapes: ``N`` sequences, ``T`` predicted positions (padded); ``mask`` (N, T) is 1 on the completion
tokens the loss sees. Each function names its paper; ``tests/r1train/grpo/test_losses.py`` checks
each against a slow loop over samples and tokens.

* ``grpo`` (:func:`clipped_surrogate`): PPO's clipped surrogate (Schulman et al. 2017) per token,
  ``rho_t = pi(y_t) / pi_old(y_t)``, with DAPO's decoupled ``clip_low``/``clip_high`` (clip-higher, Yu
  et al. 2025) and optional dual clip (Ye et al. 2020): for ``A < 0`` the loss is capped at ``c |A|``.
* ``gspo`` (:func:`gspo_surrogate`): GSPO (Zheng et al. 2025), the length-normalised sequence ratio
  ``s_i = exp(mean_t log rho_t)`` clipped per sequence, written in its GSPO-token form so that it is a
  per-token loss whose gradient is exactly the sequence-level one under ``seq_mean_token_mean``.
* :func:`aggregate`: ``token_mean`` (DAPO), ``seq_mean_token_mean`` (GRPO), ``seq_mean_token_sum_norm``
  (Dr. GRPO), with *global* normalisers so micro-batch losses add up to the batch loss.
* :func:`kl_penalty`: Schulman's estimators ``k1 | k2 | k3`` of KL(pi || pi_ref) per token.
* :func:`rollout_is_weights`: truncated importance weights ``min(pi_old / pi_sampler, cap)`` for the
  mismatch between the sampler's (vLLM) and the trainer's numerics (Yao et al. 2025, "Your efficient RL
  framework secretly brings you off-policy RL training"), per token or per sequence, detached.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from r1train.registry import registrar

AGGREGATIONS = ("token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm")
KL_ESTIMATORS = ("k1", "k2", "k3")
ROLLOUT_IS = ("off", "token_truncate", "sequence_truncate")

LossFn = Callable[..., tuple[Tensor, dict[str, Tensor]]]
LOSSES: dict[str, LossFn] = {}
register_loss = registrar(LOSSES)  # fn(logp, old_logp, advantages, mask, cfg) -> (per_token (N, T), stats)


def _surrogate(
    ratio: Tensor, advantages: Tensor, mask: Tensor, clip_low: float, clip_high: float, dual_clip: float | None
) -> tuple[Tensor, dict[str, Tensor]]:
    """``-min(rho A, clip(rho, 1 - lo, 1 + hi) A)`` per token, dual-clipped for ``A < 0``; stats are counts."""
    adv = advantages.unsqueeze(-1).to(ratio.dtype)  # (N, 1)
    unclipped = ratio * adv  # (N, T)
    clipped = ratio.clamp(1.0 - clip_low, 1.0 + clip_high) * adv  # (N, T)
    loss = -torch.minimum(unclipped, clipped)  # (N, T)
    with torch.no_grad():
        m = mask.bool()  # (N, T)
        stats = {
            "clip/low": ((ratio < 1.0 - clip_low) & (adv < 0) & m).sum().double(),
            "clip/high": ((ratio > 1.0 + clip_high) & (adv > 0) & m).sum().double(),
            "ratio/sum": (ratio.detach() * mask).sum().double(),
        }
    if dual_clip is not None:
        cap = -dual_clip * adv  # (N, 1) positive where A < 0
        dual = (adv < 0) & (loss > cap)  # (N, T)
        loss = torch.where(dual, cap.expand_as(loss), loss)  # (N, T) constant (no gradient) where capped
        stats["clip/dual"] = (dual & mask.bool()).sum().double()
    return loss, stats


@register_loss("grpo")
def clipped_surrogate(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float,
    clip_high: float,
    dual_clip: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """PPO/GRPO clipped surrogate on token ratios ``rho_t = exp(logp - old_logp)``.

    logp, old_logp, mask: (N, T); advantages: (N,). Returns the per-token loss (N, T) and statistics
    (token counts ``clip/low``, ``clip/high``, ``clip/dual`` and ``ratio/sum`` over the mask).
    """
    ratio = torch.exp(logp - old_logp)  # (N, T)
    return _surrogate(ratio, advantages, mask, clip_low, clip_high, dual_clip)


@register_loss("gspo")
def gspo_surrogate(
    logp: Tensor,
    old_logp: Tensor,
    advantages: Tensor,
    mask: Tensor,
    *,
    clip_low: float,
    clip_high: float,
    dual_clip: float | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """GSPO: sequence ratio ``s_i = exp(mean_{t in y_i} (logp - old_logp))``, clipped per sequence.

    GSPO-token form: ``s_it = sg[s_i] * pi(y_t) / sg[pi(y_t)]`` has the value ``s_i`` at every token and
    gradient ``s_i * grad logp_t``, so with ``seq_mean_token_mean`` the gradient is the paper's
    ``s_i A_i (1/|y_i|) sum_t grad logp_t``. The paper's clip ranges are tiny (3e-4 / 4e-4).
    """
    mask = mask.to(logp.dtype)
    seq_log_ratio = ((logp - old_logp) * mask).sum(-1) / mask.sum(-1).clamp(min=1)  # (N,)
    log_s = seq_log_ratio.detach().unsqueeze(-1) + logp - logp.detach()  # (N, T) value log s_i
    return _surrogate(torch.exp(log_s), advantages, mask, clip_low, clip_high, dual_clip)


def aggregate(
    per_token: Tensor, mask: Tensor, mode: str, total_tokens: float, total_seqs: float, max_len: int
) -> Tensor:
    """Reduce a (N, T) per-token loss to a scalar whose sum over micro-batches is the batch loss.

    ``total_tokens`` and ``total_seqs`` count the whole batch (all micro-batches and ranks; sequences
    with at least one loss token).

    * ``token_mean`` (DAPO): ``sum_i sum_t l_it / sum_i |y_i|``.
    * ``seq_mean_token_mean`` (GRPO): ``1/G sum_i (1/|y_i|) sum_t l_it``.
    * ``seq_mean_token_sum_norm`` (Dr. GRPO): ``1/G sum_i sum_t l_it / max_len``, a constant ``max_len``.
    """
    masked = per_token * mask  # (N, T)
    if mode == "token_mean":
        return masked.sum() / max(total_tokens, 1.0)
    if mode == "seq_mean_token_mean":
        per_seq = masked.sum(-1) / mask.sum(-1).clamp(min=1)  # (N,)
        return per_seq.sum() / max(total_seqs, 1.0)
    if mode == "seq_mean_token_sum_norm":
        return (masked.sum(-1) / max_len).sum() / max(total_seqs, 1.0)
    raise ValueError(f"unknown loss aggregation {mode!r}; use one of {', '.join(AGGREGATIONS)}")


def kl_penalty(logp: Tensor, ref_logp: Tensor, estimator: str) -> Tensor:
    """Per-token estimate of KL(pi || pi_ref) from samples of pi (Schulman 2020, "Approximating KL").

    With ``x = logp - ref_logp`` (N, T): ``k1 = x`` (unbiased, can be negative), ``k2 = x^2 / 2``,
    ``k3 = exp(-x) - 1 + x`` (unbiased, always >= 0; DeepSeekMath's GRPO KL term).
    """
    x = logp - ref_logp  # (N, T)
    if estimator == "k1":
        return x
    if estimator == "k2":
        return 0.5 * x.pow(2)
    if estimator == "k3":
        return torch.exp(-x) - 1.0 + x
    raise ValueError(f"unknown KL estimator {estimator!r}; use one of {', '.join(KL_ESTIMATORS)}")


def rollout_is_weights(
    old_logp: Tensor, sampler_logp: Tensor, mask: Tensor, has_sampler: Tensor, mode: str, cap: float
) -> Tensor:
    """Truncated importance weights (N, T) correcting for sampler/trainer mismatch, detached.

    ``token_truncate``: ``w_t = min(exp(old_t - sampler_t), cap)``; ``sequence_truncate``:
    ``w_i = min(exp(sum_t (old_t - sampler_t)), cap)`` on every token of ``i``. Rows whose engine gave
    no logprobs (``has_sampler`` (N,) False) and positions outside ``mask`` get weight 1.
    """
    ones = torch.ones_like(old_logp)  # (N, T)
    if mode == "off":
        return ones
    keep = mask.bool() & has_sampler.bool().unsqueeze(-1)  # (N, T)
    log_w = torch.where(keep, old_logp.detach() - sampler_logp, torch.zeros_like(old_logp))  # (N, T)
    if mode == "token_truncate":
        w = torch.exp(log_w).clamp(max=cap)  # (N, T)
    elif mode == "sequence_truncate":
        w = torch.exp(log_w.sum(-1, keepdim=True)).clamp(max=cap).expand_as(log_w)  # (N, T)
    else:
        raise ValueError(f"unknown rollout_is mode {mode!r}; use one of {', '.join(ROLLOUT_IS)}")
    return torch.where(keep, w, ones).detach()
