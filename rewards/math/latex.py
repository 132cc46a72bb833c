"""Normalise a final answer's LaTeX and read its *structure*: sets, tuples, intervals, relations…

A final answer is more than an expression: ``x = 2 \\text{ or } x = 5``, ``(-\\infty, 3] \\cup (5, 7)``,
``\\begin{pmatrix}1\\\\2\\end{pmatrix}``, ``(B)``, ``50\\%``, ``12 \\text{ cm}``. :func:`normalise` turns
the many spellings into one (unicode, ``\\dfrac``, ``\\left(``, ``\\text{}``, units, degrees, thousands
separators, repeating decimals) and :func:`parse_answer` turns the result into a small tree of
:class:`Node` values whose leaves are sympy expressions (:mod:`rewards.math.expr`).
:mod:`rewards.math.equivalence` compares two such trees.

Everything here is linear-time string work plus the bounded expression parser; it raises
:class:`~rewards.math.bounds.ParseError` or :class:`~rewards.math.bounds.Unsafe` rather than guess.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import sympy

from rewards.math.expr import ParseError, Unsafe, parse_expr
from rewards.math.extract import undouble_backslashes

MAX_ANSWER_CHARS = 1200
MAX_STRUCT_DEPTH = 6


@dataclass(frozen=True)
class Node:
    """A parsed answer. ``kind`` is one of the KIND_* names below; ``items`` its children."""

    kind: str
    items: tuple[object, ...] = ()
    text: str = ""  # brackets for a bracketed sequence, relation ops, the letter of a choice…


SCALAR, PERCENT, TEXT, CHOICE, LIST, SET, BRACKETS, UNION, MATRIX, RELATION = (
    "scalar", "percent", "text", "choice", "list", "set", "brackets", "union", "matrix", "relation",
)  # fmt: skip

UNICODE = {
    "−": "-", "–": "-", "—": "-", "×": r"\times ", "·": r"\cdot ", "÷": r"\div ", "π": r"\pi ",
    "√": r"\sqrt", "∞": r"\infty ", "≤": r"\le ", "≥": r"\ge ", "≠": r"\ne ", "°": r"^\circ ", "∪": r"\cup ",
    "±": r"\pm ", "∈": r"\in ", "²": "^2", "³": "^3", "⁄": "/", "θ": r"\theta ", "α": r"\alpha ",
    "β": r"\beta ", "ℝ": r"\mathbb{R}", "∅": r"\emptyset ", "∓": r"\mp ", "′": "'", "\u200b": "",
}  # fmt: skip
UNICODE_RE = re.compile("|".join(map(re.escape, UNICODE)))
CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
WRAPPER_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|textnormal|textup|textsf|mathrm|mathbf|mathit|mathsf|mbox|"
    r"operatorname|boxed|fbox|hbox|emph|mathbb)\s*\{([^{}]*)\}"
)
DROP_RE = re.compile(
    r"\\(?:left|right)\.|\\(?:displaystyle|textstyle|left|right|bigl|bigr|Bigl|Bigr|biggl|biggr|big|Big|bigg|limits|"
    r"nonumber|notag|mathstrut|phantom\{[^{}]*\}|hspace\*?\{[^{}]*\}|vspace\*?\{[^{}]*\})(?![a-zA-Z])"
)
SPACE_RE = re.compile(r"(?<!\\)\\[,;: ]|\\q?quad(?![a-zA-Z])|~")
RENAME = [
    (re.compile(r"\\[dtc]frac(?![a-zA-Z])"), r"\\frac"), (re.compile(r"\\[dt]binom(?![a-zA-Z])"), r"\\binom"),
    (re.compile(r"\\(?:leq|leqslant|leqq)(?![a-zA-Z])"), r"\\le"),
    (re.compile(r"\\(?:geq|geqslant|geqq)(?![a-zA-Z])"), r"\\ge"),
    (re.compile(r"\\(?:neq)(?![a-zA-Z])"), r"\\ne"), (re.compile(r"\\lt(?![a-zA-Z])"), "<"),
    (re.compile(r"\\gt(?![a-zA-Z])"), ">"), (re.compile(r"<="), r"\\le "), (re.compile(r">="), r"\\ge "), (re.compile(r"!="), r"\\ne "),
    (re.compile(r"\\(?:lvert|rvert|vert|mid)(?![a-zA-Z])"), "|"),
    (re.compile(r"\\(?:lbrace)(?![a-zA-Z])"), r"\\{"), (re.compile(r"\\(?:rbrace)(?![a-zA-Z])"), r"\\}"),
    (re.compile(r"\\(?:langle)(?![a-zA-Z])"), "("), (re.compile(r"\\(?:rangle)(?![a-zA-Z])"), ")"),
    (re.compile(r"\\(?:emptyset|varnothing)(?![a-zA-Z])"), r"\\{\\}"),
    (re.compile(r"\\mathbb\{R\}|\\R(?![a-zA-Z])|\\mathbb R(?![a-zA-Z])"), r"(-\\infty,\\infty)"),
    (re.compile(r"\\(?:dfrac|tfrac)"), r"\\frac"),
]  # fmt: skip
DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])|\bdegrees?\b")
TRIG_DEGREES_RE = re.compile(
    r"\\(sin|cos|tan|sec|csc|cot)\s*\(?\s*(\d+(?:\.\d+)?)\s*(?:\^\s*\{?\s*\\circ\s*\}?|°|\\degree)\s*\)?"
)
ALL_REALS_RE = re.compile(r"(?:\\text\{\s*)?\ball real numbers\b(?:\s*\})?", re.IGNORECASE)
SPACED_UNIT_RE = re.compile(r"^(-?[\d.,]+)\s+(?:m|s|g|h|l|L|K|N|J|W|V|A)$")
THOUSANDS_RE = re.compile(r"(?<![\d.])(\d{1,3})((?:,\d{3})+)(?![\d])")
THOUSANDS_MARK_RE = re.compile(r"(?<=\d)\s*(?:\{\s*,\s*\}|,\\!)\s*(?=\d{3}(?!\d))")
GROUPING_BRACE_RE = re.compile(r"(?:\\[a-zA-Z]+|[\^_}])\s*$")
REPEATING_RE = re.compile(r"(?<![\d.])(\d*)\.(\d*)\\overline\{(\d+)\}")
UNITS = (
    "cm|mm|km|inches|inch|in|feet|foot|ft|yards|yard|yd|miles|mile|mi|meters|meter|metres|units|unit|"
    "square|sq|cubic|dollars|dollar|cents|cent|hours|hour|hrs|hr|minutes|minute|mins|min|seconds|second|"
    "sec|days|day|weeks|week|months|month|years|year|pounds|lbs|lb|ounces|oz|kg|grams|gram|liters|"
    "litres|liter|ml|mph|kmh|km/h|m/s|cm\\^2|cm\\^3|m\\^2|m\\^3|ft\\^2|in\\^2|people|persons|students|"
    "times|ways|points|percent|rupees|euros|boxes|apples|marbles|books|pages|eggs|cookies|items|pieces"
)
UNIT_TAIL_RE = re.compile(
    rf"(?<=[\d}})])\s*(?:(?<![a-zA-Z])(?:{UNITS})\b\.?\s*)+(?:\^\s*\{{?[23]\}}?)?\s*$", re.IGNORECASE
)
WORDS_TAIL_RE = re.compile(r"(?<=[\d}])\s+(?:[a-zA-Z]{3,}\b\.?\s*){1,3}$")
MATH_WORDS = {"sin", "cos", "tan", "log", "exp", "sqrt", "frac", "pi", "and", "infinity", "inf", "or", "cot"}
CHOICE_RE = re.compile(r"^(?:(?i:option|choice|answer)\s*:?\s*)?(?:\((?P<a>[A-E])\)|(?P<b>[A-E])\)|(?P<c>[A-E]))[.:]?(?:\s+(?P<rest>.+))?$")
TEXT_RE = re.compile(r"^[A-Za-z][A-Za-z' -]*[A-Za-z]$")
SEPARATOR_RE = re.compile(r",|;|\\text\{\s*(?:or|and)\s*\}|\b(?:or|and)\b|\\quad|\\qquad")
REL_RE = re.compile(r"\\le(?![a-zA-Z])|\\ge(?![a-zA-Z])|\\ne(?![a-zA-Z])|\\in(?![a-zA-Z])|\\approx(?![a-zA-Z])|[<>=]")
RATIO_RE = re.compile(r"(?<![:\\]):(?![=:])")
FUNCTION_LHS_RE = re.compile(r"[a-zA-Z]\s*\(\s*[a-zA-Z](?:\s*,\s*[a-zA-Z])*\s*\)")
MATRIX_RE = re.compile(r"^\\begin\{([pbvBV]?matrix|array)\}(?:\{[^{}]*\})?(.*)\\end\{\1\}$", re.DOTALL)


def normalise(text: str) -> str:
    """One spelling for the many ways to write the same answer (see the module docstring)."""
    s = CONTROL_RE.sub("", undouble_backslashes(text))
    s = re.sub(r"(?<!\\)\\\s*$", "", s)  # "185\\": a stray trailing backslash
    s = UNICODE_RE.sub(lambda m: UNICODE[m.group(0)], s)
    s = unicodedata.normalize("NFKC", s)
    s = UNICODE_RE.sub(lambda m: UNICODE[m.group(0)], s)  # again, for what NFKC produced (½ -> 1⁄2)
    if not s.isascii():  # format characters (RTL marks, BOM) and combining marks are noise
        s = "".join(ch for ch in s if unicodedata.category(ch) not in ("Cf", "Mn", "Me"))
    s = s.replace("\\$", "").replace("$", "").replace("\\(", "").replace("\\)", "")
    s = s.replace("\\[", "").replace("\\]", "").replace("\\%", "%")
    s = THOUSANDS_MARK_RE.sub("", s)  # 14{,}916, 14 {, }916, 32,\! 349: an explicit thousands separator
    s = DROP_RE.sub("", s)
    s = SPACE_RE.sub(" ", s).replace("\\!", "")
    for pattern, repl in RENAME:
        s = pattern.sub(repl, s)
    s = TRIG_DEGREES_RE.sub(r"\\\1(\2\\pi/180)", s)  # \sin 30^\circ is the sine of pi/6
    s = DEGREE_RE.sub("", s)
    s = ALL_REALS_RE.sub(r"(-\\infty,\\infty)", s)
    s = _strip_text_units(s)
    for _ in range(8):  # unwrap \text{...} and friends, innermost first
        s, n = WRAPPER_RE.subn(lambda m: f" {m.group(1)} ", s)
        if not n:
            break
    s = re.sub(r"\^\s*\{\s*\}", "", s)
    s = _drop_thousands_commas(s)
    s = REPEATING_RE.sub(_repeating, s)
    s = re.sub(r"(\d)\s*[eE]\s*([+-]?\d+)(?![\d.])", r"\1\\times 10^{\2}", s)
    s = s.strip()
    s = UNIT_TAIL_RE.sub("", s)
    s = SPACED_UNIT_RE.sub(r"\1", s)  # "5 m": a one-letter unit only after a number and a space
    m = WORDS_TAIL_RE.search(s)
    if m and not set(m.group(0).lower().replace(".", " ").split()) & MATH_WORDS:
        s = s[: m.start()]
    s = re.sub(r"^(?:\\text\s*)?(?:x|y|z|k|n|a|b|c|t|[A-Za-z]\w{0,2})?\s*\\approx", "", s)
    s = s.strip().rstrip(".").strip()
    if re.fullmatch(r"-?\d{1,3}(?: \d{3})+", s):
        s = s.replace(" ", "")
    s = re.sub(r"^(-?\d+)\s+(\d+)\s*/\s*(\d+)$", r"\1\\frac{\2}{\3}", s)  # "3 1/2": a mixed number
    s = re.sub(r"(\d)_\{(\w+)\}", r"\1_\2", s)  # 1011_{2} -> 1011_2 (a numeral in a base)
    return s


def _drop_thousands_commas(s: str) -> str:
    """``7,425,000`` -> ``7425000``, but only outside brackets: ``(1,100)`` is a pair, ``[1,100]`` an
    interval and ``\\{1,100\\}`` a set, never the number 1100."""
    if "," not in s:
        return s
    depths = bracket_depths(s)
    return THOUSANDS_RE.sub(lambda m: m.group(0) if depths[m.start()] else m.group(1) + m.group(2).replace(",", ""), s)


def bracket_depths(s: str) -> list[int]:
    """The bracket depth at each index; a brace that groups a command's argument (``\\frac{…}``,
    ``^{…}``) does not count, a set's brace does."""
    depth, depths, grouping_braces = 0, [], []
    for i, ch in enumerate(s):
        depths.append(depth)
        if ch in "([":
            depth += 1
        elif ch == "{":
            grouping = bool(GROUPING_BRACE_RE.search(s[max(0, i - 30) : i])) and s[i - 1 : i] != "\\"
            grouping_braces.append(grouping)
            depth += 0 if grouping else 1
        elif ch in ")]":
            depth -= 1
        elif ch == "}":
            depth -= 0 if (grouping_braces.pop() if grouping_braces else True) else 1
    return depths


