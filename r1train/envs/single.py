"""The trivial environment: one policy turn, then done (what every recipe without ``env`` runs).

Its rollouts never enter the episode loop: :func:`r1train.envs.loop.generate` hands them to the engine's
``generate`` exactly as the trainer always has, so single-turn runs are unchanged token for token.
"""

from __future__ import annotations

from typing import Any

from r1train.envs.base import Step, register


@register("single_turn", multi_turn=False)
class SingleTurn:
    """A single-turn verifier's episode: the policy answers once and the reward functions score it."""

    stop: tuple[str, ...] = ()

    def __init__(self, row: dict[str, Any], **args: Any) -> None:
        self.row = row

    def step(self, text: str) -> Step:
        return Step(done=True)
