"""A small, bounded LaTeX-to-sympy expression parser for final answers.

Why our own: sympy's ``parse_latex`` needs antlr4 (not a dependency) and builds whatever it is given;
a reward must refuse ``10^{10^{10}}`` or ``100000!`` instead of computing it. This parser reads one
*expression* (no commas, relations or sets: :mod:`rewards.math.latex` splits those first) and builds a
sympy expression with exact numbers: ``0.5`` becomes ``1/2``, never a float.

Bounds: nesting deeper than :data:`MAX_DEPTH` or more than :data:`MAX_TOKENS` tokens, and (through the
builders of :mod:`rewards.math.bounds`) a number, power or factorial with more than
:data:`~rewards.math.bounds.MAX_DIGITS` digits, all raise :class:`Unsafe`; anything it does not
understand raises :class:`ParseError`. Both mean "cannot compare symbolically". ``\\sum`` / ``\\prod``
with numeric bounds are summed when short, else kept unevaluated (compared only as written).

Use: ``parse_expr(r"\\frac{1}{2}\\sqrt{3} + 2x")`` -> ``sqrt(3)/2 + 2*x``.
"""

from __future__ import annotations

import re

import sympy

from rewards.math.bounds import (
    ParseError,
    Undefined,
    Unsafe,
    number,
    safe_binomial,
    safe_factorial,
    safe_function,
    safe_pow,
)  # fmt: skip

MAX_DEPTH = 60
MAX_TOKENS = 600


TOKEN_RE = re.compile(r"\s*(?:(\d+(?:\.\d*)?|\.\d+)|(\\[a-zA-Z]+|\\.)|([a-zA-Z]+)|(\S))")

FUNCTIONS = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot, "sec": sympy.sec,
    "csc": sympy.csc, "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan,
    "sinh": sympy.sinh, "cosh": sympy.cosh, "tanh": sympy.tanh, "exp": sympy.exp, "ln": sympy.log,
    "log": sympy.log, "lg": lambda x: sympy.log(x, 10), "det": None,
}  # fmt: skip
GREEK = {
    "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta", "vartheta",
    "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau", "upsilon", "phi", "varphi",
    "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Sigma", "Phi", "Psi", "Omega",
}  # fmt: skip
CONSTANTS = {"pi": sympy.pi, "infty": sympy.oo, "infinity": sympy.oo, "inf": sympy.oo, "oo": sympy.oo, "imath": sympy.I}
WORDS = set(FUNCTIONS) | {"pi", "infty", "infinity", "inf", "oo", "sqrt", "frac"}


