"""Verifiers that turn completions into rewards, and the registry the trainer looks them up in.

Use::

    import rewards

    @rewards.register("my.reward")
    def my_reward(completions: list[str], answer: list[str], **_) -> list[float | None]:
        return [1.0 if c.strip() == a else 0.0 for c, a in zip(completions, answer)]

    fn = rewards.resolve("math.accuracy")      # or "pkg.mod:fn", or "path/file.py:fn"

Nothing here imports torch; ``r1train`` depends on ``rewards``, never the other way round.
"""

from rewards.registry import REGISTRY, RewardFn, RewardLookupError, describe, names, register, resolve

__all__ = ["REGISTRY", "RewardFn", "RewardLookupError", "describe", "names", "register", "resolve"]
