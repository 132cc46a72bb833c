"""Reports: JSON that any reader loads, the printed table, and the compare markdown with its Δ column."""

from __future__ import annotations

import json

import pytest

from eval import report
from r1train.errors import UserError


def _rep(model: str, p1: float, p4: float, maj: float, length: float) -> dict:
    return {
        "model": model,
        "engine": "hf",
        "settings": {"samples": 4, "temperature": 0.6, "top_p": 0.95},
        "results": {
            "math500": {
                "problems": 500, "samples": 4, "pass@1": p1, "pass@1/stderr": 0.02, "pass@2": (p1 + p4) / 2,
                "pass@4": p4, "maj@4": maj, "length/mean": length, "length/truncated": 0.05,
                "level/1/pass@1": p1 + 0.1, "level/1/problems": 43, "problems_per_s": 3.0,
            }
        },
        "records": {"math500": []},
    }


def test_json_round_trip_writes_nan_as_null(tmp_path):
    rep = _rep("m", 0.5, 0.7, 0.6, 300.0)
    rep["results"]["math500"]["pass@1/stderr"] = float("nan")
    path = report.write(rep, tmp_path / "sub" / "r.json")
    assert json.loads(path.read_text())["results"]["math500"]["pass@1/stderr"] is None
    assert report.read(path)["results"]["math500"]["pass@4"] == 0.7


def test_table_shows_rates_in_percent_and_levels():
    text = report.table(_rep("m", 0.456, 0.7, 0.6, 312.34))
    header, rule, row, level = text.splitlines()
    assert header.split()[:3] == ["benchmark", "problems", "n"]
    assert "45.6 ± 2.0" in row and "70.0 @4" in row and "60.0 @4" in row and "312.3" in row and "5.0" in row
    assert level.split() == ["level", "1", "43", "55.6"]


def test_compare_markdown_with_delta():
    md = report.compare([_rep("base", 0.30, 0.50, 0.40, 500.0), _rep("trained", 0.45, 0.60, 0.55, 350.0)], ["base", "trained"])
    lines = md.splitlines()
    assert lines[0] == "| benchmark | metric | base | trained | Δ |"
    assert lines[1] == "|---|---|---:|---:|---:|"
    rows = {ln.split(" | ")[1]: ln for ln in lines[2:] if ln.startswith("| math500")}
    assert rows["pass@1"] == "| math500 | pass@1 | 30.0 ± 2.0 | 45.0 ± 2.0 | +15.0 |"
    assert rows["pass@4"] == "| math500 | pass@4 | 50.0 | 60.0 | +10.0 |"
    assert rows["maj@4"] == "| math500 | maj@4 | 40.0 | 55.0 | +15.0 |"
    assert rows["length/mean"] == "| math500 | length/mean | 500.0 | 350.0 | -150.0 |"
    order = [ln.split(" | ")[1] for ln in lines[2:] if ln.startswith("| math500")]
    assert order[:4] == ["pass@1", "pass@2", "pass@4", "maj@4"]
    assert "- base: base, engine hf, n=4" in md


def test_compare_three_reports_has_no_delta_and_handles_missing_benchmarks():
    a, b, c = _rep("a", 0.1, 0.2, 0.1, 1.0), _rep("b", 0.2, 0.3, 0.2, 2.0), _rep("c", 0.3, 0.4, 0.3, 3.0)
    c["results"]["gsm8k"] = {"pass@1": 0.8}
    md = report.compare([a, b, c], ["a", "b", "c"])
    assert md.splitlines()[0] == "| benchmark | metric | a | b | c |"
    assert "| gsm8k | pass@1 | - | - | 80.0 |" in md


def test_labels_and_bad_files(tmp_path):
    assert report.labels_for([{"model": "x"}, {"model": "y"}], ["a.json", "b.json"]) == ["x", "y"]
    assert report.labels_for([{"model": "x"}, {"model": "x"}], ["d/base.json", "d/rl.json"]) == ["base", "rl"]
    with pytest.raises(UserError, match="does not exist"):
        report.read(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(UserError, match="no 'results'"):
        report.read(tmp_path / "bad.json")
    with pytest.raises(UserError, match="at least two"):
        report.compare([_rep("a", 0, 0, 0, 0)], ["a"])
