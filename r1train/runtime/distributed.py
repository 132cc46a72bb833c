"""The processes of a run: which backend trains (DDP, FSDP2, DeepSpeed ZeRO), and metrics across them.

``make_accelerator()`` builds the run's ``Accelerator`` from what ``accelerate launch`` configured. With
CUDA that is accelerate's choice as is. Without CUDA the processes talk over gloo (``MULTI_CPU``), and
because accelerate only routes FSDP to accelerators, an FSDP2 launch config is switched on here: torch's
``fully_shard`` runs on a CPU device mesh, so the sharded code paths (DTensor gathering for the weight
sync, full state dicts for checkpoints) run and are tested on a laptop. FSDP1 and DeepSpeed on CPU end
in a clear error instead of silently training data-parallel.

``backend(accelerator)`` names the training backend: ``single``, ``ddp``, ``fsdp2``, ``fsdp1`` or
``deepspeed``; checkpoints (:mod:`r1train.runtime.checkpoint`) choose their state-dict path by it.
``micro_batch(accelerator, last)`` marks gradient accumulation for DeepSpeed, ``after_prepare`` fixes
ZeRO-3's gathering of the output head; combinations that cannot work (LoRA or the hf engine under FSDP
or ZeRO-3) are refused before anything loads by :func:`r1train.recipe.resolve`.

Every backend averages gradients over processes (DDP all-reduce, FSDP2 reduce-scatter, ZeRO reduce);
the update scales each loss by the number of processes so that the gradient is the one of the whole
batch normalised by global counts (:mod:`r1train.train.update`); ``tests/r1train/runtime/test_fsdp.py`` checks it.

``reduce_metrics`` combines every process's metrics dict (the same keys on every process) into one:
timings and maxima take the maximum, counts and throughputs are summed, everything else (means over
equal-sized shares of the batch) is averaged. NaN (nothing measured on a process) is ignored.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch

from r1train.errors import UserError

if TYPE_CHECKING:
    from accelerate import Accelerator

SUMMED_SUFFIXES = ("/none", "/errors", "tokens_per_s")


def combine(name: str, values: list[float]) -> float:
    """How one metric of all processes becomes one number (pure; see the module docstring)."""
    ok = [v for v in values if not math.isnan(v)]
    if not ok:
        return float("nan")
    if name.startswith("time/") or name.endswith("/max"):
        return max(ok)
    if name.endswith(SUMMED_SUFFIXES):
        return sum(ok)
    return sum(ok) / len(ok)


def reduce_metrics(metrics: dict[str, Any], accelerator: Accelerator) -> dict[str, Any]:
    if accelerator.num_processes == 1:
        return metrics
    keys = sorted(k for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool))
    local = torch.tensor([float("nan") if metrics[k] is None else float(metrics[k]) for k in keys], dtype=torch.float64)
    everyone = accelerator.gather(local.to(accelerator.device)).view(accelerator.num_processes, len(keys)).cpu()  # (W, K)
    out = dict(metrics)
    for j, k in enumerate(keys):
        out[k] = combine(k, everyone[:, j].tolist())
    return out


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "false").lower() in ("1", "true", "yes")


def make_accelerator(max_grad_norm: float | None = None) -> Any:
    """The run's ``Accelerator`` (see the module docstring for what happens without CUDA).

    ``max_grad_norm``: under DeepSpeed the engine clips inside its own step, so the recipe's
    ``optim.max_grad_norm`` is handed to it (``ACCELERATE_GRADIENT_CLIPPING``) instead of clipping after."""
    from accelerate import Accelerator

    if max_grad_norm is not None and _env_flag("ACCELERATE_USE_DEEPSPEED"):
        os.environ["ACCELERATE_GRADIENT_CLIPPING"] = str(max_grad_norm)
    if _env_flag("ACCELERATE_USE_FSDP"):
        # Every process loads the whole model (models.load_model). accelerate's "CPU-RAM efficient" path
        # instead moves the wrapped policy to the meta device and re-ties only what has tie_weights(),
        # which unties lm_head from embed_tokens inside PolicyLogprobs (two weights, trained apart).
        os.environ["FSDP_CPU_RAM_EFFICIENT_LOADING"] = "false"
    if torch.cuda.is_available():
        return Accelerator()
    if _env_flag("ACCELERATE_USE_DEEPSPEED"):
        raise UserError(
            "DeepSpeed ZeRO needs CUDA GPUs and this machine has none; launch with "
            "recipes/accelerate/ddp.yaml or recipes/accelerate/fsdp2.yaml instead"
        )
    accelerator = Accelerator(cpu=True)
    if _env_flag("ACCELERATE_USE_FSDP"):
        _enable_cpu_fsdp2(accelerator)
    return accelerator


def _enable_cpu_fsdp2(accelerator: Accelerator) -> None:
    """Turn a ``MULTI_CPU`` state into FSDP2 over gloo (accelerate leaves FSDP to accelerators)."""
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    plugin = FullyShardedDataParallelPlugin()  # reads the FSDP_* variables that `accelerate launch` sets
    if plugin.fsdp_version != 2:
        raise UserError(
            f"on a machine without CUDA only FSDP2 runs, and the launch config asks for FSDP{plugin.fsdp_version}; "
            "set fsdp_version: 2 (recipes/accelerate/fsdp2.yaml)"
        )
    if accelerator.mixed_precision != "no":
        plugin.set_mixed_precision(accelerator.mixed_precision)
    state = accelerator.state
    state.distributed_type = DistributedType.FSDP
    state.fsdp_plugin = plugin
    # every later AcceleratorState() copies PartialState's fields over its own, as accelerate itself does
    # after choosing FSDP on an accelerator: keep the two in step
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP


@contextlib.contextmanager
def micro_batch(accelerator: Accelerator, last: bool) -> Iterator[None]:
    """Wrap each micro-batch's ``accelerator.backward``: ``last`` = the final one before the optimizer step.

    Through accelerate, DeepSpeed's engine runs its optimizer step inside ``backward`` whenever accelerate's
    ``sync_gradients`` is set, i.e. after every micro-batch unless told otherwise. Inside this context it
    is set to ``last``, so the engine accumulates gradients over the micro-batches and steps once. Other
    backends ignore the flag in ``backward`` (DDP and FSDP2 reduce every micro-batch's gradients; the sum
    is the same)."""
    state = accelerator.gradient_state
    before = state.sync_gradients
    state._set_sync_gradients(last)
    try:
        yield
    finally:
        state._set_sync_gradients(before)


def after_prepare(accelerator: Accelerator, policy: Any) -> None:
    """Backend fix-ups once the policy is prepared. ZeRO-3: ``PolicyLogprobs`` reads the output head's
    weight directly (chunked logprobs) rather than calling the head, so DeepSpeed must be told to gather
    that weight for the policy's forward (``register_external_parameter``)."""
    if backend(accelerator) != "deepspeed" or accelerator.state.deepspeed_plugin.zero_stage != 3:
        return
    import deepspeed

    module = accelerator.unwrap_model(policy)  # the PolicyLogprobs inside the engine
    head = module.model.get_output_embeddings()
    deepspeed.zero.register_external_parameter(module, head.weight)
    if getattr(head, "bias", None) is not None:
        deepspeed.zero.register_external_parameter(module, head.bias)


def backend(accelerator: Accelerator) -> str:
    """``single`` | ``ddp`` | ``fsdp2`` | ``fsdp1`` | ``deepspeed``: how the policy is trained."""
    from accelerate.utils import DistributedType

    kind = accelerator.distributed_type
    if kind == DistributedType.DEEPSPEED:
        return "deepspeed"
    if kind == DistributedType.FSDP:
        return "fsdp2" if accelerator.is_fsdp2 else "fsdp1"
    return "ddp" if accelerator.num_processes > 1 else "single"
