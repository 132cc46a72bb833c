"""``r1train bench gpu [--shape Qwen/Qwen2.5-0.5B …]``: the training phase of a GRPO step on a real
architecture's shape, with no downloaded weights.

Builds a randomly initialised Qwen2 model from a shape in :mod:`r1train.models.architectures` (Qwen2.5-0.5B and
1.5B by default; ``tiny:3m`` for a quick CPU check), makes a batch of synthetic rollouts with fixed
lengths (``--prompt-tokens`` + ``--new-tokens`` each: random weights give no meaningful end of
sequence, so lengths are fixed instead), and times what the trainer does with it: reference logprobs
(``--kl``), micro-batched forward/backward of the GRPO loss through ``r1train.update.update_policy``
(chunked logprobs, bf16 and gradient checkpointing on CUDA by default), and the optimizer step.

Reported per shape: median step time, trained tokens/s, peak allocated/reserved memory, and model-FLOPs
utilisation (MFU): useful training FLOPs (6 x parameters per token including the output head, plus
attention 12 x layers x hidden x sequence length per token; recomputation from gradient checkpointing
does not count) per second over the device's peak (``--peak-tflops``, or looked up for known GPUs).
With ``--generate`` it also times vLLM generating the batch (fixed lengths: ``ignore_eos``, every
sample exactly ``--new-tokens``) from the same random weights saved to a temporary directory.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from typing import Any

import torch

# dense bf16 peak TFLOP/s (no sparsity) of common GPUs, matched on the device name
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10G": 125.0, "4090": 165.0}


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="r1train bench gpu", description=__doc__.splitlines()[0])
    parser.add_argument("--shape", action="append", help="architecture (repeatable); default Qwen2.5-0.5B and 1.5B")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--samples", type=int, default=8)
    parser.add_argument("--prompt-tokens", type=int, default=256)
    parser.add_argument("--new-tokens", type=int, default=1024)
    parser.add_argument("--micro-batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--kl", action="store_true", help="also compute reference logprobs (kl_beta 0.04)")
    parser.add_argument("--no-grad-ckpt", action="store_true", help="turn gradient checkpointing off (CUDA)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the decoder")
    parser.add_argument("--generate", action="store_true", help="also time vLLM generation of the batch")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak TFLOP/s (default: looked up)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    return parser.parse_args(argv)


def build_model(shape: Any, dtype: torch.dtype, device: str, seed: int = 0) -> Any:
    """A randomly initialised ``Qwen2ForCausalLM`` of ``shape`` (an :class:`ArchShape`)."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=shape.vocab, hidden_size=shape.hidden, intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers, num_attention_heads=shape.heads, num_key_value_heads=shape.kv_heads,
        tie_word_embeddings=shape.tied, max_position_embeddings=32768,
    )
    with torch.device(device):
        model = Qwen2ForCausalLM(config)
    return model.to(dtype)


def synthetic_rollouts(n_prompts: int, samples: int, prompt_tokens: int, new_tokens: int, vocab: int) -> list[Any]:
    """Rollouts with fixed lengths and random tokens; sampler logprobs of -1 per token."""
    from r1train.rollout.base import Rollout

    gen = torch.Generator().manual_seed(0)
    out = []
    for p in range(n_prompts):
        prompt = torch.randint(0, vocab, (prompt_tokens,), generator=gen).tolist()
        for _ in range(samples):
            completion = torch.randint(0, vocab, (new_tokens,), generator=gen).tolist()
            out.append(Rollout(prompt, completion, [-1.0] * new_tokens, "length", "", prompt_index=p))
    return out


def train_flops_per_token(shape: Any, seq_len: int) -> float:
    """Model FLOPs per trained token, forward + backward: 6 N (N = non-embedding parameters plus the output
    head's matmul, which runs even when tied) + 12 layers x hidden x seq_len (attention scores and values)."""
    matmul_params = shape.params - shape.vocab * shape.hidden * (0 if shape.tied else 1)  # one embedding table out
    return 6.0 * matmul_params + 12.0 * shape.layers * shape.hidden * seq_len


