"""In-training evaluation: run the recipe's ``eval.benchmarks`` with the live policy every ``eval.every`` steps.

The trainer calls, after the weight sync of a step whose index is a multiple of ``eval.every``::

    metrics.update(evaluate_live(self.engine, self.tokenizer, self.cfg, self.step_index))

It samples through the trainer's own rollout engine (so vLLM already holds the new weights), grades with
each benchmark's verifier, and returns flat metrics ``eval/<bench>/pass@1``, ``eval/<bench>/pass@<k>``,
``eval/<bench>/maj@<k>``, ``eval/<bench>/length/mean``, ``eval/<bench>/level/<L>/pass@1`` … that go to
``metrics.jsonl`` and W&B with the step's other metrics. The main process also writes the full report
(per-problem records) to ``<output_dir>/eval/step_<N>.json``.

Defaults differ from ``r1train eval`` on purpose: the prompt template is ``data.template`` (the format the
policy is being trained in) and the budget ``rollout.max_new_tokens``, unless ``eval.template`` /
``eval.max_new_tokens`` say otherwise. Under ``accelerate`` every process must call it: each takes
problems ``rank, rank + world, …`` and the records are all-gathered, so every process returns the same.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eval import benchmarks, report, runner
from r1train.errors import UserError

if TYPE_CHECKING:
    from r1train.config import Config

_CACHE: dict[tuple[Any, ...], list[runner.Prepared]] = {}
SHOWN = ("pass@", "maj@", "length/", "level/", "problems", "unverifiable")


def settings_from(cfg: Config) -> runner.Settings:
    """The sampling settings of ``cfg.eval`` with the training-time defaults filled in."""
    e = cfg.eval
    return runner.Settings(
        samples=e.samples,
        temperature=e.temperature,
        top_p=e.top_p,
        max_new_tokens=e.max_new_tokens or cfg.rollout.max_new_tokens,
        template=e.template or cfg.data.template,
        system_prompt=cfg.data.system_prompt,
        max_problems=e.max_problems,
        seed=e.seed,
    )


def prepared(tokenizer: Any, cfg: Config) -> list[runner.Prepared]:
    """The templated, tokenised benchmarks of ``cfg.eval`` (built once per run, then cached)."""
    e = cfg.eval
    key = (id(tokenizer), repr(e), cfg.data.template, cfg.rollout.max_new_tokens, cfg.data.system_prompt)
    if key not in _CACHE:
        if not e.benchmarks:
            raise UserError("eval.every is set but eval.benchmarks is empty; name benchmarks, e.g. eval.benchmarks=[pocket]")
        if e.samples < 1:
            raise UserError(f"eval.samples is {e.samples}; it must be at least 1")
        settings = settings_from(cfg)
        unknown = sorted(set(e.data) - set(e.benchmarks))
        if unknown:
            raise UserError(f"eval.data names {', '.join(unknown)}, which is not in eval.benchmarks")
        preps = [runner.prepare(benchmarks.get(n), tokenizer, settings, e.data.get(n)) for n in e.benchmarks]
        budget = cfg.data.max_prompt_tokens + cfg.rollout.max_new_tokens
        for p in preps:
            longest = max((len(ids) for ids in p.prompt_ids), default=0)
            if longest + p.max_new_tokens > budget:
                raise UserError(
                    f"eval benchmark {p.bench.name!r} needs {longest} prompt + {p.max_new_tokens} new tokens, more than "
                    f"the engine's data.max_prompt_tokens + rollout.max_new_tokens = {budget}; raise "
                    "data.max_prompt_tokens or lower eval.max_new_tokens"
                )
        _CACHE[key] = preps
    return _CACHE[key]


def evaluate_live(engine: Any, tokenizer: Any, cfg: Config, step: int) -> dict[str, float]:
    """Evaluate the policy behind ``engine`` on ``cfg.eval.benchmarks``: ``{"eval/<bench>/<metric>": value}``."""
    t0 = time.perf_counter()
    preps = prepared(tokenizer, cfg)
    rank, world, gather = _distributed()
    results, records = runner.evaluate_with(engine, preps, settings_from(cfg), rank, world, gather)
    out: dict[str, float] = {}
    for bench, res in results.items():
        for key, value in res.items():
            if key.startswith(SHOWN) and isinstance(value, int | float):
                out[f"eval/{bench}/{key}"] = float(value)
    out["time/eval"] = time.perf_counter() - t0
    if rank == 0:
        path = Path(cfg.train.output_dir).expanduser() / "eval" / f"step_{step:06d}.json"
        report.write({"model": cfg.model.name_or_path, "step": step, "settings": _asdict(settings_from(cfg)),
                      "results": results, "records": records}, path)
    return out


def _asdict(settings: runner.Settings) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(settings)


def _distributed() -> tuple[int, int, Any]:
    """(rank, world size, all-gather of record lists) under torch.distributed; (0, 1, None) otherwise."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return 0, 1, None
    world = dist.get_world_size()

    def gather(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        parts: list[Any] = [None] * world
        dist.all_gather_object(parts, records)
        return [r for part in parts for r in part]

    return dist.get_rank(), world, gather
