"""What a run tells the person watching it, through the real trainer on tiny:1m (hf engine): data errors
before the model loads, the start-up banner, plain progress lines when stdout is not a terminal, and the
warnings for groups without signal and for reward functions that fail on every call."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from r1train.errors import UserError
from r1train.recipe import build_config
from r1train.train.run import run
from r1train.train.trainer import Trainer
from tests.helpers import REWARDS_FILE


def recipe(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "model": {"name_or_path": "tiny:1m", "dtype": "float32"},
        "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 32, "eval_size": 2}},
        "rollout": {"engine": "hf", "prompts_per_step": 2, "num_generations": 2, "max_new_tokens": 4},
        "rewards": [{"name": f"{REWARDS_FILE}:digits"}],
        "optim": {"lr": 0.01},
        "train": {"steps": 3, "output_dir": str(tmp_path / "run"), "micro_batch_size": 4, "save_every": 0,
                  "eval_size": 0},
        "logging": {"progress": True},
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values} if isinstance(values, dict) else values
    return data


def test_a_missing_column_fails_before_the_model_loads(tmp_path: Path) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"problem": "1+1", "answer": "2"}) + "\n")
    # the model path does not exist: had the trainer loaded it first, the error would be about the model
    cfg = build_config(recipe(tmp_path, model={"name_or_path": str(tmp_path / "no-model")},
                              data={"source": f"file:{rows}"}), "test")
    with pytest.raises(UserError) as err:
        Trainer(cfg)
    assert "has no column 'question' (set by data.prompt_column); its columns are: problem, answer" in str(err.value)
    assert not (tmp_path / "run").exists()  # nothing was written either


LINE = re.compile(r"^step (\d+)/3  reward (\d\.\d{3}|-)  len (\d+)  (\d+\.\d\d) s/step  elapsed (\d:\d\d:\d\d)  ETA (\d:\d\d:\d\d)$")


def seconds(clock: str) -> int:
    h, m, s = (int(x) for x in clock.split(":"))
    return 3600 * h + 60 * m + s


def test_without_a_terminal_the_run_prints_a_banner_and_plain_lines(tmp_path: Path, capsys) -> None:
    cfg = build_config(recipe(tmp_path, logging={"log_every": 2}), "test")
    run(Trainer(cfg))
    out = capsys.readouterr().out.splitlines()  # pytest's capture is not a terminal, as under Slurm
    banner = [ln for ln in out if ln.startswith("r1train: ")]
    assert banner[0].startswith("r1train: model      tiny:1m (") and "float32, full fine-tuning" in banner[0]
    assert banner[1] == "r1train: data       synthetic:copy (32 training rows, 2 held out, template pocket)"
    assert banner[2] == "r1train: engine     hf (HFEngine): 2 prompts x 2 samples, up to 4 new tokens"
    assert banner[3] == "r1train: steps      3; checkpoint at the end"
    assert banner[4] == "r1train: processes  1 (cpu)"
    assert banner[5] == f"r1train: output     {tmp_path / 'run'}"
    lines = [LINE.match(ln) for ln in out if ln.startswith("step ")]
    assert all(lines), out
    # log_every=2 over 3 steps: the first step (alive?), step 2 (every 2nd) and the last step
    assert [int(m.group(1)) for m in lines] == [1, 2, 3]
    for m in lines:  # ETA = s/step x steps left, to the rounding of the clock
        step, rate, eta = int(m.group(1)), float(m.group(4)), seconds(m.group(6))
        assert abs(eta - rate * (3 - step)) <= 1.0
        assert abs(seconds(m.group(5)) - rate * step) <= 1.0  # elapsed = s/step x steps done
    assert lines[-1].group(6) == "0:00:00"
    assert "━" not in "\n".join(out)  # no bar characters in a log file


def test_a_reward_that_never_scores_is_a_loud_warning(tmp_path: Path, capsys) -> None:
    rewards = [{"name": f"{REWARDS_FILE}:broken", "on_error": "none"}]
    cfg = build_config(recipe(tmp_path, rewards=rewards, train={"steps": 1}), "test")
    run(Trainer(cfg))
    captured = capsys.readouterr()
    warnings = [ln for ln in captured.err.splitlines() if ln.startswith("r1train: WARNING:")]
    # 2 prompts x 2 samples: all 4 completions unscored, the call failed once
    assert warnings == [
        "r1train: WARNING: reward 'reward_fixtures:broken' could not score any of the 4 completions of step 1 (it failed 1 time(s)): "
        "its reward is missing, not 0; see the log above for its error and check its arguments and the data "
        "columns it reads"
    ]
    step_line = next(ln for ln in captured.out.splitlines() if ln.startswith("step 1/1"))
    assert "reward -  " in step_line  # not "reward 0.000"


def test_groups_without_signal_for_three_steps_are_a_loud_warning(tmp_path: Path, capsys) -> None:
    cfg = build_config(recipe(tmp_path, rewards=[{"name": f"{REWARDS_FILE}:zero"}], train={"steps": 4}), "test")
    run(Trainer(cfg))
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("r1train: WARNING:")]
    # flat at steps 1, 2, 3, 4: one warning when the streak reaches 3 steps, none again while it goes on
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("r1train: WARNING: every group had identical rewards in each of the last 3 steps "
                                  "(up to step 3): all advantages are 0")
