"""Benchmark the math verifier against Math-Verify: accuracy, cases/s and latency on the public corpus.

Run: ``r1train bench math_verify [--suites] [--failures] [--cases FILE] [--no-math-verify]``.

It scores every case of ``tests/rewards/math/math_cases.jsonl`` (pairs of bare answers, and whole completions
whose answer is extracted first) with :func:`rewards.math.is_equivalent`, then a set of hostile inputs
(huge powers and factorials, deep nesting, 100 KB strings, TeX programs), and prints for each checker:
accuracy, cases/s, p50/p99/max latency per call, and the slowest hostile call. ``--suites`` scores the
peer-suite corpus instead (``tests/rewards/math/peer_cases.jsonl``, see :mod:`r1train.bench._math_suites`):
per suite, our accuracy next to Math-Verify's, the false positives of each, and the slowest calls.

Math-Verify runs from a bench-only virtual environment (``--venv``, default ``.venv-bench-math`` in the
checkout; never a dependency of r1train), in a subprocess, with its defaults (``parse`` then ``verify``,
bare answers wrapped in ``$…$``) or, on its own suite, each test's configuration. When that environment
is absent the benchmark says so and prints our figures alone (``--install`` creates it with pip).
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CASES = ROOT / "tests" / "rewards" / "math" / "math_cases.jsonl"
DEFAULT_VENV = ROOT / ".venv-bench-math"
MV_REQUIREMENT = "math-verify[antlr4_13_2]==0.9.0"


def hostile_inputs() -> list[str]:
    """Inputs that hang or crash naive checkers; each is compared against "5" and against itself."""
    return [
        "10^{10^{10}}", "9^{9^{9^{9}}}", "2^{2^{2^{2^{2^{2}}}}}", "(10^{10})!", "100000!",
        "\\binom{100000}{50000}", "{" * 2000 + "1" + "}" * 2000, "(" * 2000 + "x" + ")" * 2000,
        "\\frac{" * 2000, "\\sqrt{" * 500 + "2" + "}" * 500, "1+" * 50_000 + "1", "x" * 100_000,
        "\\def\\a{\\a}\\a", "\\input{/etc/passwd}", "\x00\x00 5", "\u202e\ufeff 5 \U0001f600",
        "x^{x^{x^{x^{x^{x}}}}}", "(x+1)^{100000}", "e^{e^{e^{e^{e}}}}", "9" * 5000,
    ]  # fmt: skip


def load_cases(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_ours(cases: list[dict[str, Any]], hostile: list[str]) -> dict[str, Any]:
    """Time :func:`rewards.math.is_equivalent` (with extraction for whole completions) on every case."""
    from rewards.math import extract_answer, is_equivalent, warm_up

    warm_up()
    results, times = [], []
    for case in cases:
        start = time.perf_counter()
        if "completion" in case:
            pred = extract_answer(case["completion"])
            got = pred is not None and is_equivalent(pred, case["gold"])
        else:
            got = is_equivalent(case["pred"], case["gold"])
        times.append(time.perf_counter() - start)
        results.append(got)
    hostile_times = []
    for text in hostile:
        for gold in ("5", text):
            start = time.perf_counter()
            is_equivalent(text, gold)
            hostile_times.append(time.perf_counter() - start)
    return {"results": results, "times": times, "hostile_times": hostile_times, "errors": 0}


MV_SCRIPT = r"""
import json, sys, time
from math_verify import parse, verify

def bare(s):
    return s if s.strip().startswith("$") else "$" + s + "$"

data = json.load(sys.stdin)
out = {"results": [], "times": [], "hostile_times": [], "errors": 0}
for case in data["cases"]:
    start = time.perf_counter()
    try:
        gold = parse(bare(case["gold"]))
        pred = parse(case["completion"]) if "completion" in case else parse(bare(case["pred"]))
        got = bool(verify(gold, pred))
    except Exception:
        got = False
        out["errors"] += 1
    out["times"].append(time.perf_counter() - start)
    out["results"].append(got)
for text in data["hostile"]:
    for gold in ("5", text):
        start = time.perf_counter()
        try:
            verify(parse(bare(gold)), parse(bare(text)))
        except BaseException:
            out["errors"] += 1
        out["hostile_times"].append(time.perf_counter() - start)
