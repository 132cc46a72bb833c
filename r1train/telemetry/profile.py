"""Stage timers and peak memory for one training step (what ``metrics.jsonl`` and ``r1train bench step`` show).

A :class:`StageTimer` adds up wall-clock seconds per named stage::

    timer = StageTimer()
    with timer.stage("forward_backward"):
        loss.backward()
    timer.seconds  # {"forward_backward": 0.41}

The trainer hands one timer per step to the stages that have inner parts worth seeing (the update splits
into reference/old logprobs, forward/backward and optimizer), then logs ``time/<stage>`` for each.
On CUDA a stage synchronises the device at its end, so queued kernels are charged to the stage that
launched them, not to the next one that happens to wait.

:func:`peak_memory` reports the process's peak resident set size (RSS, what the OS counts; on CPU that is
where tensors live) and, on CUDA, PyTorch's peak allocated and reserved device memory, all in GiB.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

# the stages of a step, in the order of the data path; ``r1train bench step`` prints them in this order
STAGES = (
    "rollout",
    "reward",
    "dynamic_sampling",
    "ref_logprobs",
    "old_logprobs",
    "forward_backward",
    "optimizer",
    "sync",
    "logging",
)


class StageTimer:
    """Seconds per stage, summed over every ``with timer.stage(name)`` block of that name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            if torch.cuda.is_available() and torch.cuda.is_initialized():
                torch.cuda.synchronize()
            self.add(name, time.perf_counter() - start)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds


@contextmanager
def maybe_stage(timer: StageTimer | None, name: str) -> Iterator[None]:
    """``timer.stage(name)``, or nothing when there is no timer (callers outside the trainer)."""
    if timer is None:
        yield
    else:
        with timer.stage(name):
            yield


def peak_rss_gib() -> float:
    """Peak resident set size of this process so far, GiB (``ru_maxrss`` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**30 if sys.platform == "darwin" else peak / 2**20


def peak_memory() -> dict[str, float]:
    """``memory/peak_rss_gib`` always; ``memory/cuda_allocated_gib`` and ``memory/cuda_reserved_gib``
    (peaks since the last :func:`reset_peak_memory`) on CUDA."""
    out = {"memory/peak_rss_gib": peak_rss_gib()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        out["memory/cuda_allocated_gib"] = torch.cuda.max_memory_allocated() / 2**30
        out["memory/cuda_reserved_gib"] = torch.cuda.max_memory_reserved() / 2**30
    return out


def reset_peak_memory() -> None:
    """Start a new CUDA peak window (RSS has no reset: its peak is the process's)."""
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.reset_peak_memory_stats()
