"""In-training evaluation: ``evaluate_live`` on the trainer's engine returns ``eval/<bench>/…`` metrics."""

from __future__ import annotations

import json

import pytest

from eval.live import evaluate_live, settings_from
from r1train.errors import UserError
from r1train.recipe import build_config
from tests.helpers import ScriptedEngine, write_jsonl


def _cfg(tmp_path, **eval_keys):
    data = {
        "model": {"name_or_path": "tiny:1m", "dtype": "float32"},
        "data": {"source": "synthetic:addition", "template": "pocket", "max_prompt_tokens": 32},
        "rollout": {"engine": "hf", "max_new_tokens": 16},
        "train": {"output_dir": str(tmp_path / "run")},
        "eval": {"every": 5, "benchmarks": ["pocket"], "samples": 2, **eval_keys},
    }
    return build_config(data, "test recipe")


def test_live_metrics_from_a_scripted_policy(tmp_path, char_tokenizer):
    path = write_jsonl(tmp_path / "p.jsonl", [{"question": "2+2", "answer": "4", "level": 1}, {"question": "3+5", "answer": "8", "level": 1}])
    cfg = _cfg(tmp_path, data={"pocket": str(path)}, temperature=0.0)
    engine = ScriptedEngine(char_tokenizer, {"Q: 2+2\nA:": ["<answer>4</answer>"], "Q: 3+5\nA:": ["<answer>9</answer>"]})
    out = evaluate_live(engine, char_tokenizer, cfg, step=10)
    assert out["eval/pocket/pass@1"] == 0.5 and out["eval/pocket/pass@2"] == 0.5 and out["eval/pocket/maj@2"] == 0.5
    assert out["eval/pocket/level/1/pass@1"] == 0.5 and out["eval/pocket/problems"] == 2.0
    assert "eval/pocket/length/mean" in out and "time/eval" in out
    sampling = engine.calls[0][1]
    assert sampling.max_new_tokens == 16 and sampling.top_k == 1  # rollout.max_new_tokens; greedy
    saved = json.loads((tmp_path / "run" / "eval" / "step_000010.json").read_text())
    assert saved["step"] == 10 and len(saved["records"]["pocket"]) == 2


def test_live_defaults_follow_the_training_recipe(tmp_path):
    s = settings_from(_cfg(tmp_path))
    assert (s.template, s.max_new_tokens, s.samples) == ("pocket", 16, 2)
    s = settings_from(_cfg(tmp_path, template="plain", max_new_tokens=8))
    assert (s.template, s.max_new_tokens) == ("plain", 8)


def test_live_mistakes_are_one_sentence(tmp_path, char_tokenizer):
    with pytest.raises(UserError, match="eval.benchmarks is empty"):
        evaluate_live(None, char_tokenizer, _cfg(tmp_path, benchmarks=[]), 1)
    with pytest.raises(UserError, match="raise data.max_prompt_tokens or lower eval.max_new_tokens"):
        evaluate_live(None, char_tokenizer, _cfg(tmp_path, max_new_tokens=40), 1)

