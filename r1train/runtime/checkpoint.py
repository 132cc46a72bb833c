"""Checkpoints: atomic to write, exact to resume.

A checkpoint is a directory ``<output_dir>/checkpoints/step-000050/`` holding the model (or, with LoRA,
the adapter) in Hugging Face format, ``optimizer.pt``, ``scheduler.pt``, ``rng.pt`` (python, numpy,
torch and every CUDA device), and ``state.json`` (step, batches consumed, W&B run id, bad-step count).
``model/`` also holds the tokenizer, so a checkpoint loads as a model on its own (``r1train eval``,
``serve``, ``model.name_or_path``). It is written into a hidden temporary directory, every file fsynced, then renamed into place; a
``COMPLETE`` marker is the last file written. A crash or a full disk mid-save therefore leaves the
previous checkpoints as they were, and :func:`latest` ignores anything incomplete. A checkpoint that
is marked complete yet damaged afterwards (truncated weights, a lost ``optimizer.pt``) is caught by
:func:`newest_intact` (checks in :mod:`r1train.runtime.integrity`), and resuming falls back to the newest
intact one; the ``.tmp-*`` directory of an interrupted write is removed at the next start
(:func:`r1train.runtime.outputs.clear_interrupted`).
``train.keep_last`` prunes older checkpoints only after the new one is complete.

Under ``accelerate launch`` every process calls :func:`save_distributed` and :func:`restore_distributed`;
only the main process writes the shared files. The state is kept in one layout whatever the backend
(:func:`r1train.distributed.backend`), so a run can resume with a different number of processes:

- single process, DDP and FSDP2: full (unsharded) state dicts, gathered to the main process on CPU with
  ``torch.distributed.checkpoint.state_dict`` (a collective under FSDP2). ``optimizer.pt`` is keyed by
  parameter name (``{"state": {name: ...}, "param_groups": [...]}``), not by position, so it loads into
  a policy sharded over any number of processes. (Checkpoints written before keep the positional
  ``optimizer.state_dict()``; they still load without sharding.)
- DeepSpeed ZeRO: ``model/`` holds the full weights (ZeRO-3 gathers them in 16 bit,
  ``zero3_save_16bit_model: true``), and ``deepspeed/`` the engine's own partitioned checkpoint
  (fp32 master weights and optimizer state), which resumes with the same number of processes; for
  another count convert it first with DeepSpeed's ``ds_to_universal.py``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from r1train.errors import UserError
from r1train.runtime import rng
from r1train.runtime.integrity import MARKER, checkpoint_problem

if TYPE_CHECKING:
    from accelerate import Accelerator

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


def newest_intact(out_dir: Path) -> tuple[Path | None, list[tuple[Path, str]]]:
    """The newest complete checkpoint whose files look whole, and the newer ones skipped with the reason."""
    skipped: list[tuple[Path, str]] = []
    for path in reversed(complete_checkpoints(out_dir)):
        problem = checkpoint_problem(path)
        if problem is None:
            return path, skipped
        skipped.append((path, problem))
    return None, skipped


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
    out_dir: Path,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    state: TrainState,
    keep_last: int,
    *,
    model_state: dict[str, torch.Tensor] | None = None,
    optimizer_state: dict[str, Any] | None = None,
    move_in: dict[str, Path] | None = None,
    tokenizer: Any = None,
) -> Path:
    """Write checkpoint ``step-<state.step>`` atomically, then prune to the newest ``keep_last``.

    ``model_state`` / ``optimizer_state``: full state dicts to write instead of the live model's and
    ``optimizer.state_dict()`` (sharded training gathers them first); ``optimizer=None`` with neither
    writes no ``optimizer.pt``. ``move_in``: directories other processes wrote (DeepSpeed's partitioned
    checkpoint), moved into the checkpoint under the given names before it is marked complete.
    ``tokenizer``: saved into ``model/`` too, so that the checkpoint loads as a model by itself."""
    root = checkpoints_dir(out_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{PREFIX}{state.step:06d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        model.save_pretrained(tmp / "model", **({"state_dict": model_state} if model_state is not None else {}))
        if tokenizer is not None:
            tokenizer.save_pretrained(tmp / "model")
        if optimizer_state is not None or optimizer is not None:
            torch.save(optimizer_state if optimizer_state is not None else optimizer.state_dict(), tmp / "optimizer.pt")
        for name, src in (move_in or {}).items():
            shutil.move(str(src), str(tmp / name))
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        torch.save(rng.state(), tmp / "rng.pt")
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
    try:
        return TrainState(**json.loads((path / "state.json").read_text()))
    except (OSError, ValueError, TypeError):
        raise UserError(
            f"checkpoint {str(path)!r} has a missing or invalid state.json; resume from another checkpoint "
            "or use train.resume=auto (it falls back to the newest intact one)"
        ) from None


def load_weights(path: Path, model: Any) -> None:
    """Load the checkpoint's weights (full model or LoRA adapter) into ``model`` in place."""
    from safetensors.torch import load_file

    model_dir = path / "model"
    adapter = model_dir / "adapter_model.safetensors"
    if adapter.is_file():
        from peft import set_peft_model_state_dict

        try:
            set_peft_model_state_dict(model, load_file(str(adapter)))
        except RuntimeError as exc:  # size mismatch: an adapter of another rank or base model
            first = str(exc).strip().splitlines()[-1][:160]
            raise UserError(
                f"checkpoint {str(path)!r} does not fit this model ({first}); resume with the recipe that wrote it"
            ) from None
        return
    state: dict[str, torch.Tensor] = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        state.update(load_file(str(f)))
    _check_shapes(path, state, {k: v.shape for k, v in model.state_dict().items()})
    missing, unexpected = model.load_state_dict(state, strict=False)
    # tied weights (lm_head = embed_tokens) are saved once; anything else missing is a real mismatch
    real_missing = [k for k in missing if not k.endswith("lm_head.weight")]
    if real_missing or unexpected:
        raise UserError(
            f"checkpoint {str(path)!r} does not fit this model (missing {real_missing[:3]}, unexpected {list(unexpected)[:3]}); "
            "resume with the recipe that wrote it"
        )


