"""Multi-turn rollouts: every live episode of a step advances one turn per ``engine.generate`` call.

Round 1 samples ``n`` first turns per prompt (one call, as single-turn). Each later round is *one*
``generate`` call over every live episode's ``prompt + completion-so-far`` token ids with ``n=1``: no
episode waits for another's tool, and the engine batches them all (vLLM's prefix cache reuses the
shared prefixes). Between rounds the environments answer their turns in a thread pool (tool calls are
sandboxed subprocesses, so they run side by side).

Tokens are kept exactly as sampled: a turn's ids and sampler logprobs are appended as they came, and an
observation is tokenised once, on its own, and appended with loss mask 0 (context, never trained on,
never counted as policy length or in the KL). The conversation is never re-tokenised, so the trainer's
sequence *is* the sampler's. An episode ends when its environment says done, when a turn ends without
a stop string (EOS or a plain answer), at ``env.max_turns`` policy turns, or when its completion
(policy and observation tokens together) reaches ``rollout.max_new_tokens``; the last two count in
``tools/truncated``. Each round asks for the most tokens any live episode has left and cuts every
episode at its own budget (a prefix of a sample is a sample of that prefix).

Seeds: round ``k > 0`` uses ``sampling.seed + k`` (step seeding), or one seed per episode derived from
its prompt's seed, its sample index and ``k`` (``rollout.seeding: prompt``).
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from r1train.envs.base import Environment, Step
from r1train.rollout.base import Rollout, RolloutEngine, Sampling


@dataclass(frozen=True)
class EnvSpec:
    """A loaded ``env`` section: the class, its constructor arguments and the loop's limits."""

    cls: type
    args: dict[str, Any] = field(default_factory=dict)
    max_turns: int = 4
    workers: int = 8

    @property
    def multi_turn(self) -> bool:
        return bool(getattr(self.cls, "multi_turn", True))

    def start(self, row: dict[str, Any]) -> Environment:
        return self.cls(row, **self.args)


@dataclass
class Episode:
    """One episode's growing completion: ids, sampler logprobs and loss mask, aligned token by token."""

    env: Environment
    prompt_ids: list[int]
    prompt_index: int
    seed: int | None = None
    ids: list[int] = field(default_factory=list)
    logprobs: list[float] | None = field(default_factory=list)
    mask: list[int] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    turns: int = 0
    calls: int = 0
    errors: int = 0
    tool_s: float = 0.0
    reward: float | None = None
    done: bool = False
    truncated: bool = False
    finish: str = "stop"

    def add_turn(self, r: Rollout, budget: int) -> str:
        """Append a sampled turn, cut at the episode's budget; returns the turn's text."""
        room = budget - len(self.ids)
        ids, logps, text, finish = r.completion_ids, r.logprobs, r.text, r.finish_reason
        if len(ids) >= room and (len(ids) > room or finish == "length"):
            ids, finish = ids[:room], "length"
            logps = logps[:room] if logps is not None else None
        self.ids += ids
        self.mask += [1] * len(ids)
        self.logprobs = None if logps is None or self.logprobs is None else self.logprobs + list(logps)
        self.turns += 1
        self.finish = finish
        return text

    def rollout(self) -> Rollout:
        stats = {"turns": self.turns, "calls": self.calls, "errors": self.errors, "time": self.tool_s,
                 "truncated": self.truncated}
        extra: dict[str, Any] = {"tools": stats}
        if self.reward is not None:
            extra["env_reward"] = self.reward
        return Rollout(list(self.prompt_ids), self.ids, self.logprobs, self.finish, "".join(self.text),  # type: ignore[arg-type]
                       self.prompt_index, extra, loss_mask=self.mask)


