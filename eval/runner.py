"""Run benchmarks: template the problems, sample with a rollout engine, grade with the verifier, aggregate.

The same three pieces as a training step, in the same order: prompts are templated and tokenised as the
trainer does (:mod:`r1train.data.templates`), completions come from a rollout engine built by the engine
registry (:func:`r1train.rollout.make_engine`: ``vllm`` or ``hf``), and each completion is graded by the
benchmark's verifier through :func:`r1train.scoring.score`, the very call that turns completions into
rewards. Then :mod:`eval.metrics` turns the per-problem records into pass@1, pass@k, maj@k and friends.

Use (what ``r1train eval`` does)::

    from eval import runner
    report = runner.evaluate("tiny:1m", ["pocket"], runner.Settings(samples=4), engine="hf")

``evaluate_with`` runs on an engine you already hold (the in-training path, :mod:`eval.live`); it can
take a shard of the problems per process and gathers the records.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eval import answers, benchmarks, metrics
from eval.benchmarks import Benchmark, Problem
from r1train.errors import UserError
from r1train.rollout import Rollout, Sampling


@dataclass(frozen=True)
class Settings:
    """How to sample and which problems; ``None`` fields fall back to each benchmark's card."""

    samples: int = 1  # n completions per problem
    temperature: float = 0.6  # 0 = greedy
    top_p: float = 0.95
    max_new_tokens: int | None = None
    template: str | None = None
    system_prompt: str | None = None
    max_problems: int | None = None  # the first N problems of each benchmark
    seed: int = 0
    chunk: int = 1024  # samples per generate call (engines batch within a call; the bar moves between calls)

    def sampling(self, max_new_tokens: int, seed: int) -> Sampling:
        """The engine's :class:`Sampling`; greedy is top-k 1 (every engine supports it)."""
        greedy = self.temperature <= 0
        return Sampling(
            n=self.samples,
            max_new_tokens=max_new_tokens,
            temperature=1.0 if greedy else self.temperature,
            top_p=1.0 if greedy else self.top_p,
            top_k=1 if greedy else 0,
            seed=seed,
            logprobs=False,
        )


@dataclass
class Prepared:
    """A benchmark ready to sample: its problems, templated prompts and their token ids."""

    bench: Benchmark
    problems: list[Problem]
    prompts: list[str]
    prompt_ids: list[list[int]]
    max_new_tokens: int


def prepare(
    bench: Benchmark,
    tokenizer: Any,
    settings: Settings,
    path: str | Path | None = None,
    data_dir: str | Path | None = None,
) -> Prepared:
    """Load, cut to ``max_problems``, template and tokenise one benchmark's problems."""
    from r1train.data import templates

    problems = bench.problems(bench.load(path, data_dir))
    if settings.max_problems is not None:
        problems = problems[: settings.max_problems]
    name = settings.template or bench.template
    template = templates.get(name)
    prompts = [template(p.question, tokenizer, settings.system_prompt) for p in problems]
    add_special = not template.special_tokens_in_text  # a chat template already holds its special tokens
    ids = [tokenizer(p, add_special_tokens=add_special)["input_ids"] for p in prompts]
    return Prepared(bench, problems, prompts, ids, settings.max_new_tokens or bench.max_new_tokens)


# ---------------------------------------------------------------------------------------------------
# Sampling and grading.


