"""The reward registry: one dict from name to reward function, filled by ``@register``.

A reward function is a plain function ``fn(completions: list[str], **columns) -> list[float | None]``.
``columns`` are the dataset's columns for the same rows (e.g. ``answer``) plus ``prompts``; ``None``
means "cannot verify" and is counted by the trainer, never silently scored as 0.

A recipe names a reward in one of four ways, all resolved by :func:`resolve`:

* a registered name, ``math.accuracy`` (built-ins register on import of their module);
* ``package.module:function`` (importable Python);
* ``path/to/file.py:function`` (a file, loaded by path);
* a name exported by a third-party package through the entry-point group ``r1train.rewards``.

This module imports nothing of torch: verifiers run in worker processes and stay light.
"""

from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Any, TypeVar

from rewards.plugins import resolve as resolve_reference

RewardFn = Callable[..., list[float | None]]
F = TypeVar("F", bound=Callable[..., Any])

REGISTRY: dict[str, RewardFn] = {}

# Modules whose import registers the built-in rewards. Each verifier module adds itself here.
BUILTIN_MODULES: tuple[str, ...] = (
    "rewards.format",
    "rewards.answer",
    "rewards.code",
    "rewards.math",
    "rewards.countdown",
    "rewards.length",
)

ENTRY_POINT_GROUP = "r1train.rewards"


class RewardLookupError(ValueError):
    """A reward reference that cannot be resolved; the message is one sentence for the user."""


def register(name: str) -> Callable[[F], F]:
    """Register ``fn`` under ``name`` (e.g. ``"math.accuracy"``); a second use of a name is an error."""

    def wrap(fn: F) -> F:
        if name in REGISTRY and REGISTRY[name] is not fn:
            raise ValueError(f"reward name {name!r} is registered twice; pick another name")
        REGISTRY[name] = fn
        fn.reward_name = name  # type: ignore[attr-defined]
        return fn

    return wrap


_loaded = False


def load_builtins() -> None:
    """Import the built-in verifier modules and the entry-point plugins once, filling the registry."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in BUILTIN_MODULES:
        importlib.import_module(module)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in REGISTRY:
            continue
        try:
            REGISTRY[ep.name] = ep.load()
        except Exception as exc:  # a broken plugin must not break every other reward
            REGISTRY[ep.name] = _broken_plugin(ep.name, ep.value, exc)


def _broken_plugin(name: str, value: str, exc: Exception) -> RewardFn:
    def broken(completions: list[str], **columns: Any) -> list[float | None]:
        raise RewardLookupError(
            f"reward plugin {name!r} ({value}) failed to import ({type(exc).__name__}: {exc}); "
            "fix or uninstall that package"
        )

    return broken


def names() -> list[str]:
    """All registered reward names, sorted (built-ins and plugins)."""
    load_builtins()
    return sorted(REGISTRY)


def describe(name: str) -> str:
    """The first line of a reward's docstring, for ``r1train rewards``."""
    fn = resolve(name)
    doc = (fn.__doc__ or "").strip().splitlines()
    return doc[0] if doc else ""


def resolve(ref: str) -> RewardFn:
    """Turn a recipe's reward reference into the function; raise :class:`RewardLookupError` if impossible."""
    load_builtins()  # module:function or file.py:function, loaded as environments are (rewards/plugins.py)
    return resolve_reference(ref, REGISTRY, what="reward", kind="function", fits=callable, error=RewardLookupError,
                             unknown=f"unknown reward {ref!r}", listed="registered rewards are",
                             forms="module:function or path/to/file.py:function")
