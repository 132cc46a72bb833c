"""What a run tells the person watching it, through the real trainer on tiny:1m (hf engine): data errors
before the model loads, the start-up banner, plain progress lines when stdout is not a terminal, and the
warnings for groups without signal and for reward functions that fail on every call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from r1train.errors import UserError
from r1train.recipe import build_config
from r1train.train.trainer import Trainer
from tests.helpers import REWARDS_FILE


def recipe(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": {"name_or_path": "tiny:1m", "dtype": "float32"},
        "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 32, "eval_size": 2}},
        "rollout": {"engine": "hf", "prompts_per_step": 2, "num_generations": 2, "max_new_tokens": 4},
        "rewards": [{"name": f"{REWARDS_FILE}:digits"}],
        "optim": {"lr": 0.01},
        "train": {"steps": 3, "output_dir": str(tmp_path / "run"), "micro_batch_size": 4, "save_every": 0,
                  "eval_size": 0},
        "logging": {"progress": True},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    return data


def test_a_missing_column_fails_before_the_model_loads(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"problem": "1+1", "answer": "2"}) + "\n")
    # the model path does not exist: had the trainer loaded it first, the error would be about the model
    cfg = build_config(recipe(tmp_path, model={"name_or_path": str(tmp_path / "no-model")},
                              data={"source": f"file:{rows}"}), "test")
    with pytest.raises(UserError) as err:
        Trainer(cfg)
    assert "has no column 'question' (set by data.prompt_column); its columns are: problem, answer" in str(err.value)
    assert not (tmp_path / "run").exists()  # nothing was written either
