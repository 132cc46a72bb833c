"""Recipes: read the YAML, apply ``section.key=value`` overrides, validate, and resolve.

``load_recipe("recipes/pocket-zero.yaml", ["train.steps=50"])`` reads the YAML, applies the overrides
(values parsed as YAML, so ``3``, ``1e-6``, ``true``, ``[a, b]`` are typed), builds the
:class:`~r1train.config.Config` and runs :func:`validate`: every check of values and of combinations that
needs nothing but the recipe. Each failure is one :class:`~r1train.errors.UserError` sentence naming the
key, the file and what to change.

:func:`resolve` is the one step before anything loads. It takes the validated config and the launch it
will run under (:class:`Launch`: process count, CUDA, the accelerate backend, read from the environment
that ``accelerate launch`` sets), refuses what that launch cannot run (async generation with an engine
that cannot generate while the trainer updates, ``hf`` under FSDP/ZeRO-3, LoRA under FSDP/ZeRO-3,
``prompts_per_step`` not divisible by the processes), and returns the config with every derived value
filled in, so that ``recipe.yaml`` and the W&B config record what really runs:

* ``rollout.max_staleness``: the bound k (``async_generation: true`` reads as 1, and is then cleared);
* ``rollout.engine``: ``vllm-process`` for ``vllm`` when k > 0 without CUDA (its own process and cores);
* ``algorithm.rollout_is``: ``token_truncate`` when generation runs ahead of the update and it is ``off``;
* ``train.micro_batch_tokens``: 2048 on one CPU process, 0 (no cap) otherwise, when not set.

``r1train check`` runs exactly :func:`resolve` (plus reading a few data rows and importing the rewards);
``r1train train`` runs it before the model is loaded.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from r1train.config import AlgorithmConfig, Config, _show, from_dict
from r1train.errors import UserError

if TYPE_CHECKING:
    from accelerate import Accelerator

CPU_MICRO_BATCH_TOKENS = 2048  # padded tokens per micro-batch on one CPU process (keeps activations in cache)


# --- reading and overrides --------------------------------------------------------------------------


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"train.steps=50"`` -> (["train", "steps"], 50); the value is parsed as YAML."""
    if "=" not in text:
        raise UserError(f"override {text!r} must look like section.key=value, e.g. train.steps=50")
    key, _, raw = text.partition("=")
    parts = key.strip().split(".")
    if not all(parts):
        raise UserError(f"override {text!r} has an empty key part; write it like section.key=value")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with each ``section.key=value`` override set (nested keys allowed)."""
    out = _deep_copy(data)
    for text in overrides:
        parts, value = parse_override(text)
        node = out
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = value
    return out


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a recipe file; a missing, unreadable or malformed file is a one-sentence :class:`UserError`."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"recipe {str(path)!r} does not exist; give the path to a .yaml recipe (see `r1train recipes`)")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UserError(
            f"recipe {str(path)!r} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "it is not valid YAML"
        raise UserError(f"recipe {str(path)!r} is malformed YAML{at} ({problem}); fix the syntax there") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise UserError(f"recipe {str(path)!r} must be a mapping of sections (model:, data:, …), not {_show(data)}")
    return data


def build_config(data: dict[str, Any], where: str) -> Config:
    """Turn plain recipe data into a validated :class:`Config` (not yet resolved for a launch)."""
    cfg = from_dict(Config, data, where)
    validate(cfg, where)
    return cfg


def load_recipe(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Read a recipe YAML, apply ``section.key=value`` overrides and build the validated :class:`Config`."""
    data = apply_overrides(read_yaml(path), list(overrides or []))
    where = str(path) + (" (with overrides)" if overrides else "")
    return build_config(data, where)


