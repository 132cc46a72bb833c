"""The in-sandbox runner of assertion tests; this file's source runs as ``/box/tester.py`` in a sandbox
that never runs the model's program (:mod:`rewards.sandbox.pool` starts it and keeps it for many rows).

It reads one job per line from stdin, ``{"job": {"setup": code, "cases": [code, ...], "entry_point":
name or null}}``: it runs ``setup`` (HumanEval's ``check``, MBPP's imports and setup code, a pytest-style
module) in a fresh namespace where every global name the test code uses but does not define is a
:class:`Remote` of the candidate (``candidate`` is the entry point), then runs each case
(``check(candidate)``, one ``assert``, ``test_x()``) and reports it. KodCode's ``from solution import
f``, ``import solution``, aliases and ``*`` work: each job gets a fresh module ``solution`` *of this
process* (:class:`CandidateModule`) whose public names are Remotes (classes: ``except ImportedError``
works); ``import pytest`` gets the stand-in of :mod:`rewards.sandbox.pytest_shim` (``raises``, ``approx``,
``mark.parametrize``, ``param``, ``fail``, no-op marks and ``fixture``). A Remote call writes ``{"call": name, "args": [...], "kwargs": {...}}`` (tagged by the
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
import sys


def load(name):  # type: ignore[no-untyped-def]
    """The names /box/<name> defines, run in a fresh namespace of this process."""
    namespace = {"__name__": name.rpartition(".")[0], "__builtins__": builtins}
    with open("/box/" + name) as f:
        exec(compile(f.read(), name, "exec"), namespace)
    return namespace


codec = load("harness.py")  # one codec on both sides
encode, decode, describe = codec["encode"], codec["decode"], codec["describe"]
PYTEST = load("pytest_shim.py")["module"]()
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
    """The exception for the candidate's error answer. Its class is the raised builtin itself, rebuilt
    from the candidate's arguments (``str``, ``.args`` and ``type(e) is ValueError`` as over there); else
    a class named like the candidate's that subclasses the classes the test imported among its class's
    and bases' names (``"types"``) and the first builtin among them (else :class:`CandidateError`), and
    whose ``str`` is the candidate's. ``candidate_names`` lets ``pytest.raises`` match by name too; a
    non-``Exception`` (``SystemExit``…) is a :class:`CandidateFailure`."""
    names = answer.get("types")
    names = [str(n)[:100] for n in names[:50]] if isinstance(names, list) else [str(answer.get("type"))[:100]]
    message = str(answer.get("message", answer.get("error", "")))[:1000]
    kind = CandidateError
    for name in names:
        found = getattr(builtins, name, None)
        if isinstance(found, type) and issubclass(found, BaseException):
            if not issubclass(found, Exception):
                return CandidateFailure("the program raised " + name)
            stops = not iterating and found in (StopIteration, StopAsyncIteration)  # PEP 479: not the test's loop's end
            kind = RuntimeError if stops else found
            break
    exc = None
    if kind.__name__ == names[0] and isinstance(answer.get("args"), list):  # a builtin exception itself
        try:
            exc = kind(*decode(answer["args"]))
        except Exception:  # noqa: BLE001  (arguments its constructor refuses: the message below)
            exc = None
    if exc is None:
        imported = tuple(remotes[n] for n in dict.fromkeys(names) if n in remotes)  # ``except Imported:``
        body = {"__module__": "solution", "__str__": lambda self: message}
        try:
            exc = RemoteMeta(names[0], (*imported, kind), body)(message)
        except TypeError:  # bases whose layouts cannot be shared, a constructor that wants more: by name only
            exc = type(names[0], (kind,), body)(message) if kind is not CandidateError else CandidateError(message)
    exc.candidate_names = names
    return exc


class Captured(tuple):
    """What ``capsys.readouterr()`` returns: ``(out, err)``, also as ``.out`` and ``.err``."""

    out, err = property(lambda self: self[0]), property(lambda self: self[1])


class Capsys:
    """pytest's ``capsys`` for a case whose test takes it: what the candidate printed during each call
    (its sandbox sends it with the answer) and what the test code printed, in order."""

    def __init__(self):  # type: ignore[no-untyped-def]
        self.on = False
        self.r1_reset()

    def add(self, out, err):  # type: ignore[no-untyped-def]
        for key, text in (("out", out), ("err", err)):
            if isinstance(text, str):
                self.parts[key].append(text)

    def write(self, text):  # type: ignore[no-untyped-def]  (the test code's own prints, as sys.stdout)
        self.parts["out"].append(str(text))
        return len(text)

    def flush(self):  # type: ignore[no-untyped-def]
        pass

    def readouterr(self):  # type: ignore[no-untyped-def]
        out, err = "".join(self.parts["out"]), "".join(self.parts["err"])
        self.r1_reset()
        return Captured((out, err))

    def r1_reset(self):  # type: ignore[no-untyped-def]  (a new parameter set: a new test for pytest)
        self.parts = {"out": [], "err": []}


CAPSYS = Capsys()
REF = "\x00ref"  # (REF, n) in an argument stands for the candidate's object n (the harness swaps it back)
proxies = {}  # ref -> Proxy, for the job now running


def request(name, args, kwargs):  # type: ignore[no-untyped-def]
    """Send one call to the candidate and return its answer: a plain value, a :class:`Proxy`, or a raise."""
    sent, found = args, []
    if proxies:  # proxies may be among the arguments
        sent, kwargs = swap(list(args), found), swap(kwargs, found)
        name = "&" + name if found else name
    name = "%" + name if CAPSYS.on else name
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
    if CAPSYS.on:
        CAPSYS.add(answer.get("out"), answer.get("err"))
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


class RemoteMeta(type):
    """The type of a name of the candidate's program (a function, a class, an exception class). Each such
    name is a class whose call sends the arguments by value and returns the answer, so that it also works
    where Python wants a class: ``except ImportedError:``, ``pytest.raises(ImportedError)``,
    ``isinstance(x, ImportedClass)``. An exception the candidate raises whose class or bases carry the
    name is an instance of a subclass of it (:func:`candidate_exception`)."""

    def __call__(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        if "remote_name" in cls.__dict__:
            return request(cls.remote_name, args, kwargs)
        return super().__call__(*args, **kwargs)  # a raised exception's class, made below

    def __instancecheck__(cls, obj):  # type: ignore[no-untyped-def]
        if type(obj) is Proxy:
            return cls.__dict__.get("remote_name") in object.__getattribute__(obj, "_kinds")
        return super().__instancecheck__(obj)

    def __repr__(cls):  # type: ignore[no-untyped-def]
        return "<candidate function " + str(cls.__dict__.get("remote_name", cls.__name__)) + ">"


remotes = {}  # name -> its Remote class, for the job now running


def Remote(name):  # type: ignore[no-untyped-def]  (N802: it makes classes)
    """The class standing for the candidate's ``name`` in this job."""
    if name not in remotes:
        remotes[name] = RemoteMeta(str(name), (Exception,), {"remote_name": name, "__module__": "solution"})
    return remotes[name]


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


