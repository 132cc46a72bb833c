"""R1 beyond R1-Zero in the pocket lab (``make pocket-r1``), shortened: every stage through the real CLI
(``r1train bench pocket_r1 --short``, the hf engine to skip vLLM's start-ups), and the direction of each claim
the README makes about the full run (not its size, not its timing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from r1train.bench.pocket_r1 import time_to, trailing

ROOT = Path(__file__).resolve().parents[2]


def test_steps_to_target_by_hand() -> None:
    assert trailing([0.0, 1.0, 0.5], window=2) == [0.0, 0.5, 0.75]
    rows = [{"step": i + 1, "accuracy": a, "time/step": 2.0} for i, a in enumerate([0.2, 0.4, 0.9, 0.9])]
    # trailing means (window 10): 0.2, 0.3, 0.5, 0.6; 0.5 is first reached at step 3, after 3 x 2 s
    assert time_to(rows, 0.5) == (3, 6.0)
    assert time_to(rows, 0.7) == (None, None)


@pytest.mark.timeout(3600)  # eight CLI runs; about 25 min at load 20 on 2 cores
def test_the_shortened_pipeline_keeps_each_claims_direction(tmp_path: Path) -> None:
    out = tmp_path / "pocket-r1"
    cmd = [sys.executable, "-m", "r1train", "bench", "pocket_r1", "--short", "--engine", "hf", "--out", str(out)]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=3000)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    rows = {r["name"]: r for r in json.loads((out / "pipeline.json").read_text())}
    assert all(set(r) >= {"name", "accuracy", "think_rate", "length", "steps", "wall_s"} for r in rows.values())
    base, zero = rows["pocket-base (1M)"], rows["R1-Zero: RL from the base"]
    cold, cold_rl = rows["cold start: sample + SFT"], rows["cold start + RL"]
    student, distilled = rows["student base (270k)"], rows["student distilled: sample teacher + SFT"]
    student_rl = rows["student pure RL, same wall time"]
    # cold start: SFT on the base's own verified worked traces makes it think, and thinking pays
    assert cold["think_rate"] > base["think_rate"] + 0.3, rows
    assert cold["accuracy"] > base["accuracy"] + 0.1, rows
    # then RL for as many steps as R1-Zero had ends above R1-Zero
    assert cold_rl["steps"] == zero["steps"] and cold_rl["accuracy"] > zero["accuracy"], rows
    # distillation vs RL on the student for the same wall time: no direction is asserted. The shortened
    # student is barely trained, and a wall-time budget gives RL more steps on a faster machine: the think
    # rate read 28% vs 9% in one run (load 9 -> 2.5) and 28% vs 31% in the next (load ~2); the full run
    # (README) gave 99% vs 4% think rate but 10.9% vs 15.6% accuracy. What holds here: the student starts
    # untrained on RL, and RL on it ran inside the budget.
    assert student["steps"] == 0 and student_rl["steps"] > 0 and distilled["steps"] > 0
    assert (out / "pipeline.png").read_bytes()[:4] == b"\x89PNG"
    card = json.loads((out / "distill-data" / "card.json").read_text())
    assert card["source_model"].endswith("cold-rl/model") and card["kept"] > 0
