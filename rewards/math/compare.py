"""Compare sympy values exactly: expressions, intervals, and one-variable relations read as sets.

* :func:`expr_equal`: rationals exactly; other closed forms (radicals, pi, e, complex numbers) by a
  110-digit evaluation with a 1e-90 relative tolerance, which no two different answers of a contest
  pass; expressions by identical free symbols and equal values at fixed sample points.
* :func:`as_set`: intervals, unions and one-variable inequalities (``x > 3``, ``0 < f(x) < 1``) as
  sympy sets; :func:`relation_var` names the quantity, so that ``x > 3`` is never ``y > 3``.
* :func:`proportional`: equations and inequalities as multiples of each other.

Used by :mod:`rewards.math.equivalence` (in the worker processes); sympy only, no I/O.
"""

from __future__ import annotations

import sympy

from rewards.math.latex import BRACKETS, LIST, RELATION, SCALAR, UNION, Node

NUM_DIGITS = 110
NUM_TOL = sympy.Rational(1, 10**90)
SYM_DIGITS = 40
SYM_TOL = sympy.Rational(1, 10**25)
INEQUALITY = {"<", ">", "\\le", "\\ge"}
SAMPLE_POINTS = (
    (sympy.Rational(7, 5), sympy.Rational(13, 11), sympy.Rational(3, 7), sympy.Rational(29, 13)),
    (sympy.Rational(5, 3), sympy.Rational(2, 9), sympy.Rational(17, 6), sympy.Rational(11, 17)),
    (sympy.Rational(31, 23), sympy.Rational(19, 7), sympy.Rational(6, 5), sympy.Rational(41, 37)),
    (-sympy.Rational(4, 3), sympy.Rational(9, 4), -sympy.Rational(23, 19), sympy.Rational(8, 3)),
)  # the last point has negative values: |x| is not x, sqrt(x^2) is not x


def is_name(e: object) -> bool:
    """``x``, ``AB``, ``|AB|``, ``NO/BO``, ``y_1``: a quantity's name (symbols only, no numbers, no sums)."""
    if isinstance(e, sympy.Symbol):
        return True
    if isinstance(e, sympy.Abs):
        return is_name(e.args[0])
    if isinstance(e, sympy.Mul):
        return all(is_name(a) for a in e.args)
    if isinstance(e, sympy.Pow):
        return e.exp == -1 and is_name(e.base)
    return False

def relation_var(n: Node) -> str | None:
    """The one quantity a one-variable relation speaks of (``x`` in ``x \\in [1, 2]``; ``|z|`` is not ``z``:
    for a complex z, ``|z| < 1`` is a disc, not an interval)."""
    if n.kind != RELATION:
        return None
    named = [i.items[0] for i in n.items if isinstance(i, Node) and i.kind == SCALAR and i.items[0].free_symbols]  # type: ignore[union-attr]
    if len(named) != 1:
        return None
    return str(named[0])


def all_scalar(n: Node) -> bool:
    return all(isinstance(i, Node) and i.kind == SCALAR for i in n.items)


def difference(n: Node) -> sympy.Expr:
    return n.items[0].items[0] - n.items[1].items[0]  # type: ignore[union-attr]


def inequality(n: Node) -> tuple[sympy.Expr, bool] | None:
    """``a < b`` as (b - a, strict) meaning "b - a > 0" (or ">= 0" when not strict); two sides only."""
    if len(n.items) != 2 or n.text not in INEQUALITY or not all_scalar(n):
        return None
    diff = difference(n)
    return (-diff if n.text in ("<", "\\le") else diff), n.text in ("<", ">")


def as_set(n: Node) -> sympy.Set | None:
    """Intervals, unions, and one-variable inequalities as sympy sets (None when not such a thing)."""
    try:
        if n.kind == BRACKETS and len(n.items) == 2 and all_scalar(n) and n.text in ("()", "[]", "(]", "[)"):
            a, b = (i.items[0] for i in n.items)  # type: ignore[union-attr]
            if not (a.is_extended_real and b.is_extended_real) or not bool(a < b):
                return None
            return sympy.Interval(a, b, n.text[0] == "(", n.text[1] == ")")
        if n.kind in (UNION, LIST) and n.items:
            parts = [as_set(i) for i in n.items]  # type: ignore[arg-type]
            if n.kind == LIST and not all(i.kind == RELATION for i in n.items):  # type: ignore[union-attr]
                return None
            return sympy.Union(*parts) if all(p is not None for p in parts) else None
        if n.kind == RELATION:
            return relation_set(n)
    except (TypeError, ValueError):
        return None
    return None


