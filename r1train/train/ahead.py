"""Generation ahead of the update, bounded: ``rollout.max_staleness: k`` keeps up to k batches in flight.

The trainer's step t (t updates done: policy version t) takes batch t, which was submitted at the start of
step t-k with the weights the engine then held (version t-k), pushes version t to the engine, and submits
batch t+k; while it scores and trains on batch t, the engine generates. Every rollout carries the
version that sampled it (``Rollout.policy_version``), so a step's staleness is ``t - version`` (at most
k, and k once the pipeline is full, with ``rollout.sync_every: 1``); the update corrects the gap with the
truncated importance weights of ``algorithm.rollout_is``.

Engines: one that runs in a process of its own (``own_process``, ``vllm-process``) answers requests in
order, so a weight push queued behind batches in flight leaves them on their old weights and applies to
those submitted after it; k batches can be in flight at once. Any other engine runs its generate calls
on one background thread and holds live state, so a push first waits for the batches in flight (with
k = 1 there are none by then: the one-step-off schedule).

Determinism: a batch's prompts and sampling seed follow its batch number, fixed when it is submitted. A
checkpoint holds no batch in flight: :meth:`Ahead.drop` waits for them, discards them and rewinds the data
position, so the batches after a checkpoint are generated from the checkpoint's weights both in the run
that goes on and in one resumed from it (which therefore repeats it exactly). The price is one pipeline
refill per checkpoint.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from r1train.rollout import Rollout, Sampling
from r1train.train.batch import Batch


@dataclass
class InFlight:
    rows: list[dict[str, Any]]
    version: int  # the policy version (updates done) of the weights the engine generates this batch with
    future: Future


class Host(Protocol):
    """What :class:`Ahead` uses of the trainer."""

    engine: Any
    engine_version: int  # the policy version the engine holds, or will once its queue reaches the last push

    def draw(self) -> tuple[list[dict[str, Any]], list[list[int]], Sampling]:
        """The next batch's rows, prompt ids and sampling (advancing the data position)."""
        ...

    def sync(self, force: bool = False) -> float:
        """Push the current weights (setting ``engine_version``); the seconds it took."""
        ...

    def rewind(self, batches: int) -> None:
        """Move the data position back by ``batches``."""
        ...


class Ahead:
    """The batches in flight for a trainer (``host``) with staleness bound ``k``."""

    def __init__(self, host: Host, k: int) -> None:
        self.host, self.engine, self.k = host, host.engine, k
        self.inflight: deque[InFlight] = deque()
        self.own_process = bool(getattr(self.engine, "own_process", False))
        self._thread = None if self.own_process else ThreadPoolExecutor(max_workers=1, thread_name_prefix="r1train-rollout")
        self._idle_seen = 0.0

    def take(self, version: int) -> tuple[Batch, float, dict[str, float]]:
        """Batch ``version`` (this step's), the seconds spent pushing weights, and the pipeline's metrics."""
        sync_s = 0.0
        if not self.inflight:  # the first step, or after a checkpoint: start from the current weights
            sync_s += self.push_if_behind(version)
            self.submit()
        start = time.perf_counter()
        item = self.inflight.popleft()
        rollouts: list[Rollout] = item.future.result()
        waited = time.perf_counter() - start
        stamp(rollouts, item.version)
        sync_s += self.push_if_behind(version)
        while len(self.inflight) < self.k:
            self.submit()
        metrics = {"time/trainer_idle": waited, "ahead/in_flight": float(len(self.inflight))}
        idle = getattr(self.engine, "idle_s", None)
        if idle is not None:  # the engine's own account of waiting for work since the last take
            metrics["time/engine_idle"] = idle - self._idle_seen
            self._idle_seen = idle
        return Batch(item.rows, rollouts), sync_s, metrics

    def submit(self) -> None:
        rows, prompt_ids, sampling = self.host.draw()
        if self.own_process:
            future = self.engine.submit(prompt_ids, sampling)
        else:
            assert self._thread is not None
            future = self._thread.submit(self.engine.generate, prompt_ids, sampling)
        self.inflight.append(InFlight(rows, self.host.engine_version, future))

    def push_if_behind(self, version: int) -> float:
        """Push the weights of ``version`` unless the engine has them; a thread engine must be idle first."""
        if self.host.engine_version >= version:
            return 0.0
        if not self.own_process:
            self.wait()
        return self.host.sync(force=True)

    def wait(self) -> None:
        """Let every batch in flight finish (kept for the steps that take them)."""
        for item in self.inflight:
            item.future.result()

    def settle(self, version: int) -> None:
        """Wait for the batches in flight, discard them, rewind the data to the first of them, and push
        the weights of ``version``: the state a checkpoint records, and the one a resume starts from."""
        self.wait()
        if self.inflight:
            self.host.rewind(len(self.inflight))
            self.inflight.clear()
        self.push_if_behind(version)


def stamp(rollouts: list[Rollout], version: int) -> list[Rollout]:
    """Record on each rollout the policy version that sampled it."""
    for r in rollouts:
        r.policy_version = version
    return rollouts


def staleness_metrics(rollouts: list[Rollout], version: int) -> dict[str, float]:
    """``staleness/mean`` and ``staleness/max``: updates between the weights that sampled and the update."""
    gaps = [version - r.policy_version for r in rollouts] or [0]
    return {"staleness/mean": sum(gaps) / len(gaps), "staleness/max": float(max(gaps))}
