"""Recipes map onto frozen dataclasses; bad input is one sentence naming the key, the file and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1train.config import Config
from r1train.errors import UserError
from r1train.recipe import apply_overrides, load_recipe, parse_override

MINIMAL = "model:\n  name_or_path: tiny:1m\ndata:\n  source: synthetic:addition\n"


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "r.yaml"
    p.write_text(text)
    return p


def test_minimal_recipe_gets_every_default(tmp_path: Path) -> None:
    cfg = load_recipe(write(tmp_path, MINIMAL))
    assert isinstance(cfg, Config)
    assert cfg.model.name_or_path == "tiny:1m" and cfg.data.source == "synthetic:addition"
    assert cfg.rollout.num_generations == 8 and cfg.algorithm.clip_high == 0.28 and cfg.optim.lr == 1.0e-6
    with pytest.raises(AttributeError):
        cfg.train.steps = 3  # type: ignore[misc]  # frozen


def test_overrides_are_typed(tmp_path: Path) -> None:
    cfg = load_recipe(
        write(tmp_path, MINIMAL),
        ["train.steps=7", "optim.lr=1e-5", "rollout.stop=[a, b]", "logging.progress=false", "data.task.digits=4"],
    )
    assert cfg.train.steps == 7 and isinstance(cfg.train.steps, int)
    assert cfg.optim.lr == 1e-5  # YAML 1.1 reads "1e-5" as a string; the float field converts it
    assert cfg.rollout.stop == ["a", "b"] and cfg.logging.progress is False
    assert cfg.data.task == {"digits": 4}


def test_parse_override_shape() -> None:
    assert parse_override("a.b.c=3") == (["a", "b", "c"], 3)
    assert apply_overrides({"a": {"x": 1}}, ["a.y=2"]) == {"a": {"x": 1, "y": 2}}
    with pytest.raises(UserError, match="section.key=value"):
        parse_override("train.steps")


@pytest.mark.parametrize(
    "text, needle",
    [
        (MINIMAL + "trian:\n  steps: 3\n", "unknown key 'trian'.*did you mean 'train'"),
        (MINIMAL + "train:\n  stpes: 3\n", "unknown key 'train.stpes'.*did you mean 'train.steps'"),
        (MINIMAL + "train:\n  steps: many\n", "'train.steps'.*must be a whole number"),
        (MINIMAL + "algorithm:\n  loss_agg: token_meen\n", "did you mean 'token_mean'"),
        ("data:\n  source: synthetic:addition\n", "'model' is required"),
        ("model:\n  dtype: float32\ndata:\n  source: x\n", "'model.name_or_path' is required"),
        (MINIMAL + "rollout:\n  num_generations: 1\n", "at least 2 samples"),
        (MINIMAL + "rewards: []\n", "name at least one reward"),
        (MINIMAL + "model: [1, 2]\n", "'model'.*must be a mapping"),
        ("model: {name_or_path: x\n", "malformed YAML at line"),
    ],
)
def test_bad_recipes_are_one_clear_sentence(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(UserError, match=needle) as info:
        load_recipe(write(tmp_path, text))
    message = str(info.value)
    assert "\n" not in message and str(tmp_path / "r.yaml") in message


def test_missing_recipe_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        load_recipe(tmp_path / "nope.yaml")
