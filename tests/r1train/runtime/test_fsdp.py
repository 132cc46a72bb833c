"""FSDP2 under `accelerate launch --config_file recipes/accelerate/fsdp2.yaml` on CPU (gloo), two processes.

accelerate routes FSDP to accelerators only; ``r1train.distributed.make_accelerator`` switches FSDP2 on
for a CPU launch, so parameters, gradients and optimizer state really are sharded (``DTensor``) here.
Three runs of the tiny recipe, each checked against a one-process run A (two steps, a checkpoint
after each):

- B: FSDP2 from scratch, one step. Its first update, its metrics row (logged once) and its checkpoint
  (weights and the optimizer state gathered from both shards) equal A's after step 1.
- C: FSDP2 resuming A's one-process checkpoint of step 1 (a different process count): the optimizer
  state is scattered to the shards, the rollout engine gets the gathered weights, and step 2 equals A's.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from r1train.errors import UserError
from tests.helpers import TRAIN, accelerate_train, rows, run, write_recipe


def weights(directory: Path) -> dict[str, torch.Tensor]:
    return load_file(str(directory / "model.safetensors"))


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert sorted(a) == sorted(b)  # tied lm_head stored once, as save_pretrained of the live model does
    # Two processes sum gradients in another order than one (~1e-7 relative); Adam's step is ~lr * g/|g|
    # (lr = 1e-2), so only weights whose gradient is itself ~1e-8 can move differently: 1e-4 = 1% of lr.
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-4, rtol=0), k


def assert_same_optimizer(path_a: Path, path_b: Path) -> None:
    a, b = torch.load(path_a, weights_only=False), torch.load(path_b, weights_only=False)
    assert sorted(a["state"]) == sorted(b["state"]) and all(isinstance(k, str) for k in a["state"])  # by name
    assert a["param_groups"][0]["params"] == b["param_groups"][0]["params"]
    for name, sa in a["state"].items():
        sb = b["state"][name]
        assert float(sa["step"]) == float(sb["step"])
        # exp_avg = (1 - 0.9) g after the first step: same tolerance reasoning on g (~1e-7 relative)
        assert torch.allclose(sa["exp_avg"], sb["exp_avg"], atol=1e-6, rtol=1e-4), name
        assert torch.allclose(sa["exp_avg_sq"], sb["exp_avg_sq"], atol=1e-9, rtol=1e-3), name


def test_fsdp2_two_processes_match_one_and_resume_across_process_counts(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path)
    cache = Path(os.environ["R1TRAIN_CACHE"])
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    run([*TRAIN, str(recipe), f"train.output_dir={a}"], cache)  # builds tiny:1m
    a1 = a / "checkpoints" / "step-000001"

    run([*accelerate_train(29571, config="fsdp2.yaml"), str(recipe), f"train.output_dir={b}", "train.steps=1"], cache)
    assert len(rows(b)) == 1  # logged once, not once per process
    for key in ("reward", "length/mean", "grad_norm"):
        assert abs(rows(a)[0][key] - rows(b)[0][key]) < 1e-5, key
    assert rows(a)[0]["grad_norm"] > 0  # a real update happened
    base = weights(next(cache.glob("tiny-1m-seed0")))
    moved = max((weights(a1 / "model")[k] - base[k]).abs().max().item() for k in base)
    assert moved > 5e-3  # Adam's first step moves each weight with a clear gradient by about lr = 1e-2
    assert_same_weights(weights(a1 / "model"), weights(b / "model"))
    b1 = b / "checkpoints" / "step-000001"
    assert_same_weights(weights(a1 / "model"), weights(b1 / "model"))
    assert_same_optimizer(a1 / "optimizer.pt", b1 / "optimizer.pt")  # gathered from two shards

    run([*accelerate_train(29572, config="fsdp2.yaml"), str(recipe), f"train.output_dir={c}", f"train.resume={a1}"], cache)
    assert [r["step"] for r in rows(c)] == [2]
    for key in ("reward", "length/mean", "grad_norm"):  # same rollouts: the engine got the restored weights
        assert abs(rows(a)[1][key] - rows(c)[0][key]) < 1e-5, key
    assert_same_weights(weights(a / "model"), weights(c / "model"))  # step 2 used A's Adam moments


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only refusal")
def test_deepspeed_launch_without_cuda_is_refused_in_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    from r1train.runtime.distributed import make_accelerator

    monkeypatch.setenv("ACCELERATE_USE_DEEPSPEED", "true")
    with pytest.raises(UserError, match="DeepSpeed ZeRO needs CUDA GPUs"):
        make_accelerator()
