"""``r1train plan RECIPE --gpus N --gpu-mem G``: will this recipe fit, and where does the memory go?

The estimate, per GPU, in bytes (P = parameters, T = trainable parameters, N = GPUs that share the
training state, b = bytes per weight of the training dtype, 2 for bf16 and 4 for float32):

* policy weights ``b*P``, divided by N under ZeRO-3 / FSDP full-shard;
* gradients ``b*T`` (ZeRO-2, ZeRO-3 and FSDP: divided by N);
* optimizer: AdamW keeps two float32 moments, plus a float32 master copy when training in bf16:
  ``8*T`` (+ ``4*T``), divided by N under any ZeRO stage or FSDP (``ddp`` shards nothing);
* reference model ``b*P`` when ``algorithm.kl_beta > 0`` and no LoRA (with LoRA the reference is the base
  with adapters disabled: free), sharded like the policy;
* activations for one micro-batch: ``micro_batch_size * seq_len * hidden * layers * 2 * b`` with gradient
  checkpointing (one saved hidden state per layer, twice for safety), ``x 17`` without (the usual
  attention+MLP intermediate count of a transformer layer, Korthikanti et al. 2022, flash attention);
  plus the logprob chunk ``chunk_tokens * vocab * 4 * 2`` (logits and their softmax, float32);
* colocated vLLM: its weight copy ``b*P / tp`` and KV cache ``2 * layers * kv_heads * head_dim * b`` per
  token for ``prompts_per_step * num_generations / N`` sequences of ``seq_len`` tokens, divided by tp;
* 10% of the device and 1.5 GiB of CUDA context left free.

It is an estimate for planning (within ~15% of what PyTorch reports at the peak in the cases we have
checked), not a guarantee.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from r1train.config import Config
from r1train.errors import UserError
from r1train.models.architectures import ArchShape, shape_of
from r1train.recipe import load_recipe

GIB = 2**30
STRATEGIES = ("ddp", "zero2", "zero3", "fsdp")


@dataclass(frozen=True)
class PlanInput:
    shape: ArchShape
    gpus: int
    gpu_mem_gib: float
    strategy: str  # ddp | zero2 | zero3 | fsdp
    bf16: bool
    lora_fraction: float  # trainable share of parameters (1.0 = full fine-tuning)
    reference: bool
    micro_batch_size: int
    seq_len: int
    grad_checkpointing: bool
    sequences_per_gpu: int  # rollouts each colocated engine holds at once
    tp: int = 1
    colocated_vllm: bool = True
    chunk_tokens: int = 1024


def estimate(p: PlanInput) -> dict[str, float]:
    """Bytes per GPU for each part (pure; the formula in the module docstring)."""
    P = p.shape.params
    T = P * p.lora_fraction
    b = 2 if p.bf16 else 4
    n = p.gpus
    shard_weights = n if p.strategy in ("zero3", "fsdp") else 1
    shard_grads = n if p.strategy in ("zero2", "zero3", "fsdp") else 1
    shard_optim = 1 if p.strategy == "ddp" else n
    master = 4 * T if p.bf16 else 0
    layer_factor = 2 if p.grad_checkpointing else 17
    tokens = p.micro_batch_size * p.seq_len
    kv_per_token = 2 * p.shape.layers * p.shape.kv_heads * p.shape.head_dim * b
    parts = {
        "policy weights": b * P / shard_weights,
        "gradients": b * T / shard_grads,
        "optimizer": (8 * T + master) / shard_optim,
        "reference model": (b * P / shard_weights) if p.reference and p.lora_fraction >= 1.0 else 0.0,
        "activations": tokens * p.shape.hidden * p.shape.layers * layer_factor * b
        + p.chunk_tokens * p.shape.vocab * 4 * 2,
        "vllm weights": (b * P / p.tp) if p.colocated_vllm else 0.0,
        "vllm kv cache": (kv_per_token * p.sequences_per_gpu * p.seq_len / p.tp) if p.colocated_vllm else 0.0,
    }
    parts["total"] = sum(parts.values())
    parts["available"] = p.gpu_mem_gib * GIB * 0.9 - 1.5 * GIB
    return parts


def plan_input(cfg: Config, gpus: int, gpu_mem_gib: float, strategy: str) -> PlanInput:
    shape = shape_of(cfg.model.name_or_path)
    lora = cfg.model.lora
    if lora is not None:  # LoRA on every linear layer: r*(in+out) per matrix
        h, i, kv = shape.hidden, shape.intermediate, shape.kv_heads * shape.head_dim
        per_layer = lora.r * ((h + h) * 2 + (h + kv) * 2 + (h + i) * 2 + (i + h))
        fraction = min(1.0, shape.layers * per_layer / shape.params)
    else:
        fraction = 1.0
    r = cfg.rollout
    return PlanInput(
        shape=shape,
        gpus=gpus,
        gpu_mem_gib=gpu_mem_gib,
        strategy=strategy,
        bf16=cfg.model.dtype in ("auto", "bfloat16", "float16"),
        lora_fraction=fraction,
        reference=cfg.algorithm.kl_beta > 0,
        micro_batch_size=cfg.train.micro_batch_size,
        seq_len=cfg.data.max_prompt_tokens + r.max_new_tokens,
        grad_checkpointing=cfg.model.gradient_checkpointing,
        sequences_per_gpu=max(1, r.prompts_per_step * r.num_generations // gpus),
        tp=getattr(r, "tensor_parallel_size", 1),
        colocated_vllm=r.engine == "vllm",
    )


def render(parts: dict[str, float], p: PlanInput) -> str:
    lines = [f"{p.shape.params / 1e9:.2f}B parameters, {p.gpus} GPU(s) x {p.gpu_mem_gib:g} GiB, {p.strategy}"]
    for key, value in parts.items():
        if key in ("total", "available"):
            continue
        lines.append(f"  {key:<16} {value / GIB:8.2f} GiB")
    lines.append(f"  {'total':<16} {parts['total'] / GIB:8.2f} GiB of {parts['available'] / GIB:.2f} GiB usable")
    fits = parts["total"] <= parts["available"]
    advice = "" if fits else " (try zero3/fsdp, more GPUs, LoRA, gradient checkpointing or a smaller micro-batch)"
    lines.append(("fits" if fits else "does NOT fit") + advice)
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="r1train plan", description="Estimate GPU memory per device for a recipe.")
    ap.add_argument("recipe")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--gpus", type=int, default=1)
    ap.add_argument("--gpu-mem", type=float, default=80.0, help="GiB per GPU")
    ap.add_argument("--strategy", choices=STRATEGIES, default="zero3")
    ns = ap.parse_args(argv)
    if ns.gpus < 1 or ns.gpu_mem <= 0:
        raise UserError("--gpus must be at least 1 and --gpu-mem positive")
    cfg = load_recipe(ns.recipe, ns.overrides)
    p = plan_input(cfg, ns.gpus, ns.gpu_mem, ns.strategy)
    parts = estimate(p)
    print(render(parts, p))
    return 0 if parts["total"] <= parts["available"] else 1
