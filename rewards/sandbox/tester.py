"""The in-sandbox runner of assertion tests; this file's source runs as ``/box/tester.py`` in a sandbox
that never runs the model's program (:mod:`rewards.sandbox.pool` starts it and keeps it for many rows).

It reads one job per line from stdin, ``{"job": {"setup": code, "cases": [code, ...], "entry_point":
name or null}}``: it runs ``setup`` (HumanEval's ``check``, MBPP's imports and setup code, a pytest-style
module) in a fresh namespace where every global name the test code uses but does not define is a
:class:`Remote` of the candidate (``candidate`` is the entry point), then runs each case
(``check(candidate)``, one ``assert``, ``test_x()``) and reports it. KodCode's ``from solution import
f``, ``import solution``, aliases and ``*`` work: each job gets a fresh module ``solution`` *of this
process* (:class:`CandidateModule`) whose public names are Remotes; ``import pytest`` gets
:data:`PYTEST` (``raises``, ``approx``, ``mark.parametrize``, ``param``, ``fail``, no-op marks and
``fixture``). A Remote call writes ``{"call": name, "args": [...], "kwargs": {...}}`` (tagged by the
harness's ``encode``) and reads the answer: the host relays it to the candidate's sandbox and back, so
only plain values cross. List, dict and set arguments changed in place come back and are written into
the test's own (:func:`write_back`); a value that cannot cross (an instance of the candidate's class, a
generator) stays there and is a :class:`Proxy` here. Lines written, per job:

* ``{"ready": true}`` once the setup ran, or ``{"import_error": "..."}``;
* ``{"i": k, "value": true}`` when case k ran to the end, ``{"i": k, "value": false}`` when an assert
  failed, ``{"i": k, "error": "TypeError: ..."}`` when it raised anything else, and an error too when
  the candidate failed during the case (died, timed out, answered garbage, raised ``SystemExit`` or
  ``KeyboardInterrupt``): a :class:`CandidateFailure`, which no ``except Exception`` or
  ``pytest.raises`` takes and which fails the case even under a bare ``except:``;
* ``{"done": true}``.

The asserts therefore execute in a process the candidate never touches: its ``os._exit``, patched
builtins, fake verdicts and file reads all happen in the other sandbox. Stdlib only, Python 3.8+.
"""

import builtins
import json
import os
import re
import sys


def load_codec():  # type: ignore[no-untyped-def]
    """The harness's encode/decode, from /box/harness.py (one codec on both sides)."""
    namespace = {"__name__": "harness_codec", "__builtins__": builtins}
    with open("/box/harness.py") as f:
        exec(compile(f.read(), "harness.py", "exec"), namespace)
    return namespace["encode"], namespace["decode"], namespace["describe"]


encode, decode, describe = load_codec()
write, read = os.write, os.read
pending = [b""]


failures = []  # the CandidateFailures of the case now running


class CandidateFailure(BaseException):
    """The candidate could not answer (timed out, died, sent garbage): not catchable as Exception, and
    recorded, so that a case in which one happened fails even if the test code swallowed it (``except:``)."""

    def __init__(self, *args):  # type: ignore[no-untyped-def]
        super().__init__(*args)
        failures.append(str(args[0])[:300] if args else "the program failed")


def emit(obj):  # type: ignore[no-untyped-def]
    data = (json.dumps(obj) + "\n").encode("utf-8", "surrogatepass")
    while data:
        data = data[write(1, data) :]


def receive():  # type: ignore[no-untyped-def]
    while b"\n" not in pending[0]:
        chunk = read(0, 1 << 16)
        if not chunk:
            os._exit(0)  # the host closed the session
        pending[0] += chunk
    line, _, pending[0] = pending[0].partition(b"\n")
    return json.loads(line)


class CandidateError(Exception):
    """An exception of the candidate's whose class (and bases) are not builtins."""


