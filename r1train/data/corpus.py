"""The pocket lab's synthetic pretraining corpus: problems answered directly or with the work shown.

A base model that *can* reason but rarely *does* is pretrained on documents of two kinds, both in the
R1 format the RL run rewards:

* direct: ``<answer>8</answer>``;
* worked (``think_fraction`` of them): ``<think>7,a+3=0,b*7=0,c-2=8</think><answer>8</answer>``.

A worked solution is written by the task's *worker*, registered here by task name (:data:`WORKERS`).
What makes a good pocket task is a gap: every character of a written step must be a local fact or a copy
the model can find by content, while the direct answer needs serial work a tiny model cannot do in one
pass. The ``chain`` worker (the shipped base's task) has that gap; the others (``addition``, ``sum``,
``multiplication``) were tried first, and direct answers to them turned out as easy to learn as the work
(README, "The pocket lab"). The ``calc`` worker shows a calculator call instead of work (the pocket
tool lab: ``<think><calc>347*285</calc><out>98895</out></think><answer>98895</answer>``).

Use::

    docs = build_corpus("chain", {"min_ops": 2, "ops": 6}, size=1000, think_fraction=0.6, seed=0)
    docs[0].completion  # '<answer>8</answer>' (or, for about 60% of documents, the worked form)
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from r1train.data import tasks
from r1train.errors import UserError
from r1train.registry import registrar

Worker = Callable[[dict[str, Any]], str]
WORKERS: dict[str, Worker] = {}


register = registrar(WORKERS)  # @register(task): a worked-solution writer, fn(row) -> think text


@register("addition")
def addition_work(row: dict[str, Any]) -> str:
    """Column sums right to left, each ``x+y+c=ss`` (carry in ``c``, two-digit sum ``ss``), comma-separated.

    ``"347+285"`` -> ``"7+5+0=12,4+8+1=13,3+2+1=06"`` (answer 632; a last sum of ``1x`` adds a leading 1).
    """
    a, b = str(row["question"]).split("+")
    width = max(len(a), len(b))
    a, b = a.zfill(width), b.zfill(width)
    steps, carry = [], 0
    for x, y in zip(reversed(a), reversed(b), strict=True):
        s = int(x) + int(y) + carry
        steps.append(f"{x}+{y}+{carry}={s:02d}")
        carry = s // 10
    return ",".join(steps)


@register("sum")
def sum_work(row: dict[str, Any]) -> str:
    """Running sums, each written with one digit more than a term, so step ``k`` sits under term ``k``.

    ``"23+45+67+89"`` -> ``"023068135224"`` (023, 023+45=068, 068+67=135, 135+89=224; answer 224). A term
    and its ``+`` take ``digits + 1`` characters in the question, and so does each running sum in the
    work: every step reads its term at the same distance back (no counting needed) and the sum before
    it right behind it, and the last step is the answer. Width ``digits + 1`` holds up to ten terms.
    """
    nums = str(row["question"]).split("+")
    width = max(len(x) for x in nums) + 1
    total, steps = 0, []
    for x in nums:
        total += int(x)
        steps.append(str(total).zfill(width))
    return "".join(steps)


@register("chain")
def chain_work(row: dict[str, Any]) -> str:
    """The start digit, then one step per operation: its label, the operation and the value after it.

    ``"7a+3b*7c-2"`` -> ``"7,a+3=0,b*7=0,c-2=8"`` (answer 8). Every step is built from nearby or
    findable characters: the label follows the one six characters back, the operation is copied from
    right after the same label in the question (found by content, not by counting), and the value is a
    single-digit fact of the value five characters back and the operation just written.
    """
    question = str(row["question"])
    values = tasks.chain_values(question)
    steps = [f"{question[i:i + 3]}={values[k + 1]}" for k, i in enumerate(range(1, len(question), 3))]
    return ",".join([question[0], *steps])


@register("multiplication")
def multiplication_work(row: dict[str, Any]) -> str:
    """Partial products of ``a*b`` by the digits of ``b`` (right to left), then their running sum.

    ``"47*38"`` -> ``"47*8=376,47*30=1410,376+1410=1786"``.
    """
    a, b = str(row["question"]).split("*")
    scales = [int(d) * 10**i for i, d in enumerate(reversed(b)) if d != "0"] or [0]
    steps = [f"{a}*{m}={int(a) * m}" for m in scales]
    total = int(a) * scales[0]
    for m in scales[1:]:
        steps.append(f"{total}+{int(a) * m}={total + int(a) * m}")
        total += int(a) * m
    return ",".join(steps)


@register("function")
def function_work(row: dict[str, Any]) -> str:
    """The constant read off the first example, ``f(x)=y``: ``y-x=k`` for ``+``, ``y/x=k`` for ``*``,
    ``x-y=k`` for ``-``. ``"f(2)=5 f(7)=10 f(4)=7"`` with ``f=lambda x:x+3`` -> ``"5-2=3"``."""
    first = str(row["question"]).split(" ")[0]  # f(2)=5
    x, y = first[2:].split(")=")
    op, k = str(row["program"])[len("f=lambda x:x"):][0], str(row["program"])[len("f=lambda x:x") + 1:]
    return {"+": f"{y}-{x}={k}", "*": f"{y}/{x}={k}", "-": f"{x}-{y}={k}"}[op]


@register("calc")
def calc_work(row: dict[str, Any]) -> str:
    """One calculator call and its output, in the ``tools`` environment's compact format.

    ``"347*285"`` -> ``"<calc>347*285</calc><out>98895</out>"`` (answer 98895): a worked document
    shows the tool in use; in RL the environment, not the model, writes the ``<out>…</out>`` part.
    """
    return f"<calc>{row['question']}</calc><out>{row['answer']}</out>"


def completion_text(answer: str, work: str | None) -> str:
    """The R1-format completion: ``<think>work</think><answer>answer</answer>`` or the answer alone."""
    head = f"<think>{work}</think>" if work is not None else ""
    return f"{head}<answer>{answer}</answer>"


@dataclass(frozen=True)
class Document:
    """One pretraining document: a task row and how it is answered."""

    question: str
    answer: str
    completion: str
    worked: bool
    level: int
    learn_start: bool = True  # False: the opening <think> token is not learned (the work still is)


def build_corpus(
    task: str,
    options: dict[str, Any],
    size: int,
    think_fraction: float,
    seed: int,
    holdout_seed: int = 0,
    holdout_size: int = 1024,
    think_start_fraction: float = 1.0,
) -> list[Document]:
    """``size`` seeded documents of ``task``; each is worked with probability ``think_fraction``.

    Of the worked documents, only ``think_start_fraction`` teach the choice to start thinking (their
    opening ``<think>`` token is learned); the others teach the work alone. The base then knows how to
    work a problem from many examples yet starts doing so rarely: less often than the share of learned
    starts, ``f*s / (f*s + 1 - f)`` (``f`` = think_fraction, ``s`` = think_start_fraction), because the
    loss is a mean over a batch's tokens and batches are grouped by length, so a short direct answer's
    first token weighs several times more than a worked one's (pocket lab, chain task: f=0.6, s=0.1 gave
    a think rate of 1%, not 13%).

    Questions of the RL run's held-out set (task ``generate`` with ``holdout_seed``, the RL recipe's
    ``train.seed``, and the first ``holdout_size`` held-out rows) never appear in the corpus, so the
    before/after evaluation is on problems the base has not seen.

    A row's ``document`` column, where the task gives one, is what the document answers instead of
    ``answer`` (task ``function`` with ``wrong``: a corpus mixing right and wrong programs).
    """
    if task not in WORKERS or task not in tasks.TASKS:
        raise UserError(f"corpus.task {task!r} has no worked-solution writer; use one of {', '.join(sorted(WORKERS))}")
    if not 0.0 <= think_fraction <= 1.0:
        raise UserError(f"corpus.think_fraction is {think_fraction}; it must be between 0 and 1")
    if not 0.0 <= think_start_fraction <= 1.0:
        raise UserError(f"corpus.think_start_fraction is {think_start_fraction}; it must be between 0 and 1")
    opts = {k: v for k, v in options.items() if k not in tasks.OPTION_KEYS}
    _, held = tasks.generate(task, {**opts, "train_size": 0, "eval_size": holdout_size}, holdout_seed)
    held_q = {row["question"] for row in held}
    fn = tasks.TASKS[task]
    rng = random.Random(f"corpus-{task}-{seed}")
    docs: list[Document] = []
    while len(docs) < size:
        row = fn(rng, **opts)
        if row["question"] in held_q:
            continue
        worked = rng.random() < think_fraction
        work = WORKERS[task](row) if worked else None
        learn_start = not worked or think_start_fraction >= 1.0 or rng.random() < think_start_fraction
        answer = str(row.get("document", row["answer"]))  # a task may write some documents wrong
        level = int(row.get("level", 0))
        docs.append(Document(str(row["question"]), answer, completion_text(answer, work), worked, level, learn_start))
    return docs
