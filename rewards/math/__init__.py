"""The math verifier: extract a completion's final answer, decide whether it equals the gold answer.

* :mod:`rewards.math.extract` — :func:`extract_answer` (answer tags, ``\\boxed``, ``####``, "the answer
  is"; ``mode="strict"`` by default, ``"lenient"`` falls back to the last expression) and :func:`gold_answer`.
* :mod:`rewards.math.verify` — :func:`is_equivalent`: exact, bounded in time from any thread (each check
  runs in a killable worker process, started on first use).
* :mod:`rewards.math.latex`, :mod:`rewards.math.expr` (with :mod:`rewards.math.bounds`),
  :mod:`rewards.math.equivalence` (with :mod:`rewards.math.compare`) — LaTeX normalisation, a bounded safe
  parser into sympy, and the equivalence rules (run in the workers).
* :mod:`rewards.math.reward` — the ``math.accuracy`` reward.

Use::

    from rewards.math import extract_answer, is_equivalent
    is_equivalent(extract_answer(completion) or "", r"\\frac{1}{2}")
"""

from rewards.math.extract import extract_answer, gold_answer
from rewards.math.reward import accuracy, score, score_batch
from rewards.math.verify import DEADLINE, is_equivalent, plain_rational, warm_up

__all__ = [
    "DEADLINE",
    "accuracy",
    "extract_answer",
    "gold_answer",
    "is_equivalent",
    "plain_rational",
    "score",
    "score_batch",
    "warm_up",
]
