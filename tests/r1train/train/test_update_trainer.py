"""The trainer wires the GRPO family in: one step with LoRA, a KL reward penalty and dynamic sampling."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from r1train.grpo import compute_advantages
from r1train.recipe import build_config
from r1train.train.batch import Batch
from r1train.train.reference import AdapterDisabledReference, sequence_kl
from r1train.train.trainer import Trainer
from tests.helpers import REWARDS_FILE


def test_one_step_with_lora_kl_and_dynamic_sampling(tmp_path: Path) -> None:
    # KL in the loss is covered by test_update.py; here the reward-penalty path through the trainer
    cfg = build_config(
        {
            "model": {"name_or_path": "tiny:1m", "dtype": "float32", "lora": {"r": 4, "alpha": 8}},
            "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 32, "eval_size": 2}},
            "rollout": {"engine": "hf", "prompts_per_step": 2, "num_generations": 4, "max_new_tokens": 4},
            "rewards": [{"name": f"{REWARDS_FILE}:sevens"}],
            "algorithm": {
                "kl_beta": 0.1,
                "kl_in_reward": True,
                "iterations": 2,
                "dynamic_sampling": True,
                "max_sampling_tries": 2,
                "rollout_is": "token_truncate",
            },
            "optim": {"lr": 0.05},
            "train": {"steps": 2, "output_dir": str(tmp_path / "run"), "micro_batch_size": 4, "save_every": 0},
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
    # LoRA's B matrices start at zero: at the first step the policy *is* the reference, so the KL is 0 ...
    assert row["tokens/train"] > 0 and row["kl"] == 0.0
    # ... after an update it is not, and the advantages come from rewards penalised by kl_beta * sum_t KL_t
    row = trainer.step()
    assert row["kl"] > 0
    rows = trainer.next_prompts()
    batch = trainer.score(Batch(rows, trainer.generate(rows)))
    penalised, stats = trainer.advantages(batch)
    kl, mean_kl = sequence_kl(trainer.policy, trainer.reference, batch.rollouts, trainer.cfg, trainer.tokenizer.pad_token_id)
    assert stats["kl"] == pytest.approx(mean_kl) and mean_kl > 0
    by_hand = compute_advantages(torch.tensor(batch.scores.total, dtype=torch.float64) - 0.1 * kl, "grpo", 4).float()
    plain = compute_advantages(torch.tensor(batch.scores.total, dtype=torch.float64), "grpo", 4).float()
    assert torch.allclose(penalised.advantages, by_hand) and not torch.allclose(penalised.advantages, plain)
