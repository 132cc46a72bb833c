"""``r1train bench pocket_r1`` (``make pocket-r1``): DeepSeek-R1's pipeline beyond R1-Zero, on 2 CPU cores.

Every stage is one shipped recipe run through the real CLI (``python -m r1train …``) in its own process,
into one run directory, and timed as a whole command (start-up and evaluations included):

1. R1-Zero: ``recipes/pocket-zero.yaml``, pure RL from the pocket base.
2. Cold start: ``pocket-cold-sample.yaml`` (rejection-sample the base made to think), ``pocket-cold-sft.yaml``
   (SFT the base on the kept traces), ``pocket-cold-rl.yaml`` (the same RL from there).
3. Distillation: ``pocket-student-base.yaml`` (pretrain a 270k-parameter student), ``pocket-distill-sample.yaml``
   (rejection-sample the RL-trained teacher: the cold start + RL model, as R1-Distill was sampled from R1), ``pocket-distill-sft.yaml`` (SFT the student on its traces), and
   ``pocket-student-rl.yaml``: pure RL on the same student, its training loop given the whole wall time of
   the distillation's two commands (``train.max_time_s``; RL's own start-up and evaluations come on top).

``pipeline.json`` is a list of rows (``name``, ``accuracy``, ``think_rate``, ``length``, ``steps``,
``wall_s``; held-out figures on pocket-zero's held-out problems, sampled at temperature 1), plus, for the RL
runs, the steps and seconds their training accuracy (10-step trailing mean of the batch accuracy) took to
reach the R1-Zero run's final training accuracy (the mean of its last 10 steps). ``pipeline.png`` draws the
RL runs' batch accuracy and think rate per step. ``--short`` shortens every stage (what the test runs).

Use::

    r1train bench pocket_r1 [--out runs/pocket-r1-DATE] [--short] [--engine hf] [--resume]

``--resume`` continues a pipeline that stopped: stages recorded in ``walls.json`` (finished) are kept, the
first unfinished one starts again in a fresh directory (its partial one is moved aside, not deleted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

# (stage, command, recipe, overrides with {stage} replaced by that stage's output directory)
STAGES: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("zero", "train", "pocket-zero.yaml", ()),
    ("cold-data", "sample", "pocket-cold-sample.yaml", ()),
    ("cold-sft", "sft", "pocket-cold-sft.yaml", ("data.source=file:{cold-data}/data.jsonl",)),
    ("cold-rl", "train", "pocket-cold-rl.yaml", ("model.name_or_path={cold-sft}/model",)),
    ("student", "pretrain", "pocket-student-base.yaml", ()),
    ("distill-data", "sample", "pocket-distill-sample.yaml", ("model.name_or_path={cold-rl}/model",)),
    ("distill-sft", "sft", "pocket-distill-sft.yaml",
     ("model.name_or_path={student}/model", "data.source=file:{distill-data}/data.jsonl")),
    ("student-rl", "train", "pocket-student-rl.yaml", ("model.name_or_path={student}/model",)),
)
EVAL = "train.eval_size=32"
# 16 samples a step, not 128, and a smaller step to match (at 3e-4 such small batches undid the cold start)
SMALL_RL = ("rollout.prompts_per_step=4", "rollout.num_generations=4", "optim.lr=1.0e-4", EVAL)
SHORT: dict[str, tuple[str, ...]] = {
    "zero": ("train.steps=6", *SMALL_RL),
    "cold-data": ("sample.max_prompts=32", "sample.prompts_per_call=32"),
    "cold-sft": ("train.steps=12", EVAL),
    "cold-rl": ("train.steps=6", *SMALL_RL),
    "student": ("corpus.size=4000", "eval.size=16", "train.log_every=50"),
    "distill-data": ("sample.max_prompts=48", "sample.prompts_per_call=48"),
    "distill-sft": ("train.steps=12", EVAL),
    "student-rl": SMALL_RL,
}
WINDOW = 10  # steps in the trailing mean of the batch accuracy


def run_stage(name: str, command: str, recipe: str, extra: list[str], out: Path, log: Path) -> float:
    """Run one stage through the CLI; its wall time in seconds. A failing stage stops the pipeline."""
    cmd = [sys.executable, "-m", "r1train", command, str(ROOT / "recipes" / recipe), *extra]
    print(f"r1train pocket-r1: [{name}] {' '.join(cmd[2:])}", flush=True)
    t0 = time.perf_counter()
    with log.open("w") as f:
        done = subprocess.run(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=f, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        tail = log.read_text()[-1500:]
        raise SystemExit(f"r1train pocket-r1: stage {name} failed ({done.returncode}); log {log}:\n{tail}")
    print(f"r1train pocket-r1: [{name}] done in {wall:.0f} s", flush=True)
    return wall


def metrics(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def trailing(values: list[float], window: int = WINDOW) -> list[float]:
    """Mean of the last ``window`` values at each position (fewer at the start)."""
    return [sum(values[max(0, i - window + 1) : i + 1]) / len(values[max(0, i - window + 1) : i + 1]) for i in range(len(values))]


def time_to(rows: list[dict[str, Any]], target: float) -> tuple[int | None, float | None]:
    """(step, training seconds) at which the trailing batch accuracy first reaches ``target``; (None, None) if never."""
    acc = trailing([r.get("accuracy") or 0.0 for r in rows])
    seconds = 0.0
    for r, a in zip(rows, acc, strict=True):
        seconds += r.get("time/step") or 0.0
        if a >= target:
            return int(r["step"]), round(seconds, 1)
    return None, None


def row(name: str, summary: dict[str, Any], when: str, steps: int, wall: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "accuracy": summary.get(f"accuracy_{when}"), "think_rate": summary.get(f"think_rate_{when}"),
            "length": summary.get(f"length_{when}"), "steps": steps, "wall_s": round(wall, 1), **extra}


def build_rows(run: Path, walls: dict[str, float]) -> list[dict[str, Any]]:
    s = {n: json.loads((run / n / "summary.json").read_text()) for n in ("zero", "cold-sft", "cold-rl", "distill-sft", "student-rl")}
    zero_rows = metrics(run / "zero")
    target = sum(r.get("accuracy") or 0.0 for r in zero_rows[-WINDOW:]) / len(zero_rows[-WINDOW:])

    def to_target(stage: str) -> dict[str, Any]:
        step, secs = time_to(metrics(run / stage), target)
        return {"target_train_accuracy": round(target, 4), "steps_to_target": step, "train_s_to_target": secs}

    cold_wall = walls["cold-data"] + walls["cold-sft"]
    distill_wall = walls["distill-data"] + walls["distill-sft"]
    return [
        row("pocket-base (1M)", s["zero"], "before", 0, 0.0),
        row("R1-Zero: RL from the base", s["zero"], "after", s["zero"]["steps"], walls["zero"], **to_target("zero")),
        row("cold start: sample + SFT", s["cold-sft"], "after", s["cold-sft"]["steps"], cold_wall),
        row("cold start + RL", s["cold-rl"], "after", s["cold-rl"]["steps"], cold_wall + walls["cold-rl"],
            rl_wall_s=round(walls["cold-rl"], 1), **to_target("cold-rl")),
        row("student base (270k)", s["distill-sft"], "before", 0, walls["student"]),
        row("student distilled: sample teacher + SFT", s["distill-sft"], "after", s["distill-sft"]["steps"], distill_wall),
        row("student pure RL, same wall time", s["student-rl"], "after", s["student-rl"]["steps"], walls["student-rl"],
            train_time_budget_s=round(distill_wall, 1), **to_target("student-rl")),
    ]


def plot(run: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    for stage, label in (("zero", "R1-Zero"), ("cold-rl", "cold start + RL"), ("student-rl", "student, pure RL")):
        rows = metrics(run / stage)
        steps = [r["step"] for r in rows]
        for ax, key in zip(axes, ("accuracy", "reasoning/think_rate"), strict=True):
            ax.plot(steps, trailing([r.get(key) or 0.0 for r in rows]), label=label, linewidth=2)
    for ax, title in zip(axes, ("batch accuracy (10-step mean)", "think rate (10-step mean)"), strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("RL step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="r1train bench pocket_r1", description="R1's pipeline beyond R1-Zero, in the pocket lab.")
    p.add_argument("--out", default=f"runs/pocket-r1-{time.strftime('%Y%m%d-%H%M%S')}", help="run directory (must not exist)")
    p.add_argument("--short", action="store_true", help="shortened stages (a smoke run, what the test runs)")
    p.add_argument("--engine", default=None, help="rollout.engine for every stage (default: each recipe's)")
    p.add_argument("--resume", action="store_true", help="continue the pipeline in --out after its last finished stage")
    ns = p.parse_args(argv)
    run = Path(ns.out).resolve()
    if run.exists() and not ns.resume:
        raise SystemExit(f"r1train pocket-r1: {run} exists; give a new --out or --resume (nothing is overwritten)")
    run.mkdir(parents=True, exist_ok=True)
    walls_path = run / "walls.json"
    walls: dict[str, float] = json.loads(walls_path.read_text()) if walls_path.is_file() else {}
    dirs = {name: str(run / name) for name, *_ in STAGES}
    for name, command, recipe, overrides in STAGES:
        if name in walls:
            continue
        if (run / name).exists():  # a stage that did not finish: keep it aside, start it again
            (run / name).rename(run / f"{name}.stopped-{time.strftime('%H%M%S')}")
        extra = [o.format(**dirs) for o in overrides] + [f"train.output_dir={dirs[name]}"]
        if command != "pretrain":
            extra.append("logging.progress=false")
            if ns.engine:
                extra.append(f"rollout.engine={ns.engine}")
        if name == "student-rl":
            extra.append(f"train.max_time_s={walls['distill-data'] + walls['distill-sft']:.1f}")
        if ns.short:
            extra += list(SHORT[name])
        walls[name] = run_stage(name, command, recipe, extra, run / name, run / f"{name}.log")
        walls_path.write_text(json.dumps(walls, indent=2) + "\n")
    rows = build_rows(run, walls)
    (run / "pipeline.json").write_text(json.dumps(rows, indent=2) + "\n")
    plot(run, run / "pipeline.png")
    print(format_table(rows))
    print(f"r1train pocket-r1: pipeline.json and pipeline.png are in {run}")
    return 0


def format_table(rows: list[dict[str, Any]]) -> str:
    """The rows as a markdown table (what the README shows)."""
    def pct(v: Any) -> str:
        return "-" if v is None else f"{100 * v:.1f}%"

    lines = ["| stage | accuracy | think rate | length | steps | wall (s) |", "|---|---|---|---|---|---|"]
    for r in rows:
        length = "-" if r["length"] is None else f"{r['length']:.1f}"
        lines.append(f"| {r['name']} | {pct(r['accuracy'])} | {pct(r['think_rate'])} | {length} | {r['steps']} | {r['wall_s']:.0f} |")
    return "\n".join(lines)