def candidate_exception(answer, iterating=False):  # type: ignore[no-untyped-def]
    """The exception for the candidate's error answer: the first builtin among its class's and bases'
    names (``"types"``), else :class:`CandidateError`, with ``candidate_names`` (``pytest.raises`` of an
    imported class matches by name); a non-``Exception`` (``SystemExit``…) is a :class:`CandidateFailure`."""
    names = answer.get("types")
    names = [str(n)[:100] for n in names[:50]] if isinstance(names, list) else [str(answer.get("type"))[:100]]
    kind = CandidateError
    for name in names:
        found = getattr(builtins, name, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            if not issubclass(found, Exception):
                return CandidateFailure("the program raised " + name)
            stops = not iterating and found in (StopIteration, StopAsyncIteration)  # PEP 479: not the test's loop's end
            kind = RuntimeError if stops else found
            break
    exc = kind(str(answer.get("error", ""))[:300])
    exc.candidate_names = names
    return exc


REF = "\x00ref"  # (REF, n) in an argument stands for the candidate's object n (the harness swaps it back)
proxies = {}  # ref -> Proxy, for the job now running


def request(name, args, kwargs):  # type: ignore[no-untyped-def]
    """Send one call to the candidate and return its answer: a plain value, a :class:`Proxy`, or a raise."""
    sent, found = args, []
    if proxies:  # proxies may be among the arguments
        sent, kwargs = swap(list(args), found), swap(kwargs, found)
        name = "&" + name if found else name
    try:  # a value that cannot cross fails the case: a TypeError here is one the test may expect
        emit({"call": name, "args": encode(list(sent)), "kwargs": {k: encode(v) for k, v in kwargs.items()}})
    except (TypeError, ValueError, RecursionError):
        raise CandidateFailure("the test passes a value that cannot cross to the program") from None
    try:
        answer = receive()
    except (ValueError, RecursionError):  # the relayed line is the candidate's: its failure, not a raise
        raise CandidateFailure("an answer that is not JSON") from None
    if type(answer) is not dict:
        raise CandidateFailure("an answer that is not a JSON object")
    if "fail" in answer or "unreadable" in answer:
        raise CandidateFailure(str(answer.get("fail", answer.get("unreadable"))))
    if "value" in answer or "ref" in answer:
        try:
            for k, tagged in answer.get("args", []):
                write_back(args[int.__index__(k)], decode(tagged))
            if "ref" in answer:
                ref = int.__index__(answer["ref"])
                if ref not in proxies:
                    proxies[ref] = Proxy(ref, [str(n)[:100] for n in answer.get("kinds", [])[:50]])
                return proxies[ref]
            return decode(answer["value"])
        except Exception as exc:  # noqa: BLE001  (whatever its value makes decoding do is its failure)
            raise CandidateFailure("unreadable return value: " + type(exc).__name__) from None
    raise candidate_exception(answer, name.endswith("#next"))


def swap(value, found):  # type: ignore[no-untyped-def]
    """``value`` with each :class:`Proxy` in it replaced by ``(REF, n)`` (noted in ``found``)."""
    kind = type(value)
    if kind is Proxy:
        found.append(value)
        return (REF, object.__getattribute__(value, "_ref"))
    if kind is list or kind is tuple:
        return kind(swap(v, found) for v in value)
    if kind is dict:
        return {k: swap(v, found) for k, v in value.items()}
    return value


class Remote:
    """A function (or class) of the candidate's program; calling it sends the arguments by value."""

    def __init__(self, name):  # type: ignore[no-untyped-def]
        self.name = name
        self.__name__ = name

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return request(self.name, args, kwargs)

    def __instancecheck__(self, obj):  # type: ignore[no-untyped-def]  (isinstance(x, ImportedClass))
        return type(obj) is Proxy and self.name in object.__getattribute__(obj, "_kinds")

    def __repr__(self):  # type: ignore[no-untyped-def]
        return "<candidate function " + self.name + ">"


def asks(op):  # type: ignore[no-untyped-def]
    """A :class:`Proxy` method that sends request ``op`` with its arguments."""
    return lambda self, *args, **kwargs: request("@" + str(object.__getattribute__(self, "_ref")) + op, args, kwargs)


class Proxy:
    """An object of the candidate's (an instance, a bound method, an iterator…), left in its sandbox:
    reading and setting attributes, calling, ``[key]``, ``len``, ``bool``, iteration and ``str`` are
    requests answered by value; ``==`` is identity, never the candidate's ``__eq__``."""

    __call__, __getitem__, __len__, __iter__, __next__ = asks("()"), asks("[]"), asks("#len"), asks("#iter"), asks("#next")

    def __init__(self, ref, kinds):  # type: ignore[no-untyped-def]
        object.__setattr__(self, "_ref", ref)
        object.__setattr__(self, "_kinds", kinds)

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        if name.startswith("__"):
            raise AttributeError(name)
        return asks("." + name)(self)

    def __setattr__(self, name, value):  # type: ignore[no-untyped-def]
        asks("=" + name)(self, value)

    def __bool__(self):  # type: ignore[no-untyped-def]
        return asks("#bool")(self) is True

    def __str__(self):  # type: ignore[no-untyped-def]
        return str(asks("#str")(self))

    def __repr__(self):  # type: ignore[no-untyped-def]
        return "<candidate " + "".join(object.__getattribute__(self, "_kinds")[:1]) + " object>"


def write_back(mine, theirs):  # type: ignore[no-untyped-def]
    """Make the test's argument ``mine`` hold ``theirs`` (the candidate's copy after the call, plain
    values), keeping the identity of ``mine`` and of its nested lists where the shapes agree."""
    if type(mine) is list and type(theirs) is list:
        if len(mine) != len(theirs):
            mine[:] = theirs
            return True
        for j in range(len(mine)):
            if not (type(mine[j]) is list and type(theirs[j]) is list) or not write_back(mine[j], theirs[j]):
                mine[j] = theirs[j]
        return True
    if type(mine) in (dict, set) and type(theirs) is type(mine):
        return mine.clear() or mine.update(theirs) or True
    raise TypeError("an argument changed into another kind of value")


class CandidateModule(type(sys)):
    """The module ``solution`` as the test code imports it: each public name is the candidate's function."""

    def __init__(self):  # type: ignore[no-untyped-def]
        super().__init__("solution")
        self.__all__ = []  # ``from solution import *`` adds nothing: unknown names are Remotes already

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        if name.startswith("__"):
            raise AttributeError(name)  # __path__, __file__…: the import machinery asking, not the tests
        setattr(self, name, Remote(name))
        return getattr(self, name)


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
        if isinstance(kind, Remote):
            return kind.name in getattr(value, "candidate_names", ())
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

        def run_all(*bound):  # type: ignore[no-untyped-def]  (``self`` for a method of a Test class)
            for kw in rows:
                inner(*bound, **kw)

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


PYTEST = type(sys)("pytest")
PYTEST.__dict__.update(raises=raises, approx=Approx, mark=Marks(), param=Param, fail=fail, fixture=fixture)


def global_names(code):  # type: ignore[no-untyped-def]
    """Every name the code object and its nested code objects load (globals among them)."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= global_names(const)
    return names


def run_job(job):  # type: ignore[no-untyped-def]
    namespace = {"__name__": "__test__", "__builtins__": builtins}
    entry = job.get("entry_point")
    try:
        setup = compile(job["setup"], "test.py", "exec")
        cases = [compile(c, "case.py", "exec") for c in job["cases"]]
        wanted = global_names(setup).union(*[global_names(c) for c in cases])
        for name in sorted(wanted):
            if not hasattr(builtins, name):
                namespace[name] = Remote(name)
        if entry:
            namespace["candidate"] = Remote(entry)
        sys.modules["solution"] = CandidateModule()  # fresh per job: no Remote outlives its row
        proxies.clear()
        sys.modules["pytest"] = PYTEST
        del failures[:]
        exec(setup, namespace)
        if failures:
            raise CandidateFailure(failures[0])
    except BaseException as exc:
        emit({"import_error": describe(exc)})
        return
    emit({"ready": True})
    for i, case in enumerate(cases):
        del failures[:]
        try:
            exec(case, namespace)
            line = {"i": i, "value": True}
        except AssertionError:
            line = {"i": i, "value": False}  # judged "wrong_answer" on the host
        except BaseException as exc:
            line = {"i": i, "error": describe(exc)}
        if failures:  # the candidate failed during the case, whatever the test code made of it
            line = {"i": i, "error": "CandidateFailure: " + failures[0]}
        emit(line)
    emit({"done": True})


def main():  # type: ignore[no-untyped-def]
    out = os.dup(1)
    null = os.open("/dev/null", os.O_WRONLY)
    os.dup2(null, 1)  # the test code's own prints go nowhere,
    os.dup2(null, 2)  # and so do its warnings (a long-lived process must not fill the host's buffers)
    globals()["write"] = lambda fd, data: os.write(out, data)
    sys.setrecursionlimit(10000)
    while True:
        message = receive()
        run_job(message["job"])


if __name__ == "__main__":
    main()
