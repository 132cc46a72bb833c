"""Weights to send from the trainer to a rollout engine after an optimizer step, one tensor at a time.

``policy_weights(model)`` yields ``(hf_name, tensor)`` pairs with the names a freshly loaded checkpoint of
the base model would have, so an engine started from that checkpoint can load them as they come:

- a plain causal LM: every parameter and persistent buffer (tied weights once, like ``named_parameters``);
- a LoRA-wrapped (peft) model: each LoRA layer is merged into its base weight just before that weight is
  yielded and unmerged right after, so the engine receives ``W + scale * B @ A`` under the base name and
  never sees an adapter. Merging uses peft's own ``merge(safe_merge=True)``, which computes the merged
  weight on a fresh tensor; unmerging puts the original tensor object back instead of subtracting the
  delta, so the trainer's weights come back bit-identical (no bf16 round-off drift, step after step);
- QLoRA (bitsandbytes 4/8-bit base): the base weight is dequantised and the adapter delta added, so the
  engine, which loaded the dense checkpoint, gets dense weights;
- FSDP2 ``DTensor`` shards are gathered (``full_tensor()``) and DeepSpeed ZeRO-3 parameters are gathered
  one module at a time (``GatheredParameters``); both are collectives, so every rank must iterate.

Memory stays bounded: at most one module's merged or gathered weights exist besides the model itself,
so a large model is never copied whole on one device. Consume the iterator lazily (pass it straight to
``engine.load_weights``); collecting it into a list would defeat that for LoRA models.

``sync_weights(engine, model, step=..., every=...)`` is the trainer's one call after an optimizer step:
it pushes the weights when ``step`` is a multiple of ``every`` and returns the seconds spent (``time/sync``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

_PEFT_PREFIX = "base_model.model."


def policy_weights(model: Any) -> Iterator[tuple[str, torch.Tensor]]:
    """``(hf_name, tensor)`` for every weight of the (unwrapped) causal LM, LoRA merged, detached."""
    from r1train.models.logprobs import unwrap

    root: nn.Module = unwrap(model)
    seen: set[int] = set()
    skip_prefixes: list[str] = []
    for mod_name, module in root.named_modules():
        if any(mod_name.startswith(p) for p in skip_prefixes):
            continue
        if _is_lora_layer(module):
            skip_prefixes += [f"{mod_name}.{child}." for child, _ in module.named_children()] + [f"{mod_name}."]
            yield from _merged_lora_weights(mod_name, module, seen)
            continue
        if _is_modules_to_save(module):  # peft's trainable copy of a whole module (e.g. lm_head)
            skip_prefixes.append(f"{mod_name}.")
            active = module.modules_to_save[module.active_adapter] if module.modules_to_save else module.original_module
            for sub_name, sub in active.named_modules():
                yield from _direct_weights(_join(mod_name, sub_name), sub, seen)
            continue
        yield from _direct_weights(mod_name, module, seen)


def sync_weights(engine: Any, model: Any, *, step: int, every: int = 1, force: bool = False) -> float:
    """Push the policy's weights to ``engine`` after optimizer step ``step`` (1-based) when it is due.

    Due when ``step % every == 0`` (or ``force``). Returns the seconds spent, 0.0 when not due: log it as
    ``time/sync``. Every training rank must call this (gathers of sharded weights are collectives).
    """
    if not force and step % max(1, every) != 0:
        return 0.0
    start = time.perf_counter()
    engine.load_weights(policy_weights(model))
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------------


def _direct_weights(mod_name: str, module: nn.Module, seen: set[int]) -> Iterator[tuple[str, torch.Tensor]]:
    """The module's own parameters and persistent buffers (not its children's), gathered if sharded."""
    params = [(n, p) for n, p in module.named_parameters(recurse=False) if id(p) not in seen]
    buffers = [
        (n, b)
        for n, b in module.named_buffers(recurse=False)
        if b is not None and n not in module._non_persistent_buffers_set and id(b) not in seen
    ]
    if not params and not buffers:
        return
    with _gathered([p for _, p in params]):
        for n, t in params + buffers:
            seen.add(id(t))
            yield _hf_name(_join(mod_name, n)), _full(t).detach()


def _merged_lora_weights(mod_name: str, layer: nn.Module, seen: set[int]) -> Iterator[tuple[str, torch.Tensor]]:
    """The LoRA layer's base weight (and bias) with its active adapters merged in, then unmerged exactly."""
    base = layer.get_base_layer()
    own = [(n, p) for n, p in base.named_parameters(recurse=False)]
    if _is_quantized(base.weight):  # QLoRA: the engine holds dense weights; send dequantised W + delta
        yield from _dequantized_lora_weights(mod_name, layer, base, seen)
        return
    with _gathered([p for _, p in own] + list(layer.parameters())), _merged(layer, base):
        for n, p in base.named_parameters(recurse=False):
            seen.add(id(p))
            yield _hf_name(_join(mod_name, n)), _full(p).detach()
    for _, p in own:
        seen.add(id(p))


