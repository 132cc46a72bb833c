"""The in-sandbox runner for call-based tests; this file's source is copied into every sandbox run.

``rewards.sandbox.judge`` places this file at ``/box/harness.py``, the program at ``/box/solution.py``
and the calls (function name, args, kwargs; never the expected values) at ``/box/calls.json``, then runs
``python3 -I -B /box/harness.py``. The harness imports the program as module ``solution``, calls the
named function for each test in order, and writes one JSON line per event to the stdout it saved before
the program ran (the program's own ``print`` goes to /dev/null):

* ``{"ready": true}`` once the program is imported, or ``{"import_error": "..."}``;
* ``{"i": 3, "value": <tagged>}`` or ``{"i": 3, "error": "TypeError: ..."}`` per call;
* ``{"done": true}`` at the end, then ``os._exit(0)`` so the program's ``atexit`` hooks never run.

Return values are encoded with their types (``encode``): ``int`` as hex (no digit limits), ``float`` by
``repr``, tuples, sets, dicts and bytes tagged, so the host can compare ``True`` vs ``1`` vs ``1.0``.
Nothing the program does here can earn credit: the host, not this file, decides pass/fail, and it never
gives the expected outputs to the sandbox. A program that tampers with this file's functions can at
most misreport its own return values. Stdlib only, Python 3.8+ (the sandbox's interpreter may be older
than the trainer's).
"""

import builtins
import json
import os
import sys

MAX_DEPTH = 200


def encode(value, depth=0):  # type: ignore[no-untyped-def]  (runs on any Python 3.8+)
    """A JSON-able, type-tagged copy of a return value; uses base-class methods, never the value's own."""
    if depth > MAX_DEPTH:
        raise ValueError("return value nested too deeply")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return value
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return {"int": hex(int.__index__(value))}
    if isinstance(value, float):
        return {"float": float.__repr__(float(float.__float__(value)))}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, complex):
        return {"complex": [float.__repr__(value.real), float.__repr__(value.imag)]}
    if isinstance(value, (bytes, bytearray)):
        return {"bytes": bytes(value).hex()}
    if isinstance(value, list):
        return [encode(v, depth + 1) for v in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"tuple": [encode(v, depth + 1) for v in tuple.__iter__(value)]}
    if isinstance(value, (set, frozenset)):
        return {"set": [encode(v, depth + 1) for v in frozenset(value)]}
    if isinstance(value, dict):
        return {"dict": [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in dict.items(value)]}
    if type(value).__module__ == "numpy" and hasattr(value, "tolist"):
        return encode(value.tolist(), depth + 1)
    raise TypeError("cannot return a value of type " + kind.__name__ + " from a tested function")


def resolve(namespace, name):  # type: ignore[no-untyped-def]
    """A top-level function ``name``, else method ``name`` of ``Solution()`` (LeetCode style)."""
    if "." in name:
        cls_name, _, name = name.partition(".")
        return getattr(namespace[cls_name](), name)
    fn = namespace.get(name)
    if callable(fn):
        return fn
    cls = namespace.get("Solution")
    if cls is not None:
        return getattr(cls(), name)
    raise NameError("the program defines no function " + repr(name))


def main():  # type: ignore[no-untyped-def]
    write, dumps, exit_now = os.write, json.dumps, os._exit
    out = os.dup(1)
    null = os.open("/dev/null", os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)

    def emit(obj):  # type: ignore[no-untyped-def]
        data = (dumps(obj) + "\n").encode("utf-8", "surrogatepass")
        while data:
            data = data[write(out, data) :]

    with open("/box/calls.json") as f:
        calls = json.load(f)
    with open("/box/solution.py", encoding="utf-8", errors="surrogateescape") as f:
        source = f.read()
    namespace = {"__name__": "solution", "__builtins__": builtins, "__file__": "/box/solution.py"}
    sys.modules["solution"] = type(sys)("solution")
    try:
        exec(compile(source, "solution.py", "exec"), namespace)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: no import, no tests
        emit({"import_error": describe(exc)})
        exit_now(0)
    sys.modules["solution"].__dict__.update(namespace)
    emit({"ready": True})
    for i, call in enumerate(calls):
        try:
            fn = resolve(namespace, call["call"])
            value = encode(fn(*call["args"], **call["kwargs"]))
            line = {"i": i, "value": value}
        except BaseException as exc:
            line = {"i": i, "error": describe(exc)}
        try:
            emit(line)
        except (TypeError, ValueError) as exc:
            emit({"i": i, "error": describe(exc)})
    emit({"done": True})
    exit_now(0)


def describe(exc):  # type: ignore[no-untyped-def]
    try:
        text = type(exc).__name__ + ": " + str(exc)
    except BaseException:
        text = "exception"
    return text[:500]


if __name__ == "__main__":
    main()
