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
    assert set(SIZES) == {"300k", "1m", "3m", "10m", "30m"}  # 300k: the pocket distillation student


@pytest.mark.parametrize("repo_id", ["Qwen/Qwen2.5-Math-72B", "no-such-org/no-such-model"])
def test_uncached_hub_id_offline_is_one_sentence_naming_the_id(repo_id: str, hub_cache) -> None:
    # a dot in the name ("Qwen2.5") is a hub id, not a missing file with a suffix
    with pytest.raises(UserError) as info:
        resolve_source(ModelConfig(name_or_path=repo_id))
    message = str(info.value)
    assert "\n" not in message and "does not exist" not in message
    for needle in (repr(repo_id), "hub id", "offline", "HF_HUB_OFFLINE", "local directory"):
        assert needle in message, needle


def test_cached_hub_id_with_a_dot_loads_from_the_offline_cache(hub_cache) -> None:
    from tests.hub import commit_of

    cfg = ModelConfig(name_or_path="Qwen/Qwen2.5-Math-1.5B")
    source = resolve_source(cfg)
    assert (source.path, source.revision) == ("Qwen/Qwen2.5-Math-1.5B", None)  # left to from_pretrained
    tok = load_tokenizer(source)
    model = load_model(cfg, source)
    assert type(tok).__name__ == "Qwen2Tokenizer" and type(model).__name__ == "Qwen2ForCausalLM"
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(cfg.name_or_path, "config.json")  # the snapshot from_pretrained read
    assert cached == str(hub_cache / "hub" / "models--Qwen--Qwen2.5-Math-1.5B" / "snapshots"
                         / commit_of(cfg.name_or_path) / "config.json")


def test_an_existing_local_directory_named_like_a_hub_id_is_local(tmp_path, monkeypatch) -> None:
    import shutil

    built = resolve_source(ModelConfig(name_or_path="tiny:1m")).path
    shutil.copytree(built, tmp_path / "org" / "model.v2")
    monkeypatch.chdir(tmp_path)
    source = resolve_source(ModelConfig(name_or_path="org/model.v2"))  # not in the hub cache, but it exists here
    assert type(load_model(ModelConfig(name_or_path="org/model.v2"), source)).__name__ == "Qwen2ForCausalLM"


def test_truncated_weights_are_one_sentence_before_transformers_reads_them(tmp_path) -> None:
    import shutil

    from r1train.models.load import ModelSource
    from r1train.models.tiny import materialise

    model_dir = tmp_path / "copied"
    shutil.copytree(materialise("tiny:1m"), model_dir)
    weights = model_dir / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-4096])  # an interrupted copy
    size = weights.stat().st_size
    expected = rf"model directory '.*copied' cannot be loaded \(model.safetensors is truncated \({size} of {size + 4096} bytes\)\)"
    with pytest.raises(UserError, match=expected):
        resolve_source(ModelConfig(name_or_path=str(model_dir)))
    with pytest.raises(UserError, match="model.safetensors is truncated"):  # a source made by other code
        load_model(ModelConfig(name_or_path=str(model_dir)), ModelSource(str(model_dir)))


def test_a_run_directory_without_a_loadable_model_is_one_sentence(tmp_path) -> None:
    import shutil

    from r1train.models.tiny import materialise

    run = tmp_path / "run"
    (run / "checkpoints" / "step-000002").mkdir(parents=True)  # being written: no COMPLETE marker yet
    (run / "metrics.jsonl").write_text("")
    with pytest.raises(UserError, match=r"run directory '.*run' holds no model yet \(no model/ and no complete checkpoint\)"):
        resolve_source(ModelConfig(name_or_path=str(run)))
    old = run / "checkpoints" / "step-000001"
    shutil.copytree(materialise("tiny:1m"), old / "model")
    (old / "COMPLETE").write_text("ok\n")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        (old / "model" / name).unlink()  # what checkpoints held before they carried the tokenizer
    with pytest.raises(UserError, match=r"holds no loadable model \(checkpoints/step-000001/model: no tokenizer"):
        resolve_source(ModelConfig(name_or_path=str(run)))
    lora = run / "checkpoints" / "step-000003"  # a LoRA run's checkpoint: its adapter, not a whole model
    (lora / "model").mkdir(parents=True)
    (lora / "model" / "adapter_config.json").write_text("{}")
    (lora / "COMPLETE").write_text("ok\n")
    with pytest.raises(UserError, match=r"\(checkpoints/step-000003/model: a LoRA adapter only .*; checkpoints/step-000001"):
        resolve_source(ModelConfig(name_or_path=str(run)))
