"""End to end: the tiny model on a tiny local benchmark file, through ``r1train eval`` with both engines.

One vLLM engine for the whole module (starting it is most of the cost on CPU). Greedy decoding (top-k 1)
on the same float32 weights: the two engines must write the same completions, so the reports agree.
"""

from __future__ import annotations

import json

import pytest

from eval import cli, runner
from tests.helpers import write_jsonl

ROWS = [
    {"question": "12+7", "answer": "19", "level": 2},
    {"question": "3+4", "answer": "7", "level": 1},
    {"question": "40+2", "answer": "42", "level": 2},
]
SETTINGS = runner.Settings(samples=2, temperature=0.0, max_new_tokens=12)


@pytest.fixture(scope="module")
def bench_file(tmp_path_factory):
    return write_jsonl(tmp_path_factory.mktemp("bench") / "tiny.jsonl", ROWS)


@pytest.fixture(scope="module")
def hf_report(bench_file):
    return runner.evaluate("tiny:1m", ["pocket"], SETTINGS, engine="hf", data={"pocket": str(bench_file)}, dtype="float32")


def _check(rep: dict) -> None:
    res = rep["results"]["pocket"]
    recs = rep["records"]["pocket"]
    assert res["problems"] == 3 and res["samples"] == 2 and len(recs) == 3
    for key in ("pass@1", "pass@2", "maj@2", "length/mean", "length/truncated", "pass@1/stderr", "level/1/pass@1"):
        assert key in res, key
    for rec in recs:
        assert len(rec["completions"]) == 2 and all(0 < n <= 12 for n in rec["lengths"])
        assert rec["completions"][0] == rec["completions"][1]  # greedy: both samples alike
        assert rec["pass@1"] == sum(rec["correct"]) / 2
    assert res["pass@1"] == pytest.approx(sum(r["pass@1"] for r in recs) / 3)
    assert res["length/truncated"] == pytest.approx(sum(sum(r["truncated"]) for r in recs) / 6)


def test_hf_engine(hf_report):
    assert hf_report["engine_class"] == "HFEngine"
    _check(hf_report)


def test_vllm_engine_matches_hf(hf_report, bench_file):
    import vllm  # noqa: F401  (a dependency: an import error must fail, not skip)
    rep = runner.evaluate("tiny:1m", ["pocket"], SETTINGS, engine="vllm", data={"pocket": str(bench_file)}, dtype="float32")
    assert rep["engine_class"] == "VLLMEngine"
    _check(rep)
    hf = [r["completions"][0] for r in hf_report["records"]["pocket"]]
    vl = [r["completions"][0] for r in rep["records"]["pocket"]]
    assert vl == hf
    assert rep["results"]["pocket"]["pass@1"] == hf_report["results"]["pocket"]["pass@1"]


def test_cli_eval_writes_the_report_and_compare_reads_it(bench_file, tmp_path, capsys):
    out = tmp_path / "r.json"
    args = ["eval", "tiny:1m", "--benchmarks", "pocket", "--samples", "2", "--engine", "hf", "--temperature", "1.0",
            "--max-new-tokens", "8", "--data", f"pocket={bench_file}", "--output", str(out), "--no-progress"]
    assert cli.main(args) == 0
    printed = capsys.readouterr().out
    assert printed.splitlines()[0].split()[:2] == ["benchmark", "problems"] and "pocket" in printed
    rep = json.loads(out.read_text())
    assert {"pass@1", "pass@2", "maj@2", "length/mean"} <= set(rep["results"]["pocket"])
    assert rep["settings"]["samples"] == 2 and rep["model"] == "tiny:1m"
    assert cli.main(["compare", str(out), str(out), "--labels", "a,b", "--output", str(tmp_path / "c.md")]) == 0
    md = (tmp_path / "c.md").read_text()
    assert md.startswith("| benchmark | metric | a | b | Δ |") and "| pocket | pass@2 |" in md and "+0.0" in md


def test_cli_mistakes_end_in_one_line(capsys):
    assert cli.main(["eval", "tiny:1m"]) == 2
    assert cli.main(["eval", "tiny:1m", "-b", "math50"]) == 2
    assert cli.main(["eval", "tiny:1m", "-b", "pocket", "--data", "pocket"]) == 2
    assert cli.main(["compare", "nope.json", "nope2.json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("r1train: error: ") for line in err)
    assert "did you mean 'math500'" in err[1]
    assert cli.main(["eval", "--list"]) == 0
    assert "aime24" in capsys.readouterr().out


def test_a_training_output_directory_is_evaluated_through_its_model(bench_file, tmp_path):
    from r1train.models.tiny import materialise

    run = tmp_path / "run"
    run.mkdir()
    (run / "model").symlink_to(materialise("tiny:1m"))  # what a finished run holds: <dir>/model
    (run / "metrics.jsonl").write_text("")
    settings = runner.Settings(samples=1, temperature=0.0, max_new_tokens=4, max_problems=1)
    rep = runner.evaluate(str(run), ["pocket"], settings, engine="hf", data={"pocket": str(bench_file)})
    assert rep["source"] == str(run / "model") and rep["results"]["pocket"]["problems"] == 1
