"""Checkpoints and exact resume: a run killed with SIGKILL and resumed matches an uninterrupted run."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from r1train.errors import UserError
from r1train.recipe import load_recipe
from r1train.runtime import checkpoint
from r1train.train.run import train
from tests.helpers import REWARDS_FILE, kill_when, rows, start_cli


def recipe(tmp_path: Path, steps: int = 4) -> Path:
    data = {
        "model": {"name_or_path": "tiny:1m"},
        "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 64, "eval_size": 4}},
        "rollout": {"engine": "hf", "prompts_per_step": 4, "num_generations": 4, "max_new_tokens": 6},
        "rewards": [{"name": f"{REWARDS_FILE}:sevens"}],
        "optim": {"lr": 3.0e-3, "warmup_steps": 2, "schedule": "cosine"},
        "train": {"steps": steps, "seed": 3, "save_every": 1, "keep_last": 2, "micro_batch_size": 8},
        "logging": {"progress": False},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "model" / "model.safetensors"))


def test_sigkill_then_resume_is_exact(tmp_path: Path) -> None:
    rec = recipe(tmp_path)
    straight = tmp_path / "straight"
    train(load_recipe(rec, [f"train.output_dir={straight}"]))

    killed = tmp_path / "killed"
    kill_when(killed / "checkpoints" / "step-000002" / checkpoint.MARKER, "train", str(rec), f"train.output_dir={killed}")
    done = checkpoint.latest(killed)
    assert done is not None and not (killed / "model").exists(), "the run should have died before finishing"

    result = train(load_recipe(rec, [f"train.output_dir={killed}"]))  # train.resume defaults to auto
    a, b = rows(straight), rows(killed)
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for key in ("reward", "loss", "grad_norm", "lr", "length/mean"):
        assert [r[key] for r in a] == [r[key] for r in b], key  # bit for bit on CPU
    wa, wb = weights(straight), weights(result.output_dir)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert len(checkpoint.complete_checkpoints(killed)) == 2  # keep_last


def test_sigterm_saves_a_checkpoint_and_says_how_to_resume(tmp_path: Path) -> None:
    rec = recipe(tmp_path, steps=50)
    out = tmp_path / "run"
    proc = start_cli("train", str(rec), f"train.output_dir={out}", "train.save_every=100",
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while time.time() < deadline and not ((out / "metrics.jsonl").exists() and (out / "metrics.jsonl").read_text()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 143
    assert "train.resume=auto" in err and "stopped by SIGTERM" in err
    assert checkpoint.latest(out) is not None


def test_full_disk_keeps_the_previous_checkpoint(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(disk)], check=True)
    try:
        rec = recipe(tmp_path, steps=3)
        out = disk / "run"
        # tiny:1m is ~4 MB in float32 and its Adam state ~8 MB more: one ~12.5 MB checkpoint fits in 20 MB,
        # a second one (keep_last=2 keeps the first until the second is complete) cannot
        with pytest.raises(UserError, match="could not write checkpoint step-000002 .*step-000001 is intact"):
            train(load_recipe(rec, [f"train.output_dir={out}"]))
        first = checkpoint.latest(out)
        assert first is not None and first.name == "step-000001"
        assert checkpoint.load_state(first).step == 1
        assert not any(p.name.startswith(".tmp") for p in (out / "checkpoints").iterdir())
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)