def _dequantized_lora_weights(mod_name: str, layer: Any, base: nn.Module, seen: set[int]) -> Iterator[tuple[str, torch.Tensor]]:
    """bitsandbytes 4/8-bit base layer: dequantise (peft's helper), add each active adapter's delta."""
    from peft.utils.integrations import dequantize_bnb_weight

    weight = dequantize_bnb_weight(base.weight, state=getattr(base, "state", None))  # (out, in) dense
    for adapter in layer.active_adapters:
        if adapter in layer.lora_A and not getattr(layer, "disable_adapters", False):
            weight = weight + layer.get_delta_weight(adapter).to(weight.dtype)
    seen.add(id(base.weight))
    yield _hf_name(f"{mod_name}.weight"), weight
    if getattr(base, "bias", None) is not None:
        seen.add(id(base.bias))
        yield _hf_name(f"{mod_name}.bias"), base.bias.detach()


def _is_quantized(weight: torch.Tensor) -> bool:
    """A bitsandbytes-quantised weight (Params4bit carries a quant_state, Int8Params its SCB scales)."""
    return getattr(weight, "quant_state", None) is not None or getattr(weight, "SCB", None) is not None


@contextlib.contextmanager
def _merged(layer: Any, base: nn.Module) -> Iterator[None]:
    """Merge ``layer``'s active adapters into ``base`` on fresh tensors; put the originals back after."""
    if getattr(layer, "disable_adapters", False) or getattr(layer, "merged", False):
        yield
        return
    originals = {n: p.data for n, p in base.named_parameters(recurse=False)}
    layer.merge(safe_merge=True)
    try:
        yield
    finally:
        for n, p in base.named_parameters(recurse=False):
            p.data = originals[n]
        layer.merged_adapters.clear()


@contextlib.contextmanager
def _gathered(params: list[torch.Tensor]) -> Iterator[None]:
    """DeepSpeed ZeRO-3: materialise these parameters on every rank for the duration (a collective)."""
    if not any(hasattr(p, "ds_id") for p in params):
        yield
        return
    import deepspeed  # only present when ZeRO-3 sharded the model

    with deepspeed.zero.GatheredParameters(params, modifier_rank=None):
        yield


def _full(t: torch.Tensor) -> torch.Tensor:
    """FSDP2 DTensor shard -> the full tensor (an all-gather); plain tensors unchanged.

    A ZeRO-3 parameter (inside ``_gathered``) is copied: DeepSpeed frees or reuses the gathered storage
    when the module is partitioned again, and an engine may still hold the tensor then."""
    full = getattr(t, "full_tensor", None)
    if callable(full):
        return full()
    return t.detach().clone() if hasattr(t, "ds_id") else t


def _hf_name(name: str) -> str:
    """peft's ``base_model.model.x.q_proj.base_layer.weight`` -> the checkpoint's ``x.q_proj.weight``."""
    if name.startswith(_PEFT_PREFIX):
        name = name[len(_PEFT_PREFIX) :]
    return name.replace(".base_layer.", ".")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix and name else prefix or name


def _is_lora_layer(module: nn.Module) -> bool:
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:
        return False
    return isinstance(module, LoraLayer)


def _is_modules_to_save(module: nn.Module) -> bool:
    try:
        from peft.utils import ModulesToSaveWrapper
    except ImportError:
        return False
    return isinstance(module, ModulesToSaveWrapper)