def generate(
    engine: RolloutEngine,
    tokenizer: Any,
    rows: list[dict[str, Any]],
    prompt_ids: list[list[int]],
    sampling: Sampling,
    env: EnvSpec,
) -> list[Rollout]:
    """``sampling.n`` rollouts per prompt through the environment, grouped by prompt like ``generate``."""
    if not env.multi_turn:
        return engine.generate(prompt_ids, sampling)  # the single-turn path, exactly as before
    n, budget = sampling.n, sampling.max_new_tokens
    episodes = []
    for i, (row, ids) in enumerate(zip(rows, prompt_ids, strict=True)):
        base = sampling.prompt_seeds[i] if sampling.prompt_seeds else sampling.seed
        for j in range(n):
            seed = None if base is None else (base * 1_000_003 + j) % 2**31
            episodes.append(Episode(env.start(row), list(ids), i, seed))
    stop = tuple(dict.fromkeys([*sampling.stop, *(s for ep in episodes[:1] for s in ep.env.stop)]))
    first = replace(sampling, stop=stop)
    outputs = engine.generate(prompt_ids, first)
    live = episodes
    with ThreadPoolExecutor(max_workers=max(1, env.workers), thread_name_prefix="r1train-env") as pool:
        for k in range(1, env.max_turns + 1):
            texts = [ep.add_turn(out, budget) for ep, out in zip(live, outputs, strict=True)]
            asking = [(ep, t) for ep, t in zip(live, texts, strict=True) if not _ends_turn(ep, t, stop)]
            for ep, t in zip(live, texts, strict=True):
                ep.text.append(t)
            steps = list(pool.map(_timed_step, [(ep, t) for ep, t in asking]))
            for (ep, _), (step, seconds) in zip(asking, steps, strict=True):
                _answer(ep, step, seconds, tokenizer, budget, k >= env.max_turns)
            live = [ep for ep in live if not ep.done]
            if not live:
                break
            room = max(budget - len(ep.ids) for ep in live)
            outputs = engine.generate([ep.prompt_ids + ep.ids for ep in live], _round(first, live, k, room))
    for ep in episodes:
        _close(ep.env)
    return [ep.rollout() for ep in episodes]


def _ends_turn(ep: Episode, text: str, stop: tuple[str, ...]) -> bool:
    """Mark the episode done if this turn asks nothing of the environment (EOS, plain end, budget)."""
    if ep.finish == "length":
        ep.done = ep.truncated = True
    elif not any(text.endswith(s) for s in stop):
        ep.done = True
    return ep.done


def _timed_step(item: tuple[Episode, str]) -> tuple[Step, float]:
    ep, text = item
    t0 = time.perf_counter()
    step = ep.env.step(text)
    return step, time.perf_counter() - t0


def _answer(ep: Episode, step: Step, seconds: float, tokenizer: Any, budget: int, last_turn: bool) -> None:
    """Record the environment's answer; append its observation unless the episode ends here."""
    ep.calls += step.calls
    ep.errors += step.errors
    ep.tool_s += seconds
    if step.reward is not None:
        ep.reward = (ep.reward or 0.0) + step.reward
    if step.done:
        ep.done = True
        return
    if last_turn:  # it asked for more than max_turns allows
        ep.done = ep.truncated = True
        return
    obs = tokenizer(step.observation, add_special_tokens=False)["input_ids"] if step.observation else []
    if len(obs) >= budget - len(ep.ids):  # no room to answer after it: the episode ends without it
        ep.done = ep.truncated = True
        ep.finish = "length"
        return
    ep.ids += obs
    ep.mask += [0] * len(obs)
    if ep.logprobs is not None:
        ep.logprobs += [0.0] * len(obs)
    ep.text.append(step.observation)


def _round(first: Sampling, live: list[Episode], k: int, room: int) -> Sampling:
    """Sampling for round ``k`` over the live episodes: one sample each, seeds per round."""
    seeds = tuple((ep.seed * 31 + k) % 2**31 for ep in live) if first.prompt_seeds else ()
    seed = None if first.seed is None else (first.seed + k) % 2**31
    return replace(first, n=1, max_new_tokens=room, seed=seed, prompt_seeds=seeds)


def _close(env: Environment) -> None:
    close = getattr(env, "close", None)
    if callable(close):
        close()