def relation_set(n: Node) -> sympy.Set | None:
    ops = n.text.split()
    if ops == ["\\in"]:
        return as_set(n.items[1])  # type: ignore[arg-type]
    if not set(ops) <= INEQUALITY or not all_scalar(n):
        return None
    values = [i.items[0] for i in n.items]  # type: ignore[union-attr]
    symbols = [k for k, v in enumerate(values) if v.free_symbols]
    if len(symbols) != 1 or not is_name(values[symbols[0]]):  # x, f(x): one quantity, bounded
        return None
    k = symbols[0]
    result: sympy.Set = sympy.Interval(-sympy.oo, sympy.oo)
    for j, op in enumerate(ops):
        left, right = values[j], values[j + 1]
        if j + 1 == k:  # bound <op> x
            bound, lower = left, op in ("<", "\\le")
        elif j == k:  # x <op> bound
            bound, lower = right, op in (">", "\\ge")
        else:
            return None
        strict = op in ("<", ">")
        part = sympy.Interval(bound, sympy.oo, strict, True) if lower else sympy.Interval(-sympy.oo, bound, True, strict)
        result = result.intersect(part)
    return result


def sets_equal(a: sympy.Set, b: sympy.Set) -> bool:
    if a == b:
        return True
    ai = list(a.args) if isinstance(a, sympy.Union) else [a]
    bi = list(b.args) if isinstance(b, sympy.Union) else [b]
    if len(ai) != len(bi) or not all(isinstance(x, sympy.Interval) for x in ai + bi):
        return False
    key = lambda i: float(i.start) if i.start.is_finite else -1e308  # noqa: E731
    return all(
        x.left_open == y.left_open and x.right_open == y.right_open
        and expr_equal(x.start, y.start) and expr_equal(x.end, y.end)
        for x, y in zip(sorted(ai, key=key), sorted(bi, key=key))
    )  # fmt: skip

def expr_equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    if a == b:
        return True
    if not isinstance(a, sympy.Expr) or not isinstance(b, sympy.Expr):
        return False
    if a.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan) or b.has(sympy.oo, -sympy.oo, sympy.zoo, sympy.nan):
        return False
    if a.has(sympy.Sum, sympy.Product) or b.has(sympy.Sum, sympy.Product):
        return False  # unevaluated sums compare only as written (above): sampling them is not bounded
    symbols = a.free_symbols | b.free_symbols
    if not symbols:
        if a.is_Rational and b.is_Rational:
            return False  # exact and already compared
        return close(a.evalf(NUM_DIGITS), b.evalf(NUM_DIGITS), NUM_TOL)
    if a.free_symbols != b.free_symbols and (a.free_symbols and b.free_symbols):
        return False
    return agree_at_points(a - b, symbols, b)


def close(va: sympy.Expr, vb: sympy.Expr, tol: sympy.Rational) -> bool:
    if not (va.is_number and vb.is_number) or va.has(sympy.zoo, sympy.nan, sympy.oo):
        return False
    scale = max(abs(va), abs(vb), 1)
    return bool(abs(va - vb) <= tol * scale)


def agree_at_points(diff: sympy.Expr, symbols: set[sympy.Symbol], ref: sympy.Expr) -> bool:
    """``diff`` vanishes at every usable sample point (at least two), relative to ``ref``'s size."""
    names = sorted(symbols, key=str)
    used = 0
    for point in SAMPLE_POINTS:
        subs = {s: point[k % len(point)] + k // len(point) for k, s in enumerate(names)}
        d = diff.evalf(SYM_DIGITS, subs=subs)
        r = ref.evalf(SYM_DIGITS, subs=subs)
        if not (d.is_number and r.is_number) or d.has(sympy.zoo, sympy.nan) or r.has(sympy.zoo, sympy.nan):
            continue
        if not bool(abs(d) <= SYM_TOL * max(abs(r), 1)):
            return False
        used += 1
    return used >= 2


def proportional(f: sympy.Expr, g: sympy.Expr, positive: bool) -> bool:
    """``f = c * g`` for a constant ``c`` (nonzero; positive when comparing inequalities)."""
    symbols = f.free_symbols | g.free_symbols
    if not symbols:
        return False
    names = sorted(symbols, key=str)
    ratios = []
    for point in SAMPLE_POINTS:
        subs = {s: point[k % len(point)] + k // len(point) for k, s in enumerate(names)}
        fv, gv = f.evalf(SYM_DIGITS, subs=subs), g.evalf(SYM_DIGITS, subs=subs)
        if not (fv.is_number and gv.is_number) or abs(gv) < SYM_TOL:
            continue
        ratios.append(fv / gv)
    if len(ratios) < 2 or abs(ratios[0]) < SYM_TOL or (positive and not ratios[0].is_extended_positive):
        return False
    return all(close(r, ratios[0], SYM_TOL) for r in ratios[1:])
