"""Every shipped recipe is valid (``r1train check``) and runs one training step with its model swapped for
``tiny:1m`` (2 prompts x 2 samples x 4 new tokens, hf engine, data swapped for a local file where the
recipe reads the hub); ``sft`` recipes one step of 2 examples and ``sample`` recipes 2 prompts, the same
way; the accelerate launch configs parse; every recipe header says how to launch it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from r1train.cli import recipe_kind
from r1train.recipe import load_recipe, read_yaml
from r1train.train import pretrain

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(p for p in (ROOT / "recipes").rglob("*.yaml") if "accelerate" not in p.parts)
TRAIN_RECIPES = [p for p in RECIPES if not pretrain.is_pretrain_recipe(p) and recipe_kind(str(p)) == "train"]
SFT_RECIPES = [p for p in RECIPES if not pretrain.is_pretrain_recipe(p) and recipe_kind(str(p)) == "sft"]
SAMPLE_RECIPES = [p for p in RECIPES if not pretrain.is_pretrain_recipe(p) and recipe_kind(str(p)) == "sample"]
PRETRAIN_RECIPES = [p for p in RECIPES if pretrain.is_pretrain_recipe(p)]
ACCELERATE = sorted((ROOT / "recipes" / "accelerate").glob("*.yaml"))
IDS = [str(p.relative_to(ROOT / "recipes")) for p in RECIPES]

# A row for each kind of gold answer the recipes read (prompt column -> answer column).
LOCAL_ROWS = {"solution": "\\boxed{2}", "answer": "#### 2"}


def test_the_required_recipes_exist() -> None:
    names = {p.name for p in RECIPES}
    for required in (
        "pocket-base.yaml",
        "pocket-zero.yaml",
        "qwen2.5-math-1.5b-r1zero.yaml",
        "qwen2.5-math-7b-r1zero.yaml",
        "countdown-qwen2.5-3b.yaml",
        "dapo-qwen2.5-7b.yaml",
        "gsm8k-qwen2.5-0.5b-lora.yaml",
        "qwen2.5-7b-cold-start-sft.yaml",
        "qwen2.5-7b-cold-start-grpo.yaml",
        "qwen2.5-math-1.5b-distill.yaml",
        "rejection-sample-math.yaml",
        "pocket-cold-sample.yaml",
        "pocket-cold-sft.yaml",
        "pocket-cold-rl.yaml",
        "pocket-student-base.yaml",
        "pocket-distill-sample.yaml",
        "pocket-distill-sft.yaml",
        "pocket-student-rl.yaml",
    ):
        assert required in names
    assert {p.stem for p in ACCELERATE} >= {"ddp", "fsdp2", "zero2", "zero3"}


@pytest.mark.parametrize("path", RECIPES + ACCELERATE, ids=lambda p: str(p.relative_to(ROOT / "recipes")))
def test_header_gives_the_launch_command(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    assert first.startswith("# ") and ("r1train" in first or "accelerate launch" in first), first
    assert path.name.removesuffix(".yaml") in first or "RECIPE" in first


@pytest.mark.parametrize("path", RECIPES, ids=IDS)
def test_recipe_checks(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if pretrain.is_pretrain_recipe(path):
        cfg = pretrain.load_pretrain_recipe(path)
        # most answers whose opening token is learned are direct: f*s / (f*s + 1 - f) < 1/2
        f, s = cfg.corpus.think_fraction, cfg.corpus.think_start_fraction
        assert f * s / (f * s + 1 - f) < 0.5
        return
    from r1train.cli import main

    assert main(["check", str(path)]) == 0, capsys.readouterr().err
    assert "is valid" in capsys.readouterr().out
    header = "\n".join(ln for ln in path.read_text().splitlines() if ln.startswith("#"))
    assert "GPU" in header or "CPU" in header  # which hardware it expects
    assert "Expect" in header or "Target" in header  # what result it should reach


def _one_step_overrides(path: Path, tmp_path: Path) -> list[str]:
    cfg = load_recipe(path)
    out = [
        "model.name_or_path=tiny:1m",
        "model.dtype=float32",
        "rollout.engine=hf",
        "rollout.prompts_per_step=2",
        "rollout.num_generations=2",
        "rollout.max_new_tokens=4",
        "data.max_prompt_tokens=2048",
        "train.steps=1",
        "train.micro_batch_size=4",
        "train.save_every=0",
        f"train.output_dir={tmp_path / 'run'}",
        "logging.progress=false",
    ]
    kind = cfg.data.source.partition(":")[0]
    if kind == "synthetic":
        out += ["data.task.train_size=8", "data.task.eval_size=2"]
    else:  # the hub is not reachable from tests: the same columns from a local file
        row = {cfg.data.prompt_column: "What is 1+1?", cfg.data.answer_column: LOCAL_ROWS.get(cfg.data.answer_column, "2")}
        local = tmp_path / "rows.jsonl"
        local.write_text("".join(json.dumps(row) + "\n" for _ in range(4)))
        out += [f"data.source=file:{local}", "data.eval_split=null"]
    return out


@pytest.mark.parametrize("path", TRAIN_RECIPES, ids=[str(p.relative_to(ROOT / "recipes")) for p in TRAIN_RECIPES])
def test_recipe_runs_one_step_with_a_tiny_model(path: Path, tmp_path: Path) -> None:
    from r1train.train.trainer import train

    cfg = load_recipe(path, _one_step_overrides(path, tmp_path))
    result = train(cfg)
    assert [row["step"] for row in result.history] == [1]
    model = result.output_dir / "model"
    assert (model / "config.json").is_file() or (model / "adapter_config.json").is_file()  # LoRA: the adapter


def _local_rows(path: Path, tmp_path: Path, overrides: list[str]) -> list[str]:
    """Overrides that swap a hub or run-made data source for a local file with the same columns."""
    cfg = load_recipe(path)
    if cfg.data.source.startswith("synthetic:"):
        return overrides + ["data.task.train_size=8", "data.task.eval_size=2"]
    answer = LOCAL_ROWS.get(cfg.data.answer_column, "2")
    row = {cfg.data.prompt_column: "What is 1+1?", cfg.data.answer_column: answer,
           cfg.sft.completion_column: "<think>1+1=2</think><answer>2</answer>",
           "messages": [{"role": "user", "content": "What is 1+1?"},
                        {"role": "assistant", "content": "<think>1+1=2</think> \\boxed{2}"}]}
    local = tmp_path / "rows.jsonl"
    local.write_text("".join(json.dumps(row) + "\n" for _ in range(6)))
    extra = ["data.task.train_size=8", "data.task.eval_size=2"] if cfg.sft.eval_source else []
    return overrides + [f"data.source=file:{local}", "data.eval_split=null", *extra]


TINY = ["model.name_or_path=tiny:1m", "model.dtype=float32", "rollout.engine=hf", "rollout.max_new_tokens=4",
        "logging.progress=false", "train.micro_batch_size=4"]


@pytest.mark.parametrize("path", SFT_RECIPES, ids=[str(p.relative_to(ROOT / "recipes")) for p in SFT_RECIPES])
def test_sft_recipe_runs_one_step_with_a_tiny_model(path: Path, tmp_path: Path) -> None:
    from r1train.train.sft import sft

    overrides = TINY + ["train.steps=1", "train.save_every=0", "train.eval_size=2", "sft.batch_size=2", "sft.held_out=2",
                        f"train.output_dir={tmp_path / 'run'}"]
    result = sft(load_recipe(path, _local_rows(path, tmp_path, overrides)))
    assert [row["step"] for row in result.history] == [1]
    model = result.output_dir / "model"
    assert (model / "config.json").is_file() or (model / "adapter_config.json").is_file()


@pytest.mark.parametrize("path", SAMPLE_RECIPES, ids=[str(p.relative_to(ROOT / "recipes")) for p in SAMPLE_RECIPES])
def test_sample_recipe_runs_with_a_tiny_model(path: Path, tmp_path: Path) -> None:
    from r1train.train.sample import sample

    overrides = TINY + ["rollout.num_generations=2", "sample.max_prompts=2", "sample.prompts_per_call=2",
                        f"train.output_dir={tmp_path / 'run'}"]
    result = sample(load_recipe(path, _local_rows(path, tmp_path, overrides)))
    assert result.history[0]["prompts"] == 2 and (result.output_dir / "card.json").is_file()


@pytest.mark.parametrize("path", PRETRAIN_RECIPES, ids=[str(p.relative_to(ROOT / "recipes")) for p in PRETRAIN_RECIPES])
def test_pretrain_recipe_runs_one_step(path: Path, tmp_path: Path) -> None:
    overrides = ["corpus.size=16", "train.steps=1", "train.batch_size=8", "eval.size=2", "eval.max_new_tokens=4",
                 f"train.output_dir={tmp_path / 'pre'}", "train.copy_to=null", "train.threads=0"]
    assert pretrain.main([str(path), *overrides]) == 0
    assert (tmp_path / "pre" / "model" / "config.json").is_file()


@pytest.mark.parametrize("path", ACCELERATE, ids=lambda p: p.name)
def test_accelerate_config_parses(path: Path) -> None:
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(path))
    assert cfg.mixed_precision == "bf16" and cfg.num_processes >= 1
    data = read_yaml(path)
    if "deepspeed_config" in data:
        assert data["deepspeed_config"]["zero_stage"] in (2, 3)
    if "fsdp_config" in data:
        assert data["fsdp_config"]["fsdp_version"] == 2