print(json.dumps(out))
"""


def ensure_math_verify(venv_dir: Path, install: bool = False) -> tuple[Path | None, str]:
    """A Python with math-verify installed (created only with ``install``); (None, why) when there is none."""
    python = venv_dir / "bin" / "python"
    check = [str(python), "-c", "import math_verify, latex2sympy2_extended"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python, "cached"
    if not install:
        return None, f"no Math-Verify in {venv_dir}; create it with --install (pip install {MV_REQUIREMENT})"
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        pip = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", MV_REQUIREMENT],
            capture_output=True, text=True, timeout=600,
        )  # fmt: skip
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"could not create {venv_dir} ({type(exc).__name__}: {exc})"
    if pip.returncode != 0:
        return None, "pip could not install math-verify: " + (pip.stderr.strip().splitlines() or ["?"])[-1]
    return python, "installed"


def run_math_verify(python: Path, cases: list[dict[str, Any]], hostile: list[str]) -> dict[str, Any] | str:
    payload = json.dumps({"cases": cases, "hostile": hostile})
    try:
        proc = subprocess.run(
            [str(python), "-c", MV_SCRIPT], input=payload, capture_output=True, text=True, timeout=1800
        )
    except subprocess.TimeoutExpired:
        return "Math-Verify did not finish within 30 minutes"
    if proc.returncode != 0:
        return "Math-Verify crashed: " + (proc.stderr.strip().splitlines() or ["?"])[-1]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(name: str, run: dict[str, Any], cases: list[dict[str, Any]]) -> str:
    times_ms = sorted(t * 1000 for t in run["times"])
    correct = sum(got == case["expected"] for got, case in zip(run["results"], cases))
    wrong_pos = sum(got and not case["expected"] for got, case in zip(run["results"], cases))
    p99 = times_ms[min(len(times_ms) - 1, int(0.99 * len(times_ms)))]
    hostile_max = max(run["hostile_times"]) * 1000 if run["hostile_times"] else float("nan")
    return (
        f"{name:<12} {len(cases):>5} {correct:>7} {100 * correct / len(cases):>8.2f}% {wrong_pos:>8} "
        f"{len(times_ms) / (sum(times_ms) / 1000):>8.1f} {statistics.median(times_ms):>8.2f} {p99:>8.2f} "
        f"{times_ms[-1]:>8.1f} {hostile_max:>11.1f}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="r1train bench math_verify", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=Path, default=DEFAULT_CASES, help="corpus (.jsonl)")
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="scratch venv for Math-Verify")
    parser.add_argument("--no-math-verify", action="store_true", help="only time our checker")
    parser.add_argument("--failures", action="store_true", help="list the cases each checker gets wrong")
    parser.add_argument("--suites", action="store_true", help="score the peer-suite corpus, per suite")
    parser.add_argument("--install", action="store_true", help="create the Math-Verify venv with pip if absent")
    args = parser.parse_args(argv)
    if args.suites:
        return main_suites(args)
    if not args.cases.is_file():
        print(f"no corpus at {args.cases}; give one with --cases FILE.jsonl")
        return 2
    cases, hostile = load_cases(args.cases), hostile_inputs()
    runs: dict[str, dict[str, Any]] = {"r1train": run_ours(cases, hostile)}
    note = ""
    if not args.no_math_verify:
        python, how = ensure_math_verify(args.venv, args.install)
        if python is None:
            note = f"Math-Verify: not run ({how})"
        else:
            mv = run_math_verify(python, cases, hostile)
            if isinstance(mv, str):
                note = f"Math-Verify: not run ({mv})"
            else:
                runs["math-verify"] = mv
    header = (
        f"{'checker':<12} {'cases':>5} {'correct':>7} {'accuracy':>9} {'false+':>8} {'cases/s':>8} "
        f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'hostile max':>11}"
    )
    print(f"corpus: {args.cases} ({len(cases)} cases, {sum(not c['expected'] for c in cases)} must not match); "
          f"{2 * len(hostile)} hostile calls")  # fmt: skip
    print(header)
    for name, run in runs.items():
        print(summarise(name, run, cases))
    if note:
        print(note)
    if args.failures:
        for name, run in runs.items():
            for got, case in zip(run["results"], cases):
                if got != case["expected"]:
                    what = case.get("pred", case.get("completion", ""))[:70]
                    print(f"{name} wrong: {case['category']}: {what!r} vs {case['gold']!r} (expected {case['expected']})")
    return 0


def main_suites(args: argparse.Namespace) -> int:
    from r1train.bench import _math_suites as suites

    cases = suites.load_peer_cases()
    runs: dict[str, dict[str, Any]] = {"r1train": suites.run_ours(cases)}
    note = ""
    if not args.no_math_verify:
        python, how = ensure_math_verify(args.venv, args.install)
        mv = suites.run_math_verify(python, cases) if python is not None else how
        if isinstance(mv, str):
            note = f"Math-Verify: not run ({mv})"
        else:
            runs["math-verify"] = mv
    disputed = sum("ours" in c for c in cases)
    print(f"peer suites: {suites.PEER_CASES} ({len(cases)} cases, {disputed} with a label we dispute; "
          f"'ok' counts against our labels, '(suite labels)' against the suites' own)")  # fmt: skip
    print("\n".join(suites.suite_table(cases, runs)))
    if note:
        print(note)
    for name, run in runs.items():
        times_ms = sorted(1000 * t for t in run["times"])
        p99 = times_ms[min(len(times_ms) - 1, int(0.99 * len(times_ms)))]
        print(f"{name}: p50 {statistics.median(times_ms):.2f} ms, p99 {p99:.2f} ms, max {times_ms[-1]:.1f} ms; slowest:")
        print("\n".join(suites.slowest(cases, run)))
    if args.failures:
        print("\n".join(suites.failures(cases, runs)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