def generate(
    engine: Any,
    prep: Prepared,
    settings: Settings,
    indices: Sequence[int],
    on_chunk: Callable[[int], None] | None = None,
) -> dict[int, list[Rollout]]:
    """``settings.samples`` rollouts for each problem in ``indices``, about ``settings.chunk`` samples a call."""
    out: dict[int, list[Rollout]] = {}
    indices = list(indices)
    per_call = max(1, settings.chunk // settings.samples)
    for start in range(0, len(indices), per_call):
        chunk = indices[start : start + per_call]
        seed = settings.seed * 1_000_003 + chunk[0]
        rollouts = engine.generate([prep.prompt_ids[i] for i in chunk], settings.sampling(prep.max_new_tokens, seed))
        for r in rollouts:
            out.setdefault(chunk[r.prompt_index], []).append(r)
        if on_chunk is not None:
            on_chunk(len(chunk))
    return out


def grade(prep: Prepared, rollouts: dict[int, list[Rollout]]) -> list[dict[str, Any]]:
    """Per-problem records: every completion graded by the benchmark's verifier, answers extracted, a vote."""
    from r1train.config import RewardSpec
    from r1train.train import scoring

    bench = prep.bench
    kind = answers.get(bench.extract)
    order = sorted(rollouts)
    flat = [(i, r) for i in order for r in rollouts[i]]
    if not flat:
        return []
    warm = getattr(kind, "warm_up", None)
    if callable(warm):
        warm()
    fns = scoring.load([RewardSpec(name=bench.verifier, args=dict(bench.verifier_args))])
    keys = [k for k in prep.problems[order[0]].columns if k not in scoring.RESERVED]
    columns: dict[str, list[Any]] = {k: [prep.problems[i].columns.get(k) for i, _ in flat] for k in keys}
    columns["answer"] = [prep.problems[i].answer for i, _ in flat]
    columns["prompts"] = [prep.prompts[i] for i, _ in flat]
    columns["completion_lengths"] = [len(r.completion_ids) for _, r in flat]
    texts = [r.text for _, r in flat]
    step = bench.grade_batch or len(flat)  # a code card grades in batches whose sandbox budget fits
    scores: list[float | None] = []
    for at in range(0, len(flat), step):
        part = {k: v[at : at + step] for k, v in columns.items()}
        scores += scoring.score(fns, texts[at : at + step], part).per_function[bench.verifier]
    records = []
    at = 0
    for i in order:
        group = rollouts[i]
        mine = scores[at : at + len(group)]
        at += len(group)
        correct = [s is not None and s >= bench.correct_threshold for s in mine]
        extracted = [kind.extract(r.text) for r in group]
        vote = metrics.majority_vote(extracted, correct, kind.equivalent)
        problem = prep.problems[i]
        records.append(
            {
                "index": problem.index,
                "question": problem.question,
                "answer": kind.gold(problem.answer),
                "level": problem.level,
                "prompt": prep.prompts[i],
                "completions": [r.text for r in group],
                "extracted": extracted,
                "scores": mine,
                "correct": correct,
                "lengths": [len(r.completion_ids) for r in group],
                "truncated": [r.truncated for r in group],
                "unverifiable": sum(s is None for s in mine),
                "pass@1": sum(correct) / len(correct),
                "maj_answer": vote.answer,
                "maj_votes": vote.count,
                "maj_correct": vote.correct,
            }
        )
    return records


# ---------------------------------------------------------------------------------------------------
# Whole runs.


def evaluate_with(
    engine: Any,
    preps: Sequence[Prepared],
    settings: Settings,
    rank: int = 0,
    world: int = 1,
    gather: Callable[[list[dict[str, Any]]], list[dict[str, Any]]] | None = None,
    progress: bool = False,
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """``(results, records)`` per benchmark, sampling with ``engine``; process ``rank`` of ``world`` takes
    problems ``rank, rank + world, …`` and ``gather`` (e.g. an all-gather) joins every process's records."""
    results: dict[str, dict[str, Any]] = {}
    records: dict[str, list[dict[str, Any]]] = {}
    bar = _Bar(sum(len(p.problems[rank::world]) for p in preps), progress)
    try:
        for prep in preps:
            t0 = time.perf_counter()
            mine = range(rank, len(prep.problems), world)
            rollouts = generate(engine, prep, settings, mine, bar.advance)
            t1 = time.perf_counter()
            recs = grade(prep, rollouts)
            t2 = time.perf_counter()
            if gather is not None:
                recs = sorted(gather(recs), key=lambda r: r["index"])
            agg = metrics.aggregate(recs)
            agg["time/generate_s"] = t1 - t0
            agg["time/grade_s"] = t2 - t1
            agg["problems_per_s"] = len(mine) / max(t2 - t0, 1e-9)
            results[prep.bench.name] = agg
            records[prep.bench.name] = recs
    finally:
        bar.close()
    return results, records


def evaluate(
    model: str,
    names: Sequence[str],
    settings: Settings,
    engine: str = "vllm",
    data: dict[str, str] | None = None,
    data_dir: str | Path | None = None,
    dtype: str = "auto",
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate ``model`` (hub id, local dir, training output dir, ``tiny:<size>``) on ``names``: the report."""
    from r1train.config import ModelConfig
    from r1train.models.load import load_tokenizer, resolve_source

    data = dict(data or {})
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise UserError(f"--data names {', '.join(unknown)}, which is not among --benchmarks {','.join(names)}")
    benches = [benchmarks.get(n) for n in names]
    t0 = time.perf_counter()
    source = resolve_source(ModelConfig(name_or_path=model, dtype=dtype))  # type: ignore[arg-type]
    tokenizer = load_tokenizer(source)
    preps = [prepare(b, tokenizer, settings, data.get(n), data_dir) for b, n in zip(benches, names)]
    held = open_engine(model, engine, dtype, preps, settings.seed, tokenizer, source)
    t1 = time.perf_counter()
    try:
        results, records = evaluate_with(held, preps, settings, progress=progress)
    finally:
        close = getattr(held, "close", None)
        if callable(close):
            close()
    return {
        "model": model,
        "source": source.path,
        "engine": engine,
        "engine_class": type(held).__name__,
        "settings": dataclasses.asdict(settings),
        "benchmarks": {b.name: _card(b, settings, p) for b, p in zip(benches, preps)},
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "time/load_s": t1 - t0,
        "results": results,
        "records": records,
    }


def open_engine(model: str, engine: str, dtype: str, preps: Sequence[Prepared], seed: int, tokenizer: Any, source: Any) -> Any:
    """A rollout engine from the registry, sized for the longest prompt and the longest generation."""
    import torch

    from r1train.models.load import load_model
    from r1train.recipe import build_config
    from r1train.rollout import make_engine

    longest = max((len(ids) for p in preps for ids in p.prompt_ids), default=1)
    max_new = max(p.max_new_tokens for p in preps)
    cuda = torch.cuda.is_available()
    cfg = build_config(
        {
            "model": {"name_or_path": model, "dtype": dtype},
            "data": {"source": "eval:" + ",".join(p.bench.name for p in preps), "max_prompt_tokens": longest},
            "rollout": {"engine": engine, "max_new_tokens": max_new, "seed": seed, "sleep_mode": False,
                        "gpu_memory_utilization": 0.85},
            "train": {"seed": seed},
        },
        "r1train eval",
    )
    policy = load_model(cfg.model, source, "cuda" if cuda else "cpu")
    if cuda and engine == "hf":
        policy = policy.to("cuda")
    return make_engine(cfg, policy, tokenizer, source)


def _card(bench: Benchmark, settings: Settings, prep: Prepared) -> dict[str, Any]:
    return {
        "source": bench.source,
        "split": bench.split,
        "template": settings.template or bench.template,
        "verifier": bench.verifier,
        "extract": bench.extract,
        "max_new_tokens": prep.max_new_tokens,
        "problems": len(prep.problems),
    }


class _Bar:
    """A rich progress bar over problems (silent when disabled)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.enabled = enabled and total > 0
        if not self.enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self.bar = Progress(TextColumn("[bold]eval"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
        self.task = self.bar.add_task("eval", total=total)
        self.bar.start()

    def advance(self, n: int) -> None:
        if self.enabled:
            self.bar.update(self.task, advance=n)

    def close(self) -> None:
        if self.enabled:
            self.bar.stop()

