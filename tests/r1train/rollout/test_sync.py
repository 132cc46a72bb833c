"""``policy_weights`` and ``sync_weights``: checkpoint names, LoRA merged exactly, nothing left merged.

No vLLM here: these check the stream of (name, tensor) pairs that every engine receives.
"""

from __future__ import annotations

import torch

from r1train.config import LoraConfig
from r1train.rollout.sync import policy_weights, sync_weights


def _lora(cfg, r: int = 4, alpha: int = 8):
    import dataclasses

    return dataclasses.replace(cfg.model, lora=LoraConfig(r=r, alpha=alpha, target_modules=["q_proj", "v_proj"]))


def test_plain_model_yields_checkpoint_names_once(model, source):
    from safetensors import safe_open

    names = [n for n, _ in policy_weights(model)]
    with safe_open(f"{source.path}/model.safetensors", "pt") as f:
        on_disk = set(f.keys())
    # tied embeddings: lm_head.weight is the same tensor as embed_tokens and is sent once, like named_parameters
    assert len(names) == len(set(names))
    assert set(names) == {n for n, _ in model.named_parameters()}
    assert set(names) <= on_disk | {"lm_head.weight"}
    for name, tensor in policy_weights(model):
        assert tensor.data_ptr() == model.get_parameter(name).data_ptr()  # no copy for a plain model


def test_lora_weights_are_merged_by_hand_formula(cfg, source):
    from r1train.models.load import load_model

    model = load_model(_lora(cfg), source)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)  # peft starts B at 0; make the adapter matter
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    layer = model.base_model.model.model.layers[1].self_attn.q_proj
    w = layer.base_layer.weight.detach().clone()  # (out, in)
    a = layer.lora_A["default"].weight.detach()  # (r, in)
    b = layer.lora_B["default"].weight.detach()  # (out, r)
    # scaling = alpha / r = 8 / 4 = 2, so the merged weight is W + 2 * B @ A
    expected = w + 2.0 * (b @ a)

    sent = dict(policy_weights(model))

    assert "model.layers.1.self_attn.q_proj.weight" in sent
    assert not any("lora" in n or "base_layer" in n or n.startswith("base_model") for n in sent)
    torch.testing.assert_close(sent["model.layers.1.self_attn.q_proj.weight"], expected, rtol=0, atol=1e-6)
    k_proj = model.base_model.model.model.layers[1].self_attn.k_proj.weight
    assert torch.equal(sent["model.layers.1.self_attn.k_proj.weight"], k_proj)  # not adapted: sent as is
    base = load_model(cfg.model, source)
    assert set(sent) == {n for n, _ in base.named_parameters()}
    # unmerged afterwards, bit for bit, and peft agrees that nothing is merged
    after = dict(model.named_parameters())
    assert all(torch.equal(before[n], after[n]) for n in before)
    assert not any(getattr(m, "merged", False) for m in model.modules())


def test_lora_merges_one_module_at_a_time(cfg, source):
    from peft.tuners.lora import LoraLayer

    from r1train.models.load import load_model

    model = load_model(_lora(cfg), source)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_B" in n:
                p.fill_(0.05)
    layers = [m for m in model.modules() if isinstance(m, LoraLayer)]
    originals = {id(m): m.base_layer.weight.data_ptr() for m in layers}
    most = 0
    for _name, _tensor in policy_weights(model):
        swapped = sum(m.base_layer.weight.data_ptr() != originals[id(m)] for m in layers)
        most = max(most, swapped)
    # the memory bound: never more than one layer's merged copy alive beside the model
    assert most == 1


def test_sync_weights_is_due_every_n_steps():
    calls = []

    class Recorder:
        def load_weights(self, named):
            calls.append(sum(1 for _ in named))

    model = torch.nn.Linear(2, 3)  # weight + bias = 2 tensors
    spent = [sync_weights(Recorder(), model, step=s, every=2) for s in (1, 2, 3, 4)]
    assert calls == [2, 2]  # steps 2 and 4
    assert spent[0] == 0.0 and spent[2] == 0.0 and spent[1] > 0.0
    sync_weights(Recorder(), model, step=3, every=2, force=True)
    assert calls == [2, 2, 2]
