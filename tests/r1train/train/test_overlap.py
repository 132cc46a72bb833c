"""Overlap without changing the maths: reference logprobs computed while rewards are scored give the same
update as computing them inside it, and generation ahead (``rollout.max_staleness: k``) trains batch t on
rollouts sampled by the weights of step t-k, with importance weights on, and logs how stale they were."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch

from r1train.recipe import build_config
from r1train.rollout import register as register_engine
from r1train.rollout.hf import HFEngine
from r1train.telemetry.profile import StageTimer
from r1train.train.batch import loss_keep, micro_batches
from r1train.train.trainer import Trainer
from r1train.train.update import update_policy
from tests.helpers import REWARDS_FILE, OneProcess, ToyPolicy, ToyReference, make_rollouts
from tests.helpers import update_config as config


def _update(cfg: Any, rollouts: list, keep: torch.Tensor, ref: list | None):
    policy = ToyPolicy()
    adv = torch.tensor([1.0, -0.5, 0.25, -1.0, 2.0, 0.0, -0.75, 0.5])  # (N,)
    batches = micro_batches(rollouts, adv, 3, pad_id=0, keep=keep)
    opt = torch.optim.SGD(policy.parameters(), lr=1.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    timer = StageTimer()
    stats = update_policy(policy, opt, sched, OneProcess(), batches, cfg, ToyReference(), timer, ref)
    return stats, policy.state_dict(), timer


def test_reference_computed_before_the_keep_mask_gives_the_same_update() -> None:
    # the trainer computes reference logprobs while scoring, i.e. before it knows which samples the loss
    # drops (keep), on micro-batches of the same order; samples 2 and 5 are dropped here
    cfg = config(kl_beta=0.1, kl_estimator="k3", loss_agg="token_mean")
    rollouts = make_rollouts()
    keep = loss_keep(rollouts, torch.tensor([0, 0, float("nan"), 0, 0, float("nan"), 0, 0]), False)
    early = micro_batches(rollouts, torch.zeros(len(rollouts)), 3, pad_id=0)  # keep unknown yet: all kept
    ref = ToyReference().logprobs(early, cfg.rollout.temperature)
    inside, w_inside, _ = _update(cfg, rollouts, keep, None)
    before, w_before, timer = _update(cfg, rollouts, keep, ref)
    for k in w_inside:
        assert torch.allclose(w_inside[k], w_before[k], atol=1e-12), k
    assert inside["kl"] == before["kl"] and inside["loss"] == before["loss"]
    # the stages the update reports; one iteration: no old-logprob pass
    assert set(timer.seconds) == {"ref_logprobs", "forward_backward", "optimizer"}


class CopyEngine:
    """Generates with its own copy of the weights (as vLLM does) and counts weight syncs: ``made_by`` lists,
    per generate call, how many syncs the weights it used had seen."""

    def __init__(self, model: Any, tokenizer: Any) -> None:
        self.copy = copy.deepcopy(model)
        self.inner = HFEngine(self.copy, tokenizer)
        self.version = 0
        self.made_by: list[int] = []

    def generate(self, prompt_ids: list[list[int]], sampling: Any) -> list:
        self.made_by.append(self.version)
        return self.inner.generate(prompt_ids, sampling)

    def load_weights(self, named_tensors: Any) -> None:
        state = self.copy.state_dict()
        for name, tensor in named_tensors:
            if name in state:
                state[name].copy_(tensor)
        self.version += 1

    def close(self) -> None:
        pass


# A user's engine, registered like the built-in ones and declaring what it supports: it holds its own
# weights, so it can generate ahead of the update, also without CUDA.
@register_engine("copy-test", async_generation=True, async_generation_on_cpu=True)
def _copy_engine(cfg: Any, model: Any, tokenizer: Any, source: Any) -> CopyEngine:
    return CopyEngine(model, tokenizer)


def _config(tmp_path: Path, name: str, async_generation: bool, engine: str = "copy-test", **rollout: Any) -> Any:
    return build_config(
        {
            "model": {"name_or_path": "tiny:1m", "dtype": "float32"},
            "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 32, "eval_size": 2}},
            "rollout": {"engine": engine, "prompts_per_step": 2, "num_generations": 4, "max_new_tokens": 4,
                        "async_generation": async_generation, **rollout},
            "rewards": [{"name": f"{REWARDS_FILE}:sevens"}],
            "optim": {"lr": 0.05},
            "train": {"steps": 3, "output_dir": str(tmp_path / name), "micro_batch_size": 4, "save_every": 0},
            "logging": {"progress": False},
        },
        "test",
    )


def _trainer(tmp_path: Path, name: str, async_generation: bool) -> Trainer:
    return Trainer(_config(tmp_path, name, async_generation))


def test_async_generation_is_one_step_off_policy(tmp_path: Path) -> None:
    sync, ahead = _trainer(tmp_path, "sync", False), _trainer(tmp_path, "async", True)
    sync_rows = [sync.step() for _ in range(3)]
    async_rows = [ahead.step() for _ in range(3)]
    ahead.ahead.wait()
    # synchronous: batch t is generated after t-1 syncs. Async: batches 0 and 1 both come from the
    # initial weights (batch 1 starts before the first update), batch 2 from the weights after one sync,
    # batch 3 (started during step 3) after two
    assert sync.engine.made_by == [0, 1, 2]
    assert ahead.engine.made_by == [0, 0, 1, 2]
    # the same prompts and seeds, and the first batch from the same weights: step 1 sees the same samples
    assert async_rows[0]["length/mean"] == sync_rows[0]["length/mean"]
    assert async_rows[0]["reward"] == sync_rows[0]["reward"]
    # off-policy correction on (token_truncate, since the recipe left rollout_is off)
    assert all("sampling/is_weight/mean" in row for row in async_rows)
    assert all("sampling/is_weight/mean" not in row for row in sync_rows)
    for key in ("time/rollout", "time/reward", "time/forward_backward", "time/optimizer", "time/sync", "time/logging"):
        assert key in async_rows[1] and key in sync_rows[1], key
    # the former switch reads as max_staleness: 1; step t trains on rollouts of version t-1 from step 2 on
    assert ahead.cfg.rollout.max_staleness == 1
    assert [row["staleness/max"] for row in async_rows] == [0.0, 1.0, 1.0]
    assert [row["staleness/max"] for row in sync_rows] == [0.0, 0.0, 0.0]
    assert all("time/trainer_idle" in row for row in async_rows)


def test_max_staleness_two_keeps_two_batches_in_flight_and_logs_the_gap(tmp_path: Path) -> None:
    trainer = Trainer(_config(tmp_path, "k2", False, max_staleness=2))
    rows = [trainer.step() for _ in range(4)]
    trainer.ahead.wait()
    # step 1 submits batches 0, 1, 2 with the initial weights (version 0); step t (t >= 2) pushes version
    # t-1 (a thread engine waits for what is in flight first) and submits batch t+1 with it. So the
    # batches were made by versions 0, 0, 0, 1, 2, 3 and step t trains on version max(0, t-3):
    # staleness (t-1) - version = 0, 1, 2, 2, never more than k = 2
    assert trainer.engine.made_by == [0, 0, 0, 1, 2, 3]
    assert [row["staleness/max"] for row in rows] == [0.0, 1.0, 2.0, 2.0]
    assert [row["staleness/mean"] for row in rows] == [0.0, 1.0, 2.0, 2.0]  # a batch has one version
    assert [row["ahead/in_flight"] for row in rows] == [2.0, 2.0, 2.0, 2.0]
    assert trainer.cfg.algorithm.rollout_is == "token_truncate"  # resolved: the recipe left it off
    assert all("sampling/is_weight/mean" in row for row in rows)


def test_async_generation_refuses_the_hf_engine(tmp_path: Path) -> None:
    import pytest

    from r1train.errors import UserError

    # refused when the recipe is read, before any model loads (it used to wait for the first step)
    with pytest.raises(UserError, match="max_staleness=1 in test needs an engine that generates while"):
        _config(tmp_path, "hf", True, engine="hf")
