"""The GRPO training loop: rollout -> rewards -> advantages -> policy update -> weight sync -> log.

``train(cfg)`` is what ``r1train train RECIPE`` runs. Each stage is one named call and the loop reads
like the data path in DESIGN.md; stage timings go to ``metrics.jsonl`` as ``time/<stage>``.
Runs under ``accelerate launch`` too: each process takes its share of the step's prompts (whole groups),
and the loss is normalised with counts summed over all processes.
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from r1train import checkpoint, data, grpo, lora, models, optim, outputs, scoring
from r1train import dynamic_sampling, reference
from r1train.batch import loss_keep, micro_batches
from r1train.config import Config
from r1train.distributed import reduce_metrics
from r1train.errors import UserError
from r1train.logprobs import PolicyLogprobs, unwrap
from r1train.metrics import MetricsWriter, Progress, mean
from r1train.rollout import Rollout, make_engine, sampling_from
from r1train.rollout.sync import sync_weights
from r1train.tracking import Tracker
from r1train.update import update_policy


@dataclass
class RunResult:
    output_dir: Path
    history: list[dict[str, Any]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """Holds the run's state; ``step()`` performs one full GRPO step and returns its metrics."""

    def __init__(self, cfg: Config) -> None:
        from accelerate import Accelerator

        grpo.validate(cfg.algorithm)
        self.cfg = cfg
        # On a machine without CUDA, processes started by `accelerate launch` talk over gloo (MULTI_CPU).
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available())
        world = self.accelerator.num_processes
        if cfg.rollout.prompts_per_step % world:
            raise UserError(
                f"rollout.prompts_per_step ({cfg.rollout.prompts_per_step}) must be divisible by the number of "
                f"processes ({world}); change one of them"
            )
        seed_everything(cfg.train.seed)
        self.resume_from = find_resume_point(cfg)
        main = self.accelerator.is_main_process
        self.out = outputs.prepare(cfg, resuming=self.resume_from is not None) if main else Path(cfg.train.output_dir)
        self.source = models.resolve_source(cfg.model)
        self.tokenizer = models.load_tokenizer(self.source, cfg.model.trust_remote_code)
        self.model = models.load_model(cfg.model, self.source, self.accelerator.device.type)
        self.reference = reference.load_reference(cfg, self.model, self.source, self.accelerator.device)  # None if kl_beta=0
        self.prompts = data.load_prompts(cfg.data, self.tokenizer, cfg.train.seed)
        self.reward_fns = scoring.load(cfg.rewards)
        self.engine = make_engine(cfg, self.model, self.tokenizer, self.source)
        optimizer, scheduler = optim.build(self.model, cfg)
        self.policy, self.optimizer = self.accelerator.prepare(PolicyLogprobs(self.model), optimizer)
        self.scheduler = scheduler
        self.writer = MetricsWriter(self.out)
        self.state = checkpoint.TrainState(step=0, batches_consumed=0)
        if self.resume_from is not None:
            self.restore(self.resume_from)
        self.tracker = Tracker(cfg, self.out, self.state.wandb_run_id, enabled=main)
        self.state.wandb_run_id = self.tracker.run_id
        self.batches = self.prompts.batches(
            cfg.rollout.prompts_per_step, cfg.train.seed, cfg.data.shuffle, start=self.state.batches_consumed
        )
        self.add_special = cfg.data.template != "chat"
        self.stop_signal: str | None = None

    @property
    def step_index(self) -> int:
        return self.state.step

    def restore(self, path: Path) -> None:
        """Continue from checkpoint ``path``: weights, optimizer, schedule, RNG, data position, W&B id."""
        self.state = checkpoint.load_state(path)
        checkpoint.load_weights(path, unwrap(self.policy))
        checkpoint.load_training(path, self.optimizer, self.scheduler)
        self.writer.truncate_after(self.state.step)
        self.sync(force=True)
        print(f"r1train: resuming from {path} (step {self.state.step})")

    # --- the stages -------------------------------------------------------------------------------

    def next_prompts(self) -> list[dict[str, Any]]:
        """This process's share of the next batch of prompt rows."""
        rows = next(self.batches)
        self.state.batches_consumed += 1
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
        return self.engine.generate(prompt_ids, self.sampling(len(rows)))

    def sampling(self, n_prompts: int) -> Any:
        """Seeds derived from (train seed, batch number, global prompt index): a prompt's samples are the
        same whichever process draws it and after a resume, so runs shard and resume reproducibly."""
        batch = self.state.batches_consumed
        base = (self.cfg.train.seed * 1_000_003 + batch * 7919) % 2**31
        first = self.accelerator.process_index * n_prompts
        seeds = tuple((base * 100_003 + first + i) % 2**31 for i in range(n_prompts))
        return replace(sampling_from(self.cfg, seed=(base + self.accelerator.process_index) % 2**31), prompt_seeds=seeds)

    def score(self, rows: list[dict[str, Any]], rollouts: list[Rollout]) -> scoring.Scores:
        columns: dict[str, list[Any]] = {}
        for key in rows[0]:
            if key in scoring.RESERVED or key == "prompt":
                continue
            columns[key] = [rows[r.prompt_index][key] for r in rollouts]
        columns["prompts"] = [rows[r.prompt_index]["prompt"] for r in rollouts]
        columns["completion_lengths"] = [len(r.completion_ids) for r in rollouts]
        return scoring.score(self.reward_fns, [r.text for r in rollouts], columns)

    def advantages(self, rollouts: list[Rollout], scores: scoring.Scores) -> torch.Tensor:
        """Advantages (N,) of the total rewards (KL-penalised first with ``kl_in_reward``), over all ranks."""
        algo = self.cfg.algorithm
        rewards = torch.tensor(scores.total, dtype=torch.float64)  # (N,)
        if algo.kl_in_reward:
            pad = self.tokenizer.pad_token_id
            kl = reference.sequence_kl(self.policy, self.reference, rollouts, self.cfg, pad, self.accelerator)  # (N,)
            rewards = rewards - algo.kl_beta * kl
        g = self.cfg.rollout.num_generations
        return grpo.compute_advantages(rewards, algo.advantage, g, algo.advantage_scale, self.accelerator).float()

    def update(self, rollouts: list[Rollout], advantages: torch.Tensor, scores: scoring.Scores) -> dict[str, float]:
        # unverifiable samples (and, with mask_truncated, cut-off ones) stay out of the loss
        keep = loss_keep(rollouts, torch.tensor(scores.total), self.cfg.algorithm.mask_truncated)
        batches = micro_batches(rollouts, advantages, self.cfg.train.micro_batch_size, self.tokenizer.pad_token_id, keep)
        acc = self.accelerator
        return update_policy(self.policy, self.optimizer, self.scheduler, acc, batches, self.cfg, self.reference)

    def sync(self, force: bool = False) -> float:
        """Push the new weights to the rollout engine (every ``rollout.sync_every`` steps); seconds spent."""
        every = self.cfg.rollout.sync_every
        return sync_weights(self.engine, unwrap(self.policy), step=self.step_index, every=every, force=force)

    # --- one step ---------------------------------------------------------------------------------

    def step(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        rows = self.next_prompts()
        rollouts = self.generate(rows)
        t1 = time.perf_counter()
        scores = self.score(rows, rollouts)
        rows, rollouts, scores, sampling = dynamic_sampling.fill(self, rows, rollouts, scores)  # DAPO; off: as is
        t2 = time.perf_counter()
        advantages = self.advantages(rollouts, scores)
        stats = self.update(rollouts, advantages, scores) | sampling
        t3 = time.perf_counter()
        self.state.step += 1
        sync_s = self.sync()
        t4 = time.perf_counter()
        metrics = self.step_metrics(rollouts, scores, advantages, stats)
        generated = sum(len(r.completion_ids) for r in rollouts)
        metrics.update(
            {
                "time/rollout": t1 - t0,
                "time/reward": t2 - t1,
                "time/update": t3 - t2,
                "time/sync": sync_s,
                "time/step": t4 - t0,
                "tokens_per_s": generated / max(t4 - t0, 1e-9),
            }
        )
        every = self.cfg.eval.every
        if every and self.step_index % every == 0:
            metrics.update(self.evaluate())
        metrics = reduce_metrics(metrics, self.accelerator)  # one row for the whole step, all processes
        row = self.writer.log(self.step_index, metrics) if self.accelerator.is_main_process else metrics
        self.tracker.log(self.step_index, row)
        self.log_completions(rows, rollouts, scores, advantages)
        return row

    def evaluate(self) -> dict[str, float]:
        """Benchmarks of ``eval.benchmarks`` with the live policy through the rollout engine (every process
        takes a share of the problems); ``eval/<bench>/pass@1`` etc."""
        from eval.live import evaluate_live  # eval sits above r1train: imported only when asked for

        self.sync(force=True)  # with rollout.sync_every > 1 the engine may hold older weights
        return evaluate_live(self.engine, self.tokenizer, self.cfg, self.step_index)

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
        self.tracker.log_completions(self.step_index, sample)

    # --- the run ----------------------------------------------------------------------------------

    def save_checkpoint(self) -> Path | None:
        path = None
        if self.accelerator.is_main_process:
            model = unwrap(self.accelerator.unwrap_model(self.policy))
            path = checkpoint.save(self.out, model, self.optimizer, self.scheduler, self.state, self.cfg.train.keep_last)
        self.accelerator.wait_for_everyone()
        return path

    def save_final(self) -> Path:
        target = self.out / "model"
        if self.accelerator.is_main_process:
            model = unwrap(self.accelerator.unwrap_model(self.policy))
            lora.save_policy(model, target, self.tokenizer)  # merged model (+ target/adapter with LoRA)
            self.tracker.log_model(target)
        self.accelerator.wait_for_everyone()
        return target

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.stop_signal is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.stop_signal = name
        print(f"\nr1train: {name} received; finishing step {self.step_index + 1}, then saving a checkpoint", flush=True)

    def run(self) -> RunResult:
        cfg = self.cfg
        progress = Progress(cfg.train.steps, self.step_index, cfg.logging.progress and self.accelerator.is_main_process)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            while self.step_index < cfg.train.steps:
                row = self.step()
                progress.update(row.get("reward") or 0.0, row.get("length/mean") or 0.0)
                save_every = cfg.train.save_every
                if self.stop_signal or (save_every > 0 and self.step_index % save_every == 0):
                    path = self.save_checkpoint()
                    if self.stop_signal:
                        raise Stopped(self.stop_signal, self.step_index, path)
        finally:
            progress.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
        self.save_final()
        self.tracker.finish()
        close = getattr(self.engine, "close", None)
        if callable(close):
            close()
        return RunResult(self.out, self.writer.history)


class Stopped(UserError):
    """The run was asked to stop by a signal; a checkpoint was written."""

    def __init__(self, signal_name: str, step: int, path: Path | None) -> None:
        super().__init__(
            f"stopped by {signal_name} after step {step}; checkpoint {path} is saved; resume with the same command "
            "and train.resume=auto"
        )


def find_resume_point(cfg: Config) -> Path | None:
    """The checkpoint to resume from: ``auto`` = newest complete one in the output dir, if any."""
    resume = cfg.train.resume
    if resume == "never":
        return None
    if resume == "auto":
        return checkpoint.latest(Path(cfg.train.output_dir).expanduser())
    return Path(resume)


def train(cfg: Config) -> RunResult:
    """Train the policy described by ``cfg``; returns the output directory and the metrics history."""
    return Trainer(cfg).run()
