"""Answer kinds, registered by name: how a benchmark reads a completion's final answer.

A benchmark's verifier (a reward function from :mod:`rewards`) decides whether a completion is right.
maj@k needs one more thing the verifier does not give: *which* answer each completion gave, and when two
answers written differently are the same answer. An answer kind bundles those three functions:

* ``extract(text) -> str | None``: the final answer of a completion (``None``: it gave none);
* ``equivalent(a, b) -> bool``: whether two extracted answers are one vote;
* ``gold(value) -> str``: the bare gold answer of a dataset value, for the report.

Kinds: ``math`` (the math verifier's own :func:`rewards.math.extract_answer` / ``is_equivalent``, so
``0.5``, ``1/2`` and ``\\frac{1}{2}`` are one vote), ``tag`` (the ``<answer>`` block, compared exactly,
as ``answer.exact`` does), ``countdown`` (the equation, compared without white space), ``code`` (the last fenced code block, as
the code verifiers read it; two programs are one vote when equal line by line without trailing blanks). A kind may also
have ``warm_up()``, called once before grading.

Add one with::

    @eval.answers.register("mine")
    class MyAnswer:
        @staticmethod
        def extract(text: str) -> str | None: ...
        @staticmethod
        def equivalent(a: str, b: str) -> bool: ...
        @staticmethod
        def gold(value: Any) -> str: ...
"""

from __future__ import annotations

from typing import Any, Protocol

from r1train.errors import UserError
from r1train.registry import registrar


class AnswerKind(Protocol):
    @staticmethod
    def extract(text: str) -> str | None: ...

    @staticmethod
    def equivalent(a: str, b: str) -> bool: ...

    @staticmethod
    def gold(value: Any) -> str: ...


ANSWER_KINDS: dict[str, type] = {}


register = registrar(ANSWER_KINDS)


def get(name: str) -> AnswerKind:
    if name not in ANSWER_KINDS:
        raise UserError(f"unknown answer kind {name!r} in a benchmark; use one of {', '.join(sorted(ANSWER_KINDS))}")
    return ANSWER_KINDS[name]  # type: ignore[return-value]


def _text(value: Any) -> str:
    """A dataset value as text: lists (OlympiadBench's ``final_answer``) joined, floats like 27.0 as 27."""
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


@register("math")
class MathAnswer:
    """The math verifier's extraction and equivalence (``rewards.math``)."""

    @staticmethod
    def extract(text: str) -> str | None:
        from rewards.math import extract_answer

        return extract_answer(text)

    @staticmethod
    def equivalent(a: str, b: str) -> bool:
        if a.strip() == b.strip():
            return True
        from rewards.math import is_equivalent

        return is_equivalent(a, b)

    @staticmethod
    def gold(value: Any) -> str:
        from rewards.math import gold_answer

        return gold_answer(_text(value))

    @staticmethod
    def warm_up() -> None:
        """Start the verifier's worker processes before grading: a cold start on a busy machine can
        outlast the per-check deadline and turn a right answer into "cannot verify"."""
        from rewards.math import warm_up

        warm_up()


@register("tag")
class TagAnswer:
    """The last ``<answer>…</answer>`` block, compared exactly after stripping (as ``answer.exact``)."""

    @staticmethod
    def extract(text: str) -> str | None:
        from rewards.tags import answer_span

        return answer_span(text)

    @staticmethod
    def equivalent(a: str, b: str) -> bool:
        return a.strip() == b.strip()

    @staticmethod
    def gold(value: Any) -> str:
        return _text(value)


@register("countdown")
class CountdownAnswer:
    """The equation ``countdown.equation`` reads (``<answer>``, else ``\\boxed{}``; an ``= target`` tail
    dropped); two equations are one vote when equal without white space."""

    @staticmethod
    def extract(text: str) -> str | None:
        from rewards.math import extract_answer

        found = extract_answer(text)
        return None if found is None else found.split("=")[0].strip() or None

    @staticmethod
    def equivalent(a: str, b: str) -> bool:
        return "".join(a.split()) == "".join(b.split())

    @staticmethod
    def gold(value: Any) -> str:
        return _text(value)


@register("code")
class CodeAnswer:
    """The program ``code.pass_rate`` / ``code.all_pass`` run: the completion's last fenced code block."""

    @staticmethod
    def extract(text: str) -> str | None:
        from rewards.code import extract_code

        return extract_code(text)

    @staticmethod
    def equivalent(a: str, b: str) -> bool:
        def lines(code: str) -> list[str]:
            return [ln.rstrip() for ln in code.strip().splitlines() if ln.strip()]

        return lines(a) == lines(b)

    @staticmethod
    def gold(value: Any) -> str:
        return _text(value)
