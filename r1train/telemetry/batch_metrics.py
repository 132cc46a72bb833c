"""What one step's batch looks like, as metrics and as logged completions (pure functions of the batch).

:func:`batch_metrics` gives the reward, length (policy tokens), reasoning and group statistics every
``metrics.jsonl`` row carries, and the ``tools/*`` metrics of multi-turn rollouts; :func:`completion_records` the first few samples with their rewards and advantages, for
``completions.jsonl`` and the W&B table. The trainer adds its own timings and update statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from r1train.telemetry import reasoning
from r1train.telemetry.metrics import mean
from r1train.telemetry.tools import tool_metrics
from r1train.train import scoring
from r1train.train.batch import Batch


def batch_metrics(batch: Batch, group_size: int, first_reward: str, reflection_words: Sequence[str]) -> dict[str, Any]:
    """Rewards (per function and total), lengths, reasoning metrics and group statistics of a scored batch
    with advantages; ``first_reward`` names the correctness reward the reasoning metrics use."""
    scores, lengths = batch.scores, batch.lengths
    total = torch.tensor(scores.total)  # (N,)
    zero_std = float((total.view(-1, group_size).nan_to_num(0).std(-1, unbiased=False) < 1e-8).float().mean())
    levels = batch.column("level") if "level" in batch.rows[0] else None
    return {
        **scoring.summarise(scores),
        **reasoning.step_metrics(batch.texts, lengths, scores.per_function[first_reward], levels, reflection_words),
        "reward/std": float(total.nan_to_num(0).std()),
        "length/mean": mean(lengths),
        "length/max": max(lengths),
        "length/truncated": sum(r.truncated for r in batch.rollouts) / len(batch.rollouts),
        "frac_zero_std": zero_std,
        "advantage/abs_mean": float(batch.advantages.abs().mean()),
        **tool_metrics(batch.rollouts),  # multi-turn only: tools/turns, calls, errors, time, truncated
    }


def completion_records(batch: Batch, limit: int) -> list[dict[str, Any]]:
    """The first ``limit`` samples: prompt, completion, gold answer, each reward, the total and the advantage."""
    prompts, answers = batch.column("prompt"), batch.column("answer")
    return [
        {
            "prompt": prompts[i],
            "completion": r.text,
            "answer": answers[i],
            "rewards": {name: values[i] for name, values in batch.scores.per_function.items()},
            "reward": batch.scores.total[i],
            "advantage": float(batch.advantages[i]),
        }
        for i, r in enumerate(batch.rollouts[:limit])
    ]
