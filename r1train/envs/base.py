"""The environment contract: what an episode is, and the registry that names environments.

An *environment* turns one dataset row into an episode the policy plays in turns. The policy writes a
turn (generation stops at one of the environment's ``stop`` strings, or at EOS); the environment's
``step`` reads that turn's text and answers with a :class:`Step`: an observation (a tool's output,
appended to the context as tokens the policy never trains on), optionally a reward, and ``done``.
A single-turn verifier is the trivial environment (:class:`r1train.envs.single.SingleTurn`: one turn,
done, no observation), which is what every recipe without an ``env`` section uses.

An environment is a small class, instantiated once per episode (so its attributes are the episode's
state, and nothing is shared between episodes unless the class shares it)::

    from r1train.envs import Step, register

    @register("echo")
    class Echo:
        stop = ("</say>",)                      # a turn ending in one of these asks the environment

        def __init__(self, row: dict, **args) -> None:
            self.row = row                      # the dataset row: question, answer, other columns

        def step(self, text: str) -> Step:      # text = the policy's latest turn
            if not text.endswith("</say>"):
                return Step(done=True)          # the policy answered: the episode is over
            return Step(observation="<heard>ok</heard>", calls=1)

A recipe names it ``env: {name: echo}``, or ``module:Class`` / ``path/to/file.py:Class`` without
registering; ``env.args`` become the constructor's keyword arguments.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from r1train.errors import UserError
from r1train.registry import registrar


@dataclass(frozen=True)
class Step:
    """What the environment answers to one policy turn."""

    observation: str = ""  # appended to the context (tokenised once); never trained on
    reward: float | None = None  # summed over the episode into ``Rollout.extra["env_reward"]``
    done: bool = False
    calls: int = 0  # tool calls this turn made (metrics: tools/calls)
    errors: int = 0  # of which failed: bad call, tool error, timeout, limit (tools/errors)


class Environment(Protocol):
    """One episode; ``type(env)(row, **args)`` starts it."""

    stop: tuple[str, ...]  # strings that end a policy turn and hand it to ``step``

    def step(self, text: str) -> Step:
        """The answer to the policy's latest turn (its text, stop string included)."""
        ...


ENVS: dict[str, type] = {}

# multi_turn: False only for the single-turn verifier, whose rollouts skip the episode loop entirely
register = registrar(ENVS, multi_turn=True)


def resolve(ref: str) -> type:
    """The environment class a recipe names: a registered name, ``module:Class`` or ``file.py:Class``."""
    if ref in ENVS:
        return ENVS[ref]
    if ":" in ref:
        target, _, attr = ref.rpartition(":")
        module = _load_file(target, ref) if target.endswith(".py") else _import(target, ref)
        cls = getattr(module, attr, None)
        if not isinstance(cls, type) or not callable(getattr(cls, "step", None)):
            raise UserError(f"env.name {ref!r}: {target} has no environment class {attr!r} (a class with a step method)")
        return cls
    close = difflib.get_close_matches(ref, ENVS, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise UserError(
        f"unknown environment {ref!r} in env.name; {hint}registered: {', '.join(sorted(ENVS))} "
        "(or give module:Class or path/to/file.py:Class)"
    )


def _import(name: str, ref: str) -> Any:
    try:
        return importlib.import_module(name)
    except Exception as exc:
        raise UserError(f"env.name {ref!r}: importing {name!r} failed ({type(exc).__name__}: {exc}); fix the module") from None


def _load_file(path_str: str, ref: str) -> Any:
    path = Path(path_str).expanduser()
    if not path.is_file():
        raise UserError(f"env.name {ref!r}: the file {path_str!r} does not exist; give a path to a .py file")
    name = f"_r1train_env_{abs(hash(str(path.resolve())))}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UserError(f"env.name {ref!r}: {path_str} failed to import ({type(exc).__name__}: {exc}); fix that file") from None
    return module
