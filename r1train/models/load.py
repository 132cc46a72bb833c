"""Load the policy: any causal LM through ``AutoModelForCausalLM.from_pretrained``, with its tokenizer.

``model.name_or_path`` is a hub id (``Qwen/Qwen2.5-Math-1.5B``), a local directory (a checkpoint, or a
training output directory), ``pocket-base`` / ``pocket-tools-base`` / ``pocket-code-base`` (bases shipped in ``r1train/assets``), or ``tiny:<size>`` (built once by :mod:`r1train.models.tiny` and then loaded from
disk through the very same path). An unreachable hub id (offline, typo) is a one-sentence error.

A training output directory (``r1train eval runs/x``, ``serve``, ``model.name_or_path: runs/x``) means its
newest complete model: ``model/`` (the final one), else the newest complete checkpoint's ``model/`` (a
stopped run); a local directory's weights are checked first (:mod:`r1train.runtime.integrity`), so
truncated weights or a missing tokenizer are one sentence, not a traceback from transformers or vLLM.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1train.config import ModelConfig
from r1train.errors import UserError

# ``org/name`` on the hub (dots allowed: ``Qwen/Qwen2.5-Math-1.5B``); a local path starts with . / ~ or exists
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")
DTYPES = {"float32": "float32", "bfloat16": "bfloat16", "float16": "float16"}


@dataclass(frozen=True)
class ModelSource:
    """Where weights come from: the directory or hub id that ``from_pretrained`` (and vLLM) should read."""

    path: str
    revision: str | None = None


def resolve_source(cfg: ModelConfig) -> ModelSource:
    """Map ``tiny:<size>`` to its cache directory, a training output dir to its final model, else as is.

    ``org/name`` (dots allowed) that is not an existing path is a hub id: offline (``HF_HUB_OFFLINE``) it
    must be in the hub cache; a name starting with ``.``, ``/`` or ``~`` is a local path and must exist."""
    name = cfg.name_or_path
    shipped = Path(__file__).resolve().parents[1] / "assets" / name  # pocket-base, pocket-tools-base, pocket-code-base
    if "/" not in name and (shipped / "config.json").is_file():  # a base shipped with r1train, from any directory
        return ModelSource(str(shipped))
    if name.startswith("tiny:"):
        from r1train.models.tiny import materialise

        return ModelSource(str(materialise(name)))
    p = Path(name).expanduser()
    in_run = run_dir_model(p, name) if p.is_dir() else None
    if in_run is not None:
        return ModelSource(str(in_run))
    if p.is_dir():
        check_local(p, name)
    if not p.exists() and (name.startswith((".", "/", "~")) or not HUB_ID.fullmatch(name)):
        raise UserError(f"model path {name!r} does not exist (nor is it a hub id, org/name); give a local model "
                        "directory, a run directory or a hub id")
    if not p.exists() and HUB_ID.fullmatch(name):
        _check_reachable(name, cfg.revision)
    return ModelSource(name, cfg.revision)


def _hub_offline() -> bool:
    """``HF_HUB_OFFLINE`` as huggingface_hub reads it (read now, not at import, so tests can set it)."""
    import os

    return (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "").strip().upper() in {"1", "ON", "YES", "TRUE"}


def _check_reachable(repo_id: str, revision: str | None) -> None:
    """Offline, a hub id must already be in the hub cache; otherwise one sentence says how to get it."""
    if not _hub_offline():
        return  # online: from_pretrained downloads it (or fails with the hub's own reason)
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(repo_id, "config.json", revision=revision), str):
        return
    raise UserError(
        f"model {repo_id!r} is a Hugging Face hub id that cannot be reached offline (HF_HUB_OFFLINE=1) and is "
        f"not in the hub cache; unset HF_HUB_OFFLINE to download it, or download it elsewhere "
        f"(hf download {repo_id} --local-dir DIR) and give that local directory as ./DIR or /abs/DIR"
    )


RUN_MARKERS = ("recipe.yaml", "metrics.jsonl", "checkpoints", "model")


def run_dir_model(p: Path, name: str) -> Path | None:
    """The newest complete model in run directory (or checkpoint) ``p``: ``model/``, else the newest
    complete checkpoint's; ``None`` when ``p`` is a model directory itself or no run directory."""
    from r1train.runtime.integrity import MARKER, model_problem

    if (p / "config.json").exists() or not any((p / m).exists() for m in RUN_MARKERS):
        return None
    steps = [c for c in (p / "checkpoints").glob("step-*") if (c / MARKER).is_file() and c.name[5:].isdigit()]
    steps.sort(key=lambda c: int(c.name[5:]), reverse=True)
    candidates = [c for c in [p / "model", *(c / "model" for c in steps)] if c.is_dir()]
    problems = []
    for candidate in candidates:
        problem = model_problem(candidate) if (candidate / "config.json").is_file() else (
            "a LoRA adapter only (the merged model is written to model/ when the run ends)"
            if (candidate / "adapter_config.json").is_file() else "no config.json"
        )
        if problem is None:
            if candidate != p / "model":
                print(f"r1train: {name} has no final model; using {candidate}", file=sys.stderr)
            return candidate
        problems.append(f"{candidate.relative_to(p)}: {problem}")
    if not problems:
        raise UserError(
            f"run directory {name!r} holds no model yet (no model/ and no complete checkpoint); wait for its first "
            "checkpoint (train.save_every) or resume it, or give another model"
        )
    raise UserError(
        f"run directory {name!r} holds no loadable model ({'; '.join(problems[:3])}); give a model directory or "
        "a checkpoint that loads"
    )