def first_comment_line(path: str | Path) -> str:
    """The recipe's ``description`` key, else its second comment line (the first is the launch command)."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("description"), str) and data["description"].strip():
        return data["description"].strip()
    comments = [ln.lstrip("#").strip() for ln in text.splitlines() if ln.startswith("#")]
    return comments[1] if len(comments) > 1 else (comments[0] if comments else "")


# --- validation: the recipe alone -------------------------------------------------------------------


def validate(cfg: Config, where: str) -> None:
    """Every check that needs nothing but the recipe: values, then registry entries, then combinations."""
    _check_values(cfg, where)
    check_algorithm(cfg.algorithm, where, cfg.rollout.num_generations)
    _check_names(cfg, where)
    _check_combinations(cfg, where)


def _check_values(cfg: Config, where: str) -> None:
    r, t, a, o = cfg.rollout, cfg.train, cfg.algorithm, cfg.optim
    at_least_one = {
        "rollout.prompts_per_step": r.prompts_per_step,
        "rollout.num_generations": r.num_generations,
        "rollout.max_new_tokens": r.max_new_tokens,
        "train.steps": t.steps,
        "train.micro_batch_size": t.micro_batch_size,
        "algorithm.iterations": a.iterations,
        "algorithm.max_sampling_tries": a.max_sampling_tries,
        "rollout.sync_every": r.sync_every,
        "rollout.kv_cache_gb": r.kv_cache_gb,
        "rollout.tensor_parallel_size": r.tensor_parallel_size,
        "data.max_prompt_tokens": cfg.data.max_prompt_tokens,
    }
    for key, value in at_least_one.items():
        if value < 1:
            raise UserError(f"'{key}' in {where} is {value}; it must be at least 1")
    numbers = {
        "rollout.temperature": r.temperature, "rollout.top_p": r.top_p, "rollout.min_p": r.min_p,
        "optim.lr": o.lr, "optim.weight_decay": o.weight_decay, "optim.eps": o.eps, "optim.max_grad_norm": o.max_grad_norm,
        "algorithm.clip_low": a.clip_low, "algorithm.clip_high": a.clip_high, "algorithm.kl_beta": a.kl_beta,
        "algorithm.entropy_coef": a.entropy_coef, "algorithm.rollout_is_cap": a.rollout_is_cap,
        "rollout.gpu_memory_utilization": r.gpu_memory_utilization, "rollout.server_timeout_s": r.server_timeout_s,
    }
    for key, value in numbers.items():
        if not math.isfinite(value):
            raise UserError(f"'{key}' in {where} is {value}; it must be a finite number")
    for spec in cfg.rewards:
        if not math.isfinite(spec.weight) or not math.isfinite(spec.timeout_s) or spec.timeout_s <= 0:
            raise UserError(f"reward {spec.name!r} in {where} has weight {spec.weight} / timeout_s {spec.timeout_s}; "
                            "both must be finite and timeout_s above 0")
    if r.temperature <= 0:
        raise UserError(f"'rollout.temperature' in {where} is {r.temperature}; RL sampling needs a temperature above 0")
    if not 0 < r.top_p <= 1 or not 0 <= r.min_p < 1 or r.top_k < 0:
        raise UserError(f"rollout.top_p={r.top_p}, min_p={r.min_p}, top_k={r.top_k} in {where}: top_p must be in (0, 1], "
                        "min_p in [0, 1) and top_k 0 (off) or positive")
    if o.lr <= 0:
        raise UserError(f"'optim.lr' in {where} is {o.lr}; it must be above 0 (e.g. 1e-6)")
    if o.weight_decay < 0 or o.eps <= 0 or o.max_grad_norm <= 0 or o.warmup_steps < 0:
        raise UserError(f"optim in {where}: weight_decay >= 0, eps > 0, max_grad_norm > 0 and warmup_steps >= 0 are needed")
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        raise UserError(f"'optim.betas' in {where} is {o.betas}; give two numbers in [0, 1), e.g. [0.9, 0.999]")
    if not 0 < r.gpu_memory_utilization <= 1:
        raise UserError(f"'rollout.gpu_memory_utilization' in {where} is {r.gpu_memory_utilization}; "
                        "it is a share of the GPU's memory: give a number in (0, 1], e.g. 0.3")
    if t.save_every < 0 or t.keep_last < 0 or t.max_bad_steps < 0 or t.eval_size < 0:
        raise UserError(f"train.save_every, keep_last, max_bad_steps and eval_size in {where} must be 0 or more")
    if not cfg.rewards:
        raise UserError(f"'rewards' in {where} is empty; name at least one reward function")
    if t.resume not in ("auto", "never") and not Path(t.resume).exists():
        raise UserError(f"'train.resume' in {where} is {t.resume!r}, which does not exist; use auto, never or a checkpoint path")


def check_algorithm(a: AlgorithmConfig, where: str = "the recipe", num_generations: int = 2) -> None:
    """The ``algorithm`` section against the estimator and loss registries and their properties."""
    from r1train.grpo import ADVANTAGES, LOSSES

    if a.advantage not in ADVANTAGES:
        raise UserError(f"algorithm.advantage {a.advantage!r} in {where} is unknown; use one of {', '.join(sorted(ADVANTAGES))}")
    if a.loss not in LOSSES:
        raise UserError(f"algorithm.loss {a.loss!r} in {where} is unknown; use one of {', '.join(sorted(LOSSES))}")
    estimator = ADVANTAGES[a.advantage]
    if num_generations < 2 and (estimator.group_relative or a.advantage_scale == "group"):
        raise UserError(
            f"'rollout.num_generations' in {where} is {num_generations}; {a.advantage!r} advantages"
            f"{' scaled by the group' if not estimator.group_relative else ''} need at least 2 samples per prompt"
        )
    if a.clip_low < 0 or a.clip_high < 0 or a.clip_low >= 1:
        raise UserError(
            f"algorithm.clip_low={a.clip_low} / clip_high={a.clip_high} in {where} must satisfy 0 <= clip_low < 1 and "
            "clip_high >= 0; typical values are 0.2 and 0.28"
        )
    if a.dual_clip is not None and a.dual_clip <= 1.0:
        raise UserError(f"algorithm.dual_clip in {where} is {a.dual_clip}; it must be above 1 (e.g. 3.0), or null to turn it off")
    if a.kl_beta < 0:
        raise UserError(f"algorithm.kl_beta in {where} is {a.kl_beta}; it must be 0 (no reference model) or positive")
    if a.kl_in_reward and a.kl_beta == 0:
        raise UserError(f"algorithm.kl_in_reward is true but kl_beta is 0 in {where}; set kl_beta > 0 or kl_in_reward: false")
    if a.rollout_is != "off" and a.rollout_is_cap < 1.0:
        raise UserError(f"algorithm.rollout_is_cap in {where} is {a.rollout_is_cap}; it must be at least 1 (e.g. 2.0)")


def _check_names(cfg: Config, where: str) -> None:
    """Names looked up in registries that need no import of torch-heavy code: engine, template, task."""
    from r1train.data import tasks, templates
    from r1train.rollout import ENGINES

    if cfg.rollout.engine not in ENGINES:
        raise UserError(f"rollout.engine {cfg.rollout.engine!r} in {where} is unknown; use one of {', '.join(sorted(ENGINES))}")
    templates.get(cfg.data.template)  # one sentence naming the valid templates
    source = cfg.data.source
    if source.startswith("synthetic:"):
        tasks.check_options(source.split(":", 1)[1], cfg.data.task)
    if cfg.data.adapter:
        from r1train.data import code_rows

        code_rows.get(cfg.data.adapter)  # one sentence naming the adapters


def _check_combinations(cfg: Config, where: str) -> None:
    from r1train.rollout import ENGINES

    r, a = cfg.rollout, cfg.algorithm
    engine = ENGINES[r.engine]
    if r.tensor_parallel_size > 1 and not engine.tensor_parallel:
        raise UserError(f"rollout.tensor_parallel_size={r.tensor_parallel_size} in {where} needs the vllm engine; "
                        f"{r.engine!r} does not shard: set rollout.engine=vllm or tensor_parallel_size=1")
    k = staleness(r)
    if r.max_staleness < 0:
        raise UserError(f"'rollout.max_staleness' in {where} is {r.max_staleness}; it must be 0 (synchronous) or more")
    if r.async_generation and r.max_staleness > 1:
        raise UserError(f"rollout.async_generation and max_staleness={r.max_staleness} in {where} disagree; "
                        "async_generation is the former max_staleness: 1, so drop it")
    if k > 0:
        if not engine.async_generation:
            raise UserError(
                f"rollout.max_staleness={k} in {where} needs an engine that generates while the trainer updates "
                f"(vllm, vllm-process or vllm-server); {r.engine!r} generates with the very weights being trained: "
                "set rollout.engine or rollout.max_staleness=0"
            )
        if a.dynamic_sampling:
            raise UserError(f"rollout.max_staleness={k} does not combine with algorithm.dynamic_sampling in {where} "
                            "(a step's batch count must be known ahead); turn one off")


def staleness(r: Any) -> int:
    """The ``rollout`` section's staleness bound k: ``max_staleness``, or 1 for the former ``async_generation``."""
    return r.max_staleness or (1 if r.async_generation else 0)


