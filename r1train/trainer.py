"""The GRPO training loop: rollout -> rewards -> advantages -> policy update -> weight sync -> log.

``train(cfg)`` is what ``r1train train RECIPE`` runs. Each stage is one named call and the loop reads
like the data path in DESIGN.md; stage timings go to ``metrics.jsonl`` as ``time/<stage>``.
Runs under ``accelerate launch`` too: each process takes its share of the step's prompts (whole groups),
and the loss is normalised with counts summed over all processes.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from r1train import data, grpo, models, optim, outputs, scoring
from r1train.batch import micro_batches
from r1train.config import Config
from r1train.errors import UserError
from r1train.logprobs import PolicyLogprobs, unwrap
from r1train.metrics import MetricsWriter, Progress, mean
from r1train.rollout import Rollout, make_engine, sampling_from
from r1train.rollout.sync import policy_weights
from r1train.update import update_policy


@dataclass
class RunResult:
    output_dir: Path
    history: list[dict[str, Any]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def check_algorithm(cfg: Config) -> None:
    a = cfg.algorithm
    if a.advantage not in grpo.ADVANTAGES:
        raise UserError(f"algorithm.advantage {a.advantage!r} is unknown; use one of {', '.join(sorted(grpo.ADVANTAGES))}")
    if a.loss not in grpo.LOSSES:
        raise UserError(f"algorithm.loss {a.loss!r} is unknown; use one of {', '.join(sorted(grpo.LOSSES))}")


class Trainer:
    """Holds the run's state; ``step()`` performs one full GRPO step and returns its metrics."""

    def __init__(self, cfg: Config) -> None:
        from accelerate import Accelerator

        check_algorithm(cfg)
        self.cfg = cfg
        self.accelerator = Accelerator()
        world = self.accelerator.num_processes
        if cfg.rollout.prompts_per_step % world:
            raise UserError(
                f"rollout.prompts_per_step ({cfg.rollout.prompts_per_step}) must be divisible by the number of "
                f"processes ({world}); change one of them"
            )
        seed_everything(cfg.train.seed)
        self.out = outputs.prepare(cfg) if self.accelerator.is_main_process else Path(cfg.train.output_dir)
        self.source = models.resolve_source(cfg.model)
        self.tokenizer = models.load_tokenizer(self.source, cfg.model.trust_remote_code)
        self.model = models.load_model(cfg.model, self.source, self.accelerator.device.type)
        self.prompts = data.load_prompts(cfg.data, self.tokenizer, cfg.train.seed)
        self.reward_fns = scoring.load(cfg.rewards)
        self.engine = make_engine(cfg, self.model, self.tokenizer, self.source)
        optimizer, scheduler = optim.build(self.model, cfg)
        self.policy, self.optimizer = self.accelerator.prepare(PolicyLogprobs(self.model), optimizer)
        self.scheduler = scheduler
        self.writer = MetricsWriter(self.out)
        self.step_index = 0
        self.batches = self.prompts.batches(cfg.rollout.prompts_per_step, cfg.train.seed, cfg.data.shuffle)
        self.add_special = cfg.data.template != "chat"

    # --- the stages -------------------------------------------------------------------------------

    def next_prompts(self) -> list[dict[str, Any]]:
        """This process's share of the next batch of prompt rows."""
        rows = next(self.batches)
        acc = self.accelerator
        share = len(rows) // acc.num_processes
        return rows[acc.process_index * share : (acc.process_index + 1) * share]

    def generate(self, rows: list[dict[str, Any]]) -> list[Rollout]:
        prompt_ids = [self.tokenizer(r["prompt"], add_special_tokens=self.add_special)["input_ids"] for r in rows]
        too_long = max(len(p) for p in prompt_ids)
        if too_long > self.cfg.data.max_prompt_tokens:
            raise UserError(
                f"a prompt has {too_long} tokens, more than data.max_prompt_tokens={self.cfg.data.max_prompt_tokens}; "
                "raise it or shorten the prompts"
            )
        seed = self.cfg.train.seed * 1_000_003 + self.step_index * 101 + self.accelerator.process_index
        return self.engine.generate(prompt_ids, sampling_from(self.cfg, seed=seed))

    def score(self, rows: list[dict[str, Any]], rollouts: list[Rollout]) -> scoring.Scores:
        columns: dict[str, list[Any]] = {}
        for key in rows[0]:
            if key in scoring.RESERVED or key == "prompt":
                continue
            columns[key] = [rows[r.prompt_index][key] for r in rollouts]
        columns["prompts"] = [rows[r.prompt_index]["prompt"] for r in rollouts]
        columns["completion_lengths"] = [len(r.completion_ids) for r in rollouts]
        return scoring.score(self.reward_fns, [r.text for r in rollouts], columns)

    def advantages(self, scores: scoring.Scores) -> torch.Tensor:
        rewards = torch.tensor(scores.total, dtype=torch.float64)  # (N,)
        fn = grpo.ADVANTAGES[self.cfg.algorithm.advantage]
        return fn(rewards, self.cfg.rollout.num_generations).float()  # (N,)

    def update(self, rollouts: list[Rollout], advantages: torch.Tensor, scores: scoring.Scores) -> dict[str, float]:
        keep = ~torch.isnan(torch.tensor(scores.total))  # unverifiable samples stay out of the loss
        batches = micro_batches(rollouts, advantages, self.cfg.train.micro_batch_size, self.tokenizer.pad_token_id, keep)
        return update_policy(self.policy, self.optimizer, self.scheduler, self.accelerator, batches, self.cfg)

    def sync(self) -> None:
        self.engine.load_weights(policy_weights(unwrap(self.policy)))

    # --- one step ---------------------------------------------------------------------------------

    def step(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        rows = self.next_prompts()
        rollouts = self.generate(rows)
        t1 = time.perf_counter()
        scores = self.score(rows, rollouts)
        t2 = time.perf_counter()
        advantages = self.advantages(scores)
        stats = self.update(rollouts, advantages, scores)
        t3 = time.perf_counter()
        self.sync()
        t4 = time.perf_counter()
        self.step_index += 1
        metrics = self.step_metrics(rollouts, scores, advantages, stats)
        generated = sum(len(r.completion_ids) for r in rollouts)
        metrics.update(
            {
                "time/rollout": t1 - t0,
                "time/reward": t2 - t1,
                "time/update": t3 - t2,
                "time/sync": t4 - t3,
                "time/step": t4 - t0,
                "tokens_per_s": generated / max(t4 - t0, 1e-9),
            }
        )
        row = self.writer.log(self.step_index, metrics) if self.accelerator.is_main_process else metrics
        self.log_completions(rows, rollouts, scores, advantages)
        return row

    def step_metrics(self, rollouts, scores, advantages, stats) -> dict[str, Any]:
        g = self.cfg.rollout.num_generations
        lengths = [len(r.completion_ids) for r in rollouts]
        total = torch.tensor(scores.total).view(-1, g)
        zero_std = float((total.nan_to_num(0).std(-1, unbiased=False) < 1e-8).float().mean())
        return {
            **scoring.summarise(scores),
            "reward/std": float(torch.tensor(scores.total).nan_to_num(0).std()),
            "length/mean": mean(lengths),
            "length/max": max(lengths),
            "length/truncated": sum(r.truncated for r in rollouts) / len(rollouts),
            "frac_zero_std": zero_std,
            "advantage/abs_mean": float(advantages.abs().mean()),
            **stats,
        }

    def log_completions(self, rows, rollouts, scores, advantages) -> None:
        lg = self.cfg.logging
        if not self.accelerator.is_main_process or lg.completions_every <= 0 or self.step_index % lg.completions_every:
            return
        sample = []
        for i, r in enumerate(rollouts[: lg.completions_per_step]):
            rewards = {name: values[i] for name, values in scores.per_function.items()}
            sample.append(
                {
                    "prompt": rows[r.prompt_index]["prompt"],
                    "completion": r.text,
                    "answer": rows[r.prompt_index].get("answer"),
                    "rewards": rewards,
                    "reward": scores.total[i],
                    "advantage": float(advantages[i]),
                }
            )
        self.writer.completions(self.step_index, sample)

    # --- the run ----------------------------------------------------------------------------------

    def save_final(self) -> Path:
        target = self.out / "model"
        if self.accelerator.is_main_process:
            model = unwrap(self.accelerator.unwrap_model(self.policy))
            model.save_pretrained(target)
            self.tokenizer.save_pretrained(target)
        self.accelerator.wait_for_everyone()
        return target

    def run(self) -> RunResult:
        cfg = self.cfg
        progress = Progress(cfg.train.steps, self.step_index, cfg.logging.progress and self.accelerator.is_main_process)
        try:
            while self.step_index < cfg.train.steps:
                row = self.step()
                progress.update(row.get("reward") or 0.0, row.get("length/mean") or 0.0)
        finally:
            progress.close()
        self.save_final()
        return RunResult(self.out, self.writer.history)


def train(cfg: Config) -> RunResult:
    """Train the policy described by ``cfg``; returns the output directory and the metrics history."""
    return Trainer(cfg).run()
