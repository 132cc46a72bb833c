"""Every shipped recipe is valid (``r1train check``) and runs through its own hub ids: the model and the
data are the recipe's (``Qwen/…``, ``hf:openai/gsm8k:main``, ``hf:open-r1/OpenR1-Math-220k:default``…),
read offline from the hub cache of :mod:`tests.hub` (tiny weights and a few rows under the real ids, with
the real columns). Only the lengths, sizes and engine change: a train recipe runs one step (2 prompts x 2
samples x 4 new tokens, hf engine), an ``sft`` recipe one step of 2 examples through ``r1train sft`` (held-out
loss and accuracy on 2), a ``sample`` recipe 2 prompts x 2 samples through ``r1train sample``. A recipe whose
data is a file made by a command in its header (MATH levels 3-5) gets that file by running that very
command against the cache; a pipeline stage whose model or data an earlier recipe makes (``runs/…``) gets
tiny:1m and a local file of the rows that stage writes. The accelerate launch configs parse; every recipe
header says how to launch it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from r1train.cli import recipe_kind
from r1train.data import tasks
from r1train.recipe import load_recipe, read_yaml
from r1train.train import pretrain
from tests.helpers import write_jsonl

ROOT = Path(__file__).resolve().parents[2]
RECIPES = sorted(p for p in (ROOT / "recipes").rglob("*.yaml") if "accelerate" not in p.parts)
TRAIN_RECIPES = [p for p in RECIPES if not pretrain.is_pretrain_recipe(p) and recipe_kind(str(p)) == "train"]
SFT_RECIPES = [p for p in RECIPES if not pretrain.is_pretrain_recipe(p) and recipe_kind(str(p)) == "sft"]
SAMPLE_RECIPES = [p for p in RECIPES if not pretrain.is_pretrain_recipe(p) and recipe_kind(str(p)) == "sample"]
PRETRAIN_RECIPES = [p for p in RECIPES if pretrain.is_pretrain_recipe(p)]
ACCELERATE = sorted((ROOT / "recipes" / "accelerate").glob("*.yaml"))
IDS = [str(p.relative_to(ROOT / "recipes")) for p in RECIPES]

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
        "code-qwen2.5-coder-1.5b.yaml",
        "code-qwen2.5-coder-7b.yaml",
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
def test_recipe_checks(
    path: Path, capsys: pytest.CaptureFixture[str], hub_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pretrain.is_pretrain_recipe(path):
        cfg = pretrain.load_pretrain_recipe(path)
        # most answers whose opening token is learned are direct: f*s / (f*s + 1 - f) < 1/2
        f, s = cfg.corpus.think_fraction, cfg.corpus.think_start_fraction
        assert f * s / (f * s + 1 - f) < 0.5
        return
    from r1train.cli import main

    # check reads a few rows of the recipe's own data: hub datasets from the offline cache, a data file made
    # by the recipe header's own command (no --no-data: the real reading path)
    source = load_recipe(path).data.source
    staged = source.startswith("file:runs/")  # a pipeline stage's data, made by an earlier recipe's run
    if source.startswith("file:") and not staged:
        _make_data_file(path, tmp_path)
    monkeypatch.chdir(tmp_path)
    assert main(["check", str(path), *(["--no-data"] if staged else [])]) == 0, capsys.readouterr().err
    assert "is valid" in capsys.readouterr().out
    header = "\n".join(ln for ln in path.read_text().splitlines() if ln.startswith("#"))
    assert "GPU" in header or "CPU" in header  # which hardware it expects
    assert "Expect" in header or "Target" in header  # what result it should reach


def _one_step_overrides(path: Path, tmp_path: Path) -> list[str]:
    cfg = load_recipe(path)
    out = [
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
    if cfg.data.source.startswith("synthetic:"):
        out += ["data.task.train_size=8", "data.task.eval_size=2"]
    return out


def _make_data_file(path: Path, cwd: Path) -> None:
    """Run the recipe header's ``python -c "…"`` that writes its data file from the hub (offline cache)."""
    match = re.search(r'^#\s+python -c "(.+)"\s*$', path.read_text(), re.MULTILINE)
    assert match, f"{path.name} reads a local file but its header gives no command that makes it"
    (cwd / "data").mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", match.group(1)], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("path", TRAIN_RECIPES, ids=[str(p.relative_to(ROOT / "recipes")) for p in TRAIN_RECIPES])
