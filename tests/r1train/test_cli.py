"""The command line: help, listing, checking, and one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from r1train.cli import main

REPO = Path(__file__).resolve().parents[2]


def test_help_lists_commands(capsys) -> None:
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for word in ("train", "check", "recipes", "rewards", "bench", "serve"):
        assert word in out


def test_rewards_lists_the_registry(capsys) -> None:
    assert main(["rewards"]) == 0
    out = capsys.readouterr().out
    assert "answer.exact" in out and "format.think_answer" in out


def test_check_valid_and_invalid(capsys, tmp_path: Path) -> None:
    assert main(["check", str(REPO / "recipes" / "pocket-zero.yaml"), "train.steps=3"]) == 0
    assert "is valid" in capsys.readouterr().out
    assert main(["check", str(REPO / "recipes" / "pocket-zero.yaml"), "train.stepz=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("r1train: error: unknown key 'train.stepz'") and "train.steps" in err and "\n" not in err


def test_unknown_reward_lists_names(capsys, tmp_path: Path) -> None:
    code = main(["check", str(REPO / "recipes" / "pocket-zero.yaml"), "rewards=[{name: answer.exakt}]"])
    assert code == 2
    err = capsys.readouterr().err
    assert "unknown reward 'answer.exakt'" in err and "did you mean 'answer.exact'" in err


def test_python_dash_m_is_the_same_cli() -> None:
    out = subprocess.run([sys.executable, "-m", "r1train", "recipes"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and "pocket-zero.yaml" in out.stdout


def test_existing_run_is_never_overwritten(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.jsonl").write_text('{"step": 1}\n')
    code = main(["train", str(REPO / "recipes" / "pocket-zero.yaml"), f"train.output_dir={out}", "train.resume=never"])
    assert code == 2
    assert "already holds another run" in capsys.readouterr().err
    assert (out / "metrics.jsonl").read_text() == '{"step": 1}\n'


def test_commands_with_their_own_parsers_show_their_help(capsys) -> None:
    for command in ("pretrain", "plan", "serve", "eval"):
        try:
            code = main([command, "--help"])
        except SystemExit as exc:
            code = exc.code
        assert code == 0, command
        assert f"r1train {command}" in capsys.readouterr().out


def test_check_reads_the_data_without_a_model(capsys, tmp_path: Path) -> None:
    import json
    import time

    recipe = str(REPO / "recipes" / "pocket-zero.yaml")
    missing = tmp_path / "nope.jsonl"
    assert main(["check", recipe, f"data.source=file:{missing}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"r1train: error: data file '{missing}' does not exist; check data.source"
    data = tmp_path / "rows.jsonl"
    data.write_text(json.dumps({"problem": "1+1", "solution": "2"}) + "\n")
    assert main(["check", recipe, f"data.source=file:{data}"]) == 2
    err = capsys.readouterr().err.strip()
    assert "no column 'question' (set by data.prompt_column); its columns are: problem, solution" in err
    assert "\n" not in err
    start = time.perf_counter()  # a model name that cannot load: check never tries
    assert main(["check", recipe, f"data.source=file:{data}", "data.prompt_column=problem",
                 "data.answer_column=solution", f"model.name_or_path={tmp_path / 'no-model'}"]) == 0
    assert time.perf_counter() - start < 10
    assert "columns problem, solution (read 1 rows)" in capsys.readouterr().out
    assert main(["check", recipe, f"data.source=file:{missing}", "--no-data"]) == 0
    assert "not read (--no-data)" in capsys.readouterr().out
