"""Tools an episode can call, and the two text formats a call is written in.

Tools (registry :data:`TOOLS`, one instance per episode, so state never crosses episodes):

* ``calculator``: exact arithmetic on integers and decimals (``+ - * / // % **``, parentheses, unary
  minus) by walking the parsed expression tree; nothing is evaluated by Python (no ``eval``), powers and
  results are bounded, so ``9**9**9`` is an error, not a hang.
* ``python``: a Python interpreter whose every call runs in the code sandbox
  (:func:`rewards.sandbox.run_program`: namespaces, fresh uid, seccomp, memory/CPU/process limits). State
  is kept across one episode's calls by replaying its earlier *successful* cells, with their output
  discarded, before the new cell, whose output alone comes back (a final expression is echoed as in a
  notebook). So ``x = 1`` then ``print(x)`` prints 1; a replayed cell that draws random numbers or reads
  the clock gives new values (state is the code, not a memory image). Limits per call (``timeout_s``,
  ``memory_mb``, output characters) and per episode (``max_calls``, ``episode_timeout_s`` of tool time).

Formats (:data:`FORMATS`): how a call and its answer look in the text.

* ``hermes`` (Qwen2.5 and other chat models): ``<tool_call>{"name": "python", "arguments": {"code": …}}
  </tool_call>``, answered in a user turn ``<|im_end|>\\n<|im_start|>user\\n<tool_response>\\n…\\n
  </tool_response><|im_end|>\\n<|im_start|>assistant\\n`` as Qwen2.5's chat template renders tool results.
* ``compact`` (the tiny model, one token per character): ``<calc>7*8</calc>`` -> ``<out>56</out>``,
  ``<py>print(2)</py>`` -> ``<out>2</out>``.
"""

from __future__ import annotations

import ast
import json
import operator
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from r1train.errors import UserError
from r1train.registry import registrar


class ToolError(Exception):
    """A call the tool rejects; the message becomes the observation (``error: …``)."""


@dataclass(frozen=True)
class Call:
    name: str
    arguments: dict[str, Any]


TOOLS: dict[str, Callable[..., Any]] = {}
# main_arg: the argument the compact format's body fills; tag: the compact format's tag name
register = registrar(TOOLS, main_arg="input", tag="")


# --- calculator ------------------------------------------------------------------------------------

MAX_DIGITS = 100  # a result or operand with more digits than this is an error
_BINARY: dict[type, Callable[[Fraction, Fraction], Fraction]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv, ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod,
}


def calculate(expression: str) -> str:
    """The exact value of an arithmetic expression as text: ``"7*8"`` -> ``"56"``, ``"1/4"`` -> ``"0.25"``."""
    if len(expression) > 500:
        raise ToolError("expression too long")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError:
        raise ToolError(f"cannot parse {expression.strip()[:40]!r}") from None
    value = _value(tree.body)
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.12g}"


