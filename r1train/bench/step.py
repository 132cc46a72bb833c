"""``r1train bench step RECIPE [section.key=value …] [--steps 5 --warmup 1 --async-too]``: where a step's time goes.

Builds the recipe's :class:`~r1train.trainer.Trainer` (output in a temporary directory, no checkpoints,
no progress bar) and runs ``--warmup`` steps, then ``--steps`` measured ones. For each stage of the step
it prints the median seconds and its share of all measured time, in the data path's order:

    rollout (generation) | reward | ref_logprobs | old_logprobs | forward_backward | optimizer | sync |
    logging | other (the row's write, completions, anything untimed)

then the median step time, generated and trained tokens per second, and peak memory (RSS on CPU; peak
allocated/reserved on CUDA). The same ``time/<stage>`` figures land in every run's ``metrics.jsonl``.
``ref_logprobs`` runs while the rewards are scored, so ``reward`` is only what scoring adds after it.

``--async-too`` builds a second trainer with ``rollout.async_generation=true`` and alternates steps of the
two, so both medians come from the same minutes of a shared machine. Prints; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from typing import Any

from r1train.telemetry.profile import STAGES


def parse(argv: list[str]) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(prog="r1train bench step", description=__doc__.splitlines()[0])
    parser.add_argument("recipe", help="a recipe YAML; section.key=value overrides may follow")
    parser.add_argument("--steps", type=int, default=5, help="measured steps")
    parser.add_argument("--warmup", type=int, default=1, help="steps run first and not counted")
    parser.add_argument("--async-too", action="store_true", help="also time rollout.async_generation=true, alternating")
    return parser.parse_known_args(argv)


def bench_overrides(out_dir: str) -> list[str]:
    """What the benchmark changes in any recipe: a scratch output dir, no saving, no progress bar."""
    return [
        f"train.output_dir={out_dir}",
        "train.overwrite=true",
        "train.resume=never",
        "train.save_every=0",
        "train.steps=1000000",
        "logging.progress=false",
        "logging.completions_every=0",
        "eval.every=0",
    ]


def timed_step(trainer: Any) -> dict[str, Any]:
    """One ``trainer.step()``; the row gets ``time/wall`` (the call as seen from outside, writes included)."""
    start = time.perf_counter()
    row = dict(trainer.step())
    row["time/wall"] = time.perf_counter() - start
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Median seconds per stage and of the step, shares of the total, throughput and peak memory."""
    wall = [r["time/wall"] for r in rows]
    total = sum(wall)
    out: dict[str, float] = {"step": statistics.median(wall)}
    timed = 0.0
    for stage in STAGES:
        values = [float(r.get(f"time/{stage}", 0.0)) for r in rows]
        out[stage] = statistics.median(values)
        out[f"share/{stage}"] = sum(values) / total
        timed += sum(values)
    out["other"] = statistics.median([r["time/wall"] - sum(float(r.get(f"time/{s}", 0.0)) for s in STAGES) for r in rows])
    out["share/other"] = 1.0 - timed / total
    out["generated_tokens_per_s"] = sum(r.get("tokens/generated", 0.0) for r in rows) / total
    out["train_tokens_per_s"] = sum(r.get("tokens/train", 0.0) for r in rows) / total
    out["length/mean"] = statistics.mean(r.get("length/mean", 0.0) for r in rows)
    for key in ("memory/peak_rss_gib", "memory/cuda_allocated_gib", "memory/cuda_reserved_gib"):
        if any(key in r for r in rows):
            out[key] = max(r.get(key, 0.0) for r in rows)
    return out


def table(columns: dict[str, dict[str, float]]) -> str:
    """The stage table, one column of (seconds, share) per run."""
    names = list(columns)
    lines = [f"  {'stage':<18}" + "".join(f"{name:>24}" for name in names)]
    for stage in (*STAGES, "other"):
        cells = "".join(f"{c[stage]:>12.3f} s {100 * c[f'share/{stage}']:>6.1f} %" for c in columns.values())
        lines.append(f"  {stage:<18}{cells}")
    lines.append(f"  {'step (median)':<18}" + "".join(f"{c['step']:>12.3f} s {'':>8}" for c in columns.values()))
    for key, label, fmt in (
        ("generated_tokens_per_s", "generated tok/s", "{:>22.0f}  "),
        ("train_tokens_per_s", "trained tok/s", "{:>22.0f}  "),
        ("length/mean", "mean length", "{:>22.1f}  "),
        ("memory/peak_rss_gib", "peak RSS GiB", "{:>22.2f}  "),
        ("memory/cuda_allocated_gib", "CUDA alloc GiB", "{:>22.2f}  "),
        ("memory/cuda_reserved_gib", "CUDA reserved GiB", "{:>22.2f}  "),
    ):
        if all(key in c for c in columns.values()):
            lines.append(f"  {label:<18}" + "".join(fmt.format(c[key]) for c in columns.values()))
    return "\n".join(lines)


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def main(argv: list[str]) -> int:
    args, overrides = parse(argv)
    from r1train.recipe import load_recipe
    from r1train.train.trainer import Trainer

    scratch = tempfile.mkdtemp(prefix="r1train-bench-step-")
    variants = {"default": overrides}
    if args.async_too:
        variants["async"] = [*overrides, "rollout.async_generation=true"]
    trainers = {}
    for name, extra in variants.items():
        cfg = load_recipe(args.recipe, [*extra, *bench_overrides(os.path.join(scratch, name))])
        trainers[name] = Trainer(cfg)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in trainers}
    start_load = load_line()
    for i in range(args.warmup + args.steps):
        for name, trainer in trainers.items():  # alternate: both see the same machine load
            row = timed_step(trainer)
            if i >= args.warmup:
                rows[name].append(row)
    cfg = next(iter(trainers.values())).cfg
    r = cfg.rollout
    n_params = sum(p.numel() for p in next(iter(trainers.values())).model.parameters())
    print(
        f"\nstep benchmark: {cfg.model.name_or_path} ({n_params / 1e6:.1f}M params), {r.prompts_per_step} prompts x "
        f"{r.num_generations} samples, <= {r.max_new_tokens} new tokens, engine {r.engine}, micro-batch "
        f"{cfg.train.micro_batch_size}, iterations {cfg.algorithm.iterations}, kl_beta {cfg.algorithm.kl_beta:g}; "
        f"median of {args.steps} steps after {args.warmup} warm-up"
    )
    print(f"  {start_load} at start, {load_line()} at end")
    summaries = {name: summarise(v) for name, v in rows.items()}
    print(table(summaries))
    if "async" in summaries:
        ratio = summaries["async"]["step"] / summaries["default"]["step"]
        print(f"  async / default median step time: {ratio:.3f}  (rollout.async_generation: one step off-policy)")
    for trainer in trainers.values():
        close = getattr(trainer.engine, "close", None)
        if callable(close):
            close()
    return 0