def tokenize(text: str) -> list[tuple[str, str]]:
    """Split into (kind, text) tokens: num, cmd (``\\frac``), id (one letter or a known word), op."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = TOKEN_RE.match(text, pos)
        if m is None:  # only trailing white space is left
            break
        pos = m.end()
        num, cmd, word, op = m.groups()
        if num is not None:
            tokens.append(("num", num))
        elif cmd is not None:
            tokens.append(("cmd", cmd[1:]))
        elif word is not None:
            if word in WORDS:
                tokens.append(("cmd", word))
            else:
                tokens.extend(("id", ch) for ch in word)
        else:
            tokens.append(("op", op))
        if len(tokens) > MAX_TOKENS:
            raise Unsafe("expression too long")
    return tokens


def parse_expr(text: str) -> sympy.Expr:
    """Parse one LaTeX expression into an exact sympy expression (see the module docstring)."""
    parser = _Parser(tokenize(text))
    if not parser.tokens:
        raise ParseError("empty expression")
    result = parser.expr()
    if parser.pos != len(parser.tokens):
        raise ParseError(f"unexpected {parser.tokens[parser.pos][1]!r}")
    return result


# -- the parser -----------------------------------------------------------------------------------

ATOM_CMDS = {"frac", "sqrt", "binom", "lfloor", "lceil", "overline", "mathbf", "vec", "hat", "bar", "sum", "prod"}
MAX_TERMS = 1000  # a sum or product with numeric bounds is evaluated when it has at most this many terms


class _Parser:
    """Recursive descent over tokens: expr := term (± term)*; term := unary (op unary | unary)*."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0
        self.depth = 0
        self.in_abs = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise ParseError("unexpected end")
        self.pos += 1
        return tok

    def expect(self, op: str) -> None:
        tok = self.take()
        if tok != ("op", op):
            raise ParseError(f"expected {op!r}, got {tok[1]!r}")

    def enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise Unsafe("nested too deeply")

    def expr(self) -> sympy.Expr:
        self.enter()
        tok = self.peek()
        if tok in (("op", "-"), ("op", "+")):
            self.pos += 1
            first = self.term()
            result = -first if tok[1] == "-" else first
        else:
            result = self.term()
        while (tok := self.peek()) in (("op", "+"), ("op", "-")):
            self.pos += 1
            rhs = self.term()
            result = result + rhs if tok[1] == "+" else result - rhs
        self.depth -= 1
        return result

    def term(self) -> sympy.Expr:
        result = self.unary()
        while (tok := self.peek()) is not None:
            if tok in (("op", "*"), ("cmd", "cdot"), ("cmd", "times"), ("cmd", "ast")):
                self.pos += 1
                result = result * self.unary()
            elif tok in (("op", "/"), ("cmd", "div")):
                self.pos += 1
                divisor = self.unary()
                if divisor == 0:
                    raise Undefined("division by zero")
                result = result / divisor
            elif self.starts_atom(tok):
                if tok[0] == "num" and self.tokens[self.pos - 1][0] == "num":
                    raise ParseError("two numbers in a row")
                result = result * self.power()
            else:
                break
        return result

    def unary(self) -> sympy.Expr:
        tok = self.peek()
        if tok in (("op", "-"), ("op", "+")):
            self.pos += 1
            self.enter()
            inner = self.unary()
            self.depth -= 1
            return -inner if tok[1] == "-" else inner
        return self.power()

    def starts_atom(self, tok: tuple[str, str]) -> bool:
        kind, text = tok
        if kind in ("num", "id"):
            return True
        if kind == "cmd":
            return text in ATOM_CMDS or text in FUNCTIONS or text in CONSTANTS or text in GREEK or text == "{"
        return text in ("(", "{") or (text == "|" and not self.in_abs)

    def power(self) -> sympy.Expr:
        base = self.postfix(self.atom())
        if self.peek() == ("op", "^"):
            self.pos += 1
            self.enter()
            exp = self.exponent()
            self.depth -= 1
            return self.postfix(safe_pow(base, exp))
        return base

    def exponent(self) -> sympy.Expr:
        tok = self.peek()
        if tok in (("op", "-"), ("op", "+")):
            self.pos += 1
            inner = self.exponent()
            return -inner if tok[1] == "-" else inner
        return self.group() if tok and tok[0] in ("num", "op") and tok[1] != "(" else self.power_atom()

    def power_atom(self) -> sympy.Expr:
        return self.postfix(self.atom())

    def postfix(self, base: sympy.Expr) -> sympy.Expr:
        while self.peek() == ("op", "!"):
            self.pos += 1
            base = safe_factorial(base)
        return base

    def group(self) -> sympy.Expr:
        """A command argument: ``{expr}`` or a single token (``\\frac12`` reads 1 then 2)."""
        tok = self.take()
        if tok == ("op", "{"):
            inner = self.expr()
            self.expect("}")
            return inner
        if tok[0] == "num":
            if len(tok[1]) > 1 and "." not in tok[1][:1]:  # split "12" into "1" and "2"
                self.tokens[self.pos - 1 : self.pos] = [("num", tok[1][0]), ("num", tok[1][1:])]
            return number(tok[1][0])
        self.pos -= 1
        return self.atom()

    def atom(self) -> sympy.Expr:
        self.enter()
        kind, text = self.take()
        try:
            if kind == "num":
                return self.mixed_number(number(text))
            if kind == "id":
                return self.symbol(text)
            if kind == "op":
                return self.bracketed(text)
            return self.command(text)
        finally:
            self.depth -= 1

    def mixed_number(self, whole: sympy.Rational) -> sympy.Expr:
        """``3\\frac{1}{2}`` is three and a half (the MATH convention), not three halves."""
        if whole.is_Integer and self.peek() == ("cmd", "frac"):
            save = self.pos
            self.pos += 1
            num, den = self.group(), self.group()
            if num.is_Integer and den.is_Integer and 0 < num < den:
                return whole + num / den
            self.pos = save
        return whole

    def symbol(self, name: str) -> sympy.Expr:
        if self.peek() == ("op", "_"):
            self.pos += 1
            tok = self.take()
            if tok == ("op", "{"):
                parts = []
                while (t := self.take()) != ("op", "}"):
                    parts.append(t[1])
                sub = "".join(parts)
            else:
                sub = tok[1]
            return sympy.Symbol(f"{name}_{sub}")
        if name == "e":
            return sympy.E
        if name == "i":
            return sympy.I
        return sympy.Symbol(name)

    def bracketed(self, text: str) -> sympy.Expr:
        if text in ("(", "["):
            inner = self.expr()
            self.expect(")" if text == "(" else "]")
            return inner
        if text == "{":
            inner = self.expr()
            self.expect("}")
            return inner
        if text == "|" and not self.in_abs:
            self.in_abs += 1
            inner = self.expr()
            self.in_abs -= 1
            self.expect("|")
            return sympy.Abs(inner)
        raise ParseError(f"unexpected {text!r}")

    def command(self, name: str) -> sympy.Expr:
        if name in CONSTANTS:
            return CONSTANTS[name]
        if name in GREEK:
            return sympy.Symbol(name.removeprefix("var"))
        if name == "frac":
            num, den = self.group(), self.group()
            if den == 0:
                raise Undefined("division by zero")
            return num / den
        if name == "binom":
            return safe_binomial(self.group(), self.group())
        if name == "sqrt":
            index: sympy.Expr = sympy.Integer(2)
            if self.peek() == ("op", "["):
                self.pos += 1
                index = self.expr()
                self.expect("]")
            return safe_pow(self.group(), 1 / index)
        if name in ("lfloor", "lceil"):
            inner = self.expr()
            closing = self.take()
            if closing != ("cmd", "r" + name[1:]):
                raise ParseError("unclosed floor/ceiling")
            return sympy.floor(inner) if name == "lfloor" else sympy.ceiling(inner)
        if name in ("mathbf", "vec", "hat", "bar", "overline"):
            return self.group()
        if name in ("sum", "prod"):
            return self.big_operator(name)
        fn = FUNCTIONS.get(name)
        if fn is not None:
            return self.function(name, fn)
        raise ParseError(f"unknown command \\{name}")

    def big_operator(self, name: str) -> sympy.Expr:
        """``\\sum_{k=0}^{n-1} body`` (the body is the product that follows); kept unevaluated unless
        its bounds are numbers and it has at most MAX_TERMS terms."""
        self.expect("_")
        self.expect("{")
        var = self.take()
        if var[0] != "id":
            raise ParseError("a sum needs an index variable")
        self.expect("=")
        lower = self.expr()
        self.expect("}")
        self.expect("^")
        upper = self.exponent()
        body = self.term()
        index = sympy.Symbol(var[1])
        limits = (index, lower, upper)
        op = sympy.Sum(body, limits) if name == "sum" else sympy.Product(body, limits)
        if lower.is_Integer and upper.is_Integer and 0 <= upper - lower < MAX_TERMS:
            return op.doit()
        return op

    def function(self, name: str, fn: object) -> sympy.Expr:
        base: sympy.Expr | None = None
        if name == "log" and self.peek() == ("op", "_"):
            self.pos += 1
            base = self.group()
        power: sympy.Expr | None = None
        if self.peek() == ("op", "^"):
            self.pos += 1
            power = self.exponent()
        arg = self.power()
        value = sympy.log(arg, base) if base is not None else safe_function(name, fn, arg)
        if power is not None:
            value = safe_pow(value, power)
        return value
