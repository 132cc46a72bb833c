"""``r1train bench rollout RECIPE [section.key=value …] [--prompts 16 --samples 8 --tokens 128 --repeats 3]``.

How much r1train's rollout stage costs on top of vLLM itself, and how long a weight sync takes, measured
side by side in one process on the same engine, prompts and sampling settings:

- raw: ``vllm.LLM.generate`` on the token ids with the ``SamplingParams`` the engine builds but with
  vLLM's defaults for text and logprobs (``detokenize=True``, a logprob dict per token), as a user of
  vLLM would call it (sampler logprobs included, since the trainer needs them);
- r1train: ``engine.generate(prompt_ids, sampling)``: the same call without vLLM's detokenisation (the
  engine decodes each completion once) and with flat logprobs, plus building ``Rollout`` records;
- sync: ``sync_weights`` after a real optimizer step (policy update on the generated batch), whose time
  is also reported, so the sync's share of a step (generation + update + sync; rewards excluded) shows.

The same seed for the global generator (unseeded requests, as the trainer's default ``rollout.seeding:
step`` sends them) makes both paths sample the very same tokens; each figure is the median of
``--repeats`` alternating runs after one warm-up of each. Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from dataclasses import replace
from typing import Any


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="r1train bench rollout", description=__doc__.splitlines()[0])
    parser.add_argument("recipe", help="a recipe YAML; its model, template and sampling settings are used")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--samples", type=int, default=8, help="samples per prompt (n)")
    parser.add_argument("--tokens", type=int, default=128, help="max new tokens per sample")
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_known_args(argv)


def _median_time(fn: Any, repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _update_step(model: Any, rollouts: list[Any], pad_id: int, temperature: float) -> float:
    """One policy-gradient-shaped optimizer step on the batch (what a training step spends besides rollouts)."""
    import torch

    from r1train.models.logprobs import PolicyLogprobs
    from r1train.train.batch import micro_batches

    policy = PolicyLogprobs(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    advantages = torch.randn(len(rollouts))  # (N,)
    start = time.perf_counter()
    model.train()
    for mb in micro_batches(rollouts, advantages, 64, pad_id):
        logp, _ = policy(mb.input_ids, mb.attention_mask, mb.completion_mask, temperature)  # (n, L-1)
        mask = mb.loss_mask  # (n, L-1)
        loss = -(logp * mb.advantages[:, None] * mask).sum() / mask.sum().clamp(min=1)
        loss.backward()
    optimizer.step()
    optimizer.zero_grad()
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    args, overrides = parse(argv)
    from r1train.data.prompts import load_prompts
    from r1train.models.load import load_model, load_tokenizer, resolve_source
    from r1train.recipe import load_recipe
    from r1train.rollout import make_engine, sampling_from
    from r1train.rollout.sync import sync_weights
    from r1train.rollout.vllm_engine import VLLMEngine

    overrides = [*overrides, "rollout.engine=vllm", f"rollout.max_new_tokens={args.tokens}"]
    cfg = load_recipe(args.recipe, overrides)
    source = resolve_source(cfg.model)
    tokenizer = load_tokenizer(source, cfg.model.trust_remote_code)
    model = load_model(cfg.model, source)
    rows = load_prompts(cfg.data, tokenizer, cfg.train.seed).train[: args.prompts]
    prompt_ids = [tokenizer(r["prompt"], add_special_tokens=False)["input_ids"] for r in rows]
    start = time.perf_counter()
    engine = make_engine(cfg, model, tokenizer, source)
    startup = time.perf_counter() - start
    if not isinstance(engine, VLLMEngine):
        print("vLLM is not usable here (see the warning above); nothing to compare")
        return 1
    sampling = sampling_from(cfg, seed=cfg.train.seed, n=args.samples)
    params = copy.copy(engine.sampling_params(replace(sampling, seed=None)))
    params.detokenize, params.flat_logprobs = True, False  # vLLM's defaults
    prompts = [{"prompt_token_ids": ids} for ids in prompt_ids]

    def raw() -> Any:
        with engine.global_seed(sampling.seed):
            return engine.llm.generate(prompts, params, use_tqdm=False)

    def ours() -> Any:
        return engine.generate(prompt_ids, sampling)

    raw(), ours()  # warm-up: first calls build kernels and caches
    raw_times, our_times = [], []
    rollouts: list[Any] = []
    for i in range(args.repeats):  # ABBA order: neither side always runs second (GC, caches, load drift)
        for side in ("raw", "ours") if i % 2 == 0 else ("ours", "raw"):
            if side == "raw":
                t, _ = _median_time(raw, 1)
                raw_times.append(t)
            else:
                t, rollouts = _median_time(ours, 1)
                our_times.append(t)
    t_raw, t_ours = statistics.median(raw_times), statistics.median(our_times)
    tokens = sum(len(r.completion_ids) for r in rollouts)

    update_times, sync_times = [], []
    for step in range(1, args.repeats + 1):
        update_times.append(_update_step(model, rollouts, tokenizer.pad_token_id, sampling.temperature))
        sync_times.append(sync_weights(engine, model, step=step))
    t_update, t_sync = statistics.median(update_times), statistics.median(sync_times)
    step_time = t_ours + t_update + t_sync

    n_params = sum(p.numel() for p in model.parameters())
    print(f"\nrollout benchmark: {cfg.model.name_or_path} ({n_params / 1e6:.1f}M params), {args.prompts} prompts x "
          f"{args.samples} samples x {args.tokens} max new tokens, temperature {sampling.temperature:g}, "
          f"median of {args.repeats} (engine start-up {startup:.1f} s)")
    print(f"  {'raw vllm.LLM.generate':<28} {t_raw:8.3f} s  {tokens / t_raw:9.0f} tokens/s")
    print(f"  {'r1train rollout stage':<28} {t_ours:8.3f} s  {tokens / t_ours:9.0f} tokens/s")
    print(f"  {'ratio (r1train / raw)':<28} {t_ours / t_raw:8.3f}    target <= 1.10")
    print(f"  {'generated tokens':<28} {tokens:8d}")
    print(f"  {'policy update (1 opt step)':<28} {t_update:8.3f} s")
    print(f"  {'weight sync (time/sync)':<28} {t_sync:8.3f} s  {100 * t_sync / step_time:6.2f} % of step time (target < 5 %)")
    engine.close()
    return 0
