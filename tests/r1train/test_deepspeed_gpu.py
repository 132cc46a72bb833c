"""DeepSpeed ZeRO-2 and ZeRO-3 under `accelerate launch --config_file recipes/accelerate/zero{2,3}.yaml`
(CUDA only; ``python -m r1train.bench.gpu_checks`` runs these with every other gpu test).

Per stage, against a plain one-process run A of the tiny recipe on the same GPU (two steps, fp32):

- B: DeepSpeed from scratch, one step, on min(2, GPUs) processes: the first update and the metrics row
  (logged once) equal A's; the checkpoint holds full weights in ``model/`` and the engine's partitioned
  state in ``deepspeed/``. Micro-batches (3 samples each) accumulate into one optimizer step.
- C: DeepSpeed resuming B's checkpoint with the same process count: step 2 equals A's, so the engine's
  optimizer state came back. ZeRO-3 also proves the layer-by-layer gather for the vLLM weight sync
  (the same rollouts) and the output head gathered for the chunked logprobs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

HERE = Path(__file__).parent
REPO = HERE.parents[1]


def write_recipe(tmp_path: Path) -> Path:
    data = {
        "model": {"name_or_path": "tiny:1m", "dtype": "float32"},
        "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 64, "eval_size": 4}},
        "rollout": {"engine": "vllm", "prompts_per_step": 4, "num_generations": 4, "max_new_tokens": 8},
        "rewards": [{"name": f"{HERE / 'reward_fixtures.py'}:digits"}],
        "optim": {"lr": 1.0e-2},
        "train": {"steps": 2, "seed": 5, "micro_batch_size": 3, "save_every": 1, "keep_last": 0},
        "logging": {"progress": False},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(cmd: list[str], cache: Path) -> None:
    env = {**os.environ, "R1TRAIN_CACHE": str(cache), "PYTHONPATH": str(REPO)}
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-4000:]


def rows(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


def assert_close_weights(a: Path, b: Path, atol: float) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert sorted(wa) == sorted(wb)
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=atol, rtol=0), k


@pytest.mark.gpu
@pytest.mark.parametrize("stage", [2, 3])
def test_zero_matches_one_process_and_resumes(tmp_path: Path, stage: int) -> None:
    pytest.importorskip("deepspeed")
    recipe = write_recipe(tmp_path)
    cache = Path(os.environ["R1TRAIN_CACHE"])
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    run([sys.executable, "-m", "r1train", "train", str(recipe), f"train.output_dir={a}"], cache)

    procs = str(min(2, torch.cuda.device_count()))
    config = REPO / "recipes" / "accelerate" / f"zero{stage}.yaml"
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(config), "--num_processes", procs]
    launch += ["--mixed_precision", "no", "--main_process_port", str(29590 + stage), "-m", "r1train", "train", str(recipe)]
    run([*launch, f"train.output_dir={b}", "train.steps=1"], cache)
    assert len(rows(b)) == 1
    for key in ("reward", "length/mean", "grad_norm"):
        assert abs(rows(a)[0][key] - rows(b)[0][key]) < 1e-4, key
    b1 = b / "checkpoints" / "step-000001"
    assert (b1 / "deepspeed").is_dir() and not (b1 / "optimizer.pt").exists()
    # GPU kernels sum in another order than one process: 1e-4 is 1% of Adam's first step (lr = 1e-2)
    assert_close_weights(a / "checkpoints" / "step-000001" / "model", b1 / "model", atol=1e-4)
    assert_close_weights(a / "checkpoints" / "step-000001" / "model", b / "model", atol=1e-4)

    run([*launch, f"train.output_dir={c}", f"train.resume={b1}"], cache)
    assert [r["step"] for r in rows(c)] == [2]
    for key in ("reward", "length/mean"):
        assert abs(rows(a)[1][key] - rows(c)[0][key]) < 1e-4, key
    assert_close_weights(a / "model", c / "model", atol=2e-4)
