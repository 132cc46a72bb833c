"""The reward stage: weights, None, and every way a reward function can misbehave."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from r1train.config import RewardSpec
from r1train.errors import UserError
from r1train.train.scoring import RewardFunction, load, score, summarise
from tests.helpers import REWARDS_FILE

HERE = Path(__file__).parent


def rf(fn, name: str = "f", weight: float = 1.0, **kw) -> RewardFunction:
    return RewardFunction(name, fn, weight, {}, kw.get("timeout_s", 5.0), kw.get("on_error", "fail"))


def test_weighted_total_and_none() -> None:
    a = rf(lambda c, **_: [1.0, 0.0, None], "a", 1.0)
    b = rf(lambda c, **_: [0.5, 0.5, 0.5], "b", 0.2)
    s = score([a, b], ["x", "y", "z"], {})
    # totals: 1*1.0 + 0.2*0.5 = 1.1; 0 + 0.1 = 0.1; None -> NaN (left out of the loss)
    assert s.total[:2] == pytest.approx([1.1, 0.1]) and math.isnan(s.total[2])
    m = summarise(s)
    assert m["reward/a"] == pytest.approx(0.5) and m["reward/a/none"] == 1.0
    assert m["reward"] == pytest.approx(0.6)  # mean of 1.1 and 0.1


def test_columns_reach_the_function() -> None:
    seen = {}

    def f(completions, answer, prompts, **_):
        seen.update(answer=answer, prompts=prompts)
        return [1.0] * len(completions)

    score([rf(f)], ["c1", "c2"], {"answer": ["1", "2"], "prompts": ["p1", "p2"]})
    assert seen == {"answer": ["1", "2"], "prompts": ["p1", "p2"]}


@pytest.mark.parametrize(
    "fn, needle",
    [
        (lambda c, **_: 1 / 0, "raised ZeroDivisionError"),
        (lambda c, **_: [1.0], "returned 1 scores for 2 completions"),
        (lambda c, **_: [float("nan"), 1.0], "returned nan"),
        (lambda c, **_: ["yes", 1.0], "returned 'yes'"),
        (lambda c, **_: None, "returned no list"),
    ],
)
def test_misbehaving_reward_fails_with_one_sentence(fn, needle: str) -> None:
    with pytest.raises(UserError, match=needle) as info:
        score([rf(fn, "bad")], ["a", "b"], {})
    assert "'bad'" in str(info.value) and "\n" not in str(info.value)


def test_hanging_reward_is_bounded_and_policy_none_counts_it() -> None:
    def hang(c, **_):
        time.sleep(30)

    t = time.perf_counter()
    with pytest.raises(UserError, match="did not return within 0.3 s"):
        score([rf(hang, "slow", timeout_s=0.3)], ["a"], {})
    s = score([rf(hang, "slow", timeout_s=0.3, on_error="none"), rf(lambda c, **_: [1.0], "ok")], ["a"], {})
    assert time.perf_counter() - t < 10
    assert s.per_function["slow"] == [None] and math.isnan(s.total[0]) and s.errors == {"slow": 1}
    assert summarise(s)["reward/slow/errors"] == 1.0


def test_plugin_file_that_fails_to_import(tmp_path: Path) -> None:
    bad = tmp_path / "plugin.py"
    bad.write_text("import no_such_module_anywhere\n")
    with pytest.raises(UserError, match="failed to import.*fix the error in that file"):
        load([RewardSpec(name=f"{bad}:fn")])
    with pytest.raises(UserError, match="has no function 'nope'"):
        load([RewardSpec(name=f"{REWARDS_FILE}:nope")])
    with pytest.raises(UserError, match="importing 'no_such_pkg' failed"):
        load([RewardSpec(name="no_such_pkg:fn")])


def test_max_new_tokens_reaches_functions_that_ask_for_it() -> None:
    # length.soft_overlong names max_new_tokens: the rollout's value is passed unless the recipe sets it
    [fn] = load([RewardSpec(name="length.soft_overlong", args={"overlong_buffer": 4})], {"max_new_tokens": 16})
    assert fn.args == {"overlong_buffer": 4, "max_new_tokens": 16}
    [fn] = load([RewardSpec(name="length.soft_overlong", args={"max_new_tokens": 8})], {"max_new_tokens": 16})
    assert fn.args == {"max_new_tokens": 8}
    [fn] = load([RewardSpec(name="answer.exact")], {"max_new_tokens": 16})
    assert fn.args == {}
    # 12 tokens with max 16 and buffer 4: 12 <= 16 - 4, no penalty; 14 tokens: -(14 - 12) / 4 = -0.5
    s = score(load([RewardSpec(name="length.soft_overlong", args={"overlong_buffer": 4})], {"max_new_tokens": 16}),
              ["a", "b"], {"completion_lengths": [12, 14]})
    assert s.per_function["length.soft_overlong"] == [0.0, -0.5]
