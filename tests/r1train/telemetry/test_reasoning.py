"""Reasoning metrics (think rate, reflection rate, accuracy by level), the corpus writers, the summary
table and the curves plot; expected values worked out by hand in the comments."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from r1train.data import corpus, tasks
from r1train.errors import UserError
from r1train.telemetry import plots, reasoning, summary


def test_thinks_needs_a_non_empty_block_closed_by_think_tag() -> None:
    assert reasoning.thinks("<think>7+5=12</think><answer>12</answer>")
    assert reasoning.thinks("the prompt opened it: 7+5=12</think><answer>12</answer>")
    assert not reasoning.thinks("<think> </think><answer>12</answer>")  # empty block: no reasoning
    assert not reasoning.thinks("<answer>12</answer>")
    assert not reasoning.thinks("<think>never closed")


def test_think_rate_and_reflection_rate_by_hand() -> None:
    texts = [
        "<think>a</think><answer>1</answer>",  # thinks, no reflection word
        "<think>Wait, let me recheck</think><answer>2</answer>",  # thinks, "Wait" and "recheck"
        "<answer>3</answer>",  # neither
        "checked it <answer>4</answer>",  # "checked" is not the whole word "check": no reflection
    ]
    assert reasoning.think_rate(texts) == 2 / 4
    assert reasoning.reflection_rate(texts) == 1 / 4
    assert reasoning.reflection_rate(texts, ["checked"]) == 1 / 4  # configurable words
    assert math.isnan(reasoning.think_rate([]))


def test_accuracy_by_level_skips_unverifiable() -> None:
    scores = [1.0, 0.0, None, 1.0, 0.1]  # 0.1 (a format score) is not correct
    levels = [2, 2, 2, 3, 3]
    # level 2: verifiable 1.0, 0.0 -> 1/2; level 3: 1.0, 0.1 -> 1/2
    assert reasoning.accuracy_by_level(scores, levels) == {"2": 0.5, "3": 0.5}
    assert reasoning.accuracy(scores) == 2 / 4


def test_step_metrics_split_by_thinking() -> None:
    texts = ["<think>x</think><answer>1</answer>", "<answer>1</answer>", "<think>y</think><answer>0</answer>"]
    m = reasoning.step_metrics(texts, [10, 4, 12], [1.0, 0.0, 1.0], [3, 3, 4])
    assert m["accuracy"] == 2 / 3
    assert m["accuracy/think"] == 1.0 and m["accuracy/direct"] == 0.0
    assert m["reasoning/think_rate"] == 2 / 3
    assert m["reasoning/think_length"] == 11.0 and m["reasoning/direct_length"] == 4.0  # (10+12)/2, 4
    assert m["accuracy/level_3"] == 0.5 and m["accuracy/level_4"] == 1.0


def test_addition_work_by_hand() -> None:
    # 347+285: 7+5+0=12 (carry 1), 4+8+1=13 (carry 1), 3+2+1=6 -> 632
    assert corpus.addition_work({"question": "347+285"}) == "7+5+0=12,4+8+1=13,3+2+1=06"
    # 95+7: the shorter operand is zero-padded: 5+7+0=12, 9+0+1=10 -> 102
    assert corpus.addition_work({"question": "95+7"}) == "5+7+0=12,9+0+1=10"


def test_sum_work_by_hand() -> None:
    # running sums 23, 68, 135, 224, each 3 characters wide like "23+" in the question
    assert corpus.sum_work({"question": "23+45+67+89"}) == "023068135224"
    assert corpus.sum_work({"question": "10+90"}) == "010100"
    assert corpus.sum_work({"question": "4+1+9"}) == "040514"  # one-digit terms: 2-character sums


def test_sum_task_rows_by_hand() -> None:
    rows = [tasks.sum_terms(random.Random(s), digits=2, min_terms=2, terms=5) for s in range(200)]
    for row in rows:
        nums = [int(x) for x in row["question"].split("+")]
        assert row["level"] == len(nums) and 2 <= len(nums) <= 5
        assert all(10 <= x <= 99 for x in nums) and row["answer"] == str(sum(nums))
    assert {r["level"] for r in rows} == {2, 3, 4, 5}
    assert tasks.sum_terms(random.Random(0), digits=1, min_terms=3, terms=3)["level"] == 3


def test_chain_values_and_work_by_hand() -> None:
    # 7a+3b*7c-2: 7+3=10 -> 0; 0*7=0; 0-2=-2 -> 8 (all modulo 10)
    assert tasks.chain_values("7a+3b*7c-2") == [7, 0, 0, 8]
    assert corpus.chain_work({"question": "7a+3b*7c-2"}) == "7,a+3=0,b*7=0,c-2=8"
    # 4a*6b-9: 4*6=24 -> 4; 4-9=-5 -> 5
    assert corpus.chain_work({"question": "4a*6b-9"}) == "4,a*6=4,b-9=5"


def test_chain_task_rows_by_hand() -> None:
    rows = [tasks.chain(random.Random(s), min_ops=2, ops=5) for s in range(300)]
    assert {r["level"] for r in rows} == {2, 3, 4, 5}
    for row in rows:
        q, n = row["question"], row["level"]
        assert len(q) == 1 + 3 * n and q[0].isdigit()
        assert [q[i] for i in range(1, len(q), 3)] == list("abcdefgh"[:n])  # labels in order
        assert all(q[i] in "+-*" and q[i + 1] in "123456789" for i in range(2, len(q), 3))
        value = int(q[0])  # recompute with Python's own arithmetic
        for i in range(2, len(q), 3):
            value = eval(f"{value}{q[i]}{q[i + 1]}") % 10  # noqa: S307 - our own digits
        assert row["answer"] == str(value)
    with pytest.raises(UserError, match="min_ops"):
        tasks.chain(random.Random(0), min_ops=3, ops=2)


def test_multiplication_work_by_hand() -> None:
    # 47*38 = 47*8 + 47*30 = 376 + 1410 = 1786
    assert corpus.multiplication_work({"question": "47*38"}) == "47*8=376,47*30=1410,376+1410=1786"
    row = tasks.multiplication(random.Random(1))
    assert str(eval(row["question"])) == row["answer"]  # noqa: S307 - our own digits


def test_corpus_mix_and_held_out_exclusion() -> None:
    docs = corpus.build_corpus("addition", {"digits": 3, "min_digits": 3}, 2000, 0.15, seed=0, holdout_size=256)
    worked = [d for d in docs if d.worked]
    assert 0.11 < len(worked) / len(docs) < 0.19  # 15% +- 4 points (binomial sd is 0.8 points)
    assert all(d.completion.startswith("<think>") and d.completion.endswith(f"<answer>{d.answer}</answer>") for d in worked)
    assert all(d.completion == f"<answer>{d.answer}</answer>" for d in docs if not d.worked)
    _, held = tasks.generate("addition", {"digits": 3, "min_digits": 3, "train_size": 0, "eval_size": 256}, 0)
    assert not {d.question for d in docs} & {r["question"] for r in held}
    assert docs == corpus.build_corpus("addition", {"digits": 3, "min_digits": 3}, 2000, 0.15, seed=0, holdout_size=256)


def test_think_start_fraction_hides_the_choice_not_the_work() -> None:
    args = ("sum", {"digits": 1, "min_terms": 3, "terms": 8}, 4000, 0.5)
    docs = corpus.build_corpus(*args, seed=0, holdout_size=64, think_start_fraction=0.2)
    worked = [d for d in docs if d.worked]
    assert 0.46 < len(worked) / len(docs) < 0.54  # 50% +- 4 points (sd 0.8)
    starts = sum(d.learn_start for d in worked) / len(worked)
    assert 0.16 < starts < 0.24  # 20% of the worked documents (sd 0.9 points)
    assert all(d.learn_start for d in docs if not d.worked)
    # with the default 1.0 the corpus is exactly the one built before the option existed
    plain = corpus.build_corpus(*args, seed=0, holdout_size=64)
    assert all(d.learn_start for d in plain)
    assert plain == corpus.build_corpus(*args, seed=0, holdout_size=64, think_start_fraction=1.0)
    with pytest.raises(UserError, match="think_start_fraction"):
        corpus.build_corpus(*args, seed=0, think_start_fraction=1.5)


def test_countdown_rows_are_solvable_by_their_solution() -> None:
    import rewards

    rng = random.Random(0)
    rows = [tasks.countdown(rng) for _ in range(50)]
    fn = rewards.resolve("countdown.equation")
    scores = fn([f"<answer>{r['solution']}</answer>" for r in rows], nums=[r["nums"] for r in rows], target=[r["target"] for r in rows])
    assert scores == [1.0] * 50
    assert all(3 <= r["level"] == len(r["nums"]) <= 4 for r in rows)


def test_summary_json_and_table(tmp_path: Path) -> None:
    before = {"n": 4, "accuracy": 0.25, "length": 6.0, "think_rate": 0.25, "reflection_rate": 0.0,
              "accuracy_by_level": {"3": 0.25}}
    after = {"n": 4, "accuracy": 1.0, "length": 30.5, "think_rate": 1.0, "reflection_rate": float("nan"),
             "accuracy_by_level": {"3": 1.0}}
    table = summary.write_summary(tmp_path, before, after, steps=40, wall_s=123.4)
    data = json.loads((tmp_path / "summary.json").read_text())
    for key in ("accuracy", "length", "think_rate"):
        assert data[f"{key}_before"] == before[key] and data[f"{key}_after"] == after[key]
    assert data["reflection_rate_after"] is None  # NaN is written as null
    assert data["steps"] == 40 and data["wall_s"] == 123.4
    assert "25.0%" in table and "100.0%" in table and "30.5" in table


class _Echo:
    """A fake engine that answers every prompt with a fixed completion, for evaluate()."""

    def __init__(self, text: str) -> None:
        self.text = text

    def generate(self, prompt_ids, sampling):
        from r1train.rollout.base import Rollout

        return [Rollout(p, [0] * 5, None, "stop", self.text, i) for i, p in enumerate(prompt_ids)]


def test_evaluate_scores_with_the_correctness_reward() -> None:
    from r1train.models.tiny import build_tokenizer

    tok = build_tokenizer()
    rows = [{"prompt": "Q: 1+1\nA:", "question": "1+1", "answer": "2", "level": 1},
            {"prompt": "Q: 2+1\nA:", "question": "2+1", "answer": "3", "level": 1}]
    result = summary.evaluate(_Echo("<think>1+1</think><answer>2</answer>"), tok, rows, max_new_tokens=8)
    assert result["accuracy"] == 0.5 and result["think_rate"] == 1.0 and result["length"] == 5.0
    forced = summary.evaluate(_Echo("2</answer>"), tok, rows, max_new_tokens=8, prefix="<answer>")
    assert forced["accuracy"] == 0.5 and forced["length"] == 6.0  # the prefix token counts


def test_curves_png(tmp_path: Path) -> None:
    rows = [{"step": s, "reward": s / 10, "accuracy": s / 10, "length/mean": 5 + s, "reasoning/think_rate": s / 10}
            for s in range(1, 11)]
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    png = plots.write_curves(path, tmp_path / "curves.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plots.smooth([1.0, 3.0, float("nan"), 5.0], 2) == [1.0, 2.0, 3.0, 5.0]


@pytest.mark.parametrize("bad", ["nope"])
def test_unknown_corpus_task_is_a_user_error(bad: str) -> None:
    from r1train.errors import UserError

    with pytest.raises(UserError, match="worked-solution writer"):
        corpus.build_corpus(bad, {}, 1, 0.1, 0)
