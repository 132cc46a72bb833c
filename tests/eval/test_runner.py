"""The runner end to end with a scripted engine: known completions in, hand-counted metrics out."""

from __future__ import annotations

import pytest

from eval import benchmarks, runner
from tests.helpers import ScriptedEngine, write_jsonl


def _pocket_prep(tmp_path, tokenizer, settings):
    rows = [
        {"question": "1+73", "answer": "74", "level": 2},
        {"question": "5+7", "answer": "12", "level": 1},
    ]
    path = write_jsonl(tmp_path / "pocket.jsonl", rows)
    return runner.prepare(benchmarks.get("pocket"), tokenizer, settings, path)


def test_pocket_records_and_metrics_by_hand(tmp_path, char_tokenizer):
    settings = runner.Settings(samples=4, temperature=1.0, chunk=1)
    prep = _pocket_prep(tmp_path, char_tokenizer, settings)
    assert prep.prompts == ["Q: 1+73\nA:", "Q: 5+7\nA:"]  # the pocket template
    engine = ScriptedEngine(
        char_tokenizer,
        {
            "Q: 1+73\nA:": ["<answer>74</answer>", "<think>hm</think><answer> 74 </answer>", "<answer>75</answer>", "no idea…"],
            "Q: 5+7\nA:": ["<answer>13</answer>", "<answer>13</answer>", "<answer>12</answer>", "<answer>11</answer>"],
        },
    )
    results, records = runner.evaluate_with(engine, [prep], settings)
    assert len(engine.calls) == 2  # chunk=1: one generate call per problem
    assert all(s.n == 4 and s.max_new_tokens == 48 and not s.logprobs for _, s in engine.calls)
    r0, r1 = records["pocket"]
    assert r0["correct"] == [True, True, False, False]  # answer.exact strips white space; no block = wrong
    assert r0["extracted"] == ["74", "74", "75", None]
    assert (r0["maj_answer"], r0["maj_votes"], r0["maj_correct"]) == ("74", 2, True)
    assert r0["truncated"] == [False, False, False, True]
    assert r1["correct"] == [False, False, True, False]
    assert (r1["maj_answer"], r1["maj_correct"]) == ("13", False)  # the majority is wrong
    res = results["pocket"]
    assert res["pass@1"] == pytest.approx((2 / 4 + 1 / 4) / 2)  # 0.375
    assert res["pass@2"] == pytest.approx(((1 - 1 / 6) + (1 - 3 / 6)) / 2)  # c=2: 1-C(2,2)/C(4,2); c=1: 1-C(3,2)/C(4,2)
    assert res["pass@4"] == pytest.approx(1.0)
    assert res["maj@4"] == pytest.approx(0.5)
    assert res["length/truncated"] == pytest.approx(1 / 8)
    assert res["level/1/pass@1"] == pytest.approx(0.25) and res["level/2/pass@1"] == pytest.approx(0.5)


def test_sharded_processes_together_give_the_single_process_records(tmp_path, char_tokenizer):
    settings = runner.Settings(samples=2)
    prep = _pocket_prep(tmp_path, char_tokenizer, settings)
    engine = ScriptedEngine(char_tokenizer, {"Q: 1+73\nA:": ["<answer>74</answer>"], "Q: 5+7\nA:": ["<answer>1</answer>"]})
    _, whole = runner.evaluate_with(engine, [prep], settings)
    _, part0 = runner.evaluate_with(engine, [prep], settings, rank=0, world=2)
    _, part1 = runner.evaluate_with(engine, [prep], settings, rank=1, world=2)
    assert [r["index"] for r in part0["pocket"]] == [0] and [r["index"] for r in part1["pocket"]] == [1]
    gathered = sorted(part0["pocket"] + part1["pocket"], key=lambda r: r["index"])
    assert gathered == whole["pocket"]


def test_math_benchmark_votes_across_spellings(tmp_path, char_tokenizer):
    import rewards.math  # noqa: F401  (registers math.accuracy)
    rows = [{"problem": "Half of one?", "answer": "\\frac{1}{2}", "level": "Level 2"}]
    settings = runner.Settings(samples=5, max_new_tokens=64)
    prep = runner.prepare(benchmarks.get("math500"), char_tokenizer, settings, write_jsonl(tmp_path / "m.jsonl", rows))
    prompt = prep.prompts[0]
    assert prompt.startswith("Half of one?\nPlease reason step by step")  # the boxed template
    texts = ["so \\boxed{3}", "it is \\boxed{0.5}", "\\boxed{3}", "The answer is 1/2.", "\\boxed{\\dfrac12}"]
    results, records = runner.evaluate_with(ScriptedEngine(char_tokenizer, {prompt: texts}), [prep], settings)
    rec = records["math500"][0]
    assert rec["correct"] == [False, True, False, True, True]
    assert (rec["maj_votes"], rec["maj_correct"]) == (3, True)  # 0.5, 1/2, \dfrac12 are one answer
    assert results["math500"]["pass@1"] == pytest.approx(3 / 5)
    assert results["math500"]["maj@5"] == 1.0
    assert rec["answer"] == "\\frac{1}{2}" and rec["level"] == "Level 2"
    assert results["math500"]["level/Level 2/pass@1"] == pytest.approx(0.6)


def test_greedy_is_top_k_one_for_every_engine():
    s = runner.Settings(samples=1, temperature=0.0).sampling(16, seed=3)
    assert (s.temperature, s.top_k, s.top_p, s.seed) == (1.0, 1, 1.0, 3)
    s = runner.Settings(samples=8, temperature=0.6, top_p=0.95).sampling(16, seed=0)
    assert (s.n, s.temperature, s.top_k, s.top_p) == (8, 0.6, 0, 0.95)


def test_countdown_is_graded_by_its_own_verifier(char_tokenizer):
    bench = benchmarks.get("countdown")
    settings = runner.Settings(samples=3)
    rows = [{"target": 24, "nums": [3, 8, 1]}]
    prep = runner.Prepared(bench, bench.problems(rows), ["P"], [[80]], 32)
    texts = ["<answer>(3 * 8) * 1</answer>", "<answer>(3*8)*1 = 24</answer>", "<answer>3+8+1</answer>"]
    _, records = runner.evaluate_with(ScriptedEngine(char_tokenizer, {"P": texts}), [prep], settings)
    rec = records["countdown"][0]
    assert rec["correct"] == [True, True, False]
    assert rec["extracted"] == ["(3 * 8) * 1", "(3*8)*1", "3+8+1"]
    assert rec["maj_votes"] == 2 and rec["maj_correct"]  # the same equation, spaced differently
