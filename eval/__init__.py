"""The evaluation harness: benchmarks graded by the same verifiers and rollout engines as training.

* :mod:`eval.benchmarks`: the benchmark registry (a YAML card per benchmark in ``eval/data/``: math, and
  code graded in the sandbox), loading from the hub, a package's data or a local file of the same shape;
* :mod:`eval.answers`: answer kinds (extraction + equivalence) for maj@k;
* :mod:`eval.metrics`: pass@1, unbiased pass@k, maj@k, standard error and bootstrap intervals;
* :mod:`eval.runner`: template → rollout engine → verifier → records → metrics;
* :mod:`eval.report`: the JSON report, the printed table, the ``compare`` markdown;
* :mod:`eval.live`: the in-training hook (``eval.every: N``);
* :mod:`eval.cli`: ``r1train eval`` and ``r1train compare``;
* :mod:`eval.pocket`: how the shipped ``eval/data/pocket.jsonl`` is made from the pocket recipe.

The package imports nothing heavy at import time; ``r1train eval --list`` shows the benchmarks.
"""
