"""The trainer wires the GRPO family in: one step with LoRA, a KL reward penalty and dynamic sampling."""

from __future__ import annotations

from pathlib import Path

from r1train.config import build_config
from r1train.reference import AdapterDisabledReference
from r1train.trainer import Trainer

HERE = Path(__file__).parent


def test_one_step_with_lora_kl_and_dynamic_sampling(tmp_path: Path) -> None:
    # KL in the loss is covered by test_update.py; here the reward-penalty path through the trainer
    cfg = build_config(
        {
            "model": {"name_or_path": "tiny:1m", "dtype": "float32", "lora": {"r": 4, "alpha": 8}},
            "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 32, "eval_size": 2}},
            "rollout": {"engine": "hf", "prompts_per_step": 2, "num_generations": 4, "max_new_tokens": 4},
            "rewards": [{"name": f"{HERE / 'reward_fixtures.py'}:sevens"}],
            "algorithm": {
                "kl_beta": 0.1,
                "kl_in_reward": True,
                "iterations": 2,
                "dynamic_sampling": True,
                "max_sampling_tries": 2,
                "rollout_is": "token_truncate",
            },
            "train": {"steps": 1, "output_dir": str(tmp_path / "run"), "micro_batch_size": 4, "save_every": 0},
            "logging": {"progress": False},
        },
        "test",
    )
    trainer = Trainer(cfg)
    assert isinstance(trainer.reference, AdapterDisabledReference)
    row = trainer.step()
    for key in ("kl", "entropy", "clip/low", "clip/high", "ratio/mean", "frac_zero_std", "grad_norm", "lr"):
        assert key in row, key
    assert row["sampling/tries"] in (1.0, 2.0) and "sampling/is_weight/mean" in row
    assert row["tokens/train"] > 0 and row["kl"] >= 0
