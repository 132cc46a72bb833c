"""The in-sandbox runner for call-based tests; this file's source is copied into every sandbox run.

``rewards.sandbox.judge`` places this file at ``/box/harness.py``, the program at ``/box/solution.py``
and the calls (function name, args, kwargs; never the expected values) marshalled at ``/box/calls.bin``, then runs
``python3 -I -B -S /box/harness.pyc`` (the bytecode :mod:`rewards.sandbox.scripts` had the sandbox's
interpreter make; ``-S``: no ``site``, so no site-packages and no ``.pth`` hooks, ~3 ms less per program;
call-based programs use the standard library; nor ``os`` or ``compile()``, 2 and 1.5 ms of a start here).
The harness imports the program as module ``solution``, calls the
named function for each test in order, and writes one JSON line per event to the stdout it saved before
the program ran (the program's own ``print`` goes to /dev/null):

* ``{"ready": true}`` once the program is imported, or ``{"import_error": "..."}``;
* ``{"i": 3, "value": <tagged>}`` or ``{"i": 3, "error": "TypeError: ..."}`` per call;
* ``{"done": true}`` at the end, then ``os._exit(0)`` so the program's ``atexit`` hooks never run.

With ``--serve`` (assertion tests, :mod:`rewards.sandbox.pool`) the harness is started before its program
is known (a prepared sandbox): it waits for the program's source on stdin (one framed message, below),
then imports it and answers calls as they come: after ``ready`` it reads requests from stdin, each a 4-byte big-endian length and a ``marshal``
of ``(name, args, kwargs)`` written by the host, and writes one line back per request,
``{"value": <tagged>}`` (with ``"args": [[k, <tagged>], ...]`` for the list, dict and set arguments the
call changed in place), ``{"error": "...", "type": "ValueError", "types": [class and base names]}`` when
the function raised, ``{"ref": n, "kinds": [...]}`` when it returned an object that is no plain value
(kept here as object n, which later requests name: :func:`serve`), or ``{"unreadable": "..."}`` when
even that failed (the tester treats it as a failure, never as a raise), until stdin closes. The test
code runs in another sandbox (:mod:`rewards.sandbox.tester`); only these plain values cross.

Start-up is part of every program's cost, so the harness imports no module beyond what the
interpreter has loaded at start: inputs arrive as ``marshal`` (built in) and lines are written by
:func:`to_json` (``_json``'s C string escaper; importing ``json`` would cost ~7 ms per program).

Return values are encoded with their types (``encode``): ``int`` as hex (no digit limits), ``float`` by
``repr``, tuples, sets, dicts and bytes tagged, so the host can compare ``True`` vs ``1`` vs ``1.0``.
Nothing the program does here can earn credit: the host, not this file, decides pass/fail, and it never
gives the expected outputs to the sandbox. A program that tampers with this file's functions can at
most misreport its own return values. Stdlib only, Python 3.8+ (the sandbox's interpreter may be older
than the trainer's).
"""

import builtins
import marshal
import posix as os  # not os: under -S importing it costs 2 ms (stat, posixpath, _collections_abc); posix has all used here
import sys
from io import StringIO

try:
    from _json import encode_basestring_ascii as quote
except ImportError:  # an interpreter without the C accelerator
    from json.encoder import py_encode_basestring_ascii as quote

MAX_DEPTH = 200


CAPTURED = 1 << 16  # characters of a call's prints returned to a capsys test


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


def to_json(obj):  # type: ignore[no-untyped-def]
    """JSON text of ``encode``'s output (None, bool, int, str, lists, dicts with str keys)."""
    if obj is None:
        return "null"
    kind = type(obj)
    if kind is bool:
        return "true" if obj else "false"
    if kind is str:
        return quote(obj)
    if kind is int:
        return int.__repr__(obj)
    if kind is list:
        return "[" + ", ".join([to_json(v) for v in obj]) + "]"
    if kind is dict:
        return "{" + ", ".join([quote(k) + ": " + to_json(v) for k, v in obj.items()]) + "}"
    raise TypeError("cannot write " + kind.__name__)


