"""Run directories: one run at a time (a lock), overwrite moves the old run aside, a failed start leaves no
trace, every start's recipe is kept, and a run directory loads as a model (eval, serve, name_or_path).

All runs are real: tiny:1m on the copy task with the HF engine, a real second process holding the lock.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from r1train.config import ModelConfig
from r1train.errors import UserError
from r1train.models.load import load_tokenizer, resolve_source
from r1train.recipe import load_recipe
from r1train.runtime import checkpoint
from r1train.train.run import train
from tests.helpers import REWARDS_FILE, start_cli, write_jsonl


def recipe(tmp_path: Path, steps: int = 2, **train_keys: object) -> Path:
    data = {
        "model": {"name_or_path": "tiny:1m"},
        "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 32, "eval_size": 2}},
        "rollout": {"engine": "hf", "prompts_per_step": 2, "num_generations": 2, "max_new_tokens": 4},
        "rewards": [{"name": f"{REWARDS_FILE}:sevens"}],
        "optim": {"lr": 3.0e-3},
        "train": {"steps": steps, "seed": 3, "save_every": 1, "keep_last": 0, "micro_batch_size": 4, **train_keys},
        "logging": {"progress": False},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def steps_of(out: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]


def test_overwrite_wins_over_resume_auto_and_moves_the_old_run_aside(tmp_path: Path) -> None:
    rec, out = recipe(tmp_path, steps=1), tmp_path / "run"
    train(load_recipe(rec, [f"train.output_dir={out}"]))
    old_weights = (out / "checkpoints" / "step-000001" / "model" / "model.safetensors").read_bytes()
    # resume defaults to auto and a checkpoint exists; overwrite must still start over (it used to resume)
    train(load_recipe(rec, [f"train.output_dir={out}", "train.overwrite=true", "train.steps=2"]))
    assert steps_of(out) == [1, 2]
    (aside,) = tmp_path.glob("run.old-*")
    assert steps_of(aside) == [1]  # the old run, whole, beside it: nothing deleted
    assert (aside / "checkpoints" / "step-000001" / "model" / "model.safetensors").read_bytes() == old_weights
    assert yaml.safe_load((aside / "recipe.yaml").read_text())["train"]["overwrite"] is False
    assert not (out / "recipe.resume-1.yaml").exists()  # a fresh start, not a resume
    # another run's checkpoint seeds a new run; it does not license writing into this run's directory
    theirs = aside / "checkpoints" / "step-000001"
    with pytest.raises(UserError, match="already holds another run"):
        train(load_recipe(rec, [f"train.output_dir={out}", f"train.resume={theirs}", "train.steps=2"]))
    assert steps_of(out) == [1, 2]


def test_a_failed_start_leaves_no_trace_and_the_corrected_rerun_runs(tmp_path: Path) -> None:
    rec, out = recipe(tmp_path, steps=1), tmp_path / "run"
    with pytest.raises(UserError, match="no-such-reward"):
        train(load_recipe(rec, [f"train.output_dir={out}", "rewards=[{name: no-such-reward}]"]))
    assert not out.exists()  # it used to hold recipe.yaml, and the rerun was refused as "another run"
    empty = tmp_path / "made-by-user"
    empty.mkdir()
    with pytest.raises(UserError):
        train(load_recipe(rec, [f"train.output_dir={empty}", "data.source=file:/no/such.jsonl"]))
    assert empty.is_dir() and list(empty.iterdir()) == []  # the user's directory stays, empty
    train(load_recipe(rec, [f"train.output_dir={out}"]))
    assert steps_of(out) == [1]


def test_every_start_keeps_its_recipe_and_fewer_steps_than_the_checkpoint_are_refused(tmp_path: Path) -> None:
    rec, out = recipe(tmp_path, steps=1), tmp_path / "run"
    train(load_recipe(rec, [f"train.output_dir={out}"]))
    train(load_recipe(rec, [f"train.output_dir={out}", "train.steps=2"]))
    train(load_recipe(rec, [f"train.output_dir={out}", "train.steps=3"]))
    steps = [yaml.safe_load((out / name).read_text())["train"]["steps"]
             for name in ("recipe.yaml", "recipe.resume-1.yaml", "recipe.resume-2.yaml")]  # fmt: skip
    assert steps == [1, 2, 3]  # the first start's recipe still describes it
    assert steps_of(out) == [1, 2, 3]
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(UserError, match=r"train.steps=2 is below step 3 of the checkpoint .*at least 3"):
        train(load_recipe(rec, [f"train.output_dir={out}", "train.steps=2"]))  # used to exit 0 at "6/2"
    assert sorted(p.name for p in out.iterdir()) == [n for n in before if n != ".lock"]  # the refused start wrote nothing, took its lock file away
    assert len(list(out.glob("model.old-*"))) == 2  # each extension kept the model it replaced
    final = (out / "model" / "model.safetensors").stat().st_mtime_ns
    train(load_recipe(rec, [f"train.output_dir={out}", "train.steps=3"]))  # the same command again: done already
    assert steps_of(out) == [1, 2, 3] and (out / "model" / "model.safetensors").stat().st_mtime_ns == final
    assert len(list(out.glob("model.old-*"))) == 2 and (out / "recipe.resume-3.yaml").is_file()


def test_one_run_per_directory_while_it_lives_and_none_after_it_dies(tmp_path: Path) -> None:
    rec, out = recipe(tmp_path, steps=500, save_every=1000), tmp_path / "run"
    live = start_cli("train", str(rec), f"train.output_dir={out}", stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and not ((out / "metrics.jsonl").exists() and (out / "metrics.jsonl").read_text()):
            assert live.poll() is None, live.stderr.read() if live.stderr else ""
            time.sleep(0.05)
        for extra in ([], ["train.overwrite=true"]):
            with pytest.raises(UserError, match=rf"is in use by another run \(pid {live.pid} on host .*\); wait"):
                train(load_recipe(rec, [f"train.output_dir={out}", "train.steps=1", *extra]))
        assert not list(tmp_path.glob("run.old-*"))  # the live run was not moved aside under its feet
        live.send_signal(signal.SIGKILL)
        live.wait()
    finally:
        if live.poll() is None:
            live.kill()
            live.wait()
    rows = steps_of(out)
    assert rows == list(range(1, len(rows) + 1))  # one writer: no interleaved steps
    # the kernel dropped the dead run's lock: the directory can be started over at once
    train(load_recipe(rec, [f"train.output_dir={out}", "train.steps=1", "train.overwrite=true"]))
    assert steps_of(out) == [1]


def test_a_read_only_output_directory_is_one_sentence(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root ignores permissions: a read-only file system instead
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(ro)], check=True)
    else:
        ro.chmod(0o555)
    try:
        for out in (ro, ro / "run"):
            with pytest.raises(UserError, match=r"cannot be written \(.*\); choose a directory you can write to"):
                train(load_recipe(recipe(tmp_path), [f"train.output_dir={out}"]))
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", "-l", str(ro)], check=False)
        else:
            ro.chmod(0o755)


def test_a_stopped_run_directory_loads_and_evaluates_through_its_newest_checkpoint(tmp_path: Path) -> None:
    from eval import runner

    rec, out = recipe(tmp_path, steps=2), tmp_path / "run"
    train(load_recipe(rec, [f"train.output_dir={out}"]))
    newest = out / "checkpoints" / "step-000002" / "model"
    assert (newest / "tokenizer.json").is_file()  # every checkpoint's model/ is a loadable model
    (out / "model").rename(tmp_path / "final")  # what a stopped run looks like: no model/
    source = resolve_source(ModelConfig(name_or_path=str(out)))
    assert source.path == str(newest)
    assert load_tokenizer(source)("12")["input_ids"]  # it used to be an empty tokenizer: "prompt cannot be empty"
    bench = write_jsonl(tmp_path / "bench.jsonl", [{"question": "1+2", "answer": "3"}])
    settings = runner.Settings(samples=1, temperature=0.0, max_new_tokens=4)
    rep = runner.evaluate(str(out), ["pocket"], settings, engine="hf", data={"pocket": str(bench)})
    assert rep["source"] == str(newest) and rep["results"]["pocket"]["problems"] == 1
    # a checkpoint directory itself is a model too; a run with no complete model yet is one sentence
    assert resolve_source(ModelConfig(name_or_path=str(newest.parent))).path == str(newest)
    for ckpt in checkpoint.complete_checkpoints(out):
        (ckpt / checkpoint.MARKER).unlink()
    with pytest.raises(UserError, match="holds no model yet"):
        resolve_source(ModelConfig(name_or_path=str(out)))
