"""End to end: GRPO on the tiny model raises the reward (the walking skeleton's acceptance test)."""

from __future__ import annotations

import json
from pathlib import Path

from r1train.recipe import build_config
from r1train.train.run import train
from tests.helpers import REWARDS_FILE

HERE = Path(__file__).parent


def test_grpo_raises_reward_on_an_easy_task(tmp_path: Path) -> None:
    cfg = build_config(
        {
            "model": {"name_or_path": "tiny:1m"},
            "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 200, "eval_size": 8}},
            "rollout": {"engine": "hf", "prompts_per_step": 8, "num_generations": 8, "max_new_tokens": 8},
            "rewards": [{"name": f"{REWARDS_FILE}:sevens"}],
            "optim": {"lr": 3.0e-3},
            "train": {"steps": 14, "seed": 0, "output_dir": str(tmp_path / "run"), "micro_batch_size": 64},
            "logging": {"progress": False},
        },
        "test",
    )
    result = train(cfg)
    rewards = [row["reward"] for row in result.history]
    first, last = sum(rewards[:4]) / 4, sum(rewards[-4:]) / 4
    # A random 1M model emits '7' with probability ~1/100; GRPO should at least triple that quickly.
    assert last > 3 * first and last > 0.05, rewards
    out = result.output_dir
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 15))
    for key in ("reward", "length/mean", "time/step", "time/rollout", "time/reward", "time/update", "tokens_per_s"):
        assert key in rows[0]
    assert "reward/reward_fixtures:sevens" in rows[0]
    assert (out / "completions.jsonl").stat().st_size > 0
    assert (out / "model" / "config.json").is_file() and (out / "model" / "tokenizer.json").is_file()
    assert (out / "recipe.yaml").is_file()
