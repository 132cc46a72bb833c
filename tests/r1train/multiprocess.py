"""Helpers for the tests that launch real training processes (DDP, FSDP2, DeepSpeed): one small recipe,
a subprocess runner with the test's model cache, and the accelerate launch prefix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
REPO = HERE.parents[1]
TRAIN = [sys.executable, "-m", "r1train", "train"]


def write_recipe(tmp_path: Path, model: dict[str, Any] | None = None, **train: Any) -> Path:
    """tiny:1m on the copy task with the vLLM engine (``rollout.seeding: prompt`` makes rollouts independent
    of the process split) and a digit-fraction reward that gives every group signal; ``train`` keys override."""
    data = {
        "model": {"name_or_path": "tiny:1m", **(model or {})},
        "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 64, "eval_size": 4}},
        "rollout": {"engine": "vllm", "prompts_per_step": 4, "num_generations": 4, "max_new_tokens": 8,
                    "seeding": "prompt"},
        "rewards": [{"name": f"{HERE / 'reward_fixtures.py'}:digits"}],
        "optim": {"lr": 1.0e-2},
        "train": {"steps": 2, "seed": 5, "micro_batch_size": 3, "save_every": 1, "keep_last": 0, **train},
        "logging": {"progress": False},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(cmd: list[str], cache: Path, timeout: int = 900) -> None:
    env = {**os.environ, "R1TRAIN_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-4000:]


def accelerate_train(port: int, processes: int = 2, config: str | None = None) -> list[str]:
    """``accelerate launch … -m r1train train`` (plain multi-process data parallelism without a config)."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
    launch += ["--config_file", str(REPO / "recipes" / "accelerate" / config)] if config else ["--multi_gpu", "--num_machines", "1", "--dynamo_backend", "no"]
    return [*launch, "--mixed_precision", "no", "--main_process_port", str(port), "-m", "r1train", "train"]


def rows(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
