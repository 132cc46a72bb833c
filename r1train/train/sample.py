"""``r1train sample RECIPE``: rejection sampling — N answers per prompt, verified, some kept as an SFT dataset.

DeepSeek-R1 builds its SFT data this way (sample many answers from a checkpoint, keep the verified ones),
and so does distillation (a strong reasoner's verified traces teach a smaller student). The parts are the
training run's: prompts and templates (:mod:`r1train.data.prompts`), the rollout engine of
``rollout.engine`` with the ``rollout`` section's sampling (``num_generations`` = N), and the reward stage
of :mod:`r1train.train.scoring` with the recipe's ``rewards`` (the first one is the correctness reward).
The ``sample:`` section (:class:`r1train.config.SampleConfig`) says what to keep, by :func:`select`:

* ``correct``: every sample whose correctness reward is 1; ``shortest_correct``: the shortest of those
  (fewest tokens, the first on a tie); ``first_k_correct``: the first ``k`` in sampling order;
* ``threshold``: total weighted reward at least ``sample.threshold``; ``all``: everything, scored;
* ``unique`` drops a completion identical to one already kept for the same prompt.

``sample.prefix`` forces the start of every completion (``"<think>"`` makes a base that rarely thinks show
its work, as R1's cold-start data was collected with prompts that ask for long reasoning); it is part of the
written completion. Output, in ``train.output_dir``: ``data.jsonl`` (or ``data.parquet``): the prompt rows'
own columns plus ``completion``, ``reward``, ``reward/<fn>``, ``length``, ``prompt_index``,
``sample_index``; loadable by ``datasets.load_dataset("json"|"parquet", data_files=...)`` and by
``r1train sft`` (``data.source: file:<dir>/data.jsonl``, ``data.prompt_column`` the question column) —
and ``card.json`` + ``README.md``: source model, recipe, verifier, rule, counts kept per prompt, pass rates.

Resumable: prompts go in calls of ``sample.prompts_per_call``, each seeded by its own index and saved
atomically as ``chunks/chunk-<i>.json`` once scored; a killed run started again (``train.resume: auto``)
skips the saved calls, so the dataset is the uninterrupted run's, with no duplicates.

Use::

    r1train sample recipes/pocket-distill-sample.yaml [sample.max_prompts=64 …]
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

from r1train.config import Config, SampleConfig
from r1train.data import templates
from r1train.data.prompts import load_prompts
from r1train.errors import UserError
from r1train.models.load import load_model, load_tokenizer, resolve_source
from r1train.recipe import resolve
from r1train.runtime import outputs
from r1train.runtime.rng import seed_everything
from r1train.telemetry import reasoning
from r1train.telemetry.metrics import Progress
from r1train.train import scoring
from r1train.train.run import RunResult


def check(cfg: Config, where: str = "the recipe") -> None:
    """The ``sample`` section's values (what ``r1train check`` adds for a sampling recipe)."""
    s = cfg.sample
    if s.k < 1 or s.max_prompts < 0 or s.prompts_per_call < 1:
        raise UserError(f"sample in {where}: k >= 1, max_prompts >= 0 and prompts_per_call >= 1 are needed")


def is_correct(sample: dict[str, Any]) -> bool:
    """The correctness reward (the recipe's first) is 1 (``None``, could not verify, is not correct)."""
    score = sample["correct_score"]
    return score is not None and score >= 1.0