def _check_shapes(path: Path, state: dict[str, torch.Tensor], shapes: dict[str, Any]) -> None:
    """A checkpoint of another model's shape is refused before ``load_state_dict`` (whose ``strict=False``
    still raises on a size mismatch, with a page of text)."""
    wrong = [(k, tuple(v.shape), tuple(shapes[k])) for k, v in state.items() if k in shapes and tuple(v.shape) != tuple(shapes[k])]
    if wrong:
        name, there, here = wrong[0]
        raise UserError(
            f"checkpoint {str(path)!r} does not fit this model ({len(wrong)} tensors differ in shape, e.g. {name} is "
            f"{list(there)} there and {list(here)} here); resume with the model.name_or_path that wrote it"
        )


def load_training(path: Path, optimizer: Any, scheduler: Any) -> None:
    optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=False))
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    rng.restore(torch.load(path / "rng.pt", weights_only=False))


# --- every process: sharded training (FSDP2, DeepSpeed ZeRO) and resuming with another process count ---


def save_distributed(
    out_dir: Path, accelerator: Accelerator, policy: Any, optimizer: Any, scheduler: Any, state: TrainState, keep_last: int,
    tokenizer: Any = None,
) -> Path | None:
    """Every process calls this; the main process writes checkpoint ``step-<state.step>`` (see the module
    docstring for what each backend stores). Returns its path on the main process, ``None`` elsewhere."""
    from r1train.models.logprobs import unwrap
    from r1train.runtime.distributed import backend

    kind = backend(accelerator)
    model = unwrap(accelerator.unwrap_model(policy))
    move_in: dict[str, Path] = {}
    if kind == "deepspeed":
        full = full_weights(accelerator, policy)  # ZeRO-3: gathered in 16 bit (a collective)
        model_state = full if full is not None else model.state_dict()
        optimizer_state = None
        ds_dir = checkpoints_dir(out_dir) / f".tmp-deepspeed-{PREFIX}{state.step:06d}"  # shared by all ranks
        policy.save_checkpoint(str(ds_dir), tag="zero")  # every rank writes its partition
        move_in["deepspeed"] = ds_dir
    else:
        # FSDP2: gathers (collectives). Single/DDP: the live model saves itself (LoRA: its adapter only)
        model_state, optimizer_state = _full_states(policy, optimizer, with_model=kind not in ("single", "ddp"))
    path = None
    if accelerator.is_main_process:
        path = save(
            out_dir, model, None, scheduler, state, keep_last,
            model_state=model_state, optimizer_state=optimizer_state, move_in=move_in, tokenizer=tokenizer,
        )  # fmt: skip
    accelerator.wait_for_everyone()
    return path


