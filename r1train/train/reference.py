"""The reference policy for the KL term: a frozen copy of the initial model, or LoRA's base model.

``load_reference(cfg, model, source, device)`` returns ``None`` when ``algorithm.kl_beta`` is 0 (nothing
is loaded), an :class:`AdapterDisabledReference` when the policy is a LoRA (peft) model (the base
weights with the adapters switched off *are* the initial policy, so no second copy is held in memory),
else a :class:`FrozenReference`: the initial checkpoint loaded again, in eval mode, without gradients.

Both answer ``logprobs(batches, temperature)`` with one (n, L-1) tensor per micro-batch, aligned like
``MicroBatch.loss_mask``. :func:`sequence_kl` gives ``sum_t KL_t`` per sample for ``kl_in_reward``.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor, nn

from r1train.config import Config
from r1train.grpo import losses
from r1train.models.logprobs import PolicyLogprobs, unwrap
from r1train.rollout.base import Rollout
from r1train.train.batch import MicroBatch, micro_batches

if TYPE_CHECKING:
    from accelerate import Accelerator


class Reference(Protocol):
    def logprobs(self, batches: list[MicroBatch], temperature: float) -> list[Tensor]:
        """Reference logprobs (n, L-1) per micro-batch, no gradient."""
        ...


@torch.no_grad()
def _run(module: nn.Module, batches: list[MicroBatch], temperature: float) -> list[Tensor]:
    out = []
    for mb in batches:
        logp, _ = module(mb.input_ids, mb.attention_mask, mb.completion_mask, temperature)  # (n, L-1)
        out.append(logp.detach())
    return out


class FrozenReference:
    """A separate, frozen copy of the initial model (full fine-tuning)."""

    def __init__(self, model: nn.Module) -> None:
        model.eval().requires_grad_(False)
        self.module = PolicyLogprobs(model)

    def logprobs(self, batches: list[MicroBatch], temperature: float) -> list[Tensor]:
        return _run(self.module, batches, temperature)


class AdapterDisabledReference:
    """The policy's own base model with its LoRA adapters disabled (peft's ``disable_adapter()``)."""

    def __init__(self, model: nn.Module) -> None:
        self.peft_model = unwrap(model)
        if not hasattr(self.peft_model, "disable_adapter"):
            raise TypeError("AdapterDisabledReference needs a peft model")
        self.module = PolicyLogprobs(self.peft_model)

    def logprobs(self, batches: list[MicroBatch], temperature: float) -> list[Tensor]:
        with self.peft_model.disable_adapter():
            return _run(self.module, batches, temperature)


def load_reference(cfg: Config, model: nn.Module, source: Any, device: Any) -> Reference | None:
    """The reference policy for ``algorithm.kl_beta > 0``; ``None`` (nothing loaded) when it is 0."""
    if not cfg.algorithm.needs_reference:
        return None
    if hasattr(unwrap(model), "disable_adapter"):
        return AdapterDisabledReference(model)
    from r1train.models.load import load_model

    plain = dataclasses.replace(cfg.model, lora=None, gradient_checkpointing=False)
    device_type = torch.device(device).type
    return FrozenReference(load_model(plain, source, device_type).to(device))


@torch.no_grad()
def sequence_kl(
    policy: Any,
    reference: Reference,
    rollouts: list[Rollout],
    cfg: Config,
    pad_id: int,
    accelerator: Accelerator | None = None,
) -> tuple[Tensor, float]:
    """``sum_t KL_t(pi_old || pi_ref)`` per sample (N,) in rollout order, for ``kl_in_reward``, and the mean
    per-token KL over all ranks (logged as ``kl``).

    Uses the trainer's current (pre-update) policy and the chosen ``kl_estimator``.
    """
    n = len(rollouts)
    device = accelerator.device if accelerator is not None else torch.device("cpu")
    batches = [mb.to(device) for mb in micro_batches(rollouts, torch.zeros(n), cfg.train.micro_batch_size, pad_id)]
    temperature = cfg.rollout.temperature
    refs = reference.logprobs(batches, temperature)
    out = torch.zeros(n, dtype=torch.float64)  # (N,)
    tokens = torch.zeros(2, dtype=torch.float64, device=device)  # KL sum, token count
    for mb, ref in zip(batches, refs, strict=True):
        logp, _ = policy(mb.input_ids, mb.attention_mask, mb.completion_mask, temperature)  # (n, L-1)
        mask = mb.loss_mask.to(logp.dtype)  # (n, L-1)
        kl = losses.kl_penalty(logp, ref, cfg.algorithm.kl_estimator) * mask  # (n, L-1)
        out[mb.index] = kl.sum(-1).double().cpu()
        tokens += torch.stack([kl.sum().double(), mask.sum().double()])
    if accelerator is not None and accelerator.num_processes > 1:
        tokens = accelerator.reduce(tokens, reduction="sum")
    return out, float(tokens[0] / tokens[1].clamp(min=1))
