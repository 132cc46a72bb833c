"""The math verifier: extract a completion's final answer, decide whether it equals the gold answer.

* :func:`extract_answer` finds the final answer of a whole completion: ``<answer>…</answer>``, else the
  last balanced ``\\boxed{…}`` / ``\\fbox{…}``, else GSM8K's ``#### 42``, else "the answer is …".
* :func:`is_equivalent` decides equality of two bare answers, exactly (see :mod:`rewards.equivalence`
  for the rules). It returns within :data:`DEADLINE` seconds (+ a few ms) on any input, from any thread:
  the check runs in a warm worker process that is killed at the deadline (:mod:`rewards.workers`).
  Plain numbers and fractions are compared in-process without a worker. Importing this module starts
  the workers in a background thread (``R1TRAIN_MATH_WARM=0``: on first use instead); a call waits at
  most :data:`START_WAIT` for them, so even the first call of a process is bounded.
* ``math.accuracy`` is the reward: 1.0 / 0.0, or ``None`` (logged) when the gold answer cannot be read.
  A batch is scored by all workers in parallel.

Use::

    from rewards.math import extract_answer, is_equivalent
    is_equivalent(extract_answer(completion) or "", r"\\frac{1}{2}")
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Any

from rewards.registry import register
from rewards.workers import UNAVAILABLE, WorkerPool

DEADLINE = 1.5  # seconds a check may run before its worker is killed (the contract is 2 s)
MAX_INPUT_CHARS = 20_000  # longer "answers" are never a final answer; they go no further than here
SCAN_LIMIT = 4_000  # how far a balanced-brace scan looks from one \boxed
START_WAIT = 1.8  # the most a call waits for the workers to start (the first call of a process)
DECIMAL = r"(?:\d{1,3}(?:,\d{3}){1,10}|\d{1,40})(?:\.\d{0,40})?|\.\d{1,40}"
PLAIN_NUMBER = re.compile(rf"(-?)({DECIMAL})")
PLAIN_FRACTION = re.compile(r"(-?)(?:\\[dt]?frac\{(\d{1,40})\}\{(\d{1,40})\}|(\d{1,40})\s*/\s*(\d{1,40}))")
ANSWER_IS = re.compile(r"(?:final answer|the answer)\s*(?:is|:)\s*:?|\banswer\s*:", re.IGNORECASE)

log = logging.getLogger("rewards.math")
_pool_lock = threading.Lock()
_pool_instance: WorkerPool | None = None
_warned: list[bool] = []


def extract_answer(text: str) -> str | None:
    """The final answer of a whole completion (see the module docstring); ``None`` when there is none."""
    if not isinstance(text, str) or not text:
        return None
    close = text.rfind("</answer>")
    if close >= 0:
        open_ = text.rfind("<answer>", 0, close)
        if open_ >= 0:
            inner = text[open_ + len("<answer>") : close]
            found = _clean(_boxed(inner) or _answer_is(inner) or inner)
            if found is not None:
                return found
    for finder in (_boxed, _gsm8k, _answer_is):
        found = finder(text)
        if found is not None and (cleaned := _clean(found)) is not None:
            return cleaned
    return None


def _boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` / ``\\fbox{…}`` whose braces balance (or ``\\boxed 5``)."""
    end = len(text)
    for _ in range(50):
        at = max(text.rfind("\\boxed", 0, end), text.rfind("\\fbox", 0, end))
        if at < 0:
            return None
        end = at
        start = at + (6 if text.startswith("\\boxed", at) else 5)
        while start < len(text) and text[start] == " ":
            start += 1
        if start < len(text) and text[start] == "{":
            depth = 0
            for i in range(start, min(len(text), start + SCAN_LIMIT)):
                ch = text[i]
                if ch == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
                    continue
                if ch == "{" and text[i - 1] != "\\":
                    depth += 1
                elif ch == "}" and text[i - 1] != "\\":
                    depth -= 1
                    if depth == 0:
                        return text[start + 1 : i]
        elif start > at + 5 and start < len(text):  # "\boxed 5": up to white space or "$"
            m = re.match(r"[^\s$]+", text[start : start + 200])
            if m:
                return m.group(0)
    return None


def _gsm8k(text: str) -> str | None:
    at = text.rfind("####")
    if at < 0:
        return None
    line = text[at + 4 :].strip().split("\n", 1)[0].strip()
    return line or None


