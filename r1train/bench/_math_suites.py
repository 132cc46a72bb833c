"""The peer-suite corpus: labelled cases from other graders' own test suites, scored by us and Math-Verify.

``tests/rewards/math/peer_cases.jsonl`` holds one case a line, with its provenance (``repo``, ``path``,
``commit``, ``test``), the suite's own ``label`` and, where we think that label is wrong, ``ours`` and
``why``. A case's ``kind`` says what its two strings are:

* ``text``: both are whole texts (Math-Verify's tests parse both sides): the gold goes through
  :func:`rewards.math.gold_answer`, the prediction through lenient extraction;
* ``completion``: a completion against a bare gold answer (TRL, open-r1, verifiers, OpenCompass, rllm);
* ``answer``: two bare answers (NeMo-Skills, hendrycks/math, Qwen2.5-Math, verl).

:func:`our_verdict` is what ``math.accuracy`` with ``extraction: lenient`` decides; the test
``tests/rewards/math/test_peer_suites.py`` and ``r1train bench math_verify --suites`` both use it.
Math-Verify runs in a subprocess of its own virtualenv with each test's own configuration
(:data:`MV_SCRIPT`); it is never imported here.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

PEER_CASES = Path(__file__).resolve().parents[2] / "tests" / "rewards" / "math" / "peer_cases.jsonl"


def load_peer_cases(path: Path = PEER_CASES) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def expected(case: dict[str, Any]) -> bool:
    """The label we hold the checkers to: ours where we dispute the suite's, else the suite's."""
    return bool(case.get("ours", case["label"]))


def our_verdict(case: dict[str, Any]) -> bool:
    """Whether r1train's math reward (lenient extraction) accepts the case's prediction."""
    from rewards.math import extract_answer, gold_answer, is_equivalent

    gold = gold_answer(case["gold"])
    if case["kind"] == "answer":
        pred: str | None = gold_answer(case["pred"])
    else:
        pred = extract_answer(case["pred"], mode="lenient")
    return bool(gold) and pred is not None and is_equivalent(pred, gold)


def run_ours(cases: list[dict[str, Any]]) -> dict[str, Any]:
    from rewards.math import warm_up

    warm_up()
    results, times = [], []
    for case in cases:
        start = time.perf_counter()
        results.append(our_verdict(case))
        times.append(time.perf_counter() - start)
    return {"results": results, "times": times}


MV_SCRIPT = r"""
import json, sys, time
from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse, verify

def bare(s):
    return s if s.strip().startswith("$") else "$" + s + "$"

def after_think(s):
    return s.rsplit("</think>", 1)[-1] if "</think>" in s else s

out = {"results": [], "times": []}
for case in json.load(sys.stdin):
    cfg = case.get("config") or {}
    start = time.perf_counter()
    try:
        if case["kind"] == "text" and cfg.get("call") is None:  # Math-Verify's compare_strings helper
            targets = []
            for kind in cfg.get("match_types", ["latex", "expr"]):
                targets.append(LatexExtractionConfig(boxed_match_priority=0) if kind == "latex" else ExprExtractionConfig())
            got = verify(parse(case["gold"], targets), parse(case["pred"], targets),
                         float_rounding=cfg.get("precision", 6), strict=cfg.get("strict", True),
                         allow_set_relation_comp=cfg.get("allow_set_relation_comp", False))
        elif case["kind"] == "text":
            got = verify(parse(case["gold"]), parse(case["pred"]))
        elif case["kind"] == "completion":  # the graders built on Math-Verify parse the completion whole
            got = verify(parse(bare(case["gold"])), parse(after_think(case["pred"])))
        else:
            got = verify(parse(bare(case["gold"])), parse(bare(case["pred"])))
    except Exception:
        got = False
    out["times"].append(time.perf_counter() - start)
    out["results"].append(bool(got))
print(json.dumps(out))
"""


def run_math_verify(python: Path, cases: list[dict[str, Any]]) -> dict[str, Any] | str:
    try:
        proc = subprocess.run(
            [str(python), "-c", MV_SCRIPT], input=json.dumps(cases), capture_output=True, text=True, timeout=1800
        )
    except subprocess.TimeoutExpired:
        return "Math-Verify did not finish within 30 minutes"
    if proc.returncode != 0:
        return "Math-Verify crashed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def suite_table(cases: list[dict[str, Any]], runs: dict[str, dict[str, Any]]) -> list[str]:
    """Per suite: cases, each checker's correct count (our labels) and false positives, and the
    count against the suite's own labels."""
    suites = sorted({c["suite"] for c in cases}, key=lambda s: (s != "math-verify", s))
    head = f"{'suite':<14} {'cases':>5}"
    for name in runs:
        head += f" {name + ' ok':>16} {'false+':>6} {'(suite labels)':>14}"
    lines = [head]
    for suite in [*suites, "all"]:
        idx = [k for k, c in enumerate(cases) if suite in ("all", c["suite"])]
        row = f"{suite:<14} {len(idx):>5}"
        for run in runs.values():
            got = run["results"]
            ok = sum(got[k] == expected(cases[k]) for k in idx)
            fp = sum(got[k] and not expected(cases[k]) for k in idx)
            suite_ok = sum(got[k] == cases[k]["label"] for k in idx)
            row += f" {ok:>6} {100 * ok / len(idx):>8.1f}% {fp:>6} {suite_ok:>14}"
        lines.append(row)
    return lines


def failures(cases: list[dict[str, Any]], runs: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for name, run in runs.items():
        for got, case in zip(run["results"], cases):
            if got != expected(case):
                what = "FALSE POSITIVE" if got else "miss"
                lines.append(
                    f"{name} {what}: {case['suite']} {case['test']}: pred {case['pred'][-80:]!r} gold {case['gold'][-60:]!r}"
                )
    return lines


def slowest(cases: list[dict[str, Any]], run: dict[str, Any], n: int = 5) -> list[str]:
    order = sorted(range(len(cases)), key=lambda k: -run["times"][k])[:n]
    return [f"  {1000 * run['times'][k]:8.1f} ms  {cases[k]['suite']} {cases[k]['test']}" for k in order]
