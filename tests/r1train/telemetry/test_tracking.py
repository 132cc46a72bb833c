"""Weights & Biases in offline mode: config, metrics and the completions table are really written,
and a resumed run continues the same W&B run. The run file is read back by W&B's own reader
(``wandb leet inspect --json``, see ``tests.helpers.wandb_log``), so a new wandb release that changes
the file format changes the reader with it."""

from __future__ import annotations

import json
from pathlib import Path

from r1train.recipe import build_config
from r1train.train.run import train
from tests.helpers import REWARDS_FILE, wandb_log

HERE = Path(__file__).parent


def cfg(out: Path, steps: int):
    return build_config(
        {
            "model": {"name_or_path": "tiny:1m"},
            "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 32, "eval_size": 4}},
            "rollout": {"engine": "hf", "prompts_per_step": 2, "num_generations": 2, "max_new_tokens": 4},
            "rewards": [{"name": f"{REWARDS_FILE}:sevens"}],
            "train": {"steps": steps, "save_every": 1, "output_dir": str(out)},
            "logging": {"progress": False, "completions_every": 1, "wandb": {"mode": "offline", "project": "t"}},
        },
        "test",
    )


def test_offline_run_holds_config_metrics_and_table(tmp_path: Path) -> None:
    out = tmp_path / "run"
    train(cfg(out, 2))
    files = sorted((out / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1
    log = wandb_log(files[0])
    c = log["config"]
    assert c["model"]["name_or_path"] == "tiny:1m" and c["train"]["steps"] == 2
    assert c["rollout"]["num_generations"] == 2 and c["logging"]["wandb"]["mode"] == "offline"
    assert files[0].name == f"run-{log['run_id']}.wandb"
    rows = log["history"]
    metric_rows = [r for r in rows if "reward" in r]
    assert [r["step"] for r in metric_rows] == [1, 2]
    assert all("time/rollout" in r and "length/mean" in r for r in metric_rows)
    metrics = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["reward"] for r in metric_rows] == [m["reward"] for m in metrics]  # W&B holds what the jsonl holds
    tables = [r for r in rows if r.get("completions._type") == "table-file"]
    assert [t["step"] for t in tables] == [1, 2] and tables[0]["completions.nrows"] == 4  # 2 prompts x 2 samples
    table = json.loads((files[0].parent / "files" / tables[0]["completions.path"]).read_text())
    assert table["columns"][:3] == ["step", "prompt", "completion"] and len(table["data"]) == 4

    train(cfg(out, 3))  # resume=auto continues from step 2 in the same W&B run
    files = sorted((out / "wandb").glob("offline-run-*/run-*.wandb"))
    logs = [wandb_log(f) for f in files]
    assert len(files) == 2 and len({g["run_id"] for g in logs}) == 1
    assert [r["step"] for r in logs[-1]["history"] if "reward" in r] == [3]
