"""``r1train sample``: the keep rules by hand, a real run from the shipped pocket base (dataset + card,
loadable by ``datasets``), and a killed run that resumes with no duplicates."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from r1train.config import SampleConfig
from r1train.recipe import load_recipe
from r1train.train.sample import sample, select
from tests.helpers import kill_when


def s(text: str, length: int, correct: float | None, reward: float | None = None) -> dict:
    return {"completion": text, "length": length, "correct_score": correct, "reward": correct if reward is None else reward}


GROUP = [s("a", 5, 0.0), s("b", 9, 1.0), s("c", 3, 1.0), s("c", 3, 1.0), s("d", 3, 1.0, 1.1), s("e", 2, None)]


def test_keep_rules_by_hand() -> None:
    assert select(GROUP, SampleConfig(keep="correct")) == [1, 2, 4]  # 3 repeats 2's text; 5 could not be verified
    assert select(GROUP, SampleConfig(keep="correct", unique=False)) == [1, 2, 3, 4]
    assert select(GROUP, SampleConfig(keep="shortest_correct")) == [2]  # lengths 9, 3, 3: the first of the 3s
    assert select(GROUP, SampleConfig(keep="first_k_correct", k=2)) == [1, 2]
    assert select(GROUP, SampleConfig(keep="threshold", threshold=1.05)) == [4]  # total reward 1.1 only
    assert select(GROUP, SampleConfig(keep="all")) == [0, 1, 2, 4, 5]
    assert select([s("x", 1, 0.0)], SampleConfig(keep="shortest_correct")) == []


def recipe(tmp_path: Path) -> Path:
    data = {
        "model": {"name_or_path": "pocket-base"},
        "data": {"source": "synthetic:chain", "template": "pocket",
                 "task": {"min_ops": 2, "ops": 4, "train_size": 20, "eval_size": 4}},
        "rollout": {"engine": "hf", "num_generations": 4, "max_new_tokens": 40},
        "rewards": [{"name": "answer.exact"}],
        "sample": {"keep": "correct", "prefix": "<think>", "prompts_per_call": 4},
        "train": {"seed": 0},
        "logging": {"progress": False},
    }
    path = tmp_path / "sample.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_sample_writes_a_verified_dataset_and_its_card(tmp_path: Path) -> None:
    import datasets

    out = tmp_path / "run"
    result = sample(load_recipe(recipe(tmp_path), [f"train.output_dir={out}", "sample.format=parquet"]))
    card = json.loads((out / "card.json").read_text())
    assert card["prompts"] == 20 and card["samples"] == 80 and card["samples_per_prompt"] == 4
    assert card["source_model"] == "pocket-base" and card["verifier"] == [{"name": "answer.exact", "weight": 1.0}]
    assert sum(card["kept_per_prompt"].values()) == 20
    assert card["pass_rate"] > 0.5  # made to think, the base is ~95% right on 2-4 operations
    ds = datasets.load_dataset("parquet", data_files=str(out / "data.parquet"), split="train")
    assert len(ds) == card["kept"] == result.history[0]["kept"] > 0
    row = ds[0]
    assert row["completion"].startswith("<think>") and row["reward"] == 1.0
    assert row["completion"].endswith(f"<answer>{row['answer']}</answer>")  # kept = verified
    assert {"question", "answer", "level", "prompt_index", "sample_index", "length"} <= set(ds.column_names)
    assert "pass rate" in (out / "README.md").read_text()


def test_a_killed_run_resumes_without_duplicates(tmp_path: Path) -> None:
    rec = recipe(tmp_path)
    straight = tmp_path / "straight"
    sample(load_recipe(rec, [f"train.output_dir={straight}", "sample.keep=all"]))
    killed = tmp_path / "killed"
    kill_when(killed / "chunks" / "chunk-000001.json", "sample", str(rec), f"train.output_dir={killed}", "sample.keep=all")
    assert not (killed / "card.json").exists(), "it should have died before the end"
    saved = len(list((killed / "chunks").glob("chunk-*.json")))
    assert 2 <= saved < 5
    sample(load_recipe(rec, [f"train.output_dir={killed}", "sample.keep=all"]))  # train.resume=auto
    a = (straight / "data.jsonl").read_text().splitlines()
    b = (killed / "data.jsonl").read_text().splitlines()
    keys = [(json.loads(x)["prompt_index"], json.loads(x)["sample_index"]) for x in b]
    assert len(keys) == len(set(keys)) == len(a)  # every sample once
    assert a == b  # each call has its own seed: the same samples as the uninterrupted run