def full_weights(accelerator: Accelerator, policy: Any) -> dict[str, torch.Tensor] | None:
    """The causal LM's full weights when they are sharded (FSDP2, ZeRO-3), gathered on every process
    (a collective; the main process gets them, on CPU for FSDP2); ``None`` when every process already
    holds them whole (single, DDP, ZeRO-2): save the live model then."""
    from r1train.runtime.distributed import backend

    kind = backend(accelerator)
    if kind == "fsdp2":
        from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

        return _strip(get_model_state_dict(policy, options=StateDictOptions(full_state_dict=True, cpu_offload=True)), policy)
    if kind == "fsdp1" or (kind == "deepspeed" and accelerator.deepspeed_config["zero_optimization"]["stage"] == 3):
        return _strip(accelerator.get_state_dict(policy), policy)
    return None


def restore_distributed(path: Path, accelerator: Accelerator, policy: Any, optimizer: Any, scheduler: Any) -> None:
    """Every process calls this: weights, optimizer (resharded for this run's processes), schedule, RNG."""
    from r1train.models.logprobs import unwrap
    from r1train.runtime.distributed import backend

    kind = backend(accelerator)
    ds_dir = path / "deepspeed"
    if kind == "deepspeed" or ds_dir.is_dir():
        if kind != "deepspeed" or not ds_dir.is_dir():
            made, now = ("DeepSpeed" if ds_dir.is_dir() else "a non-DeepSpeed run"), kind
            raise UserError(
                f"checkpoint {str(path)!r} was written by {made} and this run trains with {now}; resume with the "
                "accelerate config that wrote it, or start from its weights with model.name_or_path=<checkpoint>/model"
            )
        loaded, _ = policy.load_checkpoint(str(ds_dir), tag="zero", load_lr_scheduler_states=False)
        if loaded is None:
            raise UserError(
                f"DeepSpeed could not load {str(ds_dir)!r} (written with another number of processes?); convert it "
                "with DeepSpeed's ds_to_universal.py or resume with the process count that wrote it"
            )
    elif kind == "fsdp2":
        _load_full_weights(path, policy)
    else:
        load_weights(path, unwrap(policy))
    if kind != "deepspeed":
        saved = torch.load(path / "optimizer.pt", weights_only=False)
        if _keyed_by_name(saved):
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

            options = StateDictOptions(full_state_dict=True)
            set_optimizer_state_dict(policy, _raw(optimizer), optim_state_dict=_prefixed(saved), options=options)
        elif kind == "fsdp2":
            raise UserError(f"checkpoint {str(path)!r} predates sharded resuming; resume it without FSDP")
        else:
            optimizer.load_state_dict(saved)
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    rng.restore(torch.load(path / "rng.pt", weights_only=False))


# The policy is ``PolicyLogprobs(model)``: its state-dict names carry a ``model.`` prefix that the causal
# LM's own names (what ``save_pretrained`` writes and what the checkpoint stores) do not.
_WRAPPER = "model."


