"""``r1train bench plan [--shape tiny:1m --shape Qwen/Qwen2.5-0.5B] [--engine vllm] [--steps 3]``: the memory
planner (``r1train plan --cpu``) against the peak RSS of real training runs on this CPU.

For each shape it writes a recipe (the copy task, ``--prompts`` x ``--samples`` completions of
``--new-tokens`` tokens, float32, the chosen engine, no checkpoints, no held-out evaluation), plans it
with :func:`r1train.runtime.plan.estimate` in ``--cpu`` mode, runs ``r1train train`` on it in a fresh
process, and reads the process's peak RSS after the last step from ``metrics.jsonl``
(``memory/peak_rss_gib``: loading, vLLM's start-up and every step included; the final save is not).
A real architecture's shape (``Qwen/Qwen2.5-0.5B``: 494M parameters, 151,936-token vocabulary) is
built with random weights and saved with the tiny one-character tokenizer: the token ids are all the
engine and the trainer see. A shape whose plan needs more than 90% of the memory available now is
skipped (other people's work shares the machine). Prints planned and measured GiB, their ratio, whether they are within
``--tolerance`` (25%), the machine's load before and after, and the planned parts. A 0.5B run needs about
14 GiB of memory.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def parse(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="r1train bench plan", description=__doc__.splitlines()[0])
    ap.add_argument("--shape", action="append", help="tiny:<size> or a known architecture (repeatable); default tiny:1m")
    ap.add_argument("--engine", default="vllm", choices=("vllm", "hf"))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=2)
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--kv-cache-gb", type=int, default=1, help="vLLM's CPU KV cache (rollout.kv_cache_gb)")
    ap.add_argument("--tolerance", type=float, default=0.25)
    ap.add_argument("--keep", help="directory to keep the runs in (default: a temporary one)")
    return ap.parse_args(argv)


def model_path(shape_name: str, directory: Path) -> str:
    """``tiny:*`` as it is; another shape as a random-init float32 Qwen2 saved in ``directory``."""
    if shape_name.startswith("tiny:"):
        return shape_name
    import torch

    from r1train.bench.gpu import build_model
    from r1train.models.architectures import shape_of
    from r1train.models.tiny import build_tokenizer

    target = directory / shape_name.replace("/", "--")
    if not (target / "config.json").is_file():
        model = build_model(shape_of(shape_name), torch.float32, "cpu")
        model.config.max_position_embeddings = 2048
        model.save_pretrained(target)
        del model
        build_tokenizer().save_pretrained(target)
    return str(target)


def recipe(model: str, args: argparse.Namespace, out: Path) -> dict[str, Any]:
    return {
        "model": {"name_or_path": model, "dtype": "float32"},
        "data": {"source": "synthetic:copy", "template": "pocket", "max_prompt_tokens": 32,
                 "task": {"train_size": 64, "eval_size": 2}},
        "rollout": {"engine": args.engine, "prompts_per_step": args.prompts, "num_generations": args.samples,
                    "max_new_tokens": args.new_tokens, "kv_cache_gb": args.kv_cache_gb},
        "train": {"steps": args.steps, "micro_batch_size": 16, "save_every": 0, "eval_size": 0,
                  "output_dir": str(out)},
        "logging": {"progress": False, "completions_every": 0},
    }


def planned(data: dict[str, Any], memory_gib: float) -> dict[str, float]:
    from r1train.recipe import Launch, build_config, resolve
    from r1train.runtime.plan import estimate, plan_input

    cfg = resolve(build_config(data, "bench plan"), Launch(processes=1, cuda=False))
    return estimate(plan_input(cfg, 1, memory_gib, "ddp", cpu=True))


def measure(data: dict[str, Any], work: Path) -> float:
    """Peak RSS (GiB) of a real ``r1train train`` process on ``data``, after its last step."""
    path = work / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "r1train", "train", str(path)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"r1train bench plan: the run failed:\n{done.stderr[-3000:]}")
    rows = [json.loads(line) for line in (Path(data["train"]["output_dir"]) / "metrics.jsonl").read_text().splitlines()]
    return max(r["memory/peak_rss_gib"] for r in rows)


def available_gib() -> float:
    """MemAvailable of /proc/meminfo (GiB; the machine's memory where there is no /proc)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def main(argv: list[str]) -> int:
    args = parse(argv)
    from r1train.runtime.plan import GIB, SUMMARY_KEYS

    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    shapes = args.shape or ["tiny:1m"]
    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="r1train-bench-plan-"))
    root.mkdir(parents=True, exist_ok=True)
    print(f"r1train bench plan: {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} CPUs, {memory_gib:.1f} GiB, "
          f"engine {args.engine}, {args.prompts} prompts x {args.samples} samples x {args.new_tokens} tokens, "
          f"{args.steps} steps")
    header = f"{'shape':<20} {'parameters':>11} {'planned GiB':>12} {'measured GiB':>13} {'ratio':>6}  within {args.tolerance:.0%}  load"
    print(header)
    within = True
    for name in shapes:
        work = root / name.replace("/", "--").replace(":", "-")
        work.mkdir(parents=True, exist_ok=True)
        data = recipe(model_path(name, root), args, work / f"run-{time.time_ns()}")
        parts = planned(data, memory_gib)
        free = available_gib()
        if parts["peak"] / GIB > 0.9 * free:  # a shared machine: do not push other people's work into swap or OOM
            print(f"{name:<20} skipped: the plan needs {parts['peak'] / GIB:.1f} GiB and {free:.1f} GiB is available")
            within = False
            continue
        load_before = os.getloadavg()[0]
        peak = measure(data, work)
        load = f"{load_before:.1f}-{os.getloadavg()[0]:.1f}"
        from r1train.models.architectures import shape_of

        plan = parts["peak"] / GIB
        ratio = plan / peak
        ok = abs(ratio - 1) <= args.tolerance
        within &= ok
        params = shape_of(data["model"]["name_or_path"]).params
        print(f"{name:<20} {params / 1e6:>10.1f}M {plan:>12.2f} {peak:>13.2f} {ratio:>6.2f}  {'yes' if ok else 'NO':<10} {load}")
        detail = ", ".join(f"{k} {v / GIB:.2f}" for k, v in parts.items() if k not in SUMMARY_KEYS and v)
        print(f"{'':<20} planned parts (GiB): {detail}")
    return 0 if within else 1
