"""Are two parsed final answers the same mathematical object? Exact by default.

:func:`equivalent` parses both answers with :mod:`rewards.math.latex` and compares the trees
(values through :mod:`rewards.math.compare`):

* numbers exactly, closed forms at 110 digits, expressions by identity testing (see compare);
* equations as proportional ``lhs - rhs``; assignments (``x = 5``) by their value, and a gold written
  ``name = value`` whose name is not a plain variable (``AB = 4``, ``|AB| = 1``, ``A:B = 1``) too;
  several assignments by name when both sides name them, else in the written order
  (``x = -5, p = 14/3`` is ``(-5, 14/3)``, never ``(14/3, -5)``);
* chains of relations side by side (``x < y < z``; read backwards with the relations flipped);
  inequalities in one quantity and intervals as sets (``x > 3`` = ``(3, \\infty)``; never ``y > 3``),
  unions order-free;
* sets and lists of answers order-free, tuples/points, ratios (``7:32``) and matrices ordered,
  multiple-choice letters, percentages (``50\\%`` = ``50`` = ``0.5``), plain words case-insensitively.

It runs in a worker process (see :mod:`rewards.math`), so it may be slow on hostile input: the caller
kills it at a deadline. Every failure to parse or compare means "not equivalent".
"""

from __future__ import annotations

import re

import sympy

from rewards.math.compare import (
    all_scalar,
    as_set,
    difference,
    expr_equal,
    inequality,
    is_name,
    proportional,
    relation_var,
    sets_equal,
)  # fmt: skip
from rewards.math.expr import Undefined
from rewards.math.latex import (
    BRACKETS,
    CHOICE,
    LIST,
    MATRIX,
    PERCENT,
    RELATION,
    SCALAR,
    SET,
    TEXT,
    UNION,
    Node,
    normalise,
    parse_answer,
)  # fmt: skip

ASSIGN = "assign"  # x = -5, p = 14/3: values in the written order, names in ``text`` (made by _simplify)
TEX_PROGRAM = re.compile(r"\\(?:def|input|include|newcommand|renewcommand|let|write|csname|catcode|loop|edef|gdef)")
NUMBER_WORDS = {
    w: k for k, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}


def equivalent(pred: str, gold: str) -> bool:
    """True when the bare answers ``pred`` and ``gold`` denote the same mathematical object."""
    if not isinstance(pred, str) or not isinstance(gold, str) or not pred.strip() or not gold.strip():
        return False
    try:
        gold_node = parse_answer(gold)
        pred_node = parse_answer(pred)
    except Undefined:
        return False
    except Exception:  # noqa: BLE001 - ParseError, Unsafe, RecursionError, or a sympy error: not math we read
        return _same_text(pred, gold)
    try:
        return _equal(pred_node, gold_node)
    except Exception:  # noqa: BLE001 - any failure to compare means "not shown equal"
        return False


def warm() -> None:
    """Exercise the parser and evaluator once (the worker zygote calls this before forking)."""
    equivalent(r"\frac{\sqrt{3}}{2} + x^2", r"x \cdot x + \sin(\pi/3)")
    equivalent("(1, 2]", "1 < x <= 2")


def parses(gold: str) -> bool:
    """Whether a gold answer can be read at all (``math.accuracy`` scores ``None`` when it cannot)."""
    try:
        parse_answer(gold)
        return True
    except Exception:  # noqa: BLE001 - any failure means "cannot verify"
        return bool(gold.strip()) and _well_formed(normalise(gold))


def _same_text(pred: str, gold: str) -> bool:
    """Fallback for answers the parser cannot read: equal normalised text, if it is well formed."""
    if len(pred) > 5000 or len(gold) > 5000:  # never a final answer
        return False
    try:
        a, b = normalise(pred), normalise(gold)
    except (RecursionError, ValueError):
        return False
    return bool(a) and a == b and _well_formed(a)


