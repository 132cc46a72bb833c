"""Rollout engines, registered by name, and the one function the trainer calls to build one.

``vllm`` (in-process, colocated), ``vllm-server`` (separate GPUs) and ``hf`` (transformers
``generate``, the fallback). See :mod:`r1train.rollout.base` for the ``Rollout`` record and protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from r1train.errors import UserError
from r1train.rollout.base import Rollout, RolloutEngine, Sampling

EngineFactory = Callable[..., RolloutEngine]
ENGINES: dict[str, EngineFactory] = {}


def register(name: str) -> Callable[[EngineFactory], EngineFactory]:
    def wrap(fn: EngineFactory) -> EngineFactory:
        ENGINES[name] = fn
        return fn

    return wrap


@register("hf")
def _hf(cfg: Any, model: Any, tokenizer: Any, source: Any) -> RolloutEngine:
    from r1train.rollout.hf import HFEngine

    return HFEngine(model, tokenizer)


def make_engine(cfg: Any, model: Any, tokenizer: Any, source: Any) -> RolloutEngine:
    """Build the engine named by ``cfg.rollout.engine`` for the policy ``model`` loaded from ``source``."""
    name = cfg.rollout.engine
    if name not in ENGINES:
        raise UserError(f"rollout.engine {name!r} is not available here; use one of {', '.join(sorted(ENGINES))}")
    return ENGINES[name](cfg, model, tokenizer, source)


def sampling_from(cfg: Any, seed: int | None = None, n: int | None = None) -> Sampling:
    """The :class:`Sampling` a recipe's ``rollout`` section asks for."""
    r = cfg.rollout
    return Sampling(
        n=r.num_generations if n is None else n,
        max_new_tokens=r.max_new_tokens,
        temperature=r.temperature,
        top_p=r.top_p,
        top_k=r.top_k,
        min_p=r.min_p,
        stop=tuple(r.stop),
        seed=seed,
    )


__all__ = ["ENGINES", "Rollout", "RolloutEngine", "Sampling", "make_engine", "register", "sampling_from"]
