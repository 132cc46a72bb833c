"""What every rollout engine shares: the ``Rollout`` record, sampling settings and the engine protocol.

An engine turns tokenised prompts into completions. It returns, per sample, the prompt ids, completion
ids, the sampler's per-token logprobs (``None`` where the engine cannot give them), why generation
stopped, the decoded text, and the policy version that sampled it. A multi-turn rollout
(:mod:`r1train.envs.loop`) also carries a loss mask that tells the policy's tokens from the observations
between its turns. Engines are registered by name (``vllm``, ``vllm-server``, ``hf``) and
built by :func:`r1train.rollout.make_engine`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Sampling:
    """Sampling settings for one generate call (``n`` samples per prompt)."""

    n: int = 1
    max_new_tokens: int = 128
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    min_p: float = 0.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # One seed per prompt (engines that support per-request seeds): a prompt's samples then do not depend
    # on which other prompts share the batch or the process, so runs resume and shard reproducibly.
    prompt_seeds: tuple[int, ...] = ()
    logprobs: bool = True


@dataclass
class Rollout:
    """One sampled completion of one prompt."""

    prompt_ids: list[int]
    completion_ids: list[int]
    logprobs: list[float] | None  # the sampler's logprob of each completion token
    finish_reason: FinishReason
    text: str
    prompt_index: int = 0  # which prompt of the request this answers
    extra: dict[str, Any] = field(default_factory=dict)
    policy_version: int = 0  # updates the weights that sampled it had seen (the trainer stamps it)
    # 1 on policy tokens, 0 on observation tokens (tool output appended by an environment, r1train/envs);
    # None: every completion token is the policy's (single turn)
    loss_mask: list[int] | None = None

    @property
    def policy_tokens(self) -> int:
        """Completion tokens the policy sampled (observations excluded): what length metrics count."""
        return len(self.completion_ids) if self.loss_mask is None else sum(self.loss_mask)

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class RolloutEngine(Protocol):
    """The contract between the trainer and a generator."""

    def generate(self, prompt_ids: list[list[int]], sampling: Sampling) -> list[Rollout]:
        """``sampling.n`` rollouts for each prompt, grouped: prompt 0's n samples first, then prompt 1's…"""
        ...

    def load_weights(self, named_tensors: Iterable[tuple[str, Any]]) -> None:
        """Make the engine generate with these (full, unsharded, HF-named) weights from now on."""
        ...

    def close(self) -> None:
        """Release what the engine holds (processes, memory); it is not used afterwards."""
        ...
