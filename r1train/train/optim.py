"""Optimizer and learning-rate schedule: AdamW over trainable parameters, linear warm-up, then
constant, linear decay or cosine decay to zero at ``train.steps`` (one scheduler step per optimizer step)."""

from __future__ import annotations

import math
from typing import Any

import torch

from r1train.config import Config


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Multiplier of the base learning rate after ``step`` optimizer steps (pure, tested by hand)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}")


def build(model: Any, cfg: Config) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    o = cfg.optim
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=o.lr, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay)
    total = cfg.train.steps * cfg.algorithm.iterations
    warmup = o.warmup_steps * cfg.algorithm.iterations
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total, o.schedule))
    return optimizer, scheduler
