"""DeepSpeed ZeRO-2 and ZeRO-3 under `accelerate launch --config_file recipes/accelerate/zero{2,3}.yaml`
(CUDA only; ``python -m r1train.bench.gpu_checks`` runs these with every other gpu test).

Per stage, against a plain one-process run A of the tiny recipe on the same GPU (two steps, fp32):

- B: DeepSpeed from scratch, one step, on min(2, GPUs) processes: the first update and the metrics row
  (logged once) equal A's; the checkpoint holds full weights in ``model/`` and the engine's partitioned
  state in ``deepspeed/``. Micro-batches (3 samples each) accumulate into one optimizer step.
- C: DeepSpeed resuming B's checkpoint with the same process count: step 2 equals A's, so the engine's
  optimizer state came back. ZeRO-3 also proves the layer-by-layer gather for the vLLM weight sync
  (the same rollouts) and the output head gathered for the chunked logprobs.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import TRAIN, accelerate_train, rows, run, write_recipe


def assert_close_weights(a: Path, b: Path, atol: float) -> None:
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert sorted(wa) == sorted(wb)
    for k in wa:
        assert torch.allclose(wa[k].float(), wb[k].float(), atol=atol, rtol=0), k


@pytest.mark.gpu
@pytest.mark.parametrize("stage", [2, 3])
def test_zero_matches_one_process_and_resumes(tmp_path: Path, stage: int) -> None:
    pytest.importorskip("deepspeed")
    recipe = write_recipe(tmp_path, model={"dtype": "float32"})
    cache = Path(os.environ["R1TRAIN_CACHE"])
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    run([*TRAIN, str(recipe), f"train.output_dir={a}"], cache, timeout=1200)

    procs = min(2, torch.cuda.device_count())
    launch = [*accelerate_train(29590 + stage, procs, config=f"zero{stage}.yaml"), str(recipe)]
    run([*launch, f"train.output_dir={b}", "train.steps=1"], cache, timeout=1200)
    assert len(rows(b)) == 1
    for key in ("reward", "length/mean", "grad_norm"):
        assert abs(rows(a)[0][key] - rows(b)[0][key]) < 1e-4, key
    b1 = b / "checkpoints" / "step-000001"
    assert (b1 / "deepspeed").is_dir() and not (b1 / "optimizer.pt").exists()
    # GPU kernels sum in another order than one process: 1e-4 is 1% of Adam's first step (lr = 1e-2)
    assert_close_weights(a / "checkpoints" / "step-000001" / "model", b1 / "model", atol=1e-4)
    assert_close_weights(a / "checkpoints" / "step-000001" / "model", b / "model", atol=1e-4)

    run([*launch, f"train.output_dir={c}", f"train.resume={b1}"], cache, timeout=1200)
    assert [r["step"] for r in rows(c)] == [2]
    for key in ("reward", "length/mean"):
        assert abs(rows(a)[1][key] - rows(c)[0][key]) < 1e-4, key
    assert_close_weights(a / "model", c / "model", atol=2e-4)
