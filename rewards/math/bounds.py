"""Safe builders for the expression parser: numbers, powers, functions and factorials that refuse to grow.

A reward must refuse ``10^{10^{10}}`` or ``100000!`` rather than compute it: each builder estimates the
size of its result first and raises :class:`Unsafe` past :data:`MAX_DIGITS` digits. The parser
(:mod:`rewards.math.expr`) builds every number, power and function call through these.
"""

from __future__ import annotations

import math

import sympy

MAX_DIGITS = 5000
MAX_LITERAL = 1000


class ParseError(ValueError):
    """The text is not an expression this parser understands."""


class Undefined(ParseError):
    """The text is an expression with no value (a division by zero)."""


class Unsafe(ValueError):
    """The expression is too large or too deep to build safely."""


def _digits(x: sympy.Rational) -> float:
    """Approximate number of decimal digits of a rational's numerator and denominator."""
    p, q = abs(int(x.p)), int(x.q)
    return max(len(str(p)) if p < 10**50 else p.bit_length() * 0.302, q.bit_length() * 0.302)


def safe_pow(base: sympy.Expr, exp: sympy.Expr) -> sympy.Expr:
    """``base**exp``, refusing numeric results beyond MAX_DIGITS digits and huge symbolic exponents."""
    if exp.is_Rational and abs(exp) > 10**6:
        if not (base.is_Number and base in (0, 1, -1)):
            raise Unsafe("exponent too large")
    if base.is_Rational and exp.is_Rational and base not in (0, 1, -1):
        size = max(1.0, _digits(base)) * abs(float(exp.p))  # exp = p/q: the q-th root is no bigger
        if size > MAX_DIGITS:
            raise Unsafe("power too large")
    if base.is_number and exp.is_number and not (base.is_Rational and exp.is_Rational):
        # e^{e^{e^e}}, 2^{\pi \cdot 10^9}: estimate the size of the result from its parts' magnitudes
        b, e = magnitude(base), magnitude(exp)
        if b > 0 and e * abs(math.log10(b)) > MAX_DIGITS:
            raise Unsafe("power too large")
    return sympy.Pow(base, exp)


def magnitude(x: sympy.Expr) -> float:
    """``|x|`` as a float (15 digits); Unsafe when it cannot be had or overflows a float."""
    try:
        value = float(sympy.Abs(x).evalf(15))
    except (TypeError, ValueError, OverflowError, ZeroDivisionError):
        raise Unsafe("cannot size a number") from None
    if not math.isfinite(value):
        raise Unsafe("number too large")
    return value


def safe_function(name: str, fn: object, arg: sympy.Expr) -> sympy.Expr:
    """``fn(arg)``, refusing ``exp`` of arguments whose value has more than MAX_DIGITS digits, and
    trigonometric functions of astronomically large arguments (they need that many digits of pi)."""
    if arg.is_number and not arg.is_Rational or (arg.is_Rational and abs(arg) > 10**6):
        size = magnitude(arg)
        if name in ("exp", "sinh", "cosh", "tanh") and size > MAX_DIGITS * 2.3:
            raise Unsafe("exponential too large")
        if size > 10**50:
            raise Unsafe("argument too large")
    return fn(arg)  # type: ignore[operator, no-any-return]


def safe_factorial(n: sympy.Expr) -> sympy.Expr:
    """``n!``, refusing numeric arguments above 3000 (9131 digits: 2004! is a contest answer)."""
    if n.is_number and (not n.is_Integer or n > 3000):
        if n.is_Integer or not n.is_real:
            raise Unsafe("factorial too large")
        raise Unsafe("factorial of a non-integer")
    return sympy.factorial(n)


def safe_binomial(n: sympy.Expr, k: sympy.Expr) -> sympy.Expr:
    """``binom(n, k)``, refusing numeric n above 10000."""
    if n.is_number and (not n.is_Integer or abs(n) > 10000):
        raise Unsafe("binomial too large")
    return sympy.binomial(n, k)


def number(text: str) -> sympy.Rational:
    """An exact rational from a decimal literal (``"0.50"`` -> 1/2); at most MAX_LITERAL digits."""
    if len(text) > MAX_LITERAL:
        raise Unsafe("number too long")
    whole, _, frac = text.partition(".")
    return sympy.Rational(int(whole or "0") * 10 ** len(frac) + int(frac or "0"), 10 ** len(frac))
