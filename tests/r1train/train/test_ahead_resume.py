"""``rollout.max_staleness: 2`` with the real ``vllm-process`` engine: SIGKILL mid-run, then resume.

The run is killed (a real SIGKILL of the trainer; its engine process dies with it) after its step-3
checkpoint; resumed with the same command, it must continue at step 3 with no gap or repeat in
``metrics.jsonl`` and repeat the uninterrupted run exactly: a checkpoint holds no batch in flight (they
are discarded and regenerated from the checkpoint's weights, with seeds that follow the batch number).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from r1train.recipe import load_recipe
from r1train.runtime import checkpoint
from r1train.train.run import train
from tests.helpers import REWARDS_FILE, kill_when, rows


def _recipe(tmp_path: Path) -> Path:
    data = {
        "model": {"name_or_path": "tiny:1m", "dtype": "float32"},
        "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 64, "eval_size": 4}},
        "rollout": {"engine": "vllm", "max_staleness": 2, "prompts_per_step": 4, "num_generations": 4,
                    "max_new_tokens": 6, "kv_cache_gb": 1},
        "rewards": [{"name": f"{REWARDS_FILE}:sevens"}],
        "optim": {"lr": 3.0e-3},
        "train": {"steps": 5, "seed": 3, "save_every": 3, "keep_last": 2, "micro_batch_size": 8, "eval_size": 0},
        "logging": {"progress": False},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _train(rec: Path, out: Path) -> None:
    mine = os.sched_getaffinity(0)
    try:
        train(load_recipe(rec, [f"train.output_dir={out}"]))
    finally:
        os.sched_setaffinity(0, mine)  # the engine factory pinned this process to the trainer's cores


def test_sigkill_during_an_async_run_then_resume_has_no_gap_or_repeat(tmp_path: Path) -> None:
    rec = _recipe(tmp_path)
    straight = tmp_path / "straight"
    _train(rec, straight)

    killed = tmp_path / "killed"
    marker = killed / "checkpoints" / "step-000003" / checkpoint.MARKER
    kill_when(marker, "train", str(rec), f"train.output_dir={killed}", timeout=600)
    assert checkpoint.latest(killed) is not None and not (killed / "model").exists(), "it should have died mid-run"

    _train(rec, killed)  # train.resume defaults to auto
    a, b = rows(straight), rows(killed)
    assert [r["step"] for r in b] == [1, 2, 3, 4, 5]  # no gap, no repeat
    # k = 2: batches 0, 1, 2 are all submitted at step 1 with version 0, so steps 1, 2, 3 (versions 0,
    # 1, 2 training) see staleness 0, 1, 2; the step-3 checkpoint settles the pipeline (batches 3, 4 in
    # flight are dropped and resubmitted with version 3), so steps 4, 5 see 0, 1
    assert [r["staleness/max"] for r in a] == [0.0, 1.0, 2.0, 0.0, 1.0]
    for key in ("reward", "loss", "grad_norm", "length/mean", "staleness/max", "staleness/mean"):
        assert [r[key] for r in a] == [r[key] for r in b], key
