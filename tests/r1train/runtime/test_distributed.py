"""Data-parallel training under `accelerate launch` (gloo on CPU): two processes, one update, the same
parameters as one process with the same global batch; metrics are reduced and logged once."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from safetensors.torch import load_file

from r1train.runtime.distributed import combine
from tests.helpers import TRAIN, accelerate_train, rows, run, write_recipe


def test_combine_rules() -> None:
    assert combine("reward", [0.25, 0.75]) == 0.5  # means of equal shares average
    assert combine("time/rollout", [1.0, 3.0]) == 3.0  # the step waits for the slowest process
    assert combine("length/max", [7.0, 9.0]) == 9.0
    assert combine("reward/x/none", [1.0, 2.0]) == 3.0 and combine("tokens_per_s", [10.0, 5.0]) == 15.0
    assert combine("reward", [float("nan"), 0.5]) == 0.5


def test_two_processes_make_the_same_first_update_as_one(tmp_path: Path) -> None:
    recipe = write_recipe(tmp_path, steps=1, save_every=0)
    cache = Path(os.environ["R1TRAIN_CACHE"])
    one, two = tmp_path / "one", tmp_path / "two"
    run([*TRAIN, str(recipe), f"train.output_dir={one}"], cache)
    run([*accelerate_train(29561), str(recipe), f"train.output_dir={two}"], cache)

    rows_one, rows_two = rows(one), rows(two)
    assert len(rows_two) == 1  # logged once, not once per process
    for key in ("reward", "length/mean", "loss"):
        assert abs(rows_one[0][key] - rows_two[0][key]) < 1e-5, key
    assert rows_one[0]["grad_norm"] > 0  # a real update happened

    base = load_file(str(next(cache.glob("tiny-1m-seed0")) / "model.safetensors"))
    a, b = load_file(str(one / "model" / "model.safetensors")), load_file(str(two / "model" / "model.safetensors"))
    moved = max((a[k] - base[k]).abs().max().item() for k in a)
    assert moved > 5e-3  # Adam's first step moves each weight with a clear gradient by about lr = 1e-2
    # Summing gradients over two processes rounds differently from one process (~1e-7 relative). Adam's
    # first step is ~lr * g / (|g| + 1e-8): only weights whose gradient is itself ~1e-8 can move
    # differently, by a small fraction of lr. So: equal to 1e-4 (1% of lr) everywhere.
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-4, rtol=0), k
