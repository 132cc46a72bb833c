"""The pocket tool lab end to end: `r1train train recipes/pocket-tools.yaml`, shortened, from the shipped tool
base (r1train/assets/pocket-tools-base, made by recipes/pocket-tools-base.yaml), through the real CLI, the
vLLM engine and the multi-turn loop with the calculator tool.

It checks that the effect the lab exists to show happens at all: the base seldom calls the calculator,
and correctness alone makes it call it, and that pays. Not a timing test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_grpo_with_a_calculator_raises_the_tool_call_rate(tmp_path: Path) -> None:
    out = tmp_path / "pocket-tools"
    cmd = [sys.executable, "-m", "r1train", "train", str(ROOT / "recipes" / "pocket-tools.yaml"),
           "train.steps=30", f"train.output_dir={out}", "logging.progress=false", "train.eval_size=64"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["held_out"] == 64
    assert summary["tool_call_rate_before"] < 0.3, summary
    assert summary["tool_call_rate_after"] > summary["tool_call_rate_before"] + 0.2, summary
    assert summary["accuracy_after"] > summary["accuracy_before"] + 0.1, summary
    assert summary["turns_after"] > summary["turns_before"], summary
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert all("tools/calls" in row and "tools/truncated" in row for row in rows)
    assert "tool-call rate" in done.stdout  # the printed table