def decode(tagged, depth=0):  # type: ignore[no-untyped-def]
    """Invert :func:`encode` (arguments sent by the tester); plain data only."""
    if depth > MAX_DEPTH:
        raise ValueError("value nested too deeply")
    if tagged is None or type(tagged) in (bool, str):
        return tagged
    if type(tagged) is list:
        return [decode(v, depth + 1) for v in tagged]
    if type(tagged) is not dict or len(tagged) != 1:
        raise ValueError("malformed tagged value")
    ((tag, body),) = tagged.items()
    if tag == "int":
        return int(body, 16)
    if tag == "float":
        return float(body)
    if tag == "complex":
        return complex(float(body[0]), float(body[1]))
    if tag == "bytes":
        return bytes.fromhex(body)
    if tag == "tuple":
        return tuple(decode(v, depth + 1) for v in body)
    if tag == "set":
        return {decode(v, depth + 1) for v in body}
    if tag == "dict":
        return {hashable(decode(k, depth + 1)): decode(v, depth + 1) for k, v in body}
    raise ValueError("unknown tag " + repr(tag))


def hashable(value):  # type: ignore[no-untyped-def]
    return tuple(hashable(v) for v in value) if type(value) is list else value


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
    write, dumps, exit_now = os.write, to_json, os._exit
    serving = sys.argv[1:] == ["--serve"]
    builtins.exit = builtins.quit = sys.exit  # as ``site`` would define them (the harness runs with -S)
    out = os.dup(1)
    null = os.open("/dev/null", os.O_WRONLY)
    os.dup2(null, 1)
    os.close(null)

    def emit(obj):  # type: ignore[no-untyped-def]
        data = (dumps(obj) + "\n").encode("utf-8", "surrogatepass")
        while data:
            data = data[write(out, data) :]

    calls = []
    if not serving:
        with open("/box/calls.bin", "rb") as f:
            calls = marshal.load(f)
    if serving:
        source = next_message()  # the program, sent once this prepared sandbox is given a row
    else:
        with open("/box/solution.py", encoding="utf-8", errors="surrogateescape") as f:
            source = f.read()
    namespace = {"__name__": "solution", "__builtins__": builtins, "__file__": "/box/solution.py"}
    sys.modules["solution"] = type(sys)("solution")
    try:
        try:  # exec, not compile(): its first call builds the ast module's types, 1.5 ms of a sandbox's start
            exec(source, namespace)
        except SyntaxError:
            compile(source, "solution.py", "exec")  # a program that does not parse: the error names its file
            raise
    except BaseException as exc:  # SystemExit and KeyboardInterrupt included: no import, no tests
        emit({"import_error": describe(exc)})
        exit_now(0)
    sys.modules["solution"].__dict__.update(namespace)
    emit({"ready": True})
    if serving:
        serve(namespace, emit, exit_now)
    for i, (name, args, kwargs) in enumerate(calls):
        try:
            fn = resolve(namespace, name)
            value = encode(fn(*args, **kwargs))
            line = {"i": i, "value": value}
        except BaseException as exc:
            line = {"i": i, "error": describe(exc)}
        try:
            emit(line)
        except (TypeError, ValueError) as exc:
            emit({"i": i, "error": describe(exc)})
    emit({"done": True})
    exit_now(0)


_pending = [b""]


def next_message(raw=False):  # type: ignore[no-untyped-def]
    """The next framed message on stdin (4-byte big-endian length, then a marshal; with ``raw``, the
    marshal's bytes); exit at its end."""
    pending = _pending[0]
    while len(pending) < 4 or len(pending) < 4 + int.from_bytes(pending[:4], "big"):
        chunk = os.read(0, 1 << 16)
        if not chunk:
            os._exit(0)
        pending += chunk
    size = int.from_bytes(pending[:4], "big")
    body, _pending[0] = pending[4 : 4 + size], pending[4 + size :]
    return body if raw else marshal.loads(body)


