"""Registries: one dict each, filled by decorators (DESIGN.md). This is the one decorator factory they share.

Use::

    TASKS: dict[str, Task] = {}
    register = registrar(TASKS)

    @register("chain")
    def chain(rng, **options): ...

Properties of an entry go in the decorator and become attributes of what it decorates, so that a
caller asks the entry instead of testing names: ``@register("chat", special_tokens_in_text=True)`` and
later ``TEMPLATES[name].special_tokens_in_text``.

Registering a name again replaces the entry (a module reloaded in a notebook re-registers its own
functions); the reward registry, whose names users type and plug-ins add, refuses duplicates itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def registrar(table: dict[str, T], **defaults: Any) -> Callable[..., Callable[[T], T]]:
    """A ``register(name, **properties)`` decorator: stores what it decorates in ``table[name]`` and sets
    each property (``defaults`` for those not given) as an attribute of it; returns it unchanged."""

    def register(name: str, **properties: Any) -> Callable[[T], T]:
        unknown = set(properties) - set(defaults)
        if unknown:
            raise TypeError(f"register({name!r}): unknown properties {sorted(unknown)}; known: {sorted(defaults)}")

        def wrap(obj: T) -> T:
            for key, value in (defaults | properties).items():
                setattr(obj, key, value)
            table[name] = obj
            return obj

        return wrap

    return register
