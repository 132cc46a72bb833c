"""The in-sandbox runner of assertion tests; this file's source runs as ``/box/tester.py`` in a sandbox
that never runs the model's program (:mod:`rewards.sandbox.pool` starts it and keeps it for many rows).

It reads one job per line from stdin, ``{"job": {"setup": code, "cases": [code, ...], "entry_point":
name or null}}``: it runs ``setup`` (HumanEval's ``check`` definition, MBPP's imports and setup code, a
pytest-style module) in a fresh namespace in which every global name the test code uses but does not
define is a :class:`Remote` function of the candidate (``candidate`` itself is the entry point), then
runs each case (``check(candidate)``, one ``assert``, ``test_x()``) and reports it. A call of a
:class:`Remote` writes ``{"call": name, "args": [...], "kwargs": {...}}`` (type-tagged by the harness's
``encode``) to stdout and reads the answer from stdin: the host relays it to the candidate's sandbox
and back, so only plain values cross. Lines written, per job:

* ``{"ready": true}`` once the setup ran, or ``{"import_error": "..."}``;
* ``{"i": k, "value": true}`` when case k ran to the end, ``{"i": k, "value": false}`` when an assert
  failed, ``{"i": k, "error": "TypeError: ..."}`` when it raised anything else;
* ``{"done": true}``.

The asserts therefore execute in a process the candidate never touches: its ``os._exit``, patched
builtins, fake verdicts and file reads all happen in the other sandbox. Stdlib only, Python 3.8+.
"""

import builtins
import json
import os
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


class CandidateFailure(BaseException):
    """The candidate could not answer (timed out, died, sent garbage): not catchable as Exception."""


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


def exception_type(name):  # type: ignore[no-untyped-def]
    found = getattr(builtins, str(name), None)
    if isinstance(found, type) and issubclass(found, Exception):
        return found
    return RuntimeError


class Remote:
    """A function of the candidate's program; calling it sends the arguments by value."""

    def __init__(self, name):  # type: ignore[no-untyped-def]
        self.name = name
        self.__name__ = name

    def __call__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        emit({"call": self.name, "args": encode(list(args)), "kwargs": {k: encode(v) for k, v in kwargs.items()}})
        answer = receive()
        if "fail" in answer:
            raise CandidateFailure(str(answer["fail"]))
        if "value" in answer:
            try:
                return decode(answer["value"])
            except (ValueError, TypeError, KeyError, IndexError, RecursionError) as exc:
                raise CandidateFailure("unreadable return value: " + type(exc).__name__) from None
        raise exception_type(answer.get("type"))(str(answer.get("error", ""))[:300])

    def __repr__(self):  # type: ignore[no-untyped-def]
        return "<candidate function " + self.name + ">"


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
        exec(setup, namespace)
    except BaseException as exc:
        emit({"import_error": describe(exc)})
        return
    emit({"ready": True})
    for i, case in enumerate(cases):
        try:
            exec(case, namespace)
            emit({"i": i, "value": True})
        except AssertionError:
            emit({"i": i, "value": False})  # judged "wrong_answer" on the host
        except BaseException as exc:
            emit({"i": i, "error": describe(exc)})
            if isinstance(exc, CandidateFailure) and job.get("stop_on_failure"):
                break
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
