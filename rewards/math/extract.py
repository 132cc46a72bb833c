"""Find the final answer of a whole completion, and the bare gold answer of a dataset row.

* :func:`extract_answer`: only the text after the last ``</think>`` counts (an answer tried while
  thinking is not the answer); in it ``<answer>…</answer>``, else the last balanced ``\\boxed{…}`` /
  ``\\fbox{…}`` (with the boxes just before it when only separators stand between them: ``\\boxed{2},
  \\boxed{3}`` is the answer "2, 3"), else GSM8K's ``#### 42``, else the *last* "the answer is …" /
  "Final Answer: …" (prose such as "The largest $n$ is 34" gives 34).
  Two modes: ``strict`` (the default) reads only those markers; ``lenient`` falls back, when there is
  none, to the last math span (``$…$``, ``\\[…\\]``) or number of the completion, as Math-Verify does.
* :func:`gold_answer`: GSM8K's ``… #### 42`` and boxed solutions reduced to the bare answer (every
  distinct box of a gold counts: a gold with two boxes has two answers).
* :func:`undouble_backslashes`: ``\\\\frac`` (a backslash escaped once too often) back to ``\\frac``.

Pure string work: no sympy, no processes; :mod:`rewards.math.verify` decides equality.
"""

from __future__ import annotations

import re
from typing import Any

SCAN_LIMIT = 4_000  # how far a balanced-brace scan looks from one \boxed
MODES = ("strict", "lenient")
ANSWER_IS = re.compile(r"(?:final answer|the answer)\s*(?:is|:)\s*:?|\banswer\s*:", re.IGNORECASE)
MATH_SPAN = re.compile(
    r"(?<!\\)\$\$(.+?)(?<!\\)\$\$|\\\[(.+?)\\\]|(?<!\\)\$((?:[^$\n]|(?<=\\)\$)+?)(?<!\\)\$|\\\(([^\n]+?)\\\)", re.DOTALL
)
LAST_NUMBER = re.compile(
    r"(?<![A-Za-z\d.,])-?(?:\d{1,3}(?:(?:,| )\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:\s*/\s*\d+)?%?|(?<![\w.])-?\.\d+"
)
WORD_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{2,}")  # a word, not a command or a variable
PROSE_RE = re.compile(r"(?<![\\a-zA-Z])[a-zA-Z]{3,}\b")
COMMANDS = (
    "frac|dfrac|tfrac|cfrac|left|right|le|leq|ge|geq|ne|neq|lt|gt|sqrt|boxed|fbox|text|textbf|mathrm|mathbf|"
    "pi|cdot|times|div|infty|in|cup|cap|pm|mp|approx|sum|prod|int|lim|log|ln|sin|cos|tan|sec|csc|cot|alpha|"
    "beta|gamma|delta|theta|lambda|mu|sigma|omega|phi|begin|end|quad|qquad|circ|degree|dots|ldots|cdots|"
    "binom|dbinom|overline|vec|hat|angle|triangle|emptyset|varnothing|mid|vert|lvert|rvert|lfloor|rfloor|"
    "lceil|rceil|mathbb|operatorname|displaystyle|sqrt|equiv|pmod|bmod|mod"
)
DOUBLED_RE = re.compile(rf"(?<!\\)\\\\(?=(?:{COMMANDS})(?![a-zA-Z]))")
BOX_GAP_RE = re.compile(
    r"(?:\s|[,;.$]|\\[()\[\]]|\\q?quad(?![a-zA-Z])|\\[,;! ]|\\text\s*\{[^{}]*\}|\b(?:and|or)\b)*"
)
BOX_GAP_WORDS = {"and", "or", "for", "part", "parts", "a", "b", "c", "d", "i", "ii", "iii"}


def extract_answer(text: str, mode: str = "strict") -> str | None:
    """The final answer of a whole completion (see the module docstring); ``None`` when there is none."""
    if mode not in MODES:
        raise ValueError(f"extraction mode {mode!r}: choose one of {', '.join(MODES)}")
    if not isinstance(text, str) or not text:
        return None
    think = text.rfind("</think>")
    if think >= 0:
        text = text[think + len("</think>") :]
    text = undouble_backslashes(text)
    found = _marked(text)
    if found is None and mode == "lenient":
        found = _last_expression(text)
    return found


def undouble_backslashes(text: str) -> str:
    r"""``\\frac``, ``\\left``, ``\\le`` -> ``\frac``, ``\left``, ``\le`` (and, in such a text, ``\\\\`` -> ``\\``).

    A real LaTeX line break is never followed directly by a command's letters, so the rewrite is safe.
    """
    if "\\\\" not in text or not DOUBLED_RE.search(text):
        return text
    return DOUBLED_RE.sub(r"\\", text.replace("\\\\\\\\", "\\\\"))


def _marked(text: str) -> str | None:
    close = text.rfind("</answer>")
    if close >= 0:
        open_ = text.rfind("<answer>", 0, close)
        if open_ >= 0:
            inner = text[open_ + len("<answer>") : close]
            found = _clean(_boxed(inner) or _answer_is(inner) or inner)
            if found is not None:
                return found
    boxed, said = _boxed(text), _answer_is(text)
    if boxed is not None and said is not None:  # both: the later one is the final answer
        last_box = max(b[1] for b in _boxes(text, limit=1))
        marker = max(m.end() for m in ANSWER_IS.finditer(text[-4000:])) + max(0, len(text) - 4000)
        if marker < last_box or not re.search(r"[\d\\]", said):  # "the answer is correct" is no answer
            said = None
    for found in (said, boxed, _gsm8k(text), _answer_is(text) if boxed is None else None):
        if found is not None and (cleaned := _clean(found)) is not None:
            return cleaned
    return None