# --- resolve: the recipe for the launch it runs under ----------------------------------------------


@dataclass(frozen=True)
class Launch:
    """What the run's launch provides, known before anything loads (``accelerate launch`` sets it in the
    environment of every process): process count, CUDA, and the distributed backend."""

    processes: int = 1
    cuda: bool = False
    backend: str = "ddp"  # ddp | fsdp | deepspeed
    zero_stage: int = 0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Launch:
        env = os.environ if environ is None else environ
        backend = "fsdp" if env.get("ACCELERATE_USE_FSDP", "").lower() == "true" else "ddp"
        if env.get("ACCELERATE_USE_DEEPSPEED", "").lower() == "true":
            backend = "deepspeed"
        return cls(
            processes=int(env.get("WORLD_SIZE", "1") or 1),
            cuda=_cuda_available(),
            backend=backend,
            zero_stage=int(env.get("ACCELERATE_DEEPSPEED_ZERO_STAGE", "0") or 0),
        )

    @classmethod
    def from_accelerator(cls, accelerator: Accelerator) -> Launch:
        """The launch an ``accelerate.Accelerator`` was made for (the trainer's own, after it starts)."""
        from r1train.runtime.distributed import backend

        kind = backend(accelerator)
        zero = accelerator.state.deepspeed_plugin.zero_stage if kind == "deepspeed" else 0
        family = {"fsdp1": "fsdp", "fsdp2": "fsdp", "single": "ddp"}.get(kind, kind)
        return cls(accelerator.num_processes, accelerator.device.type == "cuda", family, zero)

    @property
    def shards_parameters(self) -> str | None:
        """``"FSDP"`` / ``"ZeRO-3"`` when the training model's parameters are sharded across processes."""
        if self.backend == "fsdp":
            return "FSDP"
        if self.backend == "deepspeed" and self.zero_stage == 3:
            return "ZeRO-3"
        return None


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve(cfg: Config, launch: Launch | None = None, where: str = "the recipe") -> Config:
    """``cfg`` checked against ``launch`` (default: this process's environment), derived values filled in."""
    from r1train.rollout import ENGINES

    launch = launch or Launch.from_env()
    validate(cfg, where)
    from r1train import envs

    envs.load(cfg.env)  # a known environment whose args fit (r1train check catches a bad env section)
    if cfg.env.name != "single_turn" and cfg.rollout.max_staleness > 0:
        raise UserError(
            f"env.name={cfg.env.name!r} (multi-turn episodes) with rollout.max_staleness="
            f"{cfg.rollout.max_staleness} in {where}: generating ahead runs single-turn requests only; "
            "set rollout.max_staleness=0 for tool use"
        )
    r, a, t = cfg.rollout, cfg.algorithm, cfg.train
    if r.prompts_per_step % launch.processes:
        raise UserError(
            f"rollout.prompts_per_step ({r.prompts_per_step}) must be divisible by the number of processes "
            f"({launch.processes}); change one of them"
        )
    k = staleness(r)
    rollout = replace(r, max_staleness=k, async_generation=False)  # one key as it runs
    if k > 0 and not launch.cuda and r.engine == "vllm":  # an engine thread in this process crashed on CPU
        rollout = replace(rollout, engine="vllm-process")
    engine = ENGINES[rollout.engine]
    if k > 0 and not launch.cuda and not engine.async_generation_on_cpu:
        raise UserError(
            f"rollout.max_staleness={k} is not supported with the {r.engine} engine without CUDA (vllm-server pushes "
            "weights over NCCL); use rollout.engine=vllm-process on CPU, or max_staleness=0"
        )
    sharded = launch.shards_parameters
    if sharded and r.engine == "hf":
        raise UserError(
            f"rollout.engine=hf generates with the training model, which {sharded} shards across processes; "
            "set rollout.engine=vllm (or vllm-server)"
        )
    if sharded and cfg.model.lora is not None:
        raise UserError(
            f"LoRA training under {sharded} is not supported: a LoRA policy's trainable state is small, so launch "
            "it with recipes/accelerate/ddp.yaml or zero2.yaml"
        )
    algorithm = a
    if k > 0 and a.rollout_is == "off":  # k steps off-policy: correct it
        algorithm = replace(a, rollout_is="token_truncate")
    train = t
    if t.micro_batch_tokens is None:  # ranks must agree on the number of micro-batches: no cap with several
        cpu_alone = not launch.cuda and launch.processes == 1
        train = replace(t, micro_batch_tokens=CPU_MICRO_BATCH_TOKENS if cpu_alone else 0)
    return dataclasses.replace(cfg, rollout=rollout, algorithm=algorithm, train=train)
