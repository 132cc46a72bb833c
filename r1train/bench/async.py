"""``r1train bench async [--steps 120 --eval-every 20 --ks 0,1,2]``: the pocket recipe with k = 0, 1, 2 side by side.

Runs ``recipes/pocket-zero.yaml`` once per staleness bound ``rollout.max_staleness: k`` for the same
number of steps, one subprocess each, one after the other (each has the machine to itself). k = 0 is
today's synchronous loop with the colocated ``vllm`` engine (torch and vLLM share every core); k > 0
runs the ``vllm-process`` engine on the last half of the cores and the trainer on the first half (on 2
cores: one each, the only split there is, and the one that keeps each OpenMP pool off the other's
core). Wall time is the sum of the steps' own times (start-up excluded); the held-out accuracy curve
comes from snapshots of the policy taken every ``--eval-every`` steps and evaluated after the clock
stops, through the run's own engine, on the recipe's held-out problems with its sampling settings
(evaluating during the run would settle the pipeline and change what is measured).

Prints one line per step block, the curves, the load average around each run, and last, exactly:
``async: speedup k=1 <x>, k=2 <x>; final accuracy k=0 <a>, k=1 <a>, k=2 <a>`` (accuracies as fractions).
Asserts nothing.
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

ROOT = Path(__file__).resolve().parents[2]
RECIPE = ROOT / "recipes" / "pocket-zero.yaml"


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="r1train bench async", description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=120, help="training steps per run (the recipe's 120)")
    parser.add_argument("--eval-every", type=int, default=20, help="held-out accuracy every this many steps")
    parser.add_argument("--ks", default="0,1,2", help="staleness bounds to run, comma-separated")
    parser.add_argument("--recipe", default=str(RECIPE), help="the recipe (default: the pocket lab)")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def worker(args: argparse.Namespace) -> int:
    """One run with ``max_staleness = args.worker``: prints a ``RESULT`` JSON line."""
    import torch

    from r1train.bench.step import bench_overrides
    from r1train.models.logprobs import unwrap
    from r1train.recipe import load_recipe
    from r1train.train.trainer import Trainer

    out = tempfile.mkdtemp(prefix=f"r1train-async-k{args.worker}-")
    overrides = [*bench_overrides(out), f"rollout.max_staleness={args.worker}"]
    trainer = Trainer(load_recipe(args.recipe, overrides))
    model = unwrap(trainer.policy)

    def snapshot() -> dict[str, torch.Tensor]:
        return {k: v.detach().clone() for k, v in model.state_dict().items()}

    snapshots, walls, rows = {0: snapshot()}, [], []
    for step in range(1, args.steps + 1):
        start = time.perf_counter()
        row = trainer.step()
        walls.append(time.perf_counter() - start)
        rows.append({k: row.get(k) for k in ("reward", "staleness/mean", "time/trainer_idle", "time/engine_idle",
                                              "time/sync", "time/rollout")})
        if step % args.eval_every == 0 or step == args.steps:
            snapshots[step] = snapshot()  # off the clock in effect: a 1M-parameter copy
    trainer.settle()
    curve = {}
    for step, state in snapshots.items():  # after the clock: the run's own engine, the recipe's sampling
        trainer.engine.load_weights(state.items())
        held = trainer.held_out()
        curve[step] = held["accuracy"] if held else float("nan")
    info = getattr(trainer.engine, "info", {"cpus": sorted(os.sched_getaffinity(0)), "threads": torch.get_num_threads()})
    print("RESULT " + json.dumps({
        "k": args.worker, "wall": sum(walls), "walls": walls, "rows": rows, "curve": curve,
        "engine": trainer.cfg.rollout.engine, "engine_cpus": info["cpus"], "engine_threads": info["threads"],
        "trainer_cpus": sorted(os.sched_getaffinity(0)), "trainer_threads": torch.get_num_threads(),
    }), flush=True)
    trainer.engine.close()
    return 0


def _mean(values: list[Any]) -> float:
    vals = [v for v in values if isinstance(v, int | float)]
    return sum(vals) / len(vals) if vals else float("nan")


def main(argv: list[str]) -> int:
    args = parse(argv)
    if args.worker is not None:
        return worker(args)
    ks = [int(k) for k in args.ks.split(",")]
    results: dict[int, dict[str, Any]] = {}
    for k in ks:
        load_before = os.getloadavg()[0]
        started = time.perf_counter()
        cmd = [sys.executable, "-m", "r1train.bench.async", "--worker", str(k), "--steps", str(args.steps),
               "--eval-every", str(args.eval_every), "--recipe", args.recipe]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=dict(os.environ, TOKENIZERS_PARALLELISM="false"))
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
        if proc.returncode != 0 or not lines:
            sys.stderr.write(proc.stderr[-4000:])
            raise SystemExit(f"the k={k} run failed (exit {proc.returncode}); its last output is above")
        r = json.loads(lines[-1][7:])
        r["load"] = (load_before, os.getloadavg()[0])
        results[k] = r
        rows = r["rows"]
        print(f"k={k}: {args.steps} steps in {r['wall']:.1f} s ({r['wall'] / args.steps:.2f} s/step; run "
              f"{time.perf_counter() - started:.0f} s with start-up and evaluation), engine {r['engine']} on cores "
              f"{r['engine_cpus']} x{r['engine_threads']} threads, trainer on {r['trainer_cpus']} x{r['trainer_threads']}; "
              f"mean staleness {_mean([x['staleness/mean'] for x in rows]):.2f}, trainer idle "
              f"{_mean([x['time/trainer_idle'] for x in rows]):.2f} s/step, engine idle "
              f"{_mean([x['time/engine_idle'] for x in rows]):.2f} s/step, push {_mean([x['time/sync'] for x in rows]) * 1e3:.1f} ms/step; "
              f"load {r['load'][0]:.2f} -> {r['load'][1]:.2f} on {os.cpu_count()} cores", flush=True)
    print("\nheld-out accuracy by step:")
    steps = sorted({int(s) for r in results.values() for s in r["curve"]})
    print("  step " + "".join(f"{s:>7}" for s in steps))
    for k, r in results.items():
        print(f"  k={k:<3}" + "".join(f"{r['curve'].get(str(s), float('nan')):>7.3f}" for s in steps))
    base = results.get(0, {}).get("wall")
    speed = {k: (base / r["wall"] if base else float("nan")) for k, r in results.items()}
    final = {k: r["curve"][str(max(int(s) for s in r["curve"]))] for k, r in results.items()}

    def fmt(d: dict[int, float], k: int, digits: int) -> str:
        return f"{d[k]:.{digits}f}" if k in d else "n/a"

    print(f"async: speedup k=1 {fmt(speed, 1, 2)}, k=2 {fmt(speed, 2, 2)}; final accuracy k=0 {fmt(final, 0, 3)}, "
          f"k=1 {fmt(final, 1, 3)}, k=2 {fmt(final, 2, 3)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