def _last_expression(text: str) -> str | None:
    """The last math span (``$…$``, ``$$…$$``, ``\\[…\\]``, ``\\(…\\)``) or number after it, whichever is later."""
    tail = text[-SCAN_LIMIT:]
    if len(tail) < 200 and not WORD_RE.search(tail) and "$" not in tail:  # the whole text is an expression
        return _clean(tail)
    spans = [m for m in MATH_SPAN.finditer(tail) if next(g for g in m.groups() if g is not None).strip()]
    after = spans[-1].end() if spans else 0
    numbers = list(LAST_NUMBER.finditer(tail, after))
    if numbers:
        return _clean(numbers[-1].group(0))
    return _clean(next(g for g in spans[-1].groups() if g is not None)) if spans else None


def _boxes(text: str, limit: int = 50) -> list[tuple[int, int, str]]:
    """The balanced ``\\boxed{…}`` / ``\\fbox{…}`` (or ``\\boxed 5``) of ``text``, last first: (start, end, content)."""
    found: list[tuple[int, int, str]] = []
    end = len(text)
    for _ in range(limit):
        at = max(text.rfind("\\boxed", 0, end), text.rfind("\\fbox", 0, end))
        if at < 0:
            break
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
                        if not any(s < at < e for s, e, _ in found):  # not a box inside a later box
                            found.append((at, i + 1, text[start + 1 : i]))
                        break
        elif start > at + 5 and start < len(text):  # "\boxed 5": up to white space or "$"
            m = re.match(r"[^\s$]+", text[start : start + 200])
            if m:
                found.append((at, start + m.end(), m.group(0)))
    return found


def _boxed(text: str, gold: bool = False) -> str | None:
    """The last box, joined with the boxes before it while only separators stand between them (in a
    gold, anything without letters or digits separates: ``\\boxed{35} ++ \\boxed{4}``)."""
    boxes = [b for b in _boxes(text) if b[2].strip()]
    if not boxes:
        return None
    run = [boxes[0]]
    for box in boxes[1:]:
        gap = text[box[1] : run[-1][0]]
        if not (_separator_only(gap) or (gold and len(gap) < 80 and not re.search(r"[A-Za-z0-9]", gap))):
            break
        run.append(box)
    contents: list[str] = []
    for box in reversed(run):
        if box[2].strip() not in contents:  # \boxed{004} ... \boxed{004}: one answer
            contents.append(box[2].strip())
    return ", ".join(contents)


def _separator_only(gap: str) -> bool:
    """``, ``, `` and ``, ``\\quad \\text{and} \\quad``, ``\\text{ for part (a) and }``: nothing but separators."""
    if len(gap) > 80:
        return False
    words = [w.lower() for w in re.findall(r"[A-Za-z]+", re.sub(r"\\[a-zA-Z]+", " ", gap))]
    if BOX_GAP_RE.fullmatch(gap) is not None or (words and set(words) <= BOX_GAP_WORDS):
        return True
    return len(words) <= 4 and bool({"and", "or"} & set(words))  # "\boxed{1} papers and \boxed{2} bins"


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
    rest = _after_prose(rest)
    maths = list(re.finditer(r"\$(.+?)\$|\\\((.+?)\\\)", rest))
    if maths:
        between = [rest[a.end() : b.start()] for a, b in zip(maths, maths[1:])]
        if all(re.fullmatch(r"\s*(?:,|or|and|,\s*and|,\s*or)?\s*", gap) for gap in between):
            rest = ", ".join(m.group(1) or m.group(2) for m in maths)  # $x = 2$ or $x = 3$
        else:
            rest = maths[0].group(1) or maths[0].group(2)
    else:  # "the answer is 42, which is even": the prose after the answer is not part of it
        rest = re.split(r",?\s+(?:because|since|which|as|so|where|when)\b", rest, maxsplit=1)[0]
        if len(PROSE_RE.findall(rest)) >= 3:  # "Jane started growing Sphere 3 hours ago": the value in it
            return _last_expression(rest)
    return rest.strip() or None


def _after_prose(rest: str) -> str:
    """"The largest $n$ is 34" -> "34": a sentence that names the answer before giving it."""
    if not re.match(r"(?:The|the|Our|our|This|this|So|Thus|Hence)\s", rest):
        return rest
    outside = re.sub(r"\$[^$]*\$", lambda m: "#" * len(m.group(0)), rest)  # "is" inside maths is not prose
    verbs = list(re.finditer(r"\s(?:is|are|equals|was|will be)\s", outside))
    return rest[verbs[-1].end() :] if verbs else rest


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
    text = undouble_backslashes(str(gold).strip())
    if "\\boxed" in text or "\\fbox" in text:
        return _clean(_boxed(text, gold=True) or "") or ""
    if "####" in text or ANSWER_IS.search(text[-4000:]):
        return extract_answer(text) or ""
    return _clean(text) or ""