def _strip_text_units(s: str) -> str:
    r"""Drop a trailing ``\text{ cm}`` (any words) after something numeric; keep ``\text{(B)}``, ``or``."""
    m = re.search(r"\\(?:text|mbox|mathrm|textrm)\s*\{\s*([A-Za-z][A-Za-z .]*)\}\s*(\^\s*\{?[23]\}?)?\s*$", s)
    if m and m.group(1).strip() not in ("or", "and") and re.search(r"[\d}]\s*$", s[: m.start()]):
        return s[: m.start()]
    return s


def _repeating(m: re.Match[str]) -> str:
    """``0.\\overline{3}`` -> ``(1/3)``: whole.fixed(repeat) as an exact fraction."""
    whole, fixed, rep = m.group(1) or "0", m.group(2), m.group(3)
    num = int(whole + fixed + rep) - int(whole + fixed)
    den = (10 ** len(rep) - 1) * 10 ** len(fixed)
    return f"({num}/{den})"


def top_level_split(s: str, pattern: re.Pattern[str]) -> list[str]:
    """Split ``s`` at matches of ``pattern`` that are outside every bracket and brace."""
    step = [0] * (len(s) + 1)  # depth change at each index; environments count as brackets
    for m in re.finditer(r"\\begin(?![a-zA-Z])|\\end(?![a-zA-Z])", s):
        step[m.start()] += 1 if m.group(0) == "\\begin" else -1
    depth = [0] * (len(s) + 1)
    d = 0
    for i, ch in enumerate(s):
        d += step[i]
        depth[i] = d
        if ch in "([{":
            d += 1
        elif ch in ")]}":
            d -= 1
    parts, last = [], 0
    for m in pattern.finditer(s):
        if depth[m.start()] == 0 and m.end() > m.start():
            parts.append(s[last : m.start()])
            last = m.end()
    parts.append(s[last:])
    return parts


