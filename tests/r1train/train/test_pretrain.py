"""``r1train pretrain``: recipe loading, tokenised examples and loss masks worked out by hand, a tiny
end-to-end run that is reproducible from its seed, and the shipped pocket base checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1train.data.corpus import Document
from r1train.errors import UserError
from r1train.train import pretrain

ROOT = Path(__file__).resolve().parents[3]
ASSET = ROOT / "r1train" / "assets" / "pocket-base"



@pytest.fixture(scope="module")
def tokenizer():
    from r1train.models.tiny import build_tokenizer

    return build_tokenizer()


def test_encode_masks_the_prompt(tokenizer) -> None:
    doc = Document("12+34", "46", "<answer>46</answer>", worked=False, level=2)
    (ex,) = pretrain.encode([doc], tokenizer, "pocket")
    # prompt "Q: 12+34\nA:" is 11 characters = 11 tokens; completion <answer>,4,6,</answer> + eos = 5
    assert ex.prompt_len == 11 and len(ex.ids) == 16
    assert ex.ids[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(ex.ids[11:12]) == "<answer>"
    ids, mask, labels = pretrain.collate([ex, pretrain.Example(ex.ids[:13], 11)], tokenizer.pad_token_id, prompt_loss=False)
    assert ids.shape == (2, 16) and int(mask.sum()) == 16 + 13
    # row 0: 11 prompt positions are -100, 5 completion positions are learned
    assert (labels[0, :11] == -100).all() and (labels[0, 11:] == ids[0, 11:]).all()
    # row 1: 11 prompt + 2 completion tokens, then 3 padding positions, all -100 but the 2
    assert int((labels[1] != -100).sum()) == 2
    _, _, with_prompt = pretrain.collate([ex], tokenizer.pad_token_id, prompt_loss=True)
    assert int((with_prompt != -100).sum()) == 16


def test_hidden_start_is_the_only_unlearned_completion_token(tokenizer) -> None:
    doc = Document("1+2+3", "6", "<think>1+2=3,3+3=6</think><answer>6</answer>", worked=True, level=3, learn_start=False)
    (ex,) = pretrain.encode([doc], tokenizer, "pocket")
    # prompt "Q: 1+2+3\nA:" = 11 tokens; completion: <think>, 11 characters, </think>, <answer>, 6, </answer>, eos = 17
    assert ex.prompt_len == 11 and len(ex.ids) == 28 and not ex.learn_start
    _, _, labels = pretrain.collate([ex], tokenizer.pad_token_id, prompt_loss=False)
    assert int((labels != -100).sum()) == 16  # all completion tokens but the opening <think>
    assert labels[0, 11] == -100 and labels[0, 12] == ex.ids[12]
    _, _, with_prompt = pretrain.collate([ex], tokenizer.pad_token_id, prompt_loss=True)
    assert int((with_prompt != -100).sum()) == 27


def test_length_grouped_batches_cover_every_example_once() -> None:
    examples = [pretrain.Example(list(range(n % 7 + 1)), 0) for n in range(100)]
    batches = pretrain.length_grouped_batches(examples, 8, seed=0)
    assert sum(len(b) for b in batches) == 100 and len(batches) == 13  # ceil(100 / 8)
    flat = sorted(id(e) for b in batches for e in b)
    assert flat == sorted(id(e) for e in examples)
    assert batches == pretrain.length_grouped_batches(examples, 8, seed=0)  # seeded


def test_unknown_key_names_the_closest(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("corpus: {think_fractoin: 0.1}\n")
    with pytest.raises(UserError, match="corpus.think_fraction"):
        pretrain.load_pretrain_recipe(recipe)
    assert pretrain.is_pretrain_recipe(recipe)
    assert not pretrain.is_pretrain_recipe(ROOT / "recipes" / "pocket-zero.yaml")


def _run(tmp_path: Path, name: str) -> Path:
    out = tmp_path / name
    args = [str(ROOT / "recipes" / "pocket-base.yaml"), "corpus.size=96", "train.steps=3", "train.batch_size=16",
            "train.log_every=1", "eval.size=4", "eval.max_new_tokens=6", f"train.output_dir={out}", "train.copy_to=null",
            "train.threads=0"]
    assert pretrain.main(args) == 0
    return out


def test_tiny_pretraining_is_reproducible(tmp_path: Path) -> None:
    from safetensors.torch import load_file

    a, b = _run(tmp_path, "a"), _run(tmp_path, "b")
    wa, wb = load_file(a / "model" / "model.safetensors"), load_file(b / "model" / "model.safetensors")
    assert wa.keys() == wb.keys() and all((wa[k] == wb[k]).all() for k in wa)
    rows = [json.loads(x) for x in (a / "pretrain_metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    report = json.loads((a / "pretrain_summary.json").read_text())
    assert report["steps"] == 3 and {"accuracy_forced_direct", "accuracy_forced_think", "sampled"} <= report.keys()
    assert (a / "pretrain_recipe.yaml").is_file()
    with pytest.raises(UserError, match="not empty"):  # never silently overwritten
        pretrain.main([str(ROOT / "recipes" / "pocket-base.yaml"), f"train.output_dir={a}"])


def test_shipped_base_is_small_and_loads() -> None:
    from r1train.config import ModelConfig
    from r1train.models.load import load_model, load_tokenizer, resolve_source

    files = list(ASSET.iterdir())
    assert sum(f.stat().st_size for f in files) < 10 * 2**20
    assert (ASSET / "model.safetensors").is_file()
    source = resolve_source(ModelConfig(name_or_path=str(ASSET)))
    tok = load_tokenizer(source)
    model = load_model(ModelConfig(name_or_path=str(ASSET)), source)
    assert tok.convert_tokens_to_ids("<think>") < model.config.vocab_size


def test_shipped_base_thinks_rarely_but_well() -> None:
    """The base's defining gap on 64 held-out chain problems: sampled, it rarely thinks; made to think, it
    is far more accurate than made to answer directly. Recorded at pretraining on 256 problems (see
    recipes/pocket-base.yaml): think rate 5%, forced think 95%, forced direct 30%."""
    assert (ASSET / "model.safetensors").is_file(), "the shipped pocket base is missing from r1train/assets"
    from r1train.config import DataConfig, ModelConfig
    from r1train.data import tasks
    from r1train.data.prompts import apply_template
    from r1train.models.load import load_model, load_tokenizer, resolve_source
    from r1train.rollout.hf import HFEngine
    from r1train.telemetry.summary import evaluate

    source = resolve_source(ModelConfig(name_or_path="pocket-base"))
    assert Path(source.path) == ASSET
    tok, model = load_tokenizer(source), load_model(ModelConfig(name_or_path="pocket-base"), source)
    _, held = tasks.generate("chain", {"min_ops": 2, "ops": 6, "train_size": 0, "eval_size": 64}, 0)
    rows = apply_template(held, DataConfig(source="synthetic:chain", template="pocket"), tok, "question", "answer")
    engine = HFEngine(model, tok)
    sampled = evaluate(engine, tok, rows, max_new_tokens=48)
    think = evaluate(engine, tok, rows, max_new_tokens=48, prefix="<think>")
    direct = evaluate(engine, tok, rows, max_new_tokens=8, prefix="<answer>")
    assert sampled["think_rate"] < 0.25, sampled
    assert think["accuracy"] > 0.8 and think["accuracy"] > direct["accuracy"] + 0.4, (think["accuracy"], direct["accuracy"])
