"""``r1train plan RECIPE [--gpus N] [--gpu-mem G] [--strategy S | --accelerate-config FILE] [--cpu]
[--command train|sft|sample]``: will this recipe fit, and where does the memory go?

The plan models what runs, per device, in the two phases of a step that do not overlap: generation
(the rollout engine) and training (forward/backward and the optimizer step). In bytes, with P parameters,
T trainable ones (P, or the LoRA adapters' count), N processes sharing the training state, b bytes per
weight (2 for bf16, 4 for float32):

* **resident** while both phases run: the policy weights ``b*P`` (/N under ZeRO-3; under ZeRO-3 the
  output head is also kept gathered, ``b*vocab*hidden``, for chunked logprobs), gradients and AdamW's two
  moments: under DDP (and one process) in the parameters' dtype, ``b*T`` and ``2*b*T`` (torch's AdamW keeps
  its state like the parameter); under FSDP2 with accelerate's mixed precision the trainable parameters
  are upcast to float32 and sharded, ``(4*T + 4*T + 8*T)/N``; under DeepSpeed ZeRO-2/3 float32 master
  weights and moments, ``12*T/N``, and gradients ``b*T/N``. LoRA adapters are float32 (peft upcasts them).
  Gradients stay allocated in DDP's buckets and DeepSpeed's partitions; FSDP frees them between steps.
  The KL reference is ``b*P`` when ``kl_beta > 0`` (sharded like the policy; with LoRA the reference is
  the base with its adapters off: free);
* **training** adds the larger of the backward pass and the optimizer step. Backward: the activations of
  one micro-batch of ``t`` tokens (``micro_batch_size`` sequences, at most this process's, of prompt +
  completion at the recipe's limits, cut to ``train.micro_batch_tokens`` when set): per token and layer
  ``b*(12*hidden + 3*kv + 4*intermediate)`` (what autograd saves in a Qwen2 layer: the float32 inputs of the
  two RMSNorms, q/k/v and the attention output with flash attention, the gated MLP's three
  intermediate-size tensors); with gradient checkpointing only ``b*hidden`` per layer is kept plus one
  layer recomputed in full; plus one logprob chunk (up to ``2**25`` logits, float32, three tensors: logits,
  log-softmax and its gradient); plus, in full fine-tuning, two output-head-sized gradients before they
  are summed (a chunk's and the embedding's); under ZeRO-3/FSDP two layers' parameters gathered at a time.
  Optimizer step: torch's AdamW makes a temporary per parameter, all at once with CUDA's for-each path
  (half the moments' size) and one at a time on CPU (twice the largest matrix); DeepSpeed's Adam none;
* **generation**, colocated vLLM on CUDA: vLLM takes ``gpu_memory_utilization`` of the device's memory and
  fills it: its weights ``b*P/tp``, its activation and sampler buffers (profiled over 8192 tokens and 256
  sequences, plus CUDA graphs), and the KV cache in the rest. The KV cache is what vLLM allocates, not
  the batch at full length; the plan says how many of this process's sequences it holds at full length
  at once (vLLM schedules the others as earlier ones finish: slower, not out of memory). With sleep
  mode (``rollout.sleep_mode``, CUDA) vLLM releases its weights and KV cache while the trainer runs, so
  the peak is ``max(resident + training, resident + vLLM)``; without it, ``resident + training + vLLM``.
  The ``hf`` engine generates with the training model: its KV cache is every sequence at full length.
  ``vllm-server`` generates elsewhere (nothing here).
* ``r1train sample`` (``--command sample``, the default for a recipe with a ``sample:`` section) trains
  nothing: the policy is loaded in host memory (part of a CPU process's RSS, none of a GPU's), and the
  peak is the generation phase alone, for ``sample.prompts_per_call x rollout.num_generations``
  sequences per generate call.
* ``--cpu``: one CPU process, as on a laptop (float32; the memory is the process's RSS): the same parts,
  vLLM's CPU KV cache being ``rollout.kv_cache_gb``, plus the process's baseline (Python, torch,
  transformers, vLLM and their buffers; measured, :data:`CPU_BASELINE_GIB`).

On CUDA, 1.5 GiB per device is left for the CUDA context and NCCL, and the training side's parts get 10%
for the caching allocator's fragmentation. ``r1train bench plan`` compares the ``--cpu`` plan with the
peak RSS of real runs. It is an estimate for planning, not a guarantee.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

from r1train.config import Config
from r1train.errors import UserError
from r1train.models.architectures import ArchShape, lora_parameters, shape_of
from r1train.recipe import Launch, load_recipe, read_yaml, resolve

GIB = 2**30
STRATEGIES = ("ddp", "zero2", "zero3", "fsdp")
CHUNK_LOGITS = 2**25  # r1train/models/logprobs.py: logits one head chunk holds
VLLM_PROFILE_TOKENS, VLLM_PROFILE_SEQS = 8192, 256  # vLLM's default batch limits, what its profiling run uses
CUDA_GRAPHS_GIB = 0.5  # vLLM's captured graphs (none with enforce_eager or on CPU)
CUDA_CONTEXT_GIB = 1.5  # per device: CUDA context, NCCL buffers
FRAGMENTATION = 1.10  # the caching allocator's slack on the training side (CUDA)
# RSS of a CPU training process besides the parts modelled here: Python, torch, transformers, accelerate,
# datasets and (vllm engine) vLLM's CPU engine. Measured on 2026-12-01 (2 cores, load 16-25) with
# `r1train bench plan --shape tiny:1m` (1M parameters: all but ~0.07 GiB of its RSS is this): peak RSS
# 0.59 GiB with the hf engine, 1.86 GiB with vllm and a 1 GiB KV cache (3.87 GiB with 3 GiB: the KV
# cache is resident, GiB for GiB)
CPU_BASELINE_GIB = {"hf": 0.52, "vllm": 0.79, "vllm-server": 0.52}


@dataclass(frozen=True)
class PlanInput:
    shape: ArchShape
    gpus: int  # processes sharing the training state
    gpu_mem_gib: float  # per device (with cpu: the machine's memory)
    strategy: str  # ddp | zero2 | zero3 | fsdp
    bf16: bool
    trainable: int  # trainable parameters: shape.params, or the LoRA adapters'
    reference: bool  # a frozen reference copy (kl_beta > 0 without LoRA)
    micro_batch_tokens: int  # padded tokens of the largest micro-batch
    seq_len: int  # prompt + completion at the recipe's limits
    grad_checkpointing: bool
    sequences_per_gpu: int  # rollouts each process generates per call
    engine: str = "vllm"  # vllm | vllm-server | hf
    gpu_memory_utilization: float = 0.3
    sleep_mode: bool = True
    tp: int = 1
    cuda_graphs: bool = True
    cpu: bool = False  # plan one CPU process's RSS instead of a GPU
    cpu_kv_cache_gib: float = 1.0
    generate_only: bool = False  # r1train sample: the engine alone (the policy stays in host memory)

    @property
    def lora(self) -> bool:
        return self.trainable < self.shape.params


def estimate(p: PlanInput) -> dict[str, float]:
    """Bytes per device for each part, the phases' totals, the peak and what is usable (pure; the
    formulas are in the module docstring). With vLLM also ``kv tokens`` (its KV cache's capacity),
    ``kv batch share`` (the share of this process's sequences it holds at full length) and ``kv short``."""
    s, P, T = p.shape, p.shape.params, p.trainable
    b = 4 if p.cpu or not p.bf16 else 2
    n = p.gpus
    shard_w = n if p.strategy in ("zero3", "fsdp") else 1
    kv_dim = s.kv_heads * s.head_dim
    embedding = s.vocab * s.hidden * (1 if s.tied else 2)
    # bytes per trainable parameter of the optimizer's state, its master weights and the gradients:
    # DDP (and one process): torch's AdamW keeps its moments in the parameters' dtype; LoRA adapters are
    # float32 (peft upcasts them); FSDP2 under accelerate's mixed precision upcasts the trainable
    # parameters to float32 (sharded); DeepSpeed keeps float32 master weights and moments (partitioned).
    g = 4 if p.lora else b
    if p.strategy == "ddp":
        weights, master, grads, moments = b * P, 0.0, g * T, 2 * g * T
    elif p.strategy == "fsdp":
        up = 4 if p.bf16 and not p.cpu else b
        weights, master, grads, moments = (up * T + b * (P - T)) / n, 0.0, up * T / n, 2 * up * T / n
    else:  # zero2 | zero3
        weights = b * P / shard_w
        master, grads, moments = (4 * T / n if b == 2 else 0.0), g * T / n, 8 * T / n
    resident: dict[str, float] = {
        "policy weights": weights,
        "output head": b * s.vocab * s.hidden if p.strategy == "zero3" and n > 1 else 0.0,  # kept gathered
        "master weights": master,
        "optimizer": moments,
        "gradients": grads,
        "reference model": b * P / shard_w if p.reference and not p.lora else 0.0,
    }
    training: dict[str, float] = {}
    if p.strategy == "fsdp":  # FSDP frees the gradients between steps: they exist only while training
        training["gradients"] = resident.pop("gradients")
    t = p.micro_batch_tokens
    layer_full = b * (12 * s.hidden + 3 * kv_dim + 4 * s.intermediate)  # bytes per token in one layer
    saved = t * s.layers * b * s.hidden + t * layer_full if p.grad_checkpointing else t * s.layers * layer_full
    chunk = min(t, max(16, CHUNK_LOGITS // s.vocab))  # tokens per head chunk (models/logprobs.py: chunk_size)
    backward = saved + chunk * s.vocab * 4 * 3
    if not p.lora:  # each chunk's head-weight gradient, and the embedding's, is a whole matrix before it is added
        backward += 2 * g * s.vocab * s.hidden / shard_w
    backward += 2 * b * (P - embedding) / s.layers if shard_w > 1 else 0.0  # two layers gathered at a time
    # the optimizer step, after backward has freed the activations: torch's AdamW makes one temporary per
    # parameter (for-each on CUDA: all of them at once; on CPU one at a time); DeepSpeed's Adam works in place
    if p.strategy in ("zero2", "zero3"):
        step = 0.0
    elif p.cpu:
        step = 2 * 4 * max(s.vocab * s.hidden, s.hidden * s.intermediate) if not p.lora else 0.0
    else:
        step = resident["optimizer"] / 2
    training["activations" if step <= backward else "optimizer step"] = max(backward, step)
    if p.generate_only:  # r1train sample loads the policy on the host (counted in a CPU process's RSS) and trains nothing
        resident, training = {"policy weights": b * P if p.cpu else 0.0}, {}
    kv_per_token = 2 * s.layers * kv_dim * b / p.tp
    need = p.sequences_per_gpu * p.seq_len * kv_per_token  # every sequence at full length
    generation: dict[str, float] = {}
    extra: dict[str, float] = {}
    if p.engine == "vllm":
        weights = b * P / p.tp
        if p.cpu:  # no profiling run with an explicit KV size: buffers for the batch it is given
            tokens, seqs = min(VLLM_PROFILE_TOKENS, p.sequences_per_gpu * p.seq_len), min(VLLM_PROFILE_SEQS, p.sequences_per_gpu)
        else:
            tokens, seqs = VLLM_PROFILE_TOKENS, VLLM_PROFILE_SEQS
        buffers = tokens * b * (4 * s.hidden + 2 * s.intermediate) + seqs * s.vocab * 4 * 2
        if p.cpu:
            kv = p.cpu_kv_cache_gib * GIB
        else:
            buffers += CUDA_GRAPHS_GIB * GIB if p.cuda_graphs else 0.0
            kv = p.gpu_memory_utilization * p.gpu_mem_gib * GIB - weights - buffers  # vLLM fills its share
        generation = {"vllm weights": weights, "vllm buffers": buffers, "vllm kv cache": max(kv, 0.0)}
        extra = {"kv tokens": max(kv, 0.0) / kv_per_token, "kv batch share": min(1.0, max(kv, 0.0) / need),
                 "kv short": float(kv <= 0)}
    elif p.engine == "hf":  # generate() with the policy: a cache for every sequence, logits of the last token
        generation = {"hf kv cache": need, "hf logits": p.sequences_per_gpu * s.vocab * 4 * 2}
    slack = 1.0 if p.cpu else FRAGMENTATION
    stay = sum(resident.values())
    train_total = (stay + sum(training.values())) * slack
    gen_total = stay * slack + sum(generation.values())
    asleep = p.engine == "vllm" and p.sleep_mode and not p.cpu  # sleep mode exists on CUDA only
    asleep = asleep or p.generate_only  # nothing trains: the generation phase is the peak
    if p.engine == "vllm" and not asleep:  # the engine keeps its memory while the trainer runs
        peak = train_total + sum(generation.values())
    else:
        peak = max(train_total, gen_total)
    baseline = CPU_BASELINE_GIB.get(p.engine, 1.0) * GIB if p.cpu else 0.0
    usable = p.gpu_mem_gib * GIB - (0 if p.cpu else CUDA_CONTEXT_GIB * GIB)
    return {**resident, **training, **generation, "process baseline": baseline, "training phase": train_total,
            "generation phase": gen_total, "peak": peak + baseline, "available": usable, **extra}


def hardware_from_accelerate(path: str) -> tuple[int, str]:
    """(processes, strategy) of an accelerate launch config (``num_processes``; DeepSpeed's ZeRO stage, FSDP
    or plain data parallelism)."""
    data = read_yaml(path)
    n = int(data.get("num_processes", 1) or 1)
    kind = str(data.get("distributed_type", "")).upper()
    if kind == "DEEPSPEED":
        stage = int((data.get("deepspeed_config") or {}).get("zero_stage", 2))
        return n, "zero3" if stage == 3 else "zero2"
    return n, "fsdp" if kind == "FSDP" else "ddp"


def launch_for(gpus: int, strategy: str, cuda: bool = True) -> Launch:
    backend = {"ddp": "ddp", "fsdp": "fsdp", "zero2": "deepspeed", "zero3": "deepspeed"}[strategy]
    return Launch(processes=gpus, cuda=cuda, backend=backend, zero_stage={"zero2": 2, "zero3": 3}.get(strategy, 0))


def plan_input(cfg: Config, gpus: int, gpu_mem_gib: float, strategy: str, cpu: bool = False,
               command: str = "train") -> PlanInput:
    """The plan's inputs for ``cfg`` (already resolved for the launch) on this hardware; ``command`` is
    ``train``/``sft`` (a training run) or ``sample`` (generation only, ``sample.prompts_per_call`` prompts
    of ``rollout.num_generations`` samples per generate call)."""
    shape = shape_of(cfg.model.name_or_path)
    lora = cfg.model.lora
    trainable = min(shape.params, lora_parameters(shape, lora.r)) if lora is not None else shape.params
    r, t = cfg.rollout, cfg.train
    seq_len = cfg.data.max_prompt_tokens + r.max_new_tokens
    prompts = cfg.sample.prompts_per_call if command == "sample" else r.prompts_per_step
    sequences = max(1, prompts * r.num_generations // gpus)
    tokens = min(t.micro_batch_size, sequences) * seq_len  # a micro-batch holds this process's sequences at most
    if t.micro_batch_tokens:  # the cap, but a micro-batch holds at least one sequence
        tokens = min(tokens, max(t.micro_batch_tokens, seq_len))
    return PlanInput(
        shape=shape, gpus=gpus, gpu_mem_gib=gpu_mem_gib, strategy=strategy,
        bf16=cfg.model.dtype in ("auto", "bfloat16", "float16") and not cpu,
        trainable=trainable, reference=cfg.algorithm.kl_beta > 0, micro_batch_tokens=tokens, seq_len=seq_len,
        grad_checkpointing=cfg.model.gradient_checkpointing,
        sequences_per_gpu=sequences,
        engine=r.engine, gpu_memory_utilization=r.gpu_memory_utilization, sleep_mode=r.sleep_mode,
        tp=r.tensor_parallel_size, cuda_graphs=not r.enforce_eager, cpu=cpu, cpu_kv_cache_gib=float(r.kv_cache_gb),
        generate_only=command == "sample",
    )


def fits(parts: dict[str, float]) -> bool:
    return parts["peak"] <= parts["available"] and not parts.get("kv short")


SUMMARY_KEYS = ("training phase", "generation phase", "peak", "available", "kv tokens", "kv batch share", "kv short")


def render(parts: dict[str, float], p: PlanInput) -> str:
    where = "1 CPU process" if p.cpu else f"{p.gpus} GPU(s) x {p.gpu_mem_gib:g} GiB, {p.strategy}"
    tuned = f", LoRA ({p.trainable / 1e6:.1f}M trainable)" if p.lora else ""
    lines = [f"{p.shape.params / 1e9:.3f}B parameters, {where}{tuned}, engine {p.engine}"
             + (", r1train sample (generation only)" if p.generate_only else "")]
    for key, value in parts.items():
        if key not in SUMMARY_KEYS and value:
            lines.append(f"  {key:<18} {value / GIB:8.2f} GiB")
    lines.append(f"  {'training phase':<18} {parts['training phase'] / GIB:8.2f} GiB")
    lines.append(f"  {'generation phase':<18} {parts['generation phase'] / GIB:8.2f} GiB")
    how = "generation only: nothing trains" if p.generate_only \
        else "the larger phase: vLLM sleeps while the trainer runs" if p.engine == "vllm" and p.sleep_mode and not p.cpu \
        else ("both phases at once: vLLM keeps its memory" if p.engine == "vllm" else "the larger phase")
    lines.append(f"  {'peak':<18} {parts['peak'] / GIB:8.2f} GiB of {parts['available'] / GIB:.2f} GiB usable ({how})")
    if "kv tokens" in parts:
        share = parts["kv batch share"]
        lines.append(f"  vLLM KV cache: {parts['kv tokens']:,.0f} tokens, {share:.0%} of this process's "
                     f"{p.sequences_per_gpu} sequences at full length ({p.seq_len} tokens) at once"
                     + ("" if share >= 1 else "; vLLM runs the rest as earlier ones finish"))
    if parts.get("kv short"):
        lines.append("does NOT fit: vLLM's share leaves no room for a KV cache; raise rollout.gpu_memory_utilization")
    elif fits(parts):
        lines.append("fits")
    else:
        lines.append("does NOT fit (try zero3/fsdp, more GPUs, LoRA, gradient checkpointing, a smaller "
                     "micro-batch, or a smaller rollout.gpu_memory_utilization)")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="r1train plan", description="Estimate memory per device for a recipe.")
    ap.add_argument("recipe")
    ap.add_argument("overrides", nargs="*", help="section.key=value, anywhere on the line")
    ap.add_argument("--gpus", type=int, default=None, help="processes (default: the accelerate config's, else 1)")
    ap.add_argument("--gpu-mem", type=float, default=80.0, help="GiB per GPU (with --cpu: the machine's memory)")
    ap.add_argument("--strategy", choices=STRATEGIES, default=None, help="default: the accelerate config's, else ddp")
    ap.add_argument("--accelerate-config", help="an accelerate launch config: its process count and strategy")
    ap.add_argument("--cpu", action="store_true", help="plan one CPU process (its RSS), as on a laptop")
    ap.add_argument("--command", choices=("train", "sft", "sample"), default=None,
                    help="what the recipe is run with (default: sample when it has a sample: section, else train)")
    ns = ap.parse_intermixed_args(argv)
    gpus, strategy = (hardware_from_accelerate(ns.accelerate_config) if ns.accelerate_config else (1, "ddp"))
    gpus = ns.gpus if ns.gpus is not None else gpus
    strategy = ns.strategy or strategy
    if ns.cpu:
        gpus, strategy = 1, "ddp"
    if gpus < 1 or ns.gpu_mem <= 0:
        raise UserError("--gpus must be at least 1 and --gpu-mem positive")
    cfg = load_recipe(ns.recipe, ns.overrides)
    try:
        cfg = resolve(cfg, launch_for(gpus, strategy, cuda=not ns.cpu), where=ns.recipe)
    except UserError as err:  # e.g. LoRA under ZeRO-3: `r1train train` would refuse this launch
        print(f"r1train plan: WARNING: r1train train refuses this launch: {err}")
        cfg, refused = replace(cfg, train=replace(cfg.train, micro_batch_tokens=0)), True
    else:
        refused = False
    command = ns.command or ("sample" if "sample" in read_yaml(ns.recipe) else "train")
    p = plan_input(cfg, gpus, ns.gpu_mem, strategy, cpu=ns.cpu, command=command)
    parts = estimate(p)
    print(render(parts, p))
    return 0 if fits(parts) and not refused else 1