def _strip(state: dict[str, Any], policy: Any = None) -> dict[str, Any]:
    """Names without the wrapper's prefix; with ``policy``, tied weights once (``lm_head`` = ``embed_tokens``
    is stored under the first name only, as ``save_pretrained`` of the live model does)."""
    tied: set[str] = set()
    if policy is not None:  # names of the policy as wrapped (DDP, DeepSpeed: "module.") -> state-dict names
        first = {_canonical(name) for name, _ in policy.named_parameters()}
        tied = {_canonical(name) for name, _ in policy.named_parameters(remove_duplicate=False)} - first
    return {k[len(_WRAPPER) :] if k.startswith(_WRAPPER) else k: v for k, v in state.items() if k not in tied}


def _canonical(name: str) -> str:
    while name.startswith("module."):
        name = name[len("module.") :]
    return name


def _prefixed(optim_state: dict[str, Any]) -> dict[str, Any]:
    """A name-keyed optimizer state dict with the wrapper's prefix put back, for ``set_optimizer_state_dict``."""
    groups = [{**g, "params": [_WRAPPER + n for n in g["params"]]} for g in optim_state["param_groups"]]
    return {"state": {_WRAPPER + k: v for k, v in optim_state["state"].items()}, "param_groups": groups}


def _keyed_by_name(optim_state: dict[str, Any]) -> bool:
    return all(isinstance(k, str) for k in optim_state.get("state", {})) and bool(optim_state.get("state"))


def _raw(optimizer: Any) -> Any:
    """The torch optimizer inside accelerate's ``AcceleratedOptimizer``."""
    return getattr(optimizer, "optimizer", optimizer)


def _full_states(policy: Any, optimizer: Any, with_model: bool) -> tuple[dict[str, torch.Tensor] | None, dict[str, Any]]:
    """Full, unsharded model and optimizer state dicts keyed by the causal LM's parameter names, on CPU.

    Under FSDP2 these are all-gathers, so every process calls; the full copies exist on the main
    process only (``cpu_offload`` keeps rank 0's copy and drops the others)."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict, get_optimizer_state_dict

    options = StateDictOptions(full_state_dict=True, cpu_offload=True)
    model_state = _strip(get_model_state_dict(policy, options=options), policy) if with_model else None
    optim = get_optimizer_state_dict(policy, _raw(optimizer), options=options)
    groups = [{**g, "params": [n[len(_WRAPPER) :] for n in g["params"]]} for g in optim.get("param_groups", [])]
    return model_state, {"state": _strip(optim.get("state", {})), "param_groups": groups}


def _load_full_weights(path: Path, policy: Any) -> None:
    """Load a checkpoint's full weights into a sharded (FSDP2) policy: each process keeps its shard."""
    from safetensors.torch import load_file
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_model_state_dict

    model_dir = path / "model"
    if (model_dir / "adapter_model.safetensors").is_file():
        raise UserError(f"resuming a LoRA checkpoint ({str(path)!r}) under FSDP is not supported; resume it with DDP")
    state: dict[str, torch.Tensor] = {}
    for f in sorted(model_dir.glob("*.safetensors")):
        state.update(load_file(str(f)))
    _check_shapes(path, state, {_canonical(k).removeprefix(_WRAPPER): v.shape for k, v in policy.state_dict().items()})
    options = StateDictOptions(full_state_dict=True, strict=False)
    missing, unexpected = set_model_state_dict(policy, {_WRAPPER + k: v for k, v in state.items()}, options=options)
    real_missing = [k for k in missing if not k.endswith("lm_head.weight")]
    if real_missing or unexpected:
        raise UserError(
            f"checkpoint {str(path)!r} does not fit this model (missing {real_missing[:3]}, unexpected {list(unexpected)[:3]}); "
            "resume with the recipe that wrote it"
        )