def global_names(code):  # type: ignore[no-untyped-def]
    """Every name the code object and its nested code objects load (globals among them)."""
    names = set(code.co_names)
    for const in code.co_consts:
        if hasattr(const, "co_names"):
            names |= global_names(const)
    return names


code_cache = {}  # source -> code: a group's rollouts share their tests (code objects are immutable)


def compiled(source, filename):  # type: ignore[no-untyped-def]
    key = (source, filename)
    if key not in code_cache:
        if len(code_cache) >= 512:
            code_cache.clear()
        code_cache[key] = compile(source, filename, "exec")
    return code_cache[key]


def run_job(job):  # type: ignore[no-untyped-def]
    namespace = {"__name__": "__test__", "__builtins__": builtins}
    entry = job.get("entry_point")
    try:
        setup = compiled(job["setup"], "test.py")
        cases = [compiled(c, "case.py") for c in job["cases"]]
        remotes.clear()
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
    namespace["_r1_capsys"] = CAPSYS
    for i, case in enumerate(cases):
        del failures[:]
        CAPSYS.on = "_r1_capsys" in case.co_names
        CAPSYS.r1_reset()
        if CAPSYS.on:
            sys.stdout = CAPSYS
        try:
            exec(case, namespace)
            line = {"i": i, "value": True}
        except AssertionError:
            line = {"i": i, "value": False}  # judged "wrong_answer" on the host
        except BaseException as exc:
            line = {"i": i, "error": describe(exc)}
        sys.stdout, CAPSYS.on = sys.__stdout__, False
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
