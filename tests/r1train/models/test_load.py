"""The tiny family loads through the same from_pretrained path as a hub checkpoint."""

from __future__ import annotations

import pytest

from r1train.config import ModelConfig
from r1train.errors import UserError
from r1train.models.load import load_model, load_tokenizer, resolve_source
from r1train.models.tiny import SIZES


def test_tiny_model_round_trips_through_from_pretrained() -> None:
    cfg = ModelConfig(name_or_path="tiny:1m")
    source = resolve_source(cfg)
    tok = load_tokenizer(source)
    model = load_model(cfg, source)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    n = sum(p.numel() for p in model.parameters())
    assert 0.8e6 < n < 1.3e6  # hidden 128, 4 layers: ~246k per layer + 13k embeddings
    text = "Q: 12+34\nA:<think>2+4</think><answer>46</answer>"
    ids = tok(text)["input_ids"]
    assert len(ids) == len("Q: 12+34\nA:") + 1 + len("2+4") + 1 + 1 + len("46") + 1  # one token per char, tags whole
    assert tok.decode(ids) == text
    assert resolve_source(cfg).path == source.path  # built once, then reused


def test_unknown_tiny_size_and_missing_path() -> None:
    with pytest.raises(UserError, match="tiny:1m"):
        resolve_source(ModelConfig(name_or_path="tiny:7b"))
    with pytest.raises(UserError, match="does not exist"):
        resolve_source(ModelConfig(name_or_path="./no/such/model"))
    assert set(SIZES) == {"1m", "3m", "10m", "30m"}


def test_unreachable_hub_id_is_one_sentence() -> None:
    source = resolve_source(ModelConfig(name_or_path="no-such-org/no-such-model"))
    with pytest.raises(UserError, match="could not be loaded.*tiny:3m"):
        load_tokenizer(source)
