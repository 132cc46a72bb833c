"""``pytest`` as the test code in the tester sandbox sees it (``import pytest``): :func:`raises`,
``approx``, ``mark.parametrize``, ``param``, ``fail``, no-op marks and ``fixture``.

The tester (:mod:`rewards.sandbox.tester`) runs this file's source once at start into a module of its
own, and puts that module in ``sys.modules`` for every job. ``raises`` never takes a failure of the
candidate's (the tester's ``CandidateFailure`` is not an ``Exception``); a class the test imported from
the candidate (``remote_name``) matches the candidate's exception by name, as well as by subclassing.
Stdlib only, Python 3.8+.
"""

import builtins
import re
import sys


class Raises:
    """``pytest.raises(kind, match=None)`` as a context manager. A :class:`CandidateFailure` (the
    candidate died or timed out) is never the expected exception; an imported class matches by name."""

    def __init__(self, kind, match=None):  # type: ignore[no-untyped-def]
        self.kinds = kind if isinstance(kind, tuple) else (kind,)
        self.match, self.value, self.type = match, None, None

    __enter__ = lambda self: self  # noqa: E731

    def __exit__(self, kind, value, tb):  # type: ignore[no-untyped-def]
        if kind is None:
            raise AssertionError("DID NOT RAISE")
        if not issubclass(kind, Exception) or not any(self._matches(k, value) for k in self.kinds):
            return False
        if self.match is not None and not re.search(self.match, str(value)):
            raise AssertionError("the exception's message does not match " + repr(self.match))
        self.value, self.type = value, kind
        return True

    @staticmethod
    def _matches(kind, value):  # type: ignore[no-untyped-def]
        remote = getattr(kind, "remote_name", None)  # a class the test imported from the candidate
        if remote is not None and remote in getattr(value, "candidate_names", ()):
            return True
        return isinstance(kind, type) and isinstance(value, kind)


def raises(kind, *args, match=None, **kwargs):  # type: ignore[no-untyped-def]
    if args:  # the old call form: pytest.raises(ValueError, f, 1)
        with Raises(kind, match):
            args[0](*args[1:], **kwargs)
        return None
    return Raises(kind, match)


class Approx:
    """``pytest.approx``: numbers (and lists, tuples, dicts of them) within rel 1e-6 or abs 1e-12 (abs= alone: abs only)."""

    def __init__(self, expected, rel=None, abs=None):  # type: ignore[no-untyped-def]
        self.expected, self.abs = expected, 1e-12 if abs is None else abs
        self.rel = (1e-6 if abs is None else 0.0) if rel is None else rel  # pytest: abs= alone drops rel

    def close(self, want, got):  # type: ignore[no-untyped-def]
        if isinstance(want, (list, tuple)):
            return isinstance(got, (list, tuple)) and len(got) == len(want) and all(map(self.close, want, got))
        if isinstance(want, dict):
            return isinstance(got, dict) and set(got) == set(want) and all(self.close(want[k], got[k]) for k in want)
        if type(want) in (int, float) and type(got) in (int, float):
            return got == want or builtins.abs(got - want) <= max(self.rel * builtins.abs(want), self.abs)
        return bool(want == got)

    def __eq__(self, other):  # type: ignore[no-untyped-def]
        return self.close(self.expected, other)

    __hash__ = None

    def __repr__(self):  # type: ignore[no-untyped-def]
        return "approx(" + repr(self.expected) + ")"


class Param:
    def __init__(self, *values, **_):  # type: ignore[no-untyped-def]
        self.values = values


def parametrize(names, values, **_):  # type: ignore[no-untyped-def]
    """Turn ``test_x(a, b)`` into one argument-less case that runs it on every parameter set."""
    names = [n.strip() for n in names.split(",") if n.strip()] if isinstance(names, str) else list(names)

    def decorate(fn):  # type: ignore[no-untyped-def]
        inner, sets = getattr(fn, "inner", fn), getattr(fn, "sets", [{}])
        rows = []
        for row in values:
            row = row.values if isinstance(row, Param) else (row,) if len(names) == 1 else row
            rows += [{**dict(zip(names, row)), **kw} for kw in sets]

        def run_all(*bound, **fixtures):  # type: ignore[no-untyped-def]  (``self`` for a method; capsys…)
            for kw in rows:
                for fixture in fixtures.values():  # each parameter set is a test of its own for pytest
                    getattr(fixture, "r1_reset", lambda: None)()
                inner(*bound, **kw, **fixtures)

        run_all.inner, run_all.sets, run_all.__name__ = inner, rows, getattr(fn, "__name__", "test")
        return run_all

    return decorate


class Marks:
    parametrize = staticmethod(parametrize)

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return lambda *a, **k: a[0] if len(a) == 1 and callable(a[0]) and not k else (lambda fn: fn)


def fail(reason="", pytrace=True):  # type: ignore[no-untyped-def]
    raise AssertionError(reason)


def fixture(*args, **_):  # type: ignore[no-untyped-def]
    return args[0] if len(args) == 1 and callable(args[0]) else (lambda fn: fn)


def module():  # type: ignore[no-untyped-def]
    """The ``pytest`` module the test code imports."""
    found = type(sys)("pytest")
    found.__dict__.update(raises=raises, approx=Approx, mark=Marks(), param=Param, fail=fail, fixture=fixture)
    return found
