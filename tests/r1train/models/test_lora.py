"""LoRA on the tiny model: all-linear targets, the adapters-disabled reference, saving adapter and merged."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from r1train.config import LoraConfig, ModelConfig
from r1train.errors import UserError
from r1train.models import lora
from r1train.models.load import load_model, resolve_source
from r1train.models.logprobs import PolicyLogprobs
from r1train.recipe import build_config
from r1train.rollout.base import Rollout
from r1train.train import reference
from r1train.train.batch import micro_batches

TINY = ModelConfig(name_or_path="tiny:1m", dtype="float32")


def cfg_with(lora_cfg: dict | None, kl_beta: float):
    return build_config(
        {
            "model": {"name_or_path": "tiny:1m", "dtype": "float32", "lora": lora_cfg},
            "data": {"source": "synthetic:copy"},
            "algorithm": {"kl_beta": kl_beta},
        },
        "test",
    )


def lora_model(target_modules="all-linear"):
    source = resolve_source(TINY)
    lora_cfg = LoraConfig(r=4, alpha=8, target_modules=target_modules)
    model = load_model(ModelConfig(name_or_path="tiny:1m", dtype="float32", lora=lora_cfg), source)
    torch.manual_seed(0)
    with torch.no_grad():  # B = 0 at the start makes LoRA an identity; give it something to disable
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    return model, source


def rollouts() -> list[Rollout]:
    gen = torch.Generator().manual_seed(0)
    out = []
    for i in range(4):
        ids = torch.randint(3, 90, (5 + i,), generator=gen).tolist()
        out.append(Rollout(ids[:3], ids[3:], None, "stop", ""))
    return out


def batches():
    return micro_batches(rollouts(), torch.zeros(4), 2, pad_id=0)


def logprobs(model, mbs):
    with torch.no_grad():
        return [PolicyLogprobs(model)(mb.input_ids, mb.attention_mask, mb.completion_mask, 1.0)[0] for mb in mbs]


def test_all_linear_wraps_every_linear_layer_but_the_head() -> None:
    model, _ = lora_model()
    wrapped = {name.split(".")[-1] for name, m in model.named_modules() if hasattr(m, "lora_A")}
    assert wrapped == {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_reference_with_adapters_disabled_is_the_base_model() -> None:
    model, source = lora_model()
    ref = reference.load_reference(cfg_with({"r": 4}, kl_beta=0.04), model, source, "cpu")
    assert isinstance(ref, reference.AdapterDisabledReference)  # no second copy of the weights
    base = load_model(TINY, source)
    mbs = batches()
    expected = logprobs(base, mbs)
    got = ref.logprobs(mbs, 1.0)
    policy = logprobs(model, mbs)
    for e, g, p, mb in zip(expected, got, policy, mbs, strict=True):
        assert torch.equal(g, e)
        assert not torch.allclose(p[mb.loss_mask.bool()], e[mb.loss_mask.bool()])  # adapters are back on after
    # the KL between the policy and its reference is positive and measured per token
    kl, mean_kl = reference.sequence_kl(PolicyLogprobs(model), ref, rollouts(), cfg_with({"r": 4}, 0.04), pad_id=0)
    assert kl.shape == (4,) and (kl > 0).all() and mean_kl > 0


def test_no_reference_without_kl_and_a_frozen_copy_for_full_finetuning() -> None:
    source = resolve_source(TINY)
    model = load_model(TINY, source)
    assert reference.load_reference(cfg_with(None, kl_beta=0.0), model, source, "cpu") is None
    ref = reference.load_reference(cfg_with(None, kl_beta=0.04), model, source, "cpu")
    assert isinstance(ref, reference.FrozenReference)
    assert all(not p.requires_grad for p in ref.module.parameters())
    mbs = batches()
    for e, g in zip(logprobs(model, mbs), ref.logprobs(mbs, 1.0), strict=True):
        assert torch.equal(e, g)


def test_save_policy_writes_a_merged_model_and_the_adapter(tmp_path: Path) -> None:
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model, source = lora_model()
    mbs = batches()
    expected = logprobs(model, mbs)
    lora.save_policy(model, tmp_path / "model")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "model", dtype=torch.float32)
    for e, g in zip(expected, logprobs(merged, mbs), strict=True):
        assert torch.allclose(e, g, atol=1e-5)
    again = PeftModel.from_pretrained(load_model(TINY, source), tmp_path / "model" / "adapter")
    for e, g in zip(expected, logprobs(again, mbs), strict=True):
        assert torch.allclose(e, g, atol=1e-6)
    # saving did not change the policy (merge is undone exactly)
    for e, g in zip(expected, logprobs(model, mbs), strict=True):
        assert torch.equal(e, g)


def test_qlora_without_bitsandbytes_is_one_clear_sentence() -> None:
    try:
        import bitsandbytes  # noqa: F401

        pytest.skip("bitsandbytes is installed")
    except ImportError:
        pass
    with pytest.raises(UserError, match="bitsandbytes"):
        lora.quantization_config(LoraConfig(quantize="4bit"), torch.float32)
