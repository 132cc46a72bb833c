"""The ``tools`` environment: the policy may call tools (calculator, sandboxed Python) between turns.

A turn that ends in a tool call (``hermes`` or ``compact`` format, :mod:`r1train.envs.tools`) is
answered with the tool's output as the observation; a turn without one ends the episode, and the
reward functions score the whole text (observations included, so ``answer.exact`` or ``math.accuracy``
work unchanged). A malformed call, an unknown tool or a failing program is answered with
``error: …`` (counted in ``tools/errors``), never by ending the run.

Recipe::

    env:
      name: tools
      args: {tools: [python], format: hermes, timeout_s: 5, max_calls: 4, episode_timeout_s: 20}
      max_turns: 4
"""

from __future__ import annotations

from typing import Any

from r1train.envs.base import Step, register
from r1train.envs.tools import TOOLS, ToolError, make_format


@register("tools")
class ToolEnv:
    """One episode with its own tool instances (a python tool's state lives and dies with it)."""

    def __init__(
        self,
        row: dict[str, Any],
        tools: list[str] | None = None,
        format: str = "hermes",
        timeout_s: float = 5.0,  # python: wall time of one call
        memory_mb: int = 512,  # python: memory of one call
        max_output_chars: int = 1000,  # python: output shown per call (more is cut)
        max_calls: int = 8,  # python: calls per episode
        episode_timeout_s: float = 30.0,  # python: tool time per episode
    ) -> None:
        names = list(tools or ["calculator"])
        self.format = make_format(format, names)
        self.stop = self.format.stop
        limits = dict(timeout_s=timeout_s, memory_mb=memory_mb, max_output_chars=max_output_chars,
                      max_calls=max_calls, episode_timeout_s=episode_timeout_s)
        self.tools = {name: TOOLS[name](**limits) for name in names}
        self.row = row

    def step(self, text: str) -> Step:
        try:
            call = self.format.parse(text)
        except ToolError as exc:  # a call was attempted but is malformed
            return Step(observation=self.format.wrap(str(exc), False), calls=1, errors=1)
        if call is None:
            return Step(done=True)
        tool = self.tools.get(call.name)
        if tool is None:
            known = ", ".join(self.tools)
            return Step(observation=self.format.wrap(f"unknown tool {call.name!r}; tools: {known}", False), calls=1, errors=1)
        try:
            return Step(observation=self.format.wrap(tool(call.arguments), True), calls=1)
        except ToolError as exc:
            return Step(observation=self.format.wrap(str(exc), False), calls=1, errors=1)
