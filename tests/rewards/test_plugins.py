"""``rewards.plugins.load_reference``: the one loader of ``module:name`` / ``file.py:name`` references,
behind both the reward registry and the environment registry (same references, same sentences)."""

from __future__ import annotations

from pathlib import Path

import pytest

import rewards
from r1train import envs
from r1train.errors import UserError
from rewards import plugins

PLUGIN = (
    "from r1train.envs import Step\n"
    "LOADS = [1]\n"
    "def score(completions, **columns):\n    return [1.0 for _ in completions]\n"
    "class Env:\n    stop = ('!',)\n    def __init__(self, row, **args): pass\n"
    "    def step(self, text): return Step(done=True)\n"
)


def test_one_file_holds_a_reward_and_an_environment_and_loads_once(tmp_path: Path) -> None:
    f = tmp_path / "mine.py"
    f.write_text(PLUGIN)
    fn = rewards.resolve(f"{f}:score")
    cls = envs.resolve(f"{f}:Env")
    assert fn(["a", "b"]) == [1.0, 1.0] and cls.__name__ == "Env"
    assert fn.__module__ == cls.__module__  # the same module object: the file ran once
    assert plugins.load_reference(f"{f}:LOADS", what="x", kind="list", fits=lambda o: isinstance(o, list)) == [1]


def test_each_failure_is_one_sentence_in_the_callers_own_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import no_such_module_anywhere\n")
    cases = [  # (reference, what the sentence says)
        (f"{bad}:x", r".*bad.py failed to import \(ModuleNotFoundError: .*\); fix the error in that file"),
        (f"{tmp_path / 'none.py'}:x", r"the file .*none.py' does not exist; give a path to a .py file"),
        ("no_such_pkg:x", r"importing 'no_such_pkg' failed .*; fix the module or the name before ':'"),
        ("rewards.format:nope", r"rewards.format has no (function|environment class) 'nope'; check the name after ':'"),
    ]
    for ref, sentence in cases:
        with pytest.raises(rewards.RewardLookupError, match=rf"^reward '.*': {sentence}$"):
            rewards.resolve(ref)
        with pytest.raises(UserError, match=rf"^env.name '.*': {sentence}$"):
            envs.resolve(ref)
    with pytest.raises(UserError, match="has no environment class 'digits'"):  # a function is not an environment
        envs.resolve("tests.reward_fixtures:digits")
    fixed = tmp_path / "fixed.py"
    fixed.write_text("import no_such_module_anywhere\n")
    with pytest.raises(plugins.LoadError):
        plugins.load_reference(f"{fixed}:f", what="reward", kind="function", fits=callable)
    fixed.write_text("def f(completions, **columns):\n    return [0.0]\n")  # the failed import was forgotten
    assert plugins.load_reference(f"{fixed}:f", what="reward", kind="function", fits=callable)([""]) == [0.0]