def select(group: list[dict[str, Any]], rule: SampleConfig) -> list[int]:
    """Positions in ``group`` (one prompt's samples, in sampling order) that ``rule`` keeps.

    Each sample has ``completion``, ``length`` (tokens), ``correct_score`` and ``reward`` (total, or None)."""
    order = list(range(len(group)))
    if rule.unique:
        seen: set[str] = set()
        firsts = []
        for i in order:
            if group[i]["completion"] not in seen:
                seen.add(group[i]["completion"])
                firsts.append(i)
        order = firsts
    if rule.keep == "all":
        return order
    if rule.keep == "threshold":
        return [i for i in order if group[i]["reward"] is not None and group[i]["reward"] >= rule.threshold]
    correct = [i for i in order if is_correct(group[i])]
    if rule.keep == "shortest_correct":
        return [min(correct, key=lambda i: (group[i]["length"], i))] if correct else []
    if rule.keep == "first_k_correct":
        return correct[: rule.k]
    return correct


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".tmp-{path.name}-{os.getpid()}")
    with tmp.open("w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    tmp.rename(path)


class Sampler:
    """Loads the policy and engine once; :meth:`run` samples every call not yet saved, then writes the dataset."""

    def __init__(self, cfg: Config) -> None:
        cfg = resolve(cfg)
        check(cfg)
        self.cfg = cfg
        seed_everything(cfg.train.seed)
        out = Path(cfg.train.output_dir).expanduser()
        self.chunks_dir = out / "chunks"
        resuming = cfg.train.resume != "never" and self.chunks_dir.is_dir()
        self.out = outputs.prepare(cfg, resuming=resuming)
        self.chunks_dir.mkdir(exist_ok=True)
        self.source = resolve_source(cfg.model)
        self.tokenizer = load_tokenizer(self.source, cfg.model.trust_remote_code)
        self.model = load_model(cfg.model, self.source, "cpu")
        rows = load_prompts(cfg.data, self.tokenizer, cfg.train.seed).train
        self.rows = rows[: cfg.sample.max_prompts] if cfg.sample.max_prompts else rows
        self.reward_fns = scoring.load(cfg.rewards, {"max_new_tokens": cfg.rollout.max_new_tokens})
        self.add_special = not templates.get(cfg.data.template).special_tokens_in_text
        self.prefix_tokens = len(self.tokenizer(cfg.sample.prefix, add_special_tokens=False)["input_ids"]) if cfg.sample.prefix else 0
        from r1train.rollout import make_engine

        self.engine = make_engine(cfg, self.model, self.tokenizer, self.source)

    def chunk_path(self, index: int) -> Path:
        return self.chunks_dir / f"chunk-{index:06d}.json"

    def sample_chunk(self, index: int) -> dict[str, Any]:
        """Generate and score call ``index`` (its own seed: the same whenever it runs); save it atomically."""
        from r1train.rollout import sampling_from

        t0 = time.perf_counter()
        cfg, size = self.cfg, self.cfg.sample.prompts_per_call
        rows = self.rows[index * size : (index + 1) * size]
        prefix = cfg.sample.prefix
        ids = [self.tokenizer(r["prompt"] + prefix, add_special_tokens=self.add_special)["input_ids"] for r in rows]
        seed = (cfg.train.seed * 1_000_003 + index * 7919) % 2**31
        rollouts = self.engine.generate(ids, replace(sampling_from(cfg, seed=seed), logprobs=False))
        texts = [prefix + r.text for r in rollouts]
        lengths = [len(r.completion_ids) + self.prefix_tokens for r in rollouts]
        columns = scoring.columns_for(rows, [r.prompt_index for r in rollouts], lengths)
        scores = scoring.score(self.reward_fns, texts, columns)
        first = self.reward_fns[0].name
        n = cfg.rollout.num_generations
        samples = []
        for j, r in enumerate(rollouts):
            samples.append({
                "prompt_index": index * size + r.prompt_index,
                "sample_index": j % n,
                "completion": texts[j],
                "length": lengths[j],
                "finish_reason": r.finish_reason,
                "reward": _num(scores.total[j]),
                "correct_score": _num(scores.per_function[first][j]),
                **{f"reward/{name}": _num(v[j]) for name, v in scores.per_function.items()},
            })
        chunk = {"chunk": index, "seconds": time.perf_counter() - t0, "samples": samples}
        _write_atomic(self.chunk_path(index), json.dumps(chunk))
        return chunk

    def run(self) -> RunResult:
        cfg = self.cfg
        size = cfg.sample.prompts_per_call
        total = (len(self.rows) + size - 1) // size
        done = [i for i in range(total) if self.chunk_path(i).is_file()]
        if done:
            print(f"r1train sample: resuming: {len(done)} of {total} calls already saved in {self.chunks_dir}")
        progress = Progress(total, len(done), cfg.logging.progress, cfg.logging.log_every, label="sample", fields=("pass", "samples"))
        try:
            for i in range(total):
                if self.chunk_path(i).is_file():
                    continue
                chunk = self.sample_chunk(i)
                passed = [is_correct(s) for s in chunk["samples"]]
                progress.update(sum(passed) / max(1, len(passed)), float(len(passed)))
        finally:
            progress.close()
        self.engine.close()
        card = self.write_dataset(total)
        print(f"r1train sample: {card['prompts']} prompts x {card['samples_per_prompt']} samples, pass rate "
              f"{card['pass_rate']:.1%}, pass@{card['samples_per_prompt']} {card['pass_at_n']:.1%}; kept {card['kept']} "
              f"({cfg.sample.keep}) from {card['prompts_with_kept']} prompts into {card['data_file']}")
        return RunResult(self.out, [card])

    def write_dataset(self, total: int) -> dict[str, Any]:
        """Apply the keep rule to every saved call, write the dataset file and its card (atomically)."""
        cfg = self.cfg
        chunks = [json.loads(self.chunk_path(i).read_text()) for i in range(total)]
        samples = [s for c in chunks for s in c["samples"]]
        groups: dict[int, list[dict[str, Any]]] = {}
        for s in samples:
            groups.setdefault(s["prompt_index"], []).append(s)
        kept_rows, per_prompt = [], Counter()
        for p, group in sorted(groups.items()):
            keep = select(group, cfg.sample)
            per_prompt[len(keep)] += 1
            base = {k: v for k, v in self.rows[p].items() if k != "prompt"}  # the templated prompt is re-made by sft
            for i in keep:
                s = group[i]
                kept_rows.append(base | {k: v for k, v in s.items() if k != "correct_score"})
        name = f"data.{cfg.sample.format}"
        target = self.out / name
        if cfg.sample.format == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            tmp = self.out / f".tmp-{name}"
            pq.write_table(pa.Table.from_pylist(kept_rows), tmp)
            tmp.rename(target)
        else:
            _write_atomic(target, "".join(json.dumps(r) + "\n" for r in kept_rows))
        card = self.card(samples, groups, kept_rows, per_prompt, sum(c["seconds"] for c in chunks), name)
        _write_atomic(self.out / "card.json", json.dumps(card, indent=2) + "\n")
        _write_atomic(self.out / "README.md", card_markdown(card))
        return card

    def card(self, samples: list[dict[str, Any]], groups: dict[int, list[dict[str, Any]]], kept: list[dict[str, Any]],
             per_prompt: Counter, seconds: float, name: str) -> dict[str, Any]:
        cfg = self.cfg
        n = cfg.rollout.num_generations
        verified = [s for s in samples if s["correct_score"] is not None]
        texts = [s["completion"] for s in kept]
        return {
            "data_file": name,
            "source_model": cfg.model.name_or_path,
            "source_model_path": str(self.source.path),
            "recipe": "recipe.yaml",
            "data_source": cfg.data.source,
            "template": cfg.data.template,
            "verifier": [{"name": f.name, "weight": f.weight} for f in self.reward_fns],
            "correctness_reward": self.reward_fns[0].name,
            "keep": cfg.sample.keep, "k": cfg.sample.k, "threshold": cfg.sample.threshold, "unique": cfg.sample.unique,
            "prefix": cfg.sample.prefix,
            "samples_per_prompt": n,
            "sampling": {"temperature": cfg.rollout.temperature, "top_p": cfg.rollout.top_p,
                         "max_new_tokens": cfg.rollout.max_new_tokens, "seed": cfg.train.seed},
            "prompts": len(groups),
            "samples": len(samples),
            "unverifiable": len(samples) - len(verified),
            "pass_rate": sum(is_correct(s) for s in samples) / max(1, len(samples)),
            "pass_at_n": sum(any(is_correct(s) for s in g) for g in groups.values()) / max(1, len(groups)),
            "kept": len(kept),
            "prompts_with_kept": len(groups) - per_prompt.get(0, 0),
            "kept_per_prompt": {str(k): per_prompt[k] for k in sorted(per_prompt)},
            "mean_length_all": sum(s["length"] for s in samples) / max(1, len(samples)),
            "mean_length_kept": sum(r["length"] for r in kept) / max(1, len(kept)),
            "think_rate_kept": reasoning.think_rate(texts) if texts else None,
            "sampling_s": round(seconds, 1),
        }


def card_markdown(card: dict[str, Any]) -> str:
    """The dataset card as a short README."""
    lines = [
        f"# Rejection-sampled dataset ({card['data_file']})", "",
        f"Made by `r1train sample` from **{card['source_model']}** on `{card['data_source']}` (template "
        f"`{card['template']}`; the resolved recipe is `{card['recipe']}`).", "",
        f"- verifier: {', '.join(v['name'] + ' x' + str(v['weight']) for v in card['verifier'])} (correctness: "
        f"`{card['correctness_reward']}`)",
        f"- {card['prompts']} prompts x {card['samples_per_prompt']} samples = {card['samples']} "
        f"({card['unverifiable']} could not be verified)",
        f"- pass rate {card['pass_rate']:.1%}, pass@{card['samples_per_prompt']} {card['pass_at_n']:.1%}",
        f"- kept by `{card['keep']}`: {card['kept']} rows from {card['prompts_with_kept']} prompts; kept per prompt "
        + ", ".join(f"{k}: {v}" for k, v in card["kept_per_prompt"].items()),
        f"- mean length {card['mean_length_all']:.1f} tokens (all), {card['mean_length_kept']:.1f} (kept)",
        "", "Load it with `datasets.load_dataset(\"json\" or \"parquet\", data_files=...)` or train on it with "
        "`r1train sft` (`data.source: file:<this dir>/" + card["data_file"] + "`).", "",
    ]
    return "\n".join(lines)


def _num(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if value != value else value


def sample(cfg: Config) -> RunResult:
    """Sample, verify and keep as ``cfg`` says; returns the output directory and ``[card]``."""
    return Sampler(cfg).run()