def matching_close(s: str, start: int) -> int:
    """Index of the bracket that closes the one at ``start`` (any of ([{ closes any of )]}); -1 if none."""
    d = 0
    for i in range(start, len(s)):
        if s[i] in "([{":
            d += 1
        elif s[i] in ")]}":
            d -= 1
            if d == 0:
                return i
    return -1


def parse_answer(text: str) -> Node:
    """Normalise and parse a bare final answer into a :class:`Node` (raises ParseError / Unsafe)."""
    if len(text) > 4 * MAX_ANSWER_CHARS:
        raise Unsafe("answer too long")
    s = normalise(text)
    if not s:
        raise ParseError("empty answer")
    if len(s) > MAX_ANSWER_CHARS:
        raise Unsafe("answer too long")
    return _structure(s, 0)


def _structure(s: str, depth: int) -> Node:
    s = s.strip().rstrip(".").strip()
    if depth > MAX_STRUCT_DEPTH:
        raise Unsafe("structure nested too deeply")
    if not s:
        raise ParseError("empty part")
    if (m := CHOICE_RE.match(s)) is not None:
        letter = m.group("a") or m.group("b") or m.group("c")
        rest = m.group("rest")
        if rest is None or m.group("c") is None:
            return Node(CHOICE, (_structure(rest, depth + 1),) if rest else (), letter)
    if TEXT_RE.match(s) and not set(re.findall(r"[a-zA-Z]+", s)) & (MATH_WORDS | {"i", "e"}):
        words = s.split()
        if len(words) > 1 or len(s) >= 3 or s.lower() == "no":
            return Node(TEXT, (), " ".join(w.lower() for w in words))
    if s.count("\\begin") > 1 and (product := _matrix_arithmetic(s)) is not None:
        return product
    if (m := MATRIX_RE.match(s)) is not None:
        return Node(MATRIX, _matrix_cells(m.group(2)))
    groups = top_level_split(s, re.compile(";"))
    if len(groups) > 1 and all(len(top_level_split(g, re.compile(","))) > 1 for g in groups):
        return Node(LIST, tuple(_structure(g, depth + 1) for g in groups if g.strip()))  # p=5,q=2;p=7,q=2
    parts = [p for p in top_level_split(s, SEPARATOR_RE)]
    if len(parts) > 1:
        parts = [p for p in parts if p.strip()]
        return Node(LIST, _flat_pm(tuple(_structure(p, depth + 1) for p in parts)))
    for sign in ("\\pm", "\\mp"):  # a ± b: the two answers a + b and a - b (outside brackets only)
        depths = bracket_depths(s) if sign in s else []
        at = next((m.start() for m in re.finditer(re.escape(sign) + "(?![a-zA-Z])", s) if not depths[m.start()]), -1)
        if at >= 0:
            plus, minus = ("+", "-") if sign == "\\pm" else ("-", "+")
            left, rest = s[:at], s[at + len(sign) :]
            both = (_structure(left + plus + rest, depth + 1), _structure(left + minus + rest, depth + 1))
            return Node(LIST, both, "pm")
    parts = top_level_split(s, re.compile(r"\\cup(?![a-zA-Z])|\bU\b"))
    if len(parts) > 1:
        return Node(UNION, tuple(_structure(p, depth + 1) for p in parts))
    rel_parts = top_level_split(s, REL_RE)
    if len(rel_parts) > 1:
        ops = [m.group(0) for m in REL_RE.finditer(s) if _depth_at(s, m.start()) == 0]
        if "\\approx" in ops and len(ops) == len(rel_parts) - 1:  # x = 1/3 \approx 0.33: the exact value counts
            j = ops.index("\\approx")
            if j > 0 or not re.fullmatch(r"[A-Za-z](?:_\{?\w+\}?)?", rel_parts[0].strip()):
                rel_parts, ops = rel_parts[: j + 1], ops[:j]
                if not ops:
                    return _structure(rel_parts[0], depth + 1)
        if len(ops) == len(rel_parts) - 1:
            first = FUNCTION_LHS_RE.fullmatch(rel_parts[0].strip())  # f(x) = ... names a function
            lhs = Node(SCALAR, (sympy.Symbol(first.group(0).replace(" ", "")),)) if first else None
            parts = [_structure(p, depth + 1) for p in (rel_parts[1:] if lhs else rel_parts)]
            return Node(RELATION, tuple([lhs, *parts] if lhs else parts), " ".join(ops))
    if s[0] == "{" and s[-1] == "}" and matching_close(s, 0) == len(s) - 1:  # {a, b} is a set too
        s = "\\{" + s[1:-1] + "\\}" if top_level_split(s[1:-1], re.compile(","))[1:] else s[1:-1]
        return _structure(s, depth + 1)
    if s.startswith("\\{") and s.endswith("\\}"):
        inner = s[2:-2].strip()
        items = [p for p in top_level_split(inner, re.compile(r",|;")) if p.strip()] if inner else []
        return Node(SET, _flat_pm(tuple(_structure(p, depth + 1) for p in items)))
    if s[0] in "([" and s[-1] in ")]" and matching_close(s, 0) == len(s) - 1:
        items = top_level_split(s[1:-1], re.compile(r",|;"))
        if len(items) > 1:
            return Node(BRACKETS, tuple(_structure(p, depth + 1) for p in items), s[0] + s[-1])
        if (s[0] == "(" and s[-1] == ")") or s[1:].lstrip().startswith("\\begin"):  # [\begin{array}…]
            return _structure(s[1:-1], depth + 1)
    ratio = top_level_split(s, RATIO_RE)
    if len(ratio) > 1:  # 7:32, A:B (ordered, never reduced: 12:00 is not 1:00)
        return Node(BRACKETS, tuple(_structure(p, depth + 1) for p in ratio), ":")
    if s.endswith("%"):
        return Node(PERCENT, (_scalar(s[:-1]),))
    return Node(SCALAR, (_scalar(s),))


