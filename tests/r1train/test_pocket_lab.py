"""The pocket lab end to end: `r1train train recipes/pocket-zero.yaml` (what `make demo` runs), shortened to
40 steps, from the shipped base, through the real CLI and the vLLM engine in its own process.

Not a timing test (the timed figures come from `make demo` and are in the README): it checks that the
R1-Zero effect the lab exists to show happens at all. Measured at 40 steps (2026-11-29): held-out accuracy
31% -> 66%, think rate 7% -> 70%, mean length 6 -> 22 tokens; the bounds below are well inside that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pure_rl_from_the_shipped_base_discovers_thinking(tmp_path: Path) -> None:
    out = tmp_path / "pocket-zero"
    cmd = [sys.executable, "-m", "r1train", "train", str(ROOT / "recipes" / "pocket-zero.yaml"),
           "train.steps=40", f"train.output_dir={out}", "logging.progress=false"]
    # the environment `make demo` has: the engine sets vLLM's CPU variables itself, W&B is off by default
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 40 and summary["held_out"] == 128
    # the base rarely thinks and is mostly wrong; correctness alone makes it think, and that pays
    assert summary["think_rate_before"] < 0.2, summary
    assert summary["think_rate_after"] > summary["think_rate_before"] + 0.3, summary
    assert summary["accuracy_after"] > summary["accuracy_before"] + 0.15, summary
    assert summary["length_after"] > 2 * summary["length_before"], summary
    assert "think rate" in done.stdout and "before" in done.stdout  # the printed table
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
