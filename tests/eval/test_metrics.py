"""The estimators against values worked out by hand, and pass@k against a brute-force enumeration."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import pytest

from eval.metrics import aggregate, bootstrap_ci, majority_vote, pass_at_k, report_ks, stderr


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (10, 3, 1, 0.3),  # pass@1 = c/n
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (4, 2, 2, 5 / 6),  # 1 - C(2,2)/C(4,2) = 1 - 1/6
        (6, 1, 3, 0.5),  # 1 - C(5,3)/C(6,3) = 1 - 10/20
        (3, 2, 2, 1.0),  # n - c = 1 < k: every pair holds a correct sample
        (8, 0, 4, 0.0),  # nothing correct
        (8, 8, 1, 1.0),
    ],
)
def test_pass_at_k_hand_values(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_equals_fraction_of_k_subsets_with_a_correct_sample():
    # the slow, obviously-correct definition: over all k-subsets of the n samples, how many hold a hit
    for n in range(1, 7):
        for c in range(n + 1):
            samples = [True] * c + [False] * (n - c)
            for k in range(1, n + 1):
                subsets = list(itertools.combinations(samples, k))
                brute = sum(any(s) for s in subsets) / len(subsets)
                assert pass_at_k(n, c, k) == pytest.approx(brute, abs=1e-12), (n, c, k)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError):
        pass_at_k(4, 5, 1)
    with pytest.raises(ValueError):
        pass_at_k(4, 1, 5)


def test_report_ks():
    assert report_ks(1) == [1]
    assert report_ks(5) == [1, 2, 4, 5]
    assert report_ks(16) == [1, 2, 4, 8, 16]


def _frac_equal(a: str, b: str) -> bool:
    """Answers as exact rationals: '1/2' == '0.5' == '2/4'."""
    try:
        return Fraction(a) == Fraction(b)
    except (ValueError, ZeroDivisionError):
        return a == b


def test_majority_vote_counts_equivalent_spellings_as_one_vote():
    answers = ["3", "1/2", "0.5", "3", "2/4"]
    correct = [False, True, True, False, True]
    # exact strings: "3" has 2 votes, "1/2", "0.5", "2/4" one each -> "3" would win (wrong)
    assert majority_vote(answers, correct, lambda a, b: a == b).answer == "3"
    # equivalence-aware: {1/2, 0.5, 2/4} is one answer with 3 votes -> wins, and it is right
    vote = majority_vote(answers, correct, _frac_equal)
    assert (vote.answer, vote.count, vote.correct, vote.groups) == ("1/2", 3, True, 2)


def test_majority_vote_ties_go_to_the_answer_seen_first_and_none_does_not_vote():
    vote = majority_vote([None, "7", "8", None, "8", "7", None], [False, False, True, False, True, False, False], str.__eq__)
    assert (vote.answer, vote.count, vote.correct) == ("7", 2, False)  # 7 and 8 tie at 2; 7 came first
    empty = majority_vote([None, None], [False, False], str.__eq__)
    assert (empty.answer, empty.count, empty.correct) == (None, 0, False)


def test_majority_vote_with_the_math_verifiers_equivalence():
    import rewards.math  # noqa: F401
    from eval.answers import get

    kind = get("math")
    kind.warm_up()  # a cold worker pool on a loaded machine can miss the per-check deadline
    answers = ["\\frac{1}{2}", "0.5", "3", "1/2", "3"]
    vote = majority_vote(answers, [True, True, False, True, False], kind.equivalent)
    assert (vote.count, vote.correct) == (3, True)


def test_stderr_and_bootstrap():
    # per-problem scores 1,0,1,0: mean 0.5, sample sd = sqrt(((.5)^2 * 4) / 3) = sqrt(1/3); se = sd / 2
    assert stderr([1.0, 0.0, 1.0, 0.0]) == pytest.approx(math.sqrt(1 / 3) / 2)
    assert stderr([0.7]) == 0.0
    assert bootstrap_ci([0.25] * 10) == (0.25, 0.25)  # no spread, no interval
    values = [1.0] * 30 + [0.0] * 70
    lo, hi = bootstrap_ci(values, seed=1)
    assert lo < 0.3 < hi and hi - lo < 0.25  # about ±1.96 * 0.046 around 0.3
    assert bootstrap_ci(values, seed=1) == (lo, hi)  # seeded


def _record(correct, level=None, maj=False, lengths=None, truncated=None):
    return {
        "correct": correct,
        "lengths": lengths or [10] * len(correct),
        "truncated": truncated or [False] * len(correct),
        "maj_correct": maj,
        "unverifiable": 0,
        "level": level,
    }


def test_aggregate_by_hand():
    records = [
        _record([True, False, False, False], level="1", maj=False, lengths=[4, 4, 4, 4]),
        _record([True, True, False, False], level="2", maj=True, lengths=[8, 8, 8, 8], truncated=[True, False, False, False]),
    ]
    out = aggregate(records)
    assert out["problems"] == 2 and out["samples"] == 4
    assert out["pass@1"] == pytest.approx((1 / 4 + 2 / 4) / 2)  # 0.375
    assert out["pass@2"] == pytest.approx((0.5 + 5 / 6) / 2)  # (1 - 3/6 + 1 - 1/6) / 2
    assert out["pass@4"] == pytest.approx(1.0)
    assert out["maj@4"] == pytest.approx(0.5)
    assert out["length/mean"] == pytest.approx(6.0)
    assert out["length/truncated"] == pytest.approx(1 / 8)
    assert out["level/1/pass@1"] == pytest.approx(0.25) and out["level/2/pass@1"] == pytest.approx(0.5)
    assert out["pass@1/stderr"] == pytest.approx(0.125)  # values .25,.5: sd = .1768, / sqrt 2
    assert "maj@1" not in aggregate([_record([True])])  # one sample: no vote to speak of