def _matrix_cells(body: str) -> tuple[tuple[sympy.Expr, ...], ...]:
    rows = [r for r in re.split(r"\\\\", body) if r.strip() and not r.strip().startswith("\\hline")]
    cells = tuple(tuple(_scalar(c) for c in row.split("&")) for row in rows)
    if not cells or len({len(r) for r in cells}) != 1:
        raise ParseError("ragged matrix")
    return cells


def _matrix_arithmetic(s: str) -> Node | None:
    """``A + B``, ``A - B``, ``A B``, ``A \\cdot B`` of written-out matrices (at most 8 x 8), as one matrix."""
    pieces = re.split(r"(\\begin\{[pbvBV]?matrix\}.*?\\end\{[pbvBV]?matrix\})", s, flags=re.DOTALL)
    ops, matrices = pieces[2:-1:2], pieces[1::2]
    if pieces[0].strip() or pieces[-1].strip() or not all(re.fullmatch(r"\s*(?:[+-]|\\cdot|\\times)?\s*", o) for o in ops):
        return None
    values = []
    for text in matrices:
        m = MATRIX_RE.match(text)
        if m is None:
            return None
        cells = _matrix_cells(m.group(2))
        if len(cells) > 8 or len(cells[0]) > 8:
            raise Unsafe("matrix too large")
        values.append(sympy.Matrix(cells))
    result = values[0]
    try:
        for op, value in zip(ops, values[1:]):
            op = op.strip()
            result = result + value if op == "+" else result - value if op == "-" else result * value
    except sympy.ShapeError:
        raise ParseError("matrix shapes do not match") from None
    return Node(MATRIX, tuple(tuple(result.row(i)) for i in range(result.rows)))


def _flat_pm(items: tuple[Node, ...]) -> tuple[Node, ...]:
    """``\\{1 \\pm \\sqrt{5}, -2\\}``: the two answers of a ± item are two items of the set or list."""
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if item.kind == LIST and item.text == "pm" else (item,))  # type: ignore[arg-type]
    return tuple(flat)


def _depth_at(s: str, index: int) -> int:
    d = 0
    for ch in s[:index]:
        if ch in "([{":
            d += 1
        elif ch in ")]}":
            d -= 1
    return d


def _scalar(s: str) -> sympy.Expr:
    s = s.strip()
    if not s:
        raise ParseError("empty expression")
    if "%" in s:
        raise ParseError("stray percent sign")
    return parse_expr(s)
