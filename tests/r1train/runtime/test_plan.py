"""The memory planner on configurations whose answers are known."""

from __future__ import annotations

import pytest

from r1train.models.architectures import KNOWN, shape_of
from r1train.runtime.plan import GIB, PlanInput, estimate


def test_parameter_counts_match_the_published_sizes() -> None:
    # published totals: Qwen2.5-0.5B 0.49B, 1.5B 1.54B, 3B 3.09B, 7B 7.62B, 14B 14.7B, 32B 32.8B
    expect = {"0.5B": 0.494, "1.5B": 1.544, "3B": 3.086, "7B": 7.616, "14B": 14.77, "32B": 32.76}
    for size, billions in expect.items():
        assert shape_of(f"Qwen/Qwen2.5-{size}").params / 1e9 == pytest.approx(billions, rel=0.01), size
    assert KNOWN["Qwen/Qwen2.5-Math-7B"] == KNOWN["Qwen/Qwen2.5-7B"]


def test_tiny_shape_matches_the_built_model() -> None:
    from r1train.config import ModelConfig
    from r1train.models.load import load_model, resolve_source

    cfg = ModelConfig(name_or_path="tiny:1m")
    model = load_model(cfg, resolve_source(cfg))
    assert shape_of("tiny:1m").params == sum(p.numel() for p in model.parameters())


def plan(size: str, gpus: int, mem: float, strategy: str, lora: float = 1.0, **kw) -> dict[str, float]:
    base = dict(
        shape=shape_of(f"Qwen/Qwen2.5-{size}"), gpus=gpus, gpu_mem_gib=mem, strategy=strategy, bf16=True,
        lora_fraction=lora, reference=False, micro_batch_size=4, seq_len=2048, grad_checkpointing=True,
        sequences_per_gpu=16,
    )
    return estimate(PlanInput(**{**base, **kw}))


def test_known_fits_and_misfits() -> None:
    # 7B full fine-tuning with Adam needs ~16 bytes/param = 122 GB of state: never on one 80 GB GPU ...
    one = plan("7B", 1, 80, "ddp")
    assert one["total"] > one["available"]
    assert one["optimizer"] == pytest.approx(12 * shape_of("Qwen/Qwen2.5-7B").params)  # 8 moments + 4 master
    # ... but fine on 8 x 80 GB with ZeRO-3 (the usual open-r1 / verl setting)
    eight = plan("7B", 8, 80, "zero3")
    assert eight["total"] < eight["available"]
    # 0.5B with LoRA on a single 24 GB GPU (the GSM8K LoRA recipe)
    small = plan("0.5B", 1, 24, "ddp", lora=0.01)
    assert small["total"] < small["available"]
    # a reference model adds one bf16 copy of the weights, sharded like the policy under ZeRO-3
    with_ref = plan("7B", 8, 80, "zero3", reference=True)
    assert with_ref["reference model"] == pytest.approx(2 * shape_of("Qwen/Qwen2.5-7B").params / 8)
    # activations of 1.5B, 4 x 2048 tokens, bf16: with checkpointing 8192*1536*28 layers*2*2 B = 1.409e9
    # plus the logprob chunk 1024*151936*4*2 = 1.245e9; without, the per-layer factor is 17 instead of 2
    yes = plan("1.5B", 1, 80, "ddp")["activations"]
    no = plan("1.5B", 1, 80, "ddp", grad_checkpointing=False)["activations"]
    assert yes == 8192 * 1536 * 28 * 2 * 2 + 1024 * 151936 * 8
    assert no - yes == 15 * 8192 * 1536 * 28 * 2
    assert one["total"] / GIB > 100
