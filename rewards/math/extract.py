"""Find the final answer of a whole completion, and the bare gold answer of a dataset row.

* :func:`extract_answer`: ``<answer>…</answer>``, else the last balanced ``\\boxed{…}`` / ``\\fbox{…}``,
  else GSM8K's ``#### 42``, else "the answer is …".
* :func:`gold_answer`: GSM8K's ``… #### 42`` and boxed solutions reduced to the bare answer.

Pure string work: no sympy, no processes; :mod:`rewards.math.verify` decides equality.
"""

from __future__ import annotations

import re
from typing import Any

SCAN_LIMIT = 4_000  # how far a balanced-brace scan looks from one \boxed
ANSWER_IS = re.compile(r"(?:final answer|the answer)\s*(?:is|:)\s*:?|\banswer\s*:", re.IGNORECASE)


MODES = ("strict", "lenient")


def extract_answer(text: str, mode: str = "strict") -> str | None:
    """The final answer of a whole completion (see the module docstring); ``None`` when there is none.

    ``mode="lenient"`` falls back, when no marker is found, to the last math span or number of the text.
    """
    if mode not in MODES:
        raise ValueError(f"extraction mode {mode!r}: choose one of {', '.join(MODES)}")
    if not isinstance(text, str) or not text:
        return None
    found = _marked(text)
    if found is None and mode == "lenient":
        found = _last_expression(text)
    return found


def _marked(text: str) -> str | None:
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


MATH_SPAN = re.compile(r"\$\$(.+?)\$\$|\\\[(.+?)\\\]|\$([^$\n]+?)\$|\\\(([^\n]+?)\\\)", re.DOTALL)
LAST_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?|-?\.\d+")


def _last_expression(text: str) -> str | None:
    """The last math span (``$…$``, ``$$…$$``, ``\\[…\\]``, ``\\(…\\)``), else the last number."""
    tail = text[-SCAN_LIMIT:]
    spans = [next(g for g in m.groups() if g is not None) for m in MATH_SPAN.finditer(tail)]
    spans = [s for s in spans if s.strip()]
    if spans:
        return _clean(spans[-1])
    numbers = LAST_NUMBER.findall(tail)
    return _clean(numbers[-1].rstrip(",")) if numbers else None


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


def gold_answer(gold: Any) -> str:
    """The bare gold answer of a dataset row: GSM8K's ``… #### 42`` and boxed solutions reduced to it."""
    if gold is None:
        return ""
    text = str(gold).strip()
    if "####" in text or "\\boxed" in text or "\\fbox" in text:
        return extract_answer(text) or ""
    return _clean(text) or ""
