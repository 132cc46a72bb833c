"""``r1train sft``: rows -> examples (loss on completions only), the loss against a slow loop, a real run
through the CLI, and exact resume after SIGKILL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from r1train.config import ModelConfig
from r1train.errors import UserError
from r1train.models.load import load_model, load_tokenizer, resolve_source
from r1train.recipe import load_recipe
from r1train.runtime import checkpoint
from r1train.train.batch import micro_batches
from r1train.train.sft import sft
from r1train.train.sft_data import as_rollout, build_examples, normalise_messages
from tests.helpers import cli, kill_when, write_jsonl


def rows(n: int) -> list[dict]:
    return [{"question": f"{i % 10}{(i * 7) % 10}", "completion": f"<answer>{i % 10}</answer>", "answer": str(i % 10)}
            for i in range(n)]


def recipe(tmp_path: Path, n: int = 40, **sections: dict) -> Path:
    data_file = write_jsonl(tmp_path / "rows.jsonl", rows(n))
    data = {
        "model": {"name_or_path": "tiny:1m", "dtype": "float32"},
        "data": {"source": f"file:{data_file}", "template": "pocket"},
        "rollout": {"engine": "hf", "max_new_tokens": 8},
        "optim": {"lr": 3.0e-3, "warmup_steps": 2, "schedule": "cosine"},
        "train": {"steps": 4, "seed": 3, "save_every": 1, "keep_last": 2, "eval_size": 4, "micro_batch_size": 4},
        "sft": {"batch_size": 8, "held_out": 8},
        "logging": {"progress": False},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    path = tmp_path / "sft.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_loss_sees_completion_tokens_only(tmp_path: Path) -> None:
    cfg = load_recipe(recipe(tmp_path))
    tok = load_tokenizer(resolve_source(cfg.model))
    examples, dropped = build_examples(rows(3), cfg, tok)
    assert dropped == 0
    # "Q: 00\nA:" is 8 characters = 8 tokens; "<answer>0</answer>" is 3 tokens (the tags are single tokens) + eos
    assert [len(e.prompt_ids) for e in examples] == [8, 8, 8]
    assert [len(e.completion_ids) for e in examples] == [4, 4, 4]
    assert examples[0].completion_ids[-1] == tok.eos_token_id
    mbs = micro_batches([as_rollout(e, i) for i, e in enumerate(examples)], torch.ones(3), 2, tok.pad_token_id)
    assert sum(int(mb.loss_mask.sum()) for mb in mbs) == 12  # 3 examples x 4 target tokens, no prompt token


def test_messages_rows_render_with_the_chat_template(tmp_path: Path) -> None:
    cfg = load_recipe(recipe(tmp_path), ["sft.format=messages"])
    tok = load_tokenizer(resolve_source(cfg.model))
    sharegpt = [{"from": "human", "value": "1+1?"}, {"from": "gpt", "value": "<answer>2</answer>"}]
    assert normalise_messages(sharegpt, None, "x")[0] == {"role": "user", "content": "1+1?"}
    (ex,), _ = build_examples([{"messages": sharegpt}], cfg, tok)
    # the tiny chat template: "User: 1+1?\nAssistant:" (22 characters), the target then eos
    assert tok.decode(ex.prompt_ids) == "User: 1+1?\nAssistant:" and len(ex.prompt_ids) == 21
    assert tok.decode(ex.completion_ids, skip_special_tokens=False).startswith("<answer>2</answer>")
    with pytest.raises(UserError, match="last turn is 'user'"):
        build_examples([{"messages": sharegpt[:1]}], cfg, tok)
    with pytest.raises(UserError, match="no column 'completion'.*question, answer"):
        build_examples([{"question": "1", "answer": "2"}], load_recipe(recipe(tmp_path)), tok)


def test_first_step_loss_is_the_mean_nll_of_the_completion_tokens(tmp_path: Path) -> None:
    # 16 rows, 8 held out: the first batch of 8 holds every training row (in some order; a mean does not care)
    rec = recipe(tmp_path, n=16)
    cfg = load_recipe(rec, [f"train.output_dir={tmp_path / 'run'}", "train.steps=1", "train.eval_size=0"])
    result = sft(cfg)
    source = resolve_source(ModelConfig(name_or_path="tiny:1m", dtype="float32"))
    tok, model = load_tokenizer(source), load_model(ModelConfig(name_or_path="tiny:1m", dtype="float32"), source)
    examples, _ = build_examples(rows(16)[:8], cfg, tok)
    total, count = 0.0, 0
    with torch.no_grad():  # the slow, obvious way: one sequence at a time, full logits
        for e in examples:
            ids = torch.tensor([e.prompt_ids + e.completion_ids])
            logp = model(input_ids=ids).logits[0].log_softmax(-1)  # (L, V)
            for t in range(len(e.prompt_ids), ids.shape[1]):
                total -= float(logp[t - 1, ids[0, t]])
                count += 1
    assert count == 8 * 4
    assert result.history[0]["loss"] == pytest.approx(total / count, rel=1e-4)


def test_cli_run_learns_and_writes_its_outputs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["sft", str(recipe(tmp_path)), f"train.output_dir={out}", "train.steps=8", "train.save_every=0"]
    done = cli(*args)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["loss_after"] < summary["loss_before"] - 0.5, summary  # 8 steps on a 3-token target
    assert summary["held_out"] == 4 and summary["accuracy_before"] is not None  # the answer column is verified
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG" and (out / "model" / "config.json").is_file()
    assert "held-out loss" in done.stdout
    again = cli(*args)
    assert again.returncode == 2 and "already holds another run" in again.stderr  # nothing is overwritten


def test_sigkill_then_resume_is_exact(tmp_path: Path) -> None:
    rec = recipe(tmp_path)
    straight = tmp_path / "straight"
    sft(load_recipe(rec, [f"train.output_dir={straight}", "train.eval_size=0"]))
    killed = tmp_path / "killed"
    marker = killed / "checkpoints" / "step-000002" / checkpoint.MARKER
    kill_when(marker, "sft", str(rec), f"train.output_dir={killed}", "train.eval_size=0")
    assert checkpoint.latest(killed) is not None and not (killed / "model").exists(), "it should have died mid-run"
    result = sft(load_recipe(rec, [f"train.output_dir={killed}", "train.eval_size=0"]))  # train.resume=auto
    a = [json.loads(x) for x in (straight / "metrics.jsonl").read_text().splitlines()]
    b = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in b] == [1, 2, 3, 4]
    for key in ("loss", "grad_norm", "lr", "tokens/completion"):
        assert [r[key] for r in a] == [r[key] for r in b], key  # bit for bit on CPU
    wa, wb = (load_file(str(d / "model" / "model.safetensors")) for d in (straight, result.output_dir))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
