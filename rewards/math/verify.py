"""Decide whether two bare final answers are mathematically the same, in bounded time, from any thread.

:func:`is_equivalent` is exact (see :mod:`rewards.math.equivalence` for the rules). It returns within
:data:`DEADLINE` seconds (+ a few ms) on any input: the check runs in a warm worker process that is
killed at the deadline (:mod:`rewards.workers`). Plain numbers and fractions are compared in-process
without a worker. Importing this module starts nothing: the workers start on first use, or when
:func:`warm_up` is called (a trainer calls it while it loads the model); a call waits at most
:data:`START_WAIT` for them, so even the first call of a process is bounded.

Use::

    from rewards.math import is_equivalent
    is_equivalent("0.5", r"\\frac{1}{2}")   # True
"""

from __future__ import annotations

import importlib
import logging
import os
import re
import threading
from fractions import Fraction

from rewards.workers import UNAVAILABLE, WorkerPool

DEADLINE = 1.5  # seconds a check may run before its worker is killed (the contract is 2 s)
MAX_INPUT_CHARS = 20_000  # longer "answers" are never a final answer; they go no further than here
START_WAIT = 1.8  # the most a call waits for the workers to start (the first call of a process)
DECIMAL = r"(?:\d{1,3}(?:,\d{3}){1,10}|\d{1,40})(?:\.\d{0,40})?|\.\d{1,40}"
PLAIN_NUMBER = re.compile(rf"(-?)({DECIMAL})")
PLAIN_FRACTION = re.compile(r"(-?)(?:\\[dt]?frac\{(\d{1,40})\}\{(\d{1,40})\}|(\d{1,40})\s*/\s*(\d{1,40}))")
EQUIVALENCE = "rewards.math.equivalence"

log = logging.getLogger("rewards.math")
_pool_lock = threading.Lock()
_pool_instance: WorkerPool | None = None
_warned: list[bool] = []


def is_equivalent(pred: str, gold: str) -> bool:
    """Whether two bare final answers are mathematically the same; bounded in time, never raises."""
    if not isinstance(pred, str) or not isinstance(gold, str):
        return False
    quick = _quick(pred, gold)
    if quick is not None:
        return quick
    return check("equivalent", pred, gold) is True


def check(name: str, *args: str) -> object:
    """``rewards.math.equivalence.<name>(*args)`` in a worker; in a thread here if no process can start."""
    result = pool().call(f"{EQUIVALENCE}:{name}", args, timeout=DEADLINE, start_wait=START_WAIT)
    if result is not UNAVAILABLE:
        return result
    if not _warned:
        _warned.append(True)
        log.warning("rewards.math: cannot start worker processes; checking in threads (a hang cannot be killed)")
    equivalence = importlib.import_module(EQUIVALENCE)  # imports sympy into this process: only on this fallback path

    box: list[object] = []
    thread = threading.Thread(target=lambda: box.append(getattr(equivalence, name)(*args)), daemon=True)
    thread.start()
    thread.join(DEADLINE)
    return box[0] if box else False


def _quick(pred: str, gold: str) -> bool | None:
    """Decide cheaply in-process where it is safe: empty, huge, or two plain decimal numbers."""
    p, g = pred.strip(), gold.strip()
    if not p or not g or len(p) > MAX_INPUT_CHARS or len(g) > MAX_INPUT_CHARS:
        return False
    a, b = plain_rational(p), plain_rational(g)
    if a is not None and b is not None:
        return a == b
    return None


def plain_rational(text: str) -> Fraction | None:
    """``-1,234.5``, ``$7$``, ``3/4``, ``\\frac{3}{4}`` as an exact Fraction; None for anything else."""
    s = text.strip()
    if len(s) >= 2 and s[0] == s[-1] == "$":
        s = s[1:-1].strip()
    if (m := PLAIN_NUMBER.fullmatch(s)) is not None:
        value = Fraction(m.group(2).replace(",", ""))
        return -value if m.group(1) else value
    if (m := PLAIN_FRACTION.fullmatch(s)) is not None:
        num, den = (m.group(2), m.group(3)) if m.group(2) else (m.group(4), m.group(5))
        if int(den) == 0:
            return None
        return Fraction(-int(num) if m.group(1) else int(num), int(den))
    return None


def pool() -> WorkerPool:
    global _pool_instance
    with _pool_lock:
        if _pool_instance is None:
            size = max(2, min(8, os.cpu_count() or 2))
            _pool_instance = WorkerPool(preload=(EQUIVALENCE,), size=size)
        return _pool_instance


def warm_up() -> None:
    """Start the worker processes now, so that the first checks do not pay for the start (~1 s)."""
    pool().warm()