def _answer_is(text: str) -> str | None:
    tail = text[-4000:]
    last = None
    for last in ANSWER_IS.finditer(tail):
        pass
    if last is None:
        return None
    rest = tail[last.end() :].strip().split("\n", 1)[0].replace("\\$", "")
    rest = re.split(r"(?<!\d)\.(?:\s|$)|\.\s", rest, maxsplit=1)[0]
    rest = rest.strip().strip("*").strip()  # **Answer:** 5
    maths = list(re.finditer(r"\$(.+?)\$|\\\((.+?)\\\)", rest))
    if maths:
        between = [rest[a.end() : b.start()] for a, b in zip(maths, maths[1:])]
        if all(re.fullmatch(r"\s*(?:,|or|and|,\s*and|,\s*or)?\s*", gap) for gap in between):
            rest = ", ".join(m.group(1) or m.group(2) for m in maths)  # $x = 2$ or $x = 3$
        else:
            rest = maths[0].group(1) or maths[0].group(2)
    else:  # "the answer is 42, which is even": the prose after the answer is not part of it
        rest = re.split(r",?\s+(?:because|since|which|as|so|where|when)\b", rest, maxsplit=1)[0]
    return rest.strip() or None


def _clean(answer: str) -> str | None:
    s = answer.strip()
    for _ in range(3):
        before = s
        if len(s) >= 2 and s.startswith("$") and s.endswith("$"):
            s = s.strip("$").strip()
        for left, right in (("\\(", "\\)"), ("\\[", "\\]")):
            if s.startswith(left) and s.endswith(right):
                s = s[len(left) : -len(right)].strip()
        s = s.rstrip(".").rstrip()
        if s == before:
            break
    return s or None


def is_equivalent(pred: str, gold: str) -> bool:
    """Whether two bare final answers are mathematically the same; bounded in time, never raises."""
    if not isinstance(pred, str) or not isinstance(gold, str):
        return False
    quick = _quick(pred, gold)
    if quick is not None:
        return quick
    return _run("equivalent", pred, gold) is True


def _run(name: str, *args: str) -> object:
    """``rewards.equivalence.<name>(*args)`` in a worker; in a thread here if no process can start."""
    result = _pool().call(f"rewards.equivalence:{name}", args, timeout=DEADLINE, start_wait=START_WAIT)
    if result is not UNAVAILABLE:
        return result
    if not _warned:
        _warned.append(True)
        log.warning("rewards.math: cannot start worker processes; checking in threads (a hang cannot be killed)")
    from rewards import equivalence  # imports sympy into this process: only on this fallback path

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


def _pool() -> WorkerPool:
    global _pool_instance
    with _pool_lock:
        if _pool_instance is None:
            size = max(2, min(8, os.cpu_count() or 2))
            _pool_instance = WorkerPool(preload=("rewards.equivalence",), size=size)
        return _pool_instance


def warm_up() -> None:
    """Start the worker processes now, so that the first checks do not pay for the start (~1 s)."""
    _pool().warm()


if os.environ.get("R1TRAIN_MATH_WARM", "1") != "0":  # start the workers while the caller sets up
    threading.Thread(target=warm_up, name="rewards.math warm-up", daemon=True).start()


def gold_answer(gold: Any) -> str:
    """The bare gold answer of a dataset row: GSM8K's ``… #### 42`` and boxed solutions reduced to it."""
    if gold is None:
        return ""
    text = str(gold).strip()
    if "####" in text or "\\boxed" in text or "\\fbox" in text:
        return extract_answer(text) or ""
    return _clean(text) or ""


def score(completion: str, gold: Any) -> float | None:
    """1.0 when the completion's final answer equals the gold answer, 0.0 if not, None if gold is unreadable."""
    gold_text = gold_answer(gold)
    if not gold_text or not _gold_parses(gold_text):
        log.warning("math.accuracy: cannot parse the gold answer %r; scoring None", str(gold)[:200])
        return None
    pred = extract_answer(completion)
    if pred is None:
        return 0.0
    return 1.0 if is_equivalent(pred, gold_text) else 0.0


def _gold_parses(gold: str) -> bool:
    if plain_rational(gold) is not None:
        return True
    return _run("parses", gold) is True


def score_batch(completions: Sequence[str], golds: Sequence[Any]) -> list[float | None]:
    """:func:`score` for every pair, spread over the worker processes (one thread per worker)."""
    if len(completions) != len(golds):
        raise ValueError(f"{len(completions)} completions but {len(golds)} gold answers; they must match")
    pool = _pool()
    pool.warm()  # a trainer waits for the workers to start rather than score its first batch 0
    if len(completions) <= 1:
        return [score(c, g) for c, g in zip(completions, golds)]
    with ThreadPoolExecutor(max_workers=pool.size) as executor:
        return list(executor.map(score, completions, golds))


@register("math.accuracy")
def accuracy(completions: list[str], answer: list[Any], **_: Any) -> list[float | None]:
    """1.0 when the final answer (answer tags, \\boxed, ####) equals the gold ``answer``, else 0.0."""
    return score_batch(completions, answer)