def peak_tflops(device: str, given: float | None) -> float | None:
    if given:
        return given
    if not device.startswith("cuda"):
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def bench_shape(name: str, args: argparse.Namespace) -> dict[str, float]:
    from accelerate import Accelerator

    from r1train.models.architectures import shape_of
    from r1train.models.logprobs import PolicyLogprobs
    from r1train.recipe import build_config
    from r1train.telemetry.profile import StageTimer, peak_memory, reset_peak_memory
    from r1train.train.batch import micro_batches
    from r1train.train.reference import FrozenReference
    from r1train.train.update import update_policy

    shape = shape_of(name)
    cuda = args.device.startswith("cuda")
    dtype = torch.bfloat16 if cuda else torch.float32
    model = build_model(shape, dtype, args.device)
    if cuda and not args.no_grad_ckpt:
        model.gradient_checkpointing_enable()
    model.config.use_cache = False
    if args.compile:
        model.model = torch.compile(model.model)
    reference = FrozenReference(build_model(shape, dtype, args.device)) if args.kl else None
    cfg = build_config(
        {
            "model": {"name_or_path": name},
            "data": {"source": "synthetic:copy"},
            "rollout": {"max_new_tokens": args.new_tokens, "num_generations": args.samples},
            "algorithm": {"kl_beta": 0.04 if args.kl else 0.0},
            "train": {"micro_batch_size": args.micro_batch},
        },
        "bench gpu",
    )
    accelerator = Accelerator(cpu=not cuda)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0)
    policy, optimizer = accelerator.prepare(PolicyLogprobs(model), optimizer)
    rollouts = synthetic_rollouts(args.prompts, args.samples, args.prompt_tokens, args.new_tokens, shape.vocab)
    advantages = torch.randn(len(rollouts))  # (N,)
    batches = micro_batches(rollouts, advantages, args.micro_batch, pad_id=0)
    seq_len = args.prompt_tokens + args.new_tokens
    tokens = len(rollouts) * seq_len  # every position is computed; the loss uses the completion ones
    times, stages = [], []
    for i in range(args.warmup + args.steps):
        reset_peak_memory()
        timer = StageTimer()
        start = time.perf_counter()
        update_policy(policy, optimizer, scheduler, accelerator, batches, cfg, reference, timer)
        if cuda:
            torch.cuda.synchronize()
        if i >= args.warmup:
            times.append(time.perf_counter() - start)
            stages.append(timer.seconds)
    step = statistics.median(times)
    out = {"step_s": step, "tokens_per_s": tokens / step, "params_m": shape.params / 1e6, **peak_memory()}
    for key in stages[0]:
        out[f"time/{key}"] = statistics.median(s[key] for s in stages)
    flops = train_flops_per_token(shape, seq_len) * tokens
    peak = peak_tflops(args.device, args.peak_tflops)
    fb = out.get("time/forward_backward", step) + out.get("time/optimizer", 0.0)
    out["achieved_tflops"] = flops / fb / 1e12
    if peak:
        out["mfu"] = out["achieved_tflops"] / peak
    if args.generate:
        out.update(time_generation(model, shape, args))
    del policy, optimizer, model, reference
    if cuda:
        torch.cuda.empty_cache()
    return out


def time_generation(model: Any, shape: Any, args: argparse.Namespace) -> dict[str, float]:
    """vLLM generating the batch from the same random weights (saved to a temporary directory)."""
    from vllm import LLM, SamplingParams

    from r1train.models.tiny import build_tokenizer

    path = tempfile.mkdtemp(prefix="r1train-bench-gpu-")
    model.save_pretrained(path)
    build_tokenizer().save_pretrained(path)  # token ids are all the engine sees; any tokenizer loads
    llm = LLM(model=path, dtype="bfloat16" if args.device.startswith("cuda") else "float32", gpu_memory_utilization=0.5,
              max_model_len=args.prompt_tokens + args.new_tokens + 8, skip_tokenizer_init=True, enforce_eager=False)
    params = SamplingParams(n=args.samples, max_tokens=args.new_tokens, min_tokens=args.new_tokens, ignore_eos=True,
                            temperature=1.0, logprobs=0, detokenize=False)
    gen = torch.Generator().manual_seed(1)
    prompts = [{"prompt_token_ids": torch.randint(0, shape.vocab, (args.prompt_tokens,), generator=gen).tolist()}
               for _ in range(args.prompts)]
    llm.generate(prompts, params, use_tqdm=False)  # warm-up
    start = time.perf_counter()
    llm.generate(prompts, params, use_tqdm=False)
    seconds = time.perf_counter() - start
    generated = args.prompts * args.samples * args.new_tokens
    return {"generate_s": seconds, "generate_tokens_per_s": generated / seconds}


def main(argv: list[str]) -> int:
    args = parse(argv)
    shapes = args.shape or ["Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-1.5B"]
    device = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    print(f"\nGRPO training phase on random-init real shapes, {device}, torch {torch.__version__}; "
          f"{args.prompts} prompts x {args.samples} samples x ({args.prompt_tokens} + {args.new_tokens}) tokens, "
          f"micro-batch {args.micro_batch}, median of {args.steps} after {args.warmup} warm-up; {time.strftime('%Y-%m-%d')}")
    rows = {name: bench_shape(name, args) for name in shapes}
    keys = ["params_m", "step_s", "tokens_per_s", "time/ref_logprobs", "time/forward_backward", "time/optimizer",
            "achieved_tflops", "mfu", "memory/cuda_allocated_gib", "memory/cuda_reserved_gib", "memory/peak_rss_gib",
            "generate_s", "generate_tokens_per_s"]
    print(f"  {'':<26}" + "".join(f"{n.split('/')[-1]:>20}" for n in shapes))
    for key in keys:
        if any(key in r for r in rows.values()):
            cells = "".join(f"{r[key]:>20.3f}" if key in r else f"{'-':>20}" for r in rows.values())
            print(f"  {key:<26}{cells}")
    return 0
