"""Our in-sandbox scripts as bytecode made by the sandbox's own interpreter, so no sandbox compiles them.

Every sandbox runs one of this package's scripts: ``harness.py`` (call and assertion tests; 3.8 ms to
compile on this machine, at every candidate's start), ``tester.py``, or ``boot.py`` (a model's plain
program). :func:`prepare` swaps the script ``/box/<name>.py`` in a sandbox's arguments for
``/box/<name>.pyc``, which ``python3`` runs directly, adding the ``.pyc`` beside the source:

* compiled once per process and interpreter, by that interpreter (``python -I -S -B``, outside any
  sandbox: it compiles, it does not run them), so the magic number and bytecode match it whatever
  Python the trainer itself runs;
* only for files whose bytes are this package's own scripts: a model's code is never compiled outside
  its sandbox;
* ``boot.py``'s ``SITE_DIRS`` gets the interpreter's site-packages directories (and the plain directory
  lines of their ``.pth`` files), which the boot would otherwise ask ``site`` for at every start.

Where compiling fails (an interpreter that cannot run here, a timeout), the source runs, as before.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).parent
# Every file of ours a sandbox gets, read once per process; the one a sandbox runs as its script gets a .pyc.
SCRIPTS = {name: (HERE / name).read_bytes() for name in ("harness.py", "tester.py", "boot.py", "pytest_shim.py")}

# Runs in the sandbox's interpreter: reads the script's name and source, writes the .pyc's bytes.
_COMPILE = r"""
import importlib.util, marshal, os, sys
name, source = sys.stdin.buffer.read().split(b"\0", 1)
name = name.decode()
if name == "boot.py":
    import site
    dirs = []
    for d in site.getsitepackages():
        if not os.path.isdir(d):
            continue
        dirs.append(d)
        for pth in sorted(f for f in os.listdir(d) if f.endswith(".pth")):
            try:
                with open(os.path.join(d, pth), encoding="utf-8") as f:
                    lines = f.read().splitlines()
            except (OSError, UnicodeDecodeError):
                continue
            for line in lines:
                line = line.strip()
                if line and not line.startswith(("#", "import ", "import\t")):
                    full = os.path.join(d, line)
                    if os.path.isdir(full) and full not in dirs:
                        dirs.append(full)
    marker = b"SITE_DIRS = None"
    if marker not in source:
        sys.exit("boot.py has no SITE_DIRS line")
    source = source.replace(marker, b"SITE_DIRS = " + repr(tuple(dirs)).encode(), 1)
code = compile(source, "/box/" + name, "exec", dont_inherit=True)
sys.stdout.buffer.write(importlib.util.MAGIC_NUMBER + bytes(12) + marshal.dumps(code))
"""

_compiled: dict[tuple[str, str], bytes | None] = {}
_lock = threading.Lock()


def _new_lock_in_child() -> None:
    """A forked child must not inherit the lock in the state another thread held it."""
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def compiled(python: str, name: str) -> bytes | None:
    """The ``.pyc`` of our script ``name`` for ``python`` (cached), or None where it cannot be made."""
    key = (python, name)
    with _lock:
        if key not in _compiled:
            _compiled[key] = _compile(python, name)
        return _compiled[key]


def _compile(python: str, name: str) -> bytes | None:
    try:
        done = subprocess.run([python, "-I", "-S", "-B", "-c", _COMPILE], input=name.encode() + b"\0" + SCRIPTS[name],
                              capture_output=True, timeout=60, env={})
    except (OSError, subprocess.SubprocessError):
        return None
    out = done.stdout
    return out if done.returncode == 0 and len(out) > 16 and out[4:16] == bytes(12) else None


def prepare(python: str, args: Sequence[str], files: dict[str, bytes]) -> tuple[list[str], dict[str, bytes]]:
    """``args`` and ``files`` with the script (the first ``/box/...`` argument) run from its ``.pyc``."""
    args = list(args)
    for i, arg in enumerate(args):
        if arg.startswith("/box/"):
            name = arg[len("/box/") :]
            if SCRIPTS.get(name) is not None and files.get(name) == SCRIPTS[name]:
                pyc = compiled(python, name)
                if pyc is not None:
                    args[i] = arg + "c"
                    files = {**files, name + "c": pyc}
            break
    return args, files
