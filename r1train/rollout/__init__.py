"""Rollout engines, registered by name, and the one function the trainer calls to build one.

``vllm`` (in-process, colocated), ``vllm-process`` (the same engine in a worker process on its own
cores or device, for ``rollout.max_staleness > 0``), ``vllm-server`` (separate GPUs) and ``hf``
(transformers ``generate``, the fallback). See :mod:`r1train.rollout.base` for the ``Rollout`` record and protocol.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from r1train.errors import UserError
from r1train.registry import registrar
from r1train.rollout.base import Rollout, RolloutEngine, Sampling

if TYPE_CHECKING:
    from r1train.config import Config

log = logging.getLogger(__name__)

EngineFactory = Callable[..., RolloutEngine]
ENGINES: dict[str, EngineFactory] = {}


# What an engine supports, declared on its registry entry (checked by r1train.recipe.resolve before
# anything loads, instead of isinstance checks on engine classes):
#   async_generation: it can generate batch t+1 while the trainer updates the weights of batch t
#   async_generation_on_cpu: ... also without CUDA
#   tensor_parallel: rollout.tensor_parallel_size > 1 shards it across training ranks
register = registrar(ENGINES, async_generation=False, async_generation_on_cpu=False, tensor_parallel=False)


@register("hf")
def _hf(cfg: Config, model: Any, tokenizer: Any, source: Any) -> RolloutEngine:
    from r1train.rollout.hf import HFEngine

    return HFEngine(model, tokenizer)


@register("vllm", async_generation=True, tensor_parallel=True)
def _vllm(cfg: Config, model: Any, tokenizer: Any, source: Any) -> RolloutEngine:
    """Colocated vLLM, started from ``source`` and then synced to ``model`` (a resumed run differs from it).

    Falls back to ``hf`` with a warning where vLLM does not import or does not support the architecture."""
    from r1train.models.logprobs import unwrap
    from r1train.rollout.sync import policy_weights

    reason = _vllm_unavailable(unwrap(model))
    if reason:
        log.warning("rollout.engine=vllm is not usable here (%s); using the hf engine instead", reason)
        return _hf(cfg, model, tokenizer, source)
    from r1train.rollout.vllm_engine import VLLMEngine

    engine = VLLMEngine(source, cfg.rollout, tokenizer=tokenizer, **_vllm_settings(cfg, model))
    engine.load_weights(policy_weights(model))
    return engine


@register("vllm-process", async_generation=True, async_generation_on_cpu=True)
def _vllm_process(cfg: Config, model: Any, tokenizer: Any, source: Any) -> RolloutEngine:
    """The ``vllm`` engine in a worker process of its own, on its own cores (``rollout.process_cpus``), so
    that it generates while the trainer trains (``rollout.max_staleness > 0``); see :mod:`r1train.rollout.worker`."""
    from r1train.models.logprobs import unwrap
    from r1train.rollout.sync import policy_weights
    from r1train.rollout.worker import ProcessEngine, WorkerSpec, split_cpus

    reason = _vllm_unavailable(unwrap(model))
    if reason:
        raise UserError(f"rollout.engine=vllm-process needs vLLM ({reason}); use rollout.engine=hf and max_staleness=0")
    settings = _vllm_settings(cfg, model)
    trainer_cpus, engine_cpus = split_cpus(cfg.rollout.process_cpus)
    spec = WorkerSpec(source, cfg.rollout, str(settings["dtype"]).removeprefix("torch."), settings["max_model_len"],
                      settings["seed"], settings["trust_remote_code"], tokenizer, engine_cpus)
    engine = ProcessEngine(spec)
    _pin_trainer(trainer_cpus)
    engine.load_weights(policy_weights(model))
    return engine


def _pin_trainer(cpus: tuple[int, ...]) -> None:
    """Keep the training process (and what it starts later) on ``cpus``, one torch thread per core."""
    import os

    import torch

    if torch.cuda.is_available() or set(cpus) == os.sched_getaffinity(0):
        return
    os.sched_setaffinity(0, cpus)
    torch.set_num_threads(len(cpus))


def _vllm_settings(cfg: Config, model: Any) -> dict[str, Any]:
    """dtype, context length, seed and trust_remote_code of a vLLM engine for the policy ``model``."""
    import torch

    from r1train.models.logprobs import unwrap

    base = unwrap(model)
    base = base.get_base_model() if hasattr(base, "get_base_model") else base
    limit = getattr(base.config, "max_position_embeddings", None) or 1 << 30
    rank = torch.distributed.get_rank() if torch.distributed.is_available() and torch.distributed.is_initialized() else 0
    seed = cfg.rollout.seed if cfg.rollout.seed is not None else cfg.train.seed
    return dict(
        dtype=next(base.parameters()).dtype,
        max_model_len=min(limit, cfg.data.max_prompt_tokens + cfg.rollout.max_new_tokens),
        seed=seed + rank // cfg.rollout.tensor_parallel_size,
        trust_remote_code=cfg.model.trust_remote_code,
    )


@register("vllm-server", async_generation=True)
def _vllm_server(cfg: Config, model: Any, tokenizer: Any, source: Any) -> RolloutEngine:
    """A vLLM server on other GPUs (``r1train serve MODEL``): prompts over HTTP, weights over NCCL."""
    from r1train.rollout.server import ServerEngine

    r = cfg.rollout
    return ServerEngine(
        r.server_url, tokenizer=tokenizer, model=model, timeout_s=r.server_timeout_s, nccl_port=r.server_nccl_port
    )


def _vllm_unavailable(model: Any) -> str | None:
    """Why the colocated vLLM engine cannot run this model here, or None when it can."""
    try:
        from vllm import ModelRegistry
    except Exception as exc:  # ImportError, or a broken install raising anything at import
        return f"vllm does not import: {type(exc).__name__}: {str(exc)[:120]}"
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    archs = list(getattr(base.config, "architectures", None) or [type(base).__name__])
    supported = set(ModelRegistry.get_supported_archs())
    if not any(a in supported for a in archs):
        return f"vLLM does not support the architecture {archs[0]}"
    return None


def make_engine(cfg: Config, model: Any, tokenizer: Any, source: Any) -> RolloutEngine:
    """Build the engine named by ``cfg.rollout.engine`` for the policy ``model`` loaded from ``source``."""
    name = cfg.rollout.engine
    if name not in ENGINES:
        raise UserError(f"rollout.engine {name!r} is not available here; use one of {', '.join(sorted(ENGINES))}")
    return ENGINES[name](cfg, model, tokenizer, source)


def sampling_from(cfg: Config, seed: int | None = None, n: int | None = None) -> Sampling:
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


def batch_sampling(cfg: Config, batch: int, rank: int, n_prompts: int, threaded: bool = False) -> Sampling:
    """The trainer's :class:`Sampling` for batch number ``batch`` on process ``rank``.

    Seeds derived from (train seed, batch number[, global prompt index]): the same after a resume; with
    ``rollout.seeding: prompt`` one per prompt, so a prompt's samples are also the same whichever process
    draws it (always so with tensor parallelism, whose ranks must sample alike, and when the engine
    generates ahead on a thread of the trainer's process (``threaded``), which must not reseed the global
    generator the trainer uses; an engine in its own process has a generator of its own)."""
    base = (cfg.train.seed * 1_000_003 + batch * 7919) % 2**31
    sampling = sampling_from(cfg, seed=(base + rank) % 2**31)
    r = cfg.rollout
    if r.seeding == "step" and r.tensor_parallel_size == 1 and not threaded:
        return sampling
    first = rank * n_prompts
    return replace(sampling, prompt_seeds=tuple((base * 100_003 + first + i) % 2**31 for i in range(n_prompts)))


__all__ = ["ENGINES", "batch_sampling", "Rollout", "RolloutEngine", "Sampling", "make_engine", "register", "sampling_from"]
