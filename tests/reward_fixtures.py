"""Reward functions used by the tests through the ``path/to/file.py:function`` reference form."""

from __future__ import annotations


def sevens(completions: list[str], **_: object) -> list[float | None]:
    """Fraction of the completion's characters that are '7': a goal a random model can learn in a few steps."""
    return [c.count("7") / max(len(c), 1) for c in completions]


def broken(completions: list[str], **_: object) -> list[float | None]:
    raise RuntimeError("boom")


def digits(completions: list[str], **_: object) -> list[float | None]:
    """Fraction of digit characters: varies between samples of a random model, so every group has signal."""
    return [sum(ch.isdigit() for ch in c) / max(len(c), 1) for c in completions]


def zero(completions: list[str], **_: object) -> list[float | None]:
    """0.0 for everything: every group's rewards are equal, so no sample has an advantage."""
    return [0.0 for _ in completions]
