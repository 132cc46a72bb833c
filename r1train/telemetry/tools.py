"""Tool-use metrics of multi-turn rollouts (``Rollout.extra["tools"]``, written by :mod:`r1train.envs.loop`).

Per step: ``tools/turns`` (policy turns per episode), ``tools/calls`` (calls per episode),
``tools/call_rate`` (share of episodes with at least one call), ``tools/errors`` (failed calls per
episode), ``tools/time`` (seconds the environments spent answering, summed over episodes),
``tools/truncated`` (share of episodes cut by ``env.max_turns`` or the token budget) and, where the
environment gives rewards, ``tools/env_reward``. Single-turn rollouts give no ``tools/*`` metric.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from r1train.rollout.base import Rollout


def tool_metrics(rollouts: Sequence[Rollout]) -> dict[str, float]:
    """The ``tools/*`` metrics of a batch; ``{}`` when no rollout went through a multi-turn environment."""
    stats = [r.extra["tools"] for r in rollouts if "tools" in r.extra]
    if not stats:
        return {}
    n = len(stats)
    out = {
        "tools/turns": sum(s["turns"] for s in stats) / n,
        "tools/calls": sum(s["calls"] for s in stats) / n,
        "tools/call_rate": sum(s["calls"] > 0 for s in stats) / n,
        "tools/errors": sum(s["errors"] for s in stats) / n,
        "tools/time": float(sum(s["time"] for s in stats)),
        "tools/truncated": sum(bool(s["truncated"]) for s in stats) / n,
    }
    rewards = [r.extra["env_reward"] for r in rollouts if "env_reward" in r.extra]
    if rewards:
        out["tools/env_reward"] = sum(rewards) / len(rewards)
    return out


def held_out_tool_figures(rollouts: Sequence[Rollout]) -> dict[str, Any]:
    """``tool_call_rate`` and ``turns`` for the before/after summary (``{}`` for single-turn rollouts)."""
    m = tool_metrics(rollouts)
    if not m:
        return {}
    return {"tool_call_rate": m["tools/call_rate"], "turns": m["tools/turns"], "tool_errors": m["tools/errors"]}
