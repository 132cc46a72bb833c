"""Registries: one dict each, filled by decorators (DESIGN.md). This is the one decorator factory they share.

Use::

    TASKS: dict[str, Task] = {}
    register = registrar(TASKS)

    @register("chain")
    def chain(rng, **options): ...

Registering a name again replaces the entry (a module reloaded in a notebook re-registers its own
functions); the reward registry, whose names users type and plug-ins add, refuses duplicates itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def registrar(table: dict[str, T]) -> Callable[[str], Callable[[T], T]]:
    """A ``register(name)`` decorator that stores what it decorates in ``table[name]`` and returns it unchanged."""

    def register(name: str) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            table[name] = obj
            return obj

        return wrap

    return register
