"""``countdown.equation``: the Countdown task's reward (TinyZero): reach the target with the given numbers.

The completion's equation (the ``<answer>`` block, else the last ``\\boxed{}``; an ``= target`` tail is
ignored) must use each given number exactly once, only ``+ - * /`` and parentheses, and evaluate exactly
(rational arithmetic, so ``6/4*2`` is 3) to the target. The expression is read by a small recursive
descent parser, never ``eval``; it is bounded by :data:`MAX_CHARS` and by the nesting depth.

Reward: 1.0 for a right equation, ``format_score`` (default 0.0) for a readable but wrong one, 0.0 when
there is none, and ``None`` when the row has no numbers or target.
"""

from __future__ import annotations

import re
from collections import Counter
from fractions import Fraction
from typing import Any

from rewards.math import extract_answer
from rewards.registry import register

MAX_CHARS = 300
MAX_DEPTH = 40
TOKEN_RE = re.compile(r"\s*(?:(\d+)|([-+*/()]))")


class EquationError(ValueError):
    """The text is not an arithmetic equation over integers with + - * / and parentheses."""


def parse_equation(text: str) -> tuple[Fraction, list[int]]:
    """Evaluate ``text`` exactly; return (value, the integer literals in order). Raises EquationError."""
    text = text.replace("×", "*").replace("\\times", "*").replace("\\cdot", "*").replace("÷", "/")
    text = text.replace("\\div", "/").replace("−", "-").strip()
    if len(text) > MAX_CHARS:
        raise EquationError("equation too long")
    tokens: list[str] = []
    pos = 0
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if m is None:
            if text[pos:].strip():
                raise EquationError(f"unexpected character {text[pos]!r}")
            break
        tokens.append(m.group(1) or m.group(2))
        pos = m.end()
    parser = _Parser(tokens)
    value = parser.expr(0)
    if parser.pos != len(tokens):
        raise EquationError(f"unexpected {tokens[parser.pos]!r}")
    return value, parser.numbers


class _Parser:
    """expr := term (('+'|'-') term)*; term := atom (('*'|'/') atom)*; atom := int | '(' expr ')'."""

    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.numbers: list[int] = []

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def expr(self, depth: int) -> Fraction:
        value = self.term(depth)
        while self.peek() in ("+", "-"):
            op = self.tokens[self.pos]
            self.pos += 1
            rhs = self.term(depth)
            value = value + rhs if op == "+" else value - rhs
        return value

    def term(self, depth: int) -> Fraction:
        value = self.atom(depth)
        while self.peek() in ("*", "/"):
            op = self.tokens[self.pos]
            self.pos += 1
            rhs = self.atom(depth)
            if op == "/" and rhs == 0:
                raise EquationError("division by zero")
            value = value * rhs if op == "*" else value / rhs
        return value

    def atom(self, depth: int) -> Fraction:
        if depth > MAX_DEPTH:
            raise EquationError("nested too deeply")
        tok = self.peek()
        if tok is None:
            raise EquationError("unexpected end")
        self.pos += 1
        if tok == "(":
            value = self.expr(depth + 1)
            if self.peek() != ")":
                raise EquationError("unclosed parenthesis")
            self.pos += 1
            return value
        if tok.isdigit():
            if len(tok) > 12:
                raise EquationError("number too long")
            self.numbers.append(int(tok))
            return Fraction(int(tok))
        raise EquationError(f"unexpected {tok!r}")


def equation_score(completion: str, nums: Any, target: Any, format_score: float = 0.0) -> float | None:
    """Score one completion against its numbers and target (see the module docstring)."""
    try:
        given = Counter(int(n) for n in nums)
        goal = Fraction(str(target).strip())
    except (TypeError, ValueError):
        return None
    answer = extract_answer(completion)
    if answer is None:
        return 0.0
    equation = answer.split("=")[0]
    try:
        value, used = parse_equation(equation)
    except (EquationError, RecursionError):
        return 0.0
    return 1.0 if Counter(used) == given and value == goal else format_score


@register("countdown.equation")
def equation(
    completions: list[str], nums: list[Any], target: list[Any], format_score: float = 0.0, **_: Any
) -> list[float | None]:
    """1.0 when the answer uses each number once with + - * / ( ) and equals the target, else 0.0."""
    return [equation_score(c, n, t, format_score) for c, n, t in zip(completions, nums, target, strict=True)]
