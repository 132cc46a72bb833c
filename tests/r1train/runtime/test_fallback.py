"""Damaged checkpoints: resume falls back to the newest intact one (saying which it skipped and why),
interrupted writes are cleared at the next start, and checkpoints that cannot fit are one sentence.

Real checkpoints of a tiny:1m run, damaged the way disks and people damage them (the checks themselves,
on files made by hand, are in test_integrity.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from r1train.errors import UserError
from r1train.recipe import load_recipe
from r1train.runtime import checkpoint
from r1train.train.run import train
from tests.helpers import REWARDS_FILE


def recipe(tmp_path: Path, model: str = "tiny:1m") -> Path:
    data = {
        "model": {"name_or_path": model},
        "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 32, "eval_size": 2}},
        "rollout": {"engine": "hf", "prompts_per_step": 2, "num_generations": 2, "max_new_tokens": 4},
        "rewards": [{"name": f"{REWARDS_FILE}:sevens"}],
        "optim": {"lr": 3.0e-3},
        "train": {"steps": 3, "seed": 3, "save_every": 1, "keep_last": 0, "micro_batch_size": 4},
        "logging": {"progress": False},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run stopped after step 3, with checkpoints 1, 2, 3 (no final model: resuming must run again)."""
    tmp = tmp_path_factory.mktemp("stopped")
    out = tmp / "run"
    train(load_recipe(recipe(tmp), [f"train.output_dir={out}"]))
    shutil.rmtree(out / "model")
    return out


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-100])


DAMAGE = {
    "truncated weights": (lambda c: _truncate(c / "model" / "model.safetensors"), "in model/, model.safetensors is truncated"),
    "no optimizer.pt": (lambda c: (c / "optimizer.pt").unlink(), "optimizer.pt is missing"),
    "garbage state.json": (lambda c: (c / "state.json").write_text("{\x00\x01"), "state.json is not valid JSON"),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_resume_falls_back_past_a_damaged_latest_checkpoint(damage: str, stopped_run: Path, tmp_path: Path, capfd) -> None:
    out = tmp_path / "run"
    shutil.copytree(stopped_run, out)
    spoil, why = DAMAGE[damage]
    spoil(out / "checkpoints" / "step-000003")
    leftover = out / "checkpoints" / ".tmp-step-000004-12345"  # a SIGKILL mid-save leaves this
    (leftover / "model").mkdir(parents=True)
    half_final = out / ".tmp-model-12345"  # ... and this, mid-way through writing the final model
    half_final.mkdir()
    train(load_recipe(recipe(tmp_path), [f"train.output_dir={out}", "train.steps=4"]))  # used to be a traceback
    captured = capfd.readouterr()
    err = captured.err
    assert f"skipping checkpoint {out / 'checkpoints' / 'step-000003'} ({why}" in err, err[-2000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]  # resumed after step 2: steps 3 and 4 ran again
    orphaned = [json.loads(line)["step"] for line in (out / "metrics.orphaned.jsonl").read_text().splitlines()]
    assert orphaned == [3]  # the first run's step 3, kept aside
    assert not leftover.exists() and not half_final.exists()
    assert checkpoint.latest(out) == out / "checkpoints" / "step-000004"
    assert f"resuming from {out / 'checkpoints' / 'step-000002'} (step 2)" in captured.out


def test_no_intact_checkpoint_and_a_damaged_explicit_one_are_one_sentence(stopped_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(stopped_run, out)
    for ckpt in checkpoint.complete_checkpoints(out):
        (ckpt / "rng.pt").unlink()
    with pytest.raises(UserError, match=r"no checkpoint in .* can be resumed \(step-000003: rng.pt is missing; .*train.overwrite=true"):
        train(load_recipe(recipe(tmp_path), [f"train.output_dir={out}"]))
    bad = out / "checkpoints" / "step-000002"
    with pytest.raises(UserError, match=r"checkpoint .*step-000002' cannot be resumed \(rng.pt is missing\)"):
        train(load_recipe(recipe(tmp_path), [f"train.output_dir={tmp_path / 'new'}", f"train.resume={bad}"]))


def test_resuming_another_models_checkpoint_is_one_sentence(stopped_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    shutil.copytree(stopped_run, out)
    # tiny:3m has other widths than tiny:1m: load_state_dict(strict=False) raised on the size mismatch
    with pytest.raises(UserError, match=r"does not fit this model \(\d+ tensors differ in shape, e.g. .* is \[.*\] there"):
        train(load_recipe(recipe(tmp_path, "tiny:3m"), [f"train.output_dir={out}", "train.steps=4"]))