def check_local(path: Path, name: str, need_tokenizer: bool = True) -> None:
    """A local model directory whose weights, config or tokenizer are missing or damaged is one sentence."""
    from r1train.runtime.integrity import model_problem

    problem = model_problem(path, need_tokenizer)
    if problem is not None:
        raise UserError(
            f"model directory {name!r} cannot be loaded ({problem}); save or copy the model again, or give another"
        )


def torch_dtype(cfg: ModelConfig, device_type: str) -> Any:
    """``auto``: bfloat16 on CUDA devices that support it, float32 elsewhere (CPU training wants fp32)."""
    import torch

    if cfg.dtype != "auto":
        return getattr(torch, DTYPES[cfg.dtype])
    if device_type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def load_tokenizer(source: ModelSource, trust_remote_code: bool = False) -> Any:
    """The tokenizer (with chat template); pad token falls back to eos; padding is on the right."""
    from transformers import AutoTokenizer

    try:
        tok = AutoTokenizer.from_pretrained(source.path, revision=source.revision, trust_remote_code=trust_remote_code)
    except OSError as exc:
        raise UserError(_unreachable(source.path, exc)) from None
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    tok.padding_side = "right"
    return tok


def load_model(cfg: ModelConfig, source: ModelSource, device_type: str = "cpu") -> Any:
    """The causal LM in training dtype, optionally wrapped with LoRA adapters (peft; see :mod:`r1train.models.lora`)."""
    from transformers import AutoModelForCausalLM

    from r1train.models import lora

    if Path(source.path).is_dir():  # damaged weights: one sentence, before transformers reads them
        check_local(Path(source.path), source.path, need_tokenizer=False)
    dtype = torch_dtype(cfg, device_type)
    quantization = lora.quantization_config(cfg.lora, dtype)  # QLoRA: base weights in 4 bits
    extra = {"quantization_config": quantization} if quantization is not None else {}
    try:
        model = AutoModelForCausalLM.from_pretrained(
            source.path,
            revision=source.revision,
            dtype=dtype,
            trust_remote_code=cfg.trust_remote_code,
            **extra,
        )
    except OSError as exc:
        raise UserError(_unreachable(source.path, exc)) from None
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
        model.config.use_cache = False
    if cfg.lora is not None:
        model = lora.apply_lora(model, cfg.lora, cfg.gradient_checkpointing)
    return model


def _unreachable(name: str, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return (
        f"model {name!r} could not be loaded ({first[:160]}); check the hub id, or download it and give "
        "the local directory, or use tiny:3m to try r1train offline"
    )