def serve(namespace, emit, exit_now):  # type: ignore[no-untyped-def]
    """Answer framed ``(name, args, kwargs)`` call requests from stdin, one line each, until it closes.

    A return value that cannot be encoded (an instance, a bound method, an iterator) stays here as
    object ``n`` of ``objects`` and is answered ``{"ref": n, "kinds": [class and base names]}``; the
    tester then asks for it by name ``"@<n><op>"`` (:func:`operate`). A name that starts with ``&``
    carries such objects in its arguments, as ``("\\x00ref", n)``; one that starts with ``%`` asks
    for what the call printed to ``sys.stdout``/``sys.stderr`` (``"out"``, ``"err"``: the test's capsys)."""
    objects, refs = [], {}

    def unswap(value):  # type: ignore[no-untyped-def]
        kind = type(value)
        if kind is tuple and len(value) == 2 and value[0] == "\x00ref":
            return objects[value[1]]
        if kind is list or kind is tuple:
            return kind(unswap(v) for v in value)
        if kind is dict:
            return {k: unswap(v) for k, v in value.items()}
        return value

    while True:
        capture = False
        try:
            body = next_message(raw=True)
            name, args, kwargs = marshal.loads(body)
            if name[:1] == "%":  # the test reads what the call prints (pytest's capsys)
                name, capture, streams = name[1:], True, (sys.stdout, sys.stderr)
                sys.stdout, sys.stderr = out, err = StringIO(), StringIO()
            swapped = name[:1] == "&"
            if swapped:
                name, args, kwargs = name[1:], unswap(args), unswap(kwargs)
            value = operate(objects, name, args, kwargs) if name[:1] == "@" else resolve(namespace, name)(*args, **kwargs)
        except BaseException as exc:
            answer = {"error": describe(exc), "type": type(exc).__name__, "types": type_names(exc)}
            try:  # the tester rebuilds it: str(e) and e.args as the test would see them here
                answer["message"], answer["args"] = str(exc)[:1000], encode(list(exc.args))
            except BaseException:  # noqa: BLE001  (an argument that is no plain value: the message may do)
                answer.setdefault("message", describe(exc))
        else:
            try:
                try:
                    answer = {"value": encode(value)}
                except TypeError:  # no plain value: it stays here, the tester gets a handle
                    if id(value) not in refs:
                        refs[id(value)] = len(objects)
                        objects.append(value)
                    answer = {"ref": refs[id(value)], "kinds": type_names(value, instance=True)}
                pristine = marshal.loads(body)[1]
                mutated = changed_args(args, unswap(pristine) if swapped else pristine)
                if mutated:
                    answer["args"] = mutated
            except BaseException as exc:  # the function returned, but nothing that can cross: not a raise
                answer = {"unreadable": describe(exc)}
        if capture:
            sys.stdout, sys.stderr = streams
            for key, stream in (("out", out), ("err", err)):
                try:
                    answer[key] = str(stream.getvalue())[:CAPTURED]
                except BaseException:  # noqa: BLE001  (the program closed it)
                    answer[key] = ""
        try:
            emit(answer)
        except (TypeError, ValueError) as exc:
            emit({"unreadable": describe(exc)})


def operate(objects, name, args, kwargs):  # type: ignore[no-untyped-def]
    """A request on object n: ``@n.attr`` (read), ``@n=attr`` (set to args[0]), ``@n()`` (call),
    ``@n[]`` (item args[0]), ``@n#len``, ``#bool``, ``#iter``, ``#next``, ``#str``."""
    end = 1
    while name[end].isdigit():
        end += 1
    obj, op = objects[int(name[1:end])], name[end:]
    if op[:1] == ".":
        return getattr(obj, op[1:])
    if op[:1] == "=":
        setattr(obj, op[1:], args[0])
        return None
    if op == "()":
        return obj(*args, **kwargs)
    if op == "[]":
        return obj[args[0]]
    return {"#len": len, "#bool": bool, "#iter": iter, "#next": next, "#str": str}[op](obj)


def changed_args(args, pristine):  # type: ignore[no-untyped-def]
    """``[[k, <tagged>], ...]`` for each list, dict or set argument the call changed in place (the
    tester writes it back into its own copy, so ``rotate(m); assert m == ...`` works across sandboxes)."""
    out = []
    for k in range(len(pristine)):
        if type(pristine[k]) in (list, dict, set) and not pristine[k] == args[k]:
            try:
                out.append([k, encode(args[k])])
            except TypeError:
                pass  # it now holds objects: they do not cross
    return out


def type_names(obj, instance=False):  # type: ignore[no-untyped-def]
    """The names of the class of ``obj`` (an exception or an object kept here) and its bases, most
    derived first (``pytest.raises`` and ``isinstance`` in the tester)."""
    try:
        return [str(c.__name__)[:100] for c in type(obj).__mro__][:50]
    except BaseException:
        return ["object"] if instance else ["Exception"]


def describe(exc):  # type: ignore[no-untyped-def]
    try:
        text = type(exc).__name__ + ": " + str(exc)
    except BaseException:
        text = "exception"
    return text[:500]


if __name__ == "__main__":
    main()
