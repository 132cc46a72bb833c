"""Environments: what an episode is (:mod:`~r1train.envs.base`), the built-in ones, tools, and the loop.

* ``single_turn`` (:mod:`~r1train.envs.single`): the default; rollouts go straight to the engine.
* ``tools`` (:mod:`~r1train.envs.tool_env`): calculator and sandboxed Python (:mod:`~r1train.envs.tools`).
* :func:`generate` (:mod:`~r1train.envs.loop`): the multi-turn rollout loop the trainer calls.

Use (what the trainer does)::

    env = envs.load(cfg.env)
    rollouts = envs.generate(engine, tokenizer, rows, prompt_ids, sampling, env)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from r1train.envs import single, tool_env  # noqa: F401  (registers the built-in environments)
from r1train.envs.base import ENVS, Environment, Step, register, resolve
from r1train.envs.loop import EnvSpec, generate
from r1train.errors import UserError

if TYPE_CHECKING:
    from r1train.config import EnvConfig


def load(cfg: EnvConfig) -> EnvSpec:
    """The recipe's ``env`` section as an :class:`EnvSpec`; bad names, arguments or limits are one sentence."""
    cls = resolve(cfg.name)
    if cfg.max_turns < 1:
        raise UserError(f"env.max_turns is {cfg.max_turns}; it must be at least 1")
    spec = EnvSpec(cls, dict(cfg.args), cfg.max_turns, cfg.workers)
    if spec.multi_turn:
        try:  # build one episode now, so that bad env.args fail before anything loads
            spec.start({"question": "", "answer": ""})
        except TypeError as exc:
            raise UserError(f"env.args {sorted(cfg.args)} do not fit environment {cfg.name!r} ({exc}); check env.args") from None
    return spec


__all__ = ["ENVS", "EnvSpec", "Environment", "Step", "generate", "load", "register", "resolve"]
