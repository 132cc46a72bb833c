"""Checkpoints: atomic to write, exact to resume.

A checkpoint is a directory ``<output_dir>/checkpoints/step-000050/`` holding the model (or, with LoRA,
the adapter) in Hugging Face format, ``optimizer.pt``, ``scheduler.pt``, ``rng.pt`` (python, numpy,
torch and every CUDA device), and ``state.json`` (step, batches consumed, W&B run id, bad-step count).
It is written into a hidden temporary directory, every file fsynced, then renamed into place; a
``COMPLETE`` marker is the last file written. A crash or a full disk mid-save therefore leaves the
previous checkpoints as they were, and :func:`latest` ignores anything incomplete.
``train.keep_last`` prunes older checkpoints only after the new one is complete.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from r1train.errors import UserError

MARKER = "COMPLETE"
PREFIX = "step-"


@dataclass
class TrainState:
    """What the loop needs besides weights and optimizer to continue exactly where it stopped."""

    step: int
    batches_consumed: int
    wandb_run_id: str | None = None
    bad_steps: int = 0


def checkpoints_dir(out_dir: Path) -> Path:
    return out_dir / "checkpoints"


def complete_checkpoints(out_dir: Path) -> list[Path]:
    """Complete checkpoints, oldest first."""
    root = checkpoints_dir(out_dir)
    if not root.is_dir():
        return []
    found = [p for p in root.iterdir() if p.name.startswith(PREFIX) and (p / MARKER).is_file()]
    return sorted(found, key=lambda p: int(p.name[len(PREFIX) :]))


def latest(out_dir: Path) -> Path | None:
    done = complete_checkpoints(out_dir)
    return done[-1] if done else None


def rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_tree(path: Path) -> None:
    for p in sorted(path.rglob("*")):
        if p.is_file():
            with p.open("rb") as f:
                os.fsync(f.fileno())
    for d in [path, *[p for p in path.rglob("*") if p.is_dir()]]:
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def save(
    out_dir: Path, model: Any, optimizer: Any, scheduler: Any, state: TrainState, keep_last: int
) -> Path:
    """Write checkpoint ``step-<state.step>`` atomically, then prune to the newest ``keep_last``."""
    root = checkpoints_dir(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{state.step:06d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        model.save_pretrained(tmp / "model")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(rng_state(), tmp / "rng.pt")
        (tmp / "state.json").write_text(json.dumps(asdict(state), indent=2))
        _fsync_tree(tmp)
        (tmp / MARKER).write_text("ok\n")
        _fsync_tree(tmp)
        if final.exists():  # a stale copy of the same step (e.g. from a run that died after renaming)
            shutil.rmtree(final)
        tmp.rename(final)
        fd = os.open(root, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
    except (OSError, RuntimeError) as exc:  # torch.save reports a full disk as a RuntimeError
        shutil.rmtree(tmp, ignore_errors=True)
        prev = latest(out_dir)
        kept = f"the previous checkpoint {prev.name} is intact" if prev else "no earlier checkpoint exists"
        free = shutil.disk_usage(root).free
        why = getattr(exc, "strerror", None) or f"write failed with {free / 2**20:.1f} MiB free on that disk"
        raise UserError(
            f"could not write checkpoint {final.name} ({why}); {kept}; free disk space and resume "
            "with train.resume=auto"
        ) from None
    prune(out_dir, keep_last)
    return final


def prune(out_dir: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` complete checkpoints (0 keeps everything)."""
    if keep_last <= 0:
        return
    for old in complete_checkpoints(out_dir)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)


def load_state(path: Path) -> TrainState:
    if not (path / MARKER).is_file():
        raise UserError(f"checkpoint {str(path)!r} is incomplete or not a checkpoint; give a complete one or use train.resume=auto")
    return TrainState(**json.loads((path / "state.json").read_text()))


def load_weights(path: Path, model: Any) -> None:
    """Load the checkpoint's weights (full model or LoRA adapter) into ``model`` in place."""
    from safetensors.torch import load_file

    model_dir = path / "model"
    adapter = model_dir / "adapter_model.safetensors"
    if adapter.is_file():
        from peft import set_peft_model_state_dict

        set_peft_model_state_dict(model, load_file(str(adapter)))
        return
    state: dict[str, torch.Tensor] = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        state.update(load_file(str(f)))
    missing, unexpected = model.load_state_dict(state, strict=False)
    # tied weights (lm_head = embed_tokens) are saved once; anything else missing is a real mismatch
    real_missing = [k for k in missing if not k.endswith("lm_head.weight")]
    if real_missing or unexpected:
        raise UserError(
            f"checkpoint {str(path)!r} does not fit this model (missing {real_missing[:3]}, unexpected {list(unexpected)[:3]}); "
            "resume with the recipe that wrote it"
        )


def load_training(path: Path, optimizer: Any, scheduler: Any) -> None:
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    set_rng_state(torch.load(path / "rng.pt", weights_only=False))
