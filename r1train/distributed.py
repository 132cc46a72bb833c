"""Metrics across processes: each process measures its own share of the step; one row is logged.

``reduce_metrics`` combines every process's metrics dict (the same keys on every process) into one:
timings and maxima take the maximum, counts and throughputs are summed, everything else (means over
equal-sized shares of the batch) is averaged. NaN (nothing measured on a process) is ignored.
"""

from __future__ import annotations

import math
from typing import Any

import torch

SUMMED_SUFFIXES = ("/none", "/errors", "tokens_per_s")


def combine(name: str, values: list[float]) -> float:
    """How one metric of all processes becomes one number (pure; see the module docstring)."""
    ok = [v for v in values if not math.isnan(v)]
    if not ok:
        return float("nan")
    if name.startswith("time/") or name.endswith("/max"):
        return max(ok)
    if name.endswith(SUMMED_SUFFIXES):
        return sum(ok)
    return sum(ok) / len(ok)


def reduce_metrics(metrics: dict[str, Any], accelerator: Any) -> dict[str, Any]:
    if accelerator.num_processes == 1:
        return metrics
    keys = sorted(k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool))
    local = torch.tensor([float("nan") if metrics[k] is None else float(metrics[k]) for k in keys], dtype=torch.float64)
    everyone = accelerator.gather(local.to(accelerator.device)).view(accelerator.num_processes, len(keys)).cpu()  # (W, K)
    out = dict(metrics)
    for j, k in enumerate(keys):
        out[k] = combine(k, everyone[:, j].tolist())
    return out
