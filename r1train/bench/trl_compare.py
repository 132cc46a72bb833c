"""``r1train bench trl_compare [--rounds 2 --steps 3 --warmup 1 --threads 0]``: r1train's and TRL's GRPO step time, side by side.

The same tiny:3m model (a 3.2M-parameter Qwen2 with a character vocabulary, saved once to a directory
both load), the same prompts (``synthetic:addition``, written to a JSONL both read), the same reward
(``answer.exact``), and the same settings: 16 prompts x 8 samples, at most 128 new tokens, temperature
1.0, no KL, one optimizer step per batch in micro-batches of 64, float32 on CPU. TRL runs its
``GRPOTrainer`` with its default generation (transformers ``generate``); r1train runs its trainer with
the colocated vLLM engine (the default engine).

TRL is never a dependency of r1train: it lives in a scratch virtual environment, ``.venv-bench-trl/``
(made on first use with ``pip install trl==1.16.*``; it reaches the main environment's packages, torch
included, through a ``.pth`` line, so both sides run the very same torch build). Each side runs in its
own subprocess; the rounds alternate TRL, r1train, TRL, r1train … so that both see the same minutes of
a shared machine. Every step's wall time is recorded; the medians of the measured steps (warm-up steps
dropped in each run) and their ratio are printed with the load average, torch's thread count and peak
RSS. Asserts nothing.

``--vllm`` is the fair anchor: TRL generates with colocated vLLM too (``use_vllm=True,
vllm_mode="colocate"``), and both sides run the same loss settings: DAPO token-level loss, clip-higher
0.28, no KL, constant learning rate. On the CPU build of vLLM, TRL's own weight sync (a plain
``model.load_weights`` into the running model) fails (``'Parameter' object has no attribute
'weight_loader'``: the CPU build repacks its weights at load), so the TRL worker replaces
``VLLMGeneration.sync_weights`` with a shim, in this benchmark only, that streams the same named
parameters through ``collective_rpc("reload_weights")`` and re-packs the tied head, as r1train's engine
does. ``--async`` runs r1train's side with ``rollout.max_staleness: 1`` (the ``vllm-process`` engine on
its own core). The last line is then ``ratio vs TRL+vLLM <r>`` (r1train's median step / TRL's).

``--threads N`` sets ``OMP_NUM_THREADS`` for both sides. On a machine another job keeps busy, use fewer
threads than cores: an OpenMP thread that shares its core with another process holds up every parallel
region at its barrier, and both sides slow by factors that depend on the number of small operations
(measured 2026-11-29 on 2 cores beside one or two single-threaded jobs, 2 threads: the same r1train
code took 52-61 s per step in one run and 8.5-13 s in another half an hour later).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TRL_SPEC = "trl==1.16.*"
PROMPTS, SAMPLES, NEW_TOKENS, MICRO_BATCH, LR = 16, 8, 128, 64, 1e-6


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="r1train bench trl_compare", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="TRL run + r1train run, alternating, this many times")
    parser.add_argument("--steps", type=int, default=3, help="measured steps per run")
    parser.add_argument("--warmup", type=int, default=1, help="steps per run before measuring")
    parser.add_argument("--threads", type=int, default=0, help="OMP/torch threads on both sides (0: torch's default)")
    parser.add_argument("--venv", default=str(ROOT / ".venv-bench-trl"), help="scratch environment for TRL")
    parser.add_argument("--vllm", action="store_true", help="TRL with colocated vLLM, DAPO loss and clip-higher 0.28")
    parser.add_argument("--async", dest="async_", action="store_true", help="r1train with rollout.max_staleness=1")
    parser.add_argument("--worker", choices=["trl", "r1train"], help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- the scratch environment ----------------------------------------------------------------------


def ensure_trl_venv(venv: Path) -> str:
    """Make ``venv`` (once) with TRL on top of this environment's packages; returns TRL's version."""
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        import site

        site_dir = subprocess.run(
            [str(python), "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True, text=True, check=True
        ).stdout.strip()
        # this environment's packages (torch 2.13 CPU, transformers, accelerate, datasets) behind the venv's own
        Path(site_dir, "r1train-main-env.pth").write_text(site.getsitepackages()[0] + "\n")
    check = subprocess.run([str(python), "-c", "import trl; print(trl.__version__)"], capture_output=True, text=True)
    if check.returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", TRL_SPEC], check=True)
        check = subprocess.run([str(python), "-c", "import trl; print(trl.__version__)"], capture_output=True, text=True)
    return check.stdout.strip()


def prepare_inputs(scratch: Path) -> tuple[Path, Path]:
    """The tiny:3m model directory and a JSONL of prompt rows (prompt, answer) both sides train on."""
    from r1train.config import ModelConfig
    from r1train.data.prompts import load_prompts
    from r1train.models.load import load_tokenizer, resolve_source
    from r1train.recipe import build_config

    source = resolve_source(ModelConfig(name_or_path="tiny:3m"))
    cfg = build_config(r1train_recipe(str(source.path), str(scratch / "unused")), "trl_compare")
    rows = load_prompts(cfg.data, load_tokenizer(source), 0).train
    data = scratch / "prompts.jsonl"
    with data.open("w") as f:
        for r in rows:
            f.write(json.dumps({"prompt": r["prompt"], "answer": r["answer"]}) + "\n")
    return Path(source.path), data


def r1train_recipe(model: str, out: str, staleness: int = 0) -> dict[str, Any]:
    return {
        "model": {"name_or_path": model, "dtype": "float32"},
        "data": {"source": "synthetic:addition", "template": "pocket", "task": {"train_size": 4000, "eval_size": 2}},
        "rollout": {"engine": "vllm", "prompts_per_step": PROMPTS, "num_generations": SAMPLES, "max_new_tokens": NEW_TOKENS,
                    "max_staleness": staleness},
        "rewards": [{"name": "answer.exact"}],
        "algorithm": {"kl_beta": 0.0, "iterations": 1, "loss_agg": "token_mean", "clip_low": 0.2, "clip_high": 0.28},
        "optim": {"lr": LR, "schedule": "constant"},
        "train": {"output_dir": out, "micro_batch_size": MICRO_BATCH, "save_every": 0, "overwrite": True, "resume": "never",
                  "steps": 10**6},
        "logging": {"progress": False, "completions_every": 0},
    }


# --- the workers (one subprocess per run) ---------------------------------------------------------


def _emit(record: dict[str, Any]) -> None:
    print("STEP " + json.dumps(record), flush=True)


def r1train_worker(args: argparse.Namespace) -> int:
    import torch

    from r1train.bench.step import timed_step
    from r1train.recipe import build_config
    from r1train.train.trainer import Trainer

    out = tempfile.mkdtemp(prefix="r1train-trl-compare-")
    trainer = Trainer(build_config(r1train_recipe(args.model, out, 1 if args.async_ else 0), "trl_compare"))
    for i in range(args.warmup + args.steps):
        row = timed_step(trainer)
        keep = {k: v for k, v in row.items() if k.startswith(("time/", "memory/", "tokens/")) or k == "length/mean"}
        _emit({"warmup": i < args.warmup, "wall": row["time/wall"], "threads": torch.get_num_threads(), **keep})
    trainer.engine.close()
    return 0


def trl_worker(args: argparse.Namespace) -> int:
    import resource

    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from rewards.answer import exact_answer

    def exact(completions: list[str], answer: list[str], **_: Any) -> list[float | None]:
        return exact_answer(completions, answer)

    rows = [json.loads(line) for line in Path(args.data).read_text().splitlines()]
    dataset = Dataset.from_list(rows)
    tokenizer = AutoTokenizer.from_pretrained(args.model)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    config = GRPOConfig(
        output_dir=tempfile.mkdtemp(prefix="trl-compare-"),
        per_device_train_batch_size=MICRO_BATCH,
        gradient_accumulation_steps=PROMPTS * SAMPLES // MICRO_BATCH,  # one optimizer step per generation batch
        num_generations=SAMPLES,
        max_completion_length=NEW_TOKENS,
        temperature=1.0,
        beta=0.0,
        num_iterations=1,
        learning_rate=LR,
        use_cpu=True,
        bf16=False,
        logging_steps=1,
        report_to="none",
        save_strategy="no",
        max_steps=args.warmup + args.steps,
        seed=0,
        **(_trl_vllm_settings(args.model) if args.vllm else {}),
    )
    records: list[dict[str, Any]] = []

    class StepTimer(TrainerCallback):
        start = 0.0

        def on_step_begin(self, *a: Any, **k: Any) -> None:
            StepTimer.start = time.perf_counter()

        def on_step_end(self, *a: Any, **k: Any) -> None:
            i = len(records)
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
            records.append({"warmup": i < args.warmup, "wall": time.perf_counter() - StepTimer.start,
                            "memory/peak_rss_gib": rss, "threads": torch.get_num_threads()})

        def on_log(self, _args: Any, state: Any, control: Any, logs: dict | None = None, **k: Any) -> None:
            if logs and records and "completions/mean_length" in logs:
                records[-1]["length/mean"] = logs["completions/mean_length"]

        def on_train_end(self, *a: Any, **k: Any) -> None:
            for record in records:
                _emit(record)

    trainer = GRPOTrainer(
        model=model, reward_funcs=exact, args=config, train_dataset=dataset, processing_class=tokenizer,
        callbacks=[StepTimer()],
    )
    trainer.train()
    return 0


def _trl_vllm_settings(model: str) -> dict[str, Any]:
    """TRL with colocated vLLM and r1train's loss settings; installs the weight-sync shim (CPU build)."""
    import os

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    from trl.generation.vllm_generation import VLLMGeneration

    def sync_weights(self: Any) -> None:  # the shim: what r1train's VLLMEngine.load_weights does
        from r1train.rollout.vllm_engine import _reprocess_tied_layers

        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(list(self._iter_named_params()))})
        self.llm.collective_rpc(_reprocess_tied_layers)
        self.llm.reset_prefix_cache()

    VLLMGeneration.sync_weights = sync_weights
    return dict(use_vllm=True, vllm_mode="colocate", vllm_enable_sleep_mode=False, loss_type="dapo", epsilon=0.2,
                epsilon_high=0.28, lr_scheduler_type="constant", vllm_max_model_length=512)