def _value(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _bounded(Fraction(str(node.value)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        v = _value(node.operand)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        left, right = _value(node.left), _value(node.right)
        if isinstance(node.op, ast.Pow):
            if right.denominator != 1 or abs(right) > 1000:
                raise ToolError("exponent must be a whole number up to 1000")
            if left != 0 and abs(right) * max(len(str(abs(left.numerator))), len(str(left.denominator))) > MAX_DIGITS:
                raise ToolError("result too large")
            if left == 0 and right < 0:
                raise ToolError("division by zero")
            return _bounded(left**int(right))
        op = _BINARY.get(type(node.op))
        if op is None:
            raise ToolError(f"operator {type(node.op).__name__} is not supported")
        if right == 0 and isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
            raise ToolError("division by zero")
        return _bounded(Fraction(op(left, right)))
    raise ToolError("only numbers, + - * / // % ** and parentheses are allowed")


def _bounded(v: Fraction) -> Fraction:
    if len(str(abs(v.numerator))) > MAX_DIGITS or len(str(v.denominator)) > MAX_DIGITS:
        raise ToolError("result too large")
    return v


@register("calculator", main_arg="expression", tag="calc")
class Calculator:
    """Exact arithmetic, no state."""

    def __init__(self, **limits: Any) -> None:
        """The python tool's limits do not apply: arithmetic is bounded by :data:`MAX_DIGITS`."""

    def __call__(self, arguments: dict[str, Any]) -> str:
        return calculate(str(arguments.get("expression", "")))


# --- python ---------------------------------------------------------------------------------------

# The program sent to the sandbox: earlier cells replayed silently, then the new cell, whose last
# expression (if any) is echoed. Cells travel as a JSON literal, so no cell text is spliced into code.
_RUNNER = '''import ast, contextlib, io, json
_cells = json.loads({cells!r})
_g = {{"__name__": "__main__"}}
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    for _c in _cells[:-1]:
        exec(compile(_c, "<cell>", "exec"), _g)
_t = ast.parse(_cells[-1])
_last = _t.body.pop() if _t.body and isinstance(_t.body[-1], ast.Expr) else None
exec(compile(_t, "<cell>", "exec"), _g)
if _last is not None:
    _v = eval(compile(ast.Expression(_last.value), "<cell>", "eval"), _g)
    if _v is not None:
        print(repr(_v))
'''


@register("python", main_arg="code", tag="py")
class PythonInterpreter:
    """A sandboxed interpreter whose state lasts one episode (earlier successful cells are replayed)."""

    def __init__(
        self,
        timeout_s: float = 5.0,
        memory_mb: int = 512,
        max_output_chars: int = 1000,
        max_calls: int = 8,
        episode_timeout_s: float = 30.0,
    ) -> None:
        self.timeout_s, self.memory_mb, self.max_output_chars = timeout_s, memory_mb, max_output_chars
        self.max_calls, self.episode_timeout_s = max_calls, episode_timeout_s
        self.cells: list[str] = []  # successful cells, replayed before each new one
        self.calls = 0
        self.spent_s = 0.0

    def __call__(self, arguments: dict[str, Any]) -> str:
        from rewards.sandbox import run_program

        code = str(arguments.get("code", ""))
        self.calls += 1
        if self.calls > self.max_calls:
            raise ToolError(f"no more than {self.max_calls} python calls per problem")
        left = self.episode_timeout_s - self.spent_s
        if left <= 0.05:
            raise ToolError("the python time budget of this problem is spent")
        program = _RUNNER.format(cells=json.dumps([*self.cells, code]))
        t0 = time.perf_counter()
        result = run_program(program, timeout_s=min(self.timeout_s, left), memory_mb=self.memory_mb,
                             max_output_bytes=4 * self.max_output_chars + 4096)
        self.spent_s += time.perf_counter() - t0
        out = result.stdout
        if result.status == "ok":
            self.cells.append(code)
            return _clip(out, self.max_output_chars)
        if result.status == "error":
            lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
            raise ToolError(_clip(out + (lines[-1] if lines else "the program failed"), self.max_output_chars))
        raise ToolError({"timeout": "time limit exceeded", "memory": "memory limit exceeded",
                         "output_limit": "output limit exceeded"}.get(result.status, "the program was killed"))


def _clip(text: str, limit: int) -> str:
    text = text.rstrip("\n")
    return text if len(text) <= limit else text[:limit] + "…"


# --- formats --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    """How calls are written: the stop strings that end a calling turn, the parser and the answer's wrapper."""

    name: str
    stop: tuple[str, ...]
    parse: Callable[[str], Call | None]  # the call at the end of a turn, None if the turn calls nothing
    wrap: Callable[[str, bool], str]  # (tool output or error text, ok) -> observation text


_HERMES_CALL = re.compile(r"<tool_call>(.*?)</tool_call>\s*$", re.S)


def _parse_hermes(text: str) -> Call | None:
    m = _HERMES_CALL.search(text)
    if m is None:
        return None
    try:
        data = json.loads(m.group(1))
    except json.JSONDecodeError:
        raise ToolError("the tool call is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ToolError('a tool call is {"name": ..., "arguments": {...}}')
    args = data.get("arguments", {})
    if isinstance(args, str):  # some models write the arguments as a JSON string
        try:
            args = json.loads(args)
        except json.JSONDecodeError:
            raise ToolError("the tool call's arguments are not valid JSON") from None
    if not isinstance(args, dict):
        raise ToolError("the tool call's arguments must be an object")
    return Call(data["name"], args)


def _wrap_hermes(output: str, ok: bool) -> str:
    body = output if ok else f"error: {output}"
    return f"<|im_end|>\n<|im_start|>user\n<tool_response>\n{body}\n</tool_response><|im_end|>\n<|im_start|>assistant\n"


def _compact(tools: list[str]) -> Format:
    tags = {TOOLS[t].tag: t for t in tools}
    pattern = re.compile(r"<(" + "|".join(map(re.escape, tags)) + r")>(.*?)</\1>$", re.S)

    def parse(text: str) -> Call | None:
        m = pattern.search(text)
        if m is None:
            return None
        name = tags[m.group(1)]
        return Call(name, {TOOLS[name].main_arg: m.group(2)})

    return Format("compact", tuple(f"</{t}>" for t in tags), parse, lambda out, ok: f"<out>{out if ok else 'error: ' + out}</out>")


def make_format(name: str, tools: list[str]) -> Format:
    """The format ``name`` for these tools; unknown names are one sentence."""
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        raise UserError(f"env.args.tools names unknown tools {unknown}; use some of {', '.join(sorted(TOOLS))}")
    if name == "hermes":
        return Format("hermes", ("</tool_call>",), _parse_hermes, _wrap_hermes)
    if name == "compact":
        return _compact(tools)
    raise UserError(f"env.args.format {name!r} is not a tool-call format; use one of {', '.join(FORMATS)}")


FORMATS = ("hermes", "compact")