def _well_formed(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += 1 if ch in "([{" else -1 if ch in ")]}" else 0
        if depth < 0:
            return False
    return depth == 0 and len(s) <= 5000 and bool(re.search(r"[A-Za-z0-9]", s)) and not TEX_PROGRAM.search(s)


# -- node comparison --------------------------------------------------------------------------------


def _equal(p: Node, g: Node) -> bool:
    p, g = _simplify(p), _simplify(g)
    if p.kind == ASSIGN or g.kind == ASSIGN:
        return _assignments_equal(p, g)
    if p.kind == CHOICE or g.kind == CHOICE:
        return _choice_equal(p, g)
    if p.kind == RELATION or g.kind == RELATION:
        return _relation_equal(p, g)
    if p.kind in (UNION, LIST) or g.kind in (UNION, LIST):
        ps, gs = as_set(p), as_set(g)
        if ps is not None and gs is not None and (p.kind == UNION or g.kind == UNION):
            return sets_equal(ps, gs)
    if p.kind in (SCALAR, PERCENT) and g.kind in (SCALAR, PERCENT):
        return _scalar_equal(p, g)
    if p.kind == TEXT or g.kind == TEXT:
        if p.kind == g.kind:
            return p.text == g.text
        text, other = (p, g) if p.kind == TEXT else (g, p)  # "five" against 5
        return text.text in NUMBER_WORDS and other.kind == SCALAR and other.items[0] == NUMBER_WORDS[text.text]
    ordered = {BRACKETS, MATRIX}
    if p.kind == g.kind == BRACKETS:
        return p.text == g.text and _ordered_equal(p.items, g.items)
    if p.kind == g.kind == MATRIX:
        return len(p.items) == len(g.items) and all(
            len(a) == len(b) and all(expr_equal(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
            for a, b in zip(p.items, g.items)
        )
    if p.kind in ordered or g.kind in ordered:  # a point vs a vector vs a bare list: compare in order
        pv, gv = _vector(p), _vector(g)
        return pv is not None and gv is not None and _ordered_equal(pv, gv)
    if p.kind in (SET, LIST, UNION) and g.kind in (SET, LIST, UNION):
        return _unordered_equal(_distinct(p), _distinct(g))
    return False


def _simplify(n: Node) -> Node:
    """Unwrap one-item lists/sets; turn a list of assignments to distinct variables into a point."""
    if n.kind in (LIST, SET, UNION) and len(n.items) == 1:
        return _simplify(n.items[0])  # type: ignore[arg-type]
    if n.kind == LIST:
        pairs = [_assignment(i) for i in n.items]  # type: ignore[arg-type]
        if all(pairs):
            names = [p[0] for p in pairs]  # type: ignore[index]
            if len(set(names)) == len(names) and len(names) > 1:  # x = -5, p = 14/3: in the written order
                return Node(ASSIGN, tuple(p[1] for p in pairs), "\n".join(names))  # type: ignore[index, misc]
            return Node(LIST, tuple(p[1] for p in pairs))  # type: ignore[index]
    return n


def _assignment(n: Node) -> tuple[str, Node] | None:
    """``x = 5`` -> ("x", 5); ``x \\in [1, 2]`` -> ("x", [1, 2]); otherwise None."""
    if n.kind != RELATION or not n.text or set(n.text.split()) - {"=", "\\in", "\\approx"}:
        return None
    lhs = n.items[0]
    if len(n.text.split()) > 1 and "\\in" in n.text:
        return None
    if isinstance(lhs, Node) and lhs.kind == SCALAR and is_name(lhs.items[0]):  # type: ignore[arg-type]
        return str(lhs.items[0]), n.items[-1]  # type: ignore[return-value]
    if isinstance(lhs, Node) and lhs.kind == BRACKETS and lhs.text == ":" and all(
        isinstance(i, Node) and ((i.kind == SCALAR and is_name(i.items[0])) or (i.kind == CHOICE and not i.items))  # type: ignore[arg-type]
        for i in lhs.items
    ):  # V_1:V_2 = 11:21, A:B = 1
        names = (str(i.items[0]) if i.kind == SCALAR else i.text for i in lhs.items)  # type: ignore[union-attr]
        return ":".join(names), n.items[-1]  # type: ignore[return-value]
    if isinstance(lhs, Node) and lhs.kind == CHOICE and not lhs.items:  # D = (0, 1): a capital name
        return lhs.text, n.items[-1]  # type: ignore[return-value]
    if isinstance(lhs, Node) and lhs.kind == BRACKETS and all(
        isinstance(i, Node) and i.kind == SCALAR and isinstance(i.items[0], sympy.Symbol) for i in lhs.items
    ):  # (x, y) = (1, 2)
        return "(" + ",".join(str(i.items[0]) for i in lhs.items) + ")", n.items[-1]  # type: ignore[union-attr, return-value]
    return None


def _assignments_equal(p: Node, g: Node) -> bool:
    """``x = -5, p = 14/3`` against the same assignments in any order (by name), or against bare
    values in the written order (``-5, 14/3``); never against other names."""
    if p.kind == g.kind == ASSIGN:
        pn, gn = p.text.split("\n"), g.text.split("\n")
        if sorted(pn) != sorted(gn):
            return False
        values = dict(zip(pn, p.items))
        return all(_item_equal(values[name], item) for name, item in zip(gn, g.items))
    assign, other = (p, g) if p.kind == ASSIGN else (g, p)
    values = _vector(other) if other.kind in (BRACKETS, MATRIX, LIST) else None
    return values is not None and _ordered_equal(assign.items, values)


def _choice_equal(p: Node, g: Node) -> bool:
    if p.kind == CHOICE and g.kind == CHOICE:
        return p.text == g.text
    choice, other = (p, g) if p.kind == CHOICE else (g, p)
    if other.kind == SCALAR and other.items[0] == sympy.Symbol(choice.text):
        return True
    return bool(choice.items) and _equal(choice.items[0], other)  # type: ignore[arg-type]


def _relation_equal(p: Node, g: Node) -> bool:
    if p.kind == g.kind == RELATION and _same_relation(p, g):
        return True
    pa, ga = _assignment(p), _assignment(g)
    if pa and ga:  # x = 5 against y = 5 is a different claim; f(x) = ... against y = ... is not
        plain = re.compile(r"[a-zA-Z](?:_\w+)?")
        if pa[0] != ga[0] and plain.fullmatch(pa[0]) and plain.fullmatch(ga[0]):
            return False
        return _equal(pa[1], ga[1])
    if pa and g.kind != RELATION:
        return _equal(pa[1], g)
    if ga and p.kind != RELATION:
        return _equal(p, ga[1])
    if p.kind != RELATION or g.kind != RELATION:  # "2 + 3 = 5" against "5": the last value counts
        rel, other = (p, g) if p.kind == RELATION else (g, p)
        if rel is p and set(rel.text.split()) <= {"=", "\\approx"} and _states_value(rel):
            return _equal(rel.items[-1], other)  # type: ignore[arg-type]
        ps, gs = as_set(p), as_set(g)
        return ps is not None and gs is not None and sets_equal(ps, gs)
    if p.text == g.text == "=" and all_scalar(p) and all_scalar(g):
        return proportional(difference(p), difference(g), positive=False)
    ps, gs = as_set(p), as_set(g)
    if ps is not None and gs is not None:  # x > 3 is not y > 3
        return relation_var(p) == relation_var(g) and sets_equal(ps, gs)
    pn, gn = inequality(p), inequality(g)
    return pn is not None and gn is not None and pn[1] == gn[1] and proportional(pn[0], gn[0], positive=True)


def _states_value(rel: Node) -> bool:
    """``2 + 3 = 5``, ``x = y = 5``, ``AB = 4``: every side but the last is a number or a name, so the last
    side is the value stated (``2x = 6`` states x = 3, not 6; ``x + y = 5`` is an equation)."""
    return all(
        i is None or (isinstance(i, Node) and i.kind == SCALAR and (not i.items[0].free_symbols or is_name(i.items[0])))  # type: ignore[union-attr]
        for i in rel.items[:-1]
    )


FLIPPED = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le", "=": "=", "\\ne": "\\ne"}


def _same_relation(p: Node, g: Node) -> bool:
    """The same chain of relations between equal sides, as written or read backwards (``x < y < z``,
    ``f(2) < f(1) < f(4)``, ``x \\ne 3`` = ``3 \\ne x``)."""
    if len(p.items) != len(g.items) or any(i is None for i in p.items + g.items):
        return False
    if p.text == g.text and _ordered_equal(p.items, g.items):
        return True
    ops = g.text.split()
    flipped = " ".join(FLIPPED.get(op, "?") for op in reversed(ops))
    return p.text == flipped and _ordered_equal(p.items, tuple(reversed(g.items)))


def _distinct(n: Node) -> tuple[object, ...]:
    """A set's elements without repeats ({1, 1, 2} = {1, 2}); so for a list of solution tuples (a pair
    written twice is the same solution); a list of numbers keeps its multiplicities (roots: 1, 1, 2)."""
    tuples = n.kind == LIST and all(isinstance(i, Node) and i.kind == BRACKETS and i.text == "()" for i in n.items)
    if n.kind != SET and not tuples:
        return n.items
    kept: list[object] = []
    for item in n.items:
        if not any(_item_equal(item, k) for k in kept):
            kept.append(item)
    return tuple(kept)


def _vector(n: Node) -> tuple[object, ...] | None:
    if n.kind == MATRIX:
        rows = n.items
        if len(rows) == 1:
            return rows[0]  # type: ignore[return-value]
        if all(len(r) == 1 for r in rows):  # type: ignore[arg-type]
            return tuple(r[0] for r in rows)  # type: ignore[index]
        return None
    if n.kind == BRACKETS and n.text in ("()", "[]"):
        return n.items
    if n.kind == LIST:
        return n.items
    return None


def _item_equal(a: object, b: object) -> bool:
    if isinstance(a, Node) and isinstance(b, Node):
        return _equal(a, b)
    if isinstance(a, Node) and a.kind == SCALAR:
        a = a.items[0]
    if isinstance(b, Node) and b.kind == SCALAR:
        b = b.items[0]
    return isinstance(a, sympy.Basic) and isinstance(b, sympy.Basic) and expr_equal(a, b)  # type: ignore[arg-type]


def _ordered_equal(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    return len(a) == len(b) and all(_item_equal(x, y) for x, y in zip(a, b))


def _unordered_equal(a: tuple[object, ...], b: tuple[object, ...]) -> bool:
    """Same items in any order (a perfect matching; greedy is exact because equality is transitive)."""
    if len(a) != len(b):
        return False
    left = list(b)
    for x in a:
        for k, y in enumerate(left):
            if _item_equal(x, y):
                del left[k]
                break
        else:
            return False
    return True


def _scalar_equal(p: Node, g: Node) -> bool:
    a, b = p.items[0], g.items[0]
    if expr_equal(a, b):  # type: ignore[arg-type]
        return True
    if p.kind != g.kind:  # 50% against 0.5 (and 0.5 against 50%)
        pa = a / 100 if p.kind == PERCENT else a  # type: ignore[operator]
        gb = b / 100 if g.kind == PERCENT else b  # type: ignore[operator]
        return expr_equal(pa, gb)
    return False


# -- expression comparison ----------------------------------------------------------------------------