# --- the comparison -------------------------------------------------------------------------------


def run_worker(python: str, kind: str, model: Path, data: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    cmd = [python, "-m", "r1train.bench.trl_compare", "--worker", kind, "--model", str(model), "--data", str(data),
           "--steps", str(args.steps), "--warmup", str(args.warmup)] + (["--vllm"] if args.vllm else []) + (
           ["--async"] if args.async_ else [])
    env = dict(os.environ, TOKENIZERS_PARALLELISM="false")
    if args.threads:  # the same on both sides; torch reads it at start-up
        env["OMP_NUM_THREADS"] = str(args.threads)
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env)
    steps = [json.loads(line[5:]) for line in proc.stdout.splitlines() if line.startswith("STEP ")]
    if proc.returncode != 0 or not steps:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"the {kind} run failed (exit {proc.returncode}); its last output is above")
    return steps


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.worker == "trl":
        return trl_worker(args)
    if args.worker == "r1train":
        return r1train_worker(args)
    import torch

    trl_version = ensure_trl_venv(Path(args.venv))
    scratch = Path(tempfile.mkdtemp(prefix="r1train-trl-compare-"))
    model, data = prepare_inputs(scratch)
    trl_python = str(Path(args.venv) / "bin" / "python")
    runs: dict[str, list[dict[str, Any]]] = {"trl": [], "r1train": []}
    loads = [os.getloadavg()]
    for round_ in range(args.rounds):
        for kind, python in (("trl", trl_python), ("r1train", sys.executable)):
            started = time.perf_counter()
            steps = run_worker(python, kind, model, data, args)
            measured = [s for s in steps if not s["warmup"]]
            runs[kind] += measured
            walls = ", ".join(f"{s['wall']:.2f}" for s in measured)
            print(f"round {round_ + 1} {kind:<8} steps {walls} s  (run {time.perf_counter() - started:.0f} s, "
                  f"load {os.getloadavg()[0]:.2f})", flush=True)
            loads.append(os.getloadavg())
    med = {k: statistics.median(s["wall"] for s in v) for k, v in runs.items()}
    length = {k: statistics.mean(s.get("length/mean", float("nan")) for s in v) for k, v in runs.items()}
    rss = {k: max(s.get("memory/peak_rss_gib", float("nan")) for s in v) for k, v in runs.items()}
    print(f"\nGRPO step, tiny:3m ({model}), {PROMPTS} prompts x {SAMPLES} samples, <= {NEW_TOKENS} new tokens, no KL, "
          f"1 update per batch, micro-batch {MICRO_BATCH}; torch {torch.__version__}, TRL {trl_version}")
    threads = {k: sorted({s.get("threads", 0) for s in v}) for k, v in runs.items()}
    print(f"  load average (1 min) {min(lo[0] for lo in loads):.2f}..{max(lo[0] for lo in loads):.2f} on "
          f"{os.cpu_count()} cores; {args.rounds} alternating rounds x {args.steps} measured steps per side; "
          f"torch threads TRL {threads['trl']}, r1train {threads['r1train']}")
    print(f"  {'':<10}{'median step s':>14}{'mean length':>13}{'peak RSS GiB':>14}")
    for k in ("trl", "r1train"):
        print(f"  {k:<10}{med[k]:>14.2f}{length[k]:>13.1f}{rss[k]:>14.2f}")
    print(f"  ratio r1train / TRL: {med['r1train'] / med['trl']:.3f}   (target <= 0.5)")
    stages = [k for k in runs["r1train"][0] if k.startswith("time/") and k not in ("time/step", "time/wall", "time/update")]
    total = sum(s["wall"] for s in runs["r1train"])
    shares = ", ".join(f"{k[5:]} {100 * sum(s.get(k, 0.0) for s in runs['r1train']) / total:.0f}%" for k in stages)
    print(f"  r1train stage shares: {shares}")
    if args.vllm:
        side = "r1train max_staleness=1 (vllm-process)" if args.async_ else "r1train (vllm)"
        print(f"  {side} vs TRL {trl_version} GRPOTrainer + colocated vLLM (reload_weights shim), DAPO, clip-high 0.28")
        print(f"ratio vs TRL+vLLM {med['r1train'] / med['trl']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
