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

from dataclasses import dataclass
from typing import Any, Protocol

from r1train.errors import UserError
from r1train.registry import registrar
from rewards.plugins import resolve as resolve_reference


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
    return resolve_reference(ref, ENVS, what="env.name", kind="environment class", fits=_is_environment,
                             error=UserError, unknown=f"unknown environment {ref!r} in env.name",
                             listed="registered", forms="module:Class or path/to/file.py:Class")


def _is_environment(obj: Any) -> bool:
    """A class with a ``step`` method (what :class:`Environment` asks of one)."""
    return isinstance(obj, type) and callable(getattr(obj, "step", None))