def test_recipe_runs_one_step_through_its_hub_ids(
    path: Path, tmp_path: Path, hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from r1train.train.run import train

    original = load_recipe(path)
    if original.data.source.startswith("file:"):
        _make_data_file(path, tmp_path)
        made = (tmp_path / original.data.source.removeprefix("file:")).read_text().splitlines()
        assert len(made) == 3  # the cache's MATH train rows are Level 3, 4, 5 and 6: the header keeps 3-5
    monkeypatch.chdir(tmp_path)  # the recipe's relative data path (data/…) resolves here
    overrides = _one_step_overrides(path, tmp_path)
    stage_input = original.model.name_or_path.startswith("runs/")  # a pipeline stage: an earlier recipe makes it
    if stage_input:
        overrides.append("model.name_or_path=tiny:1m")
    cfg = load_recipe(path, overrides)
    assert (cfg.data.source, cfg.data.split) == (original.data.source, original.data.split)
    assert stage_input or cfg.model == original.model
    result = train(cfg)
    assert [row["step"] for row in result.history] == [1]
    model = result.output_dir / "model"
    assert (model / "config.json").is_file()  # LoRA too: the merged model, loadable like any checkpoint
    if original.model.lora is not None:  # and the adapter alone, pointing at the hub id it was trained on
        adapter = json.loads((model / "adapter" / "adapter_config.json").read_text())
        assert adapter["base_model_name_or_path"] == original.model.name_or_path == "Qwen/Qwen2.5-0.5B-Instruct"
        assert adapter["r"] == original.model.lora.r


def test_a_recipe_runs_one_step_with_its_own_vllm_engine_from_the_hub_cache(
    tmp_path: Path, hub_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine as shipped (vLLM, its CPU build here) loads the recipe's hub id from the cache itself."""
    from r1train.train.run import run
    from r1train.train.trainer import Trainer

    path = ROOT / "recipes" / "gsm8k-qwen2.5-0.5b-lora.yaml"  # vLLM + LoRA: merged weights pushed to vLLM
    monkeypatch.chdir(tmp_path)
    overrides = [o for o in _one_step_overrides(path, tmp_path) if not o.startswith("rollout.engine=")]
    trainer = Trainer(load_recipe(path, overrides))
    assert type(trainer.engine).__name__ == "VLLMEngine"  # not the hf fallback
    result = run(trainer)
    assert [row["step"] for row in result.history] == [1]
    assert (result.output_dir / "model" / "adapter" / "adapter_config.json").is_file()


def _stage_stand_ins(path: Path, tmp_path: Path) -> list[str]:
    """Stand-ins for what only an earlier stage's run makes (``runs/…``), nothing else: its model becomes
    tiny:1m, its data a local file of the rows that stage's ``r1train sample`` writes: prompts of the task
    the stage sampled (the recipe's ``sft.eval_source``) with their own columns, then ``completion``,
    ``reward``, ``reward/<fn>``, ``length``, ``finish_reason``, ``prompt_index`` and ``sample_index``."""
    cfg = load_recipe(path)
    out = ["model.name_or_path=tiny:1m"] if cfg.model.name_or_path.startswith("runs/") else []
    if cfg.data.source.startswith("file:runs/"):
        task = (cfg.sft.eval_source or "").removeprefix("synthetic:")
        assert task, f"{path.name}: its data is a stage's output; the stand-in draws its prompts from sft.eval_source"
        prompts, _ = tasks.generate(task, {**cfg.data.task, "train_size": 6, "eval_size": 2}, seed=0)
        fn = cfg.rewards[0].name
        made = [row | {"completion": f"<think>{row['question']}</think><answer>{row['answer']}</answer>", "reward": 1.0,
                       f"reward/{fn}": 1.0, "length": 9, "finish_reason": "stop", "prompt_index": i, "sample_index": 0}
                for i, row in enumerate(prompts)]
        out.append(f"data.source=file:{write_jsonl(tmp_path / 'stage-data.jsonl', made)}")
    return out


def _run_cli(
    command: str, path: Path, tmp_path: Path, overrides: list[str], capsys: pytest.CaptureFixture[str]
) -> dict:
    """``r1train check`` then ``r1train COMMAND`` on RECIPE with the overrides, through the CLI's own entry
    point, from ``tmp_path`` (the caller's working directory, where a data file made by the header's command
    lies); returns the resolved recipe the run recorded, whose model and data are checked to be the shipped
    recipe's (stage stand-ins aside)."""
    from r1train.cli import main

    original = load_recipe(path)
    if original.data.source.startswith("file:") and not original.data.source.startswith("file:runs/"):
        _make_data_file(path, tmp_path)  # data/math_lvl3to5.jsonl, by the header's own command, from the hub cache
    stand_ins = _stage_stand_ins(path, tmp_path)
    out = tmp_path / "run"
    args = [command, str(path), *overrides, *stand_ins, "rollout.engine=hf", "rollout.max_new_tokens=4",
            "logging.progress=false", f"train.output_dir={out}"]
    assert main(["check", *args[1:]]) == 0, capsys.readouterr().err[-3000:]  # check accepts the very command
    assert "is valid" in capsys.readouterr().out
    assert main(args) == 0, capsys.readouterr().err[-3000:]
    assert f"r1train: done; {'the dataset' if command == 'sample' else 'metrics'}" in capsys.readouterr().out
    recorded = read_yaml(out / "recipe.yaml")
    model, data = recorded["model"], recorded["data"]
    if not any(o.startswith("model.") for o in stand_ins):
        assert model["name_or_path"] == original.model.name_or_path and model["dtype"] == original.model.dtype
    if not any(o.startswith("data.") for o in stand_ins):
        assert (data["source"], data["split"]) == (original.data.source, original.data.split)
    assert (data["prompt_column"], data["template"]) == (original.data.prompt_column, original.data.template)
    return recorded


def _check_hub_model(name: str, hub_cache: Path) -> bool:
    """Whether ``name`` is a hub id; if so, offline (``HF_HUB_OFFLINE=1``) it can only have come from its
    snapshot in the test cache, which must hold it: the run loaded the id, not a tiny model built on the side."""
    from huggingface_hub import try_to_load_from_cache

    from r1train.models.load import HUB_ID

    if not HUB_ID.fullmatch(name) or Path(name).exists():
        return False
    config = try_to_load_from_cache(name, "config.json")
    repo = hub_cache / "hub" / f"models--{name.replace('/', '--')}"
    assert isinstance(config, str) and Path(config).is_relative_to(repo)
    return True


SFT_SHORT = ["train.steps=1", "train.save_every=0", "train.eval_size=2", "sft.batch_size=2", "sft.held_out=2"]


@pytest.mark.parametrize("path", SFT_RECIPES, ids=[str(p.relative_to(ROOT / "recipes")) for p in SFT_RECIPES])
def test_sft_recipe_runs_one_step_through_its_hub_ids(
    path: Path, tmp_path: Path, hub_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # _run_cli moves here; monkeypatch moves back
    original = load_recipe(path)
    extra = ["data.task.train_size=8", "data.task.eval_size=2"] if original.sft.eval_source else []
    recorded = _run_cli("sft", path, tmp_path, SFT_SHORT + extra, capsys)
    is_hub = _check_hub_model(recorded["model"]["name_or_path"], hub_cache)
    assert is_hub == original.model.name_or_path.startswith("Qwen/")
    out = tmp_path / "run"
    assert [json.loads(x)["step"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1]
    model = out / "model"
    assert (model / "config.json").is_file() or (model / "adapter_config.json").is_file()
    summary = json.loads((out / "summary.json").read_text())
    if original.data.source.startswith("hf:"):  # the cache's 4 rows: 2 to train on, 2 held out (at most half)
        assert (summary["train_examples"], summary["held_out_loss_examples"]) == (2, 2)
        assert summary["accuracy_before"] is not None  # the rows' answer column, verified by the recipe's reward


SAMPLE_SHORT = ["rollout.num_generations=2", "sample.max_prompts=2", "sample.prompts_per_call=2"]


@pytest.mark.parametrize("path", SAMPLE_RECIPES, ids=[str(p.relative_to(ROOT / "recipes")) for p in SAMPLE_RECIPES])
def test_sample_recipe_runs_through_its_hub_ids(
    path: Path, tmp_path: Path, hub_cache: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    original = load_recipe(path)
    extra = ["data.task.train_size=8", "data.task.eval_size=2"] if original.data.source.startswith("synthetic:") else []
    recorded = _run_cli("sample", path, tmp_path, SAMPLE_SHORT + extra, capsys)
    card = json.loads((tmp_path / "run" / "card.json").read_text())
    assert (card["prompts"], card["samples"]) == (2, 4)
    assert card["source_model"] == recorded["model"]["name_or_path"] and card["data_source"] == original.data.source
    assert card["verifier"][0]["name"] == original.rewards[0].name
    if _check_hub_model(card["source_model"], hub_cache):
        assert card["source_model_path"] == card["source_model"]  # handed to from_pretrained as the hub id itself


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
