"""The GRPO training loop: rollout -> rewards -> advantages -> policy update -> weight sync -> log.

``train(cfg)`` is what ``r1train train RECIPE`` runs. Each stage is one named call and the loop reads
like the data path in DESIGN.md; stage timings go to ``metrics.jsonl`` as ``time/<stage>``.
Runs under ``accelerate launch`` too: each process takes its share of the step's prompts (whole groups),
and the loss is normalised with counts summed over all processes.
"""

from __future__ import annotations

import json
import random
import signal
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from r1train import grpo
from r1train.config import Config
from r1train.data import templates
from r1train.data.prompts import load_prompts
from r1train.errors import UserError
from r1train.models import lora
from r1train.models.load import load_model, load_tokenizer, resolve_source
from r1train.models.logprobs import PolicyLogprobs, unwrap
from r1train.recipe import Launch, resolve
from r1train.rollout import Rollout, make_engine, sampling_from
from r1train.rollout.sync import sync_weights
from r1train.runtime import checkpoint, outputs
from r1train.runtime.distributed import after_prepare, make_accelerator, reduce_metrics
from r1train.telemetry import plots, summary
from r1train.telemetry.batch_metrics import batch_metrics, completion_records
from r1train.telemetry.metrics import MetricsWriter, Progress
from r1train.telemetry.profile import StageTimer, peak_memory, reset_peak_memory
from r1train.telemetry.tracking import Tracker
from r1train.train import dynamic_sampling, optim, reference, scoring
from r1train.train.batch import Batch, loss_keep, micro_batches, token_budget
from r1train.train.update import update_policy


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
        # DDP, FSDP2 or DeepSpeed as `accelerate launch` configured; without CUDA over gloo (FSDP2 included)
        self.accelerator = make_accelerator(cfg.optim.max_grad_norm)
        # every check and derived value for this launch, before anything loads; what runs is what is recorded
        cfg = resolve(cfg, Launch.from_accelerator(self.accelerator))
        self.cfg = cfg
        seed_everything(cfg.train.seed)
        self.resume_from = find_resume_point(cfg)
        main = self.accelerator.is_main_process
        self.out = outputs.prepare(cfg, resuming=self.resume_from is not None) if main else Path(cfg.train.output_dir)
        self.source = resolve_source(cfg.model)
        self.tokenizer = load_tokenizer(self.source, cfg.model.trust_remote_code)
        self.model = load_model(cfg.model, self.source, self.accelerator.device.type)
        self.reference = reference.load_reference(cfg, self.model, self.source, self.accelerator.device)  # None if kl_beta=0
        self.prompts = load_prompts(cfg.data, self.tokenizer, cfg.train.seed)
        self.reward_fns = scoring.load(cfg.rewards, {"max_new_tokens": cfg.rollout.max_new_tokens})
        self.engine = make_engine(cfg, self.model, self.tokenizer, self.source)
        optimizer, scheduler = optim.build(self.model, cfg)
        self.policy, self.optimizer = self.accelerator.prepare(PolicyLogprobs(self.model, compile=cfg.train.compile), optimizer)
        after_prepare(self.accelerator, self.policy)  # ZeRO-3: gather the output head for chunked logprobs
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
        self.add_special = not templates.get(cfg.data.template).special_tokens_in_text
        self.stop_signal: str | None = None
        self._ahead: tuple[list[dict[str, Any]], Future] | None = None  # async: the batch generating ahead

    @property
    def step_index(self) -> int:
        return self.state.step

    def restore(self, path: Path) -> None:
        """Continue from checkpoint ``path``: weights, optimizer, schedule, RNG, data position, W&B id."""
        self.state = checkpoint.load_state(path)
        # every process: sharded weights and optimizer state are scattered to this run's processes
        checkpoint.restore_distributed(path, self.accelerator, self.policy, self.optimizer, self.scheduler)
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
        """Seeds derived from (train seed, batch number[, global prompt index]): the same after a resume;
        with ``rollout.seeding: prompt`` one per prompt, so a prompt's samples are also the same whichever
        process draws it (always so with tensor parallelism, whose ranks must sample alike, and with
        async generation, whose thread must not reseed the generator the training thread uses)."""
        batch = self.state.batches_consumed
        base = (self.cfg.train.seed * 1_000_003 + batch * 7919) % 2**31
        sampling = sampling_from(self.cfg, seed=(base + self.accelerator.process_index) % 2**31)
        r = self.cfg.rollout
        if r.seeding == "step" and r.tensor_parallel_size == 1 and not r.async_generation:
            return sampling
        first = self.accelerator.process_index * n_prompts
        return replace(sampling, prompt_seeds=tuple((base * 100_003 + first + i) % 2**31 for i in range(n_prompts)))

    def score(self, batch: Batch) -> Batch:
        """The batch with its scores: every reward function on its completions and the rows' columns."""
        columns = scoring.columns_for(batch.rows, [r.prompt_index for r in batch.rollouts], batch.lengths)
        return replace(batch, scores=scoring.score(self.reward_fns, batch.texts, columns))

    def sample_more(self) -> Batch:
        """A new scored batch from the next prompts (dynamic sampling's refill)."""
        rows = self.next_prompts()
        return self.score(Batch(rows, self.generate(rows)))

    def advantages(self, batch: Batch) -> tuple[Batch, dict[str, float]]:
        """The batch with advantages (N,) of the total rewards over all ranks, KL-penalised first with
        ``kl_in_reward`` (whose mean per-token KL is returned as the ``kl`` statistic)."""
        algo = self.cfg.algorithm
        rewards = torch.tensor(batch.scores.total, dtype=torch.float64)  # (N,)
        stats: dict[str, float] = {}
        if algo.kl_in_reward:
            pad = self.tokenizer.pad_token_id
            kl, stats["kl"] = reference.sequence_kl(self.policy, self.reference, batch.rollouts, self.cfg, pad, self.accelerator)
            rewards = rewards - algo.kl_beta * kl  # (N,)
        g = self.cfg.rollout.num_generations
        advantages = grpo.compute_advantages(rewards, algo.advantage, g, algo.advantage_scale, self.accelerator).float()
        return replace(batch, advantages=advantages), stats

    def update(self, batch: Batch, timer: StageTimer | None = None, ref: list[torch.Tensor] | None = None) -> dict[str, float]:
        # unverifiable samples (and, with mask_truncated, cut-off ones) stay out of the loss
        keep = loss_keep(batch.rollouts, torch.tensor(batch.scores.total), self.cfg.algorithm.mask_truncated)
        batches = self.micro_batches(batch.rollouts, batch.advantages, keep)
        acc, cfg = self.accelerator, self.cfg
        return update_policy(self.policy, self.optimizer, self.scheduler, acc, batches, cfg, self.reference, timer, ref)

    def micro_batches(self, rollouts: list[Rollout], advantages: torch.Tensor, keep: torch.Tensor | None = None) -> list[Any]:
        acc, t = self.accelerator, self.cfg.train
        cap = token_budget(t.micro_batch_tokens, acc.device.type, acc.num_processes)
        return micro_batches(rollouts, advantages, t.micro_batch_size, self.tokenizer.pad_token_id, keep, cap)

    def sync(self, force: bool = False) -> float:
        """Push the new weights to the rollout engine (every ``rollout.sync_every`` steps); seconds spent."""
        every = self.cfg.rollout.sync_every
        return sync_weights(self.engine, unwrap(self.policy), step=self.step_index, every=every, force=force)

    # --- one step ---------------------------------------------------------------------------------

    def step(self) -> dict[str, Any]:
        timer = StageTimer()
        reset_peak_memory()
        t0 = time.perf_counter()
        with timer.stage("rollout"):
            batch, sync_ahead_s = self.rollouts_for_step()  # async: sync + launch of t+1 inside
        batch, ref = self.score_and_reference(batch, timer)  # reference logprobs while scoring
        with timer.stage("dynamic_sampling"):  # DAPO; off: the batch as it is
            batch, sampling = dynamic_sampling.stage(batch, self.sample_more, self.cfg.algorithm,
                                                     self.cfg.rollout.num_generations, self.accelerator)
        t2 = time.perf_counter()
        batch, kl_stats = self.advantages(batch)
        stats = self.update(batch, timer, ref) | sampling | kl_stats
        self.count_bad_step(stats)
        t3 = time.perf_counter()
        self.state.step += 1
        sync_s = sync_ahead_s if self.cfg.rollout.async_generation else self.sync()
        t4 = time.perf_counter()
        words = self.cfg.logging.reflection_words  # the first reward is the correctness reward
        metrics = batch_metrics(batch, self.cfg.rollout.num_generations, self.reward_fns[0].name, words) | stats
        generated = sum(batch.lengths)
        timer.add("sync", sync_s)
        timer.add("rollout", -sync_ahead_s)  # async: the sync happened inside the rollout stage
        metrics.update({f"time/{name}": seconds for name, seconds in timer.seconds.items()})
        metrics.update(
            {
                "time/update": t3 - t2,
                "time/step": t4 - t0,
                "tokens_per_s": generated / max(t4 - t0, 1e-9),
                "tokens/generated": float(generated),
                **peak_memory(),
            }
        )
        every = self.cfg.eval.every
        if every and self.step_index % every == 0:
            self.wait_for_ahead()  # the engine serves one caller at a time
            metrics.update(self.evaluate())
        metrics["time/logging"] = time.perf_counter() - t4  # metrics (and eval); the row's own write follows
        metrics = reduce_metrics(metrics, self.accelerator)  # one row for the whole step, all processes
        row = self.writer.log(self.step_index, metrics) if self.accelerator.is_main_process else metrics
        self.tracker.log(self.step_index, row)
        self.log_completions(batch)
        return row

    # --- overlap: rewards with reference logprobs, generation of t+1 with training on t ------------

    def score_and_reference(self, batch: Batch, timer: StageTimer) -> tuple[Batch, list[torch.Tensor] | None]:
        """The scored batch, and the reference logprobs per micro-batch when the KL is in the loss (else ``None``).

        The rewards are scored on a background thread (the math verifier's work runs in its worker
        processes) while this thread computes the reference logprobs, once per batch; ``time/reward`` is
        then only the wait left after the reference is done. With dynamic sampling the batch may still
        change after scoring, so the reference waits for the update as before."""
        algo = self.cfg.algorithm
        if self.reference is None or not algo.kl_in_loss or algo.dynamic_sampling:
            with timer.stage("reward"):
                return self.score(batch), None
        future = _background("r1train-score").submit(self.score, batch)
        with timer.stage("ref_logprobs"):
            batches = self.micro_batches(batch.rollouts, torch.zeros(len(batch.rollouts)))  # the update's grouping
            ref = self.reference.logprobs([mb.to(self.accelerator.device) for mb in batches], self.cfg.rollout.temperature)
        with timer.stage("reward"):
            return future.result(), ref

    def rollouts_for_step(self) -> tuple[Batch, float]:
        """This step's prompt rows and rollouts, and the seconds spent syncing weights on the way.

        By default: draw prompts, generate with the current weights. With ``rollout.async_generation`` the
        batch was started during the previous step with that step's weights (one step off-policy; the
        update corrects with truncated importance weights, ``algorithm.rollout_is``): collect it, push
        the current weights to the now idle engine, and start the next batch in the background, so that
        generating batch t+1 overlaps scoring and training on batch t."""
        if not self.cfg.rollout.async_generation:
            rows = self.next_prompts()
            return Batch(rows, self.generate(rows)), 0.0
        rows, future = self._ahead or self._generate_ahead()
        rollouts = future.result()
        sync_s = self.sync() if self.step_index > 0 else 0.0  # weights after the latest update
        self._ahead = self._generate_ahead()
        return Batch(rows, rollouts), sync_s

    def _generate_ahead(self) -> tuple[list[dict[str, Any]], Future]:
        rows = self.next_prompts()  # the sampling seeds follow the batch number, as in the default mode
        return rows, _background("r1train-rollout").submit(self.generate, rows)

    def wait_for_ahead(self) -> None:
        """Let a background generate call finish (before anything else uses the engine)."""
        if self._ahead is not None:
            self._ahead[1].result()

    def count_bad_step(self, stats: dict[str, float]) -> None:
        """A step whose loss or gradient was not finite was skipped; too many in a run stop it."""
        self.state.bad_steps += int(stats.get("bad_step", 0.0))
        stats["bad_steps"] = float(self.state.bad_steps)
        if self.state.bad_steps > self.cfg.train.max_bad_steps:
            raise UserError(
                f"{self.state.bad_steps} steps had a non-finite loss or gradient and were skipped (train.max_bad_steps="
                f"{self.cfg.train.max_bad_steps}); lower optim.lr, check the rewards, or raise train.max_bad_steps"
            )

    def evaluate(self) -> dict[str, float]:
        """Benchmarks of ``eval.benchmarks`` with the live policy through the rollout engine (every process
        takes a share of the problems); ``eval/<bench>/pass@1`` etc."""
        from eval.live import evaluate_live  # eval sits above r1train: imported only when asked for

        self.sync(force=True)  # with rollout.sync_every > 1 the engine may hold older weights
        return evaluate_live(self.engine, self.tokenizer, self.cfg, self.step_index)

    def log_completions(self, batch: Batch) -> None:
        lg = self.cfg.logging
        if not self.accelerator.is_main_process or lg.completions_every <= 0 or self.step_index % lg.completions_every:
            return
        sample = completion_records(batch, lg.completions_per_step)
        self.writer.completions(self.step_index, sample)
        self.tracker.log_completions(self.step_index, sample)

    # --- the run ----------------------------------------------------------------------------------

    def save_checkpoint(self) -> Path | None:
        """Every process calls this (sharded state is gathered); the main process writes the checkpoint."""
        acc, keep = self.accelerator, self.cfg.train.keep_last
        return checkpoint.save_distributed(self.out, acc, self.policy, self.optimizer, self.scheduler, self.state, keep)

    def save_final(self) -> Path:
        target = self.out / "model"
        full = checkpoint.full_weights(self.accelerator, self.policy)  # FSDP2 / ZeRO-3: gathered; else None
        if self.accelerator.is_main_process:
            model = unwrap(self.accelerator.unwrap_model(self.policy))
            if full is None:
                lora.save_policy(model, target, self.tokenizer)  # merged model (+ target/adapter with LoRA)
            else:
                model.save_pretrained(target, state_dict=full)
                self.tokenizer.save_pretrained(target)
            self.tracker.log_model(target)
        self.accelerator.wait_for_everyone()
        return target

    def _on_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.stop_signal is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.stop_signal = name
        print(f"\nr1train: {name} received; finishing step {self.step_index + 1}, then saving a checkpoint", flush=True)

    def held_out(self) -> dict[str, Any] | None:
        """Accuracy, length, think and reflection rate of the current policy on the held-out problems."""
        rows = self.prompts.held_out[: self.cfg.train.eval_size]
        if not rows or not self.accelerator.is_main_process:
            return None
        return summary.evaluate_held_out(self.engine, self.tokenizer, rows, self.cfg, self.reward_fns[0])

    def before_training(self) -> dict[str, Any] | None:
        """The held-out figures before any update (saved, so a resumed run compares with the real start)."""
        path = self.out / "held_out_before.json"
        if path.is_file():
            return json.loads(path.read_text())
        before = self.held_out() if self.step_index == 0 else None
        if before is not None:
            path.write_text(json.dumps(before, default=str))
        return before

    def after_training(self, before: dict[str, Any] | None, wall_s: float) -> None:
        """summary.json and the before/after table, and curves.png from metrics.jsonl."""
        if not self.accelerator.is_main_process:
            return
        if before is not None:
            after = self.held_out()
            if after is not None:
                print(summary.write_summary(self.out, before, after, self.step_index, wall_s))
        plots.write_curves(self.out / "metrics.jsonl", self.out / "curves.png")

    def run(self) -> RunResult:
        cfg = self.cfg
        t0 = time.perf_counter()
        before = self.before_training()
        progress = Progress(cfg.train.steps, self.step_index, cfg.logging.progress and self.accelerator.is_main_process)
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            started = time.perf_counter()
            while self.step_index < cfg.train.steps:
                if 0 < cfg.train.max_time_s <= time.perf_counter() - started:
                    print(f"r1train: train.max_time_s={cfg.train.max_time_s:g} reached after step {self.step_index}")
                    break
                row = self.step()
                progress.update(row.get("reward") or 0.0, row.get("length/mean") or 0.0)
                save_every = cfg.train.save_every
                if self.stop_signal or (save_every > 0 and self.step_index % save_every == 0):
                    self.wait_for_ahead()  # async generation: the engine and RNG settle before saving
                    path = self.save_checkpoint()
                    if self.accelerator.is_main_process:  # people would rather look than read
                        plots.write_curves(self.out / "metrics.jsonl", self.out / "curves.png")
                    if self.stop_signal:
                        raise Stopped(self.stop_signal, self.step_index, path)
        finally:
            progress.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
        self.wait_for_ahead()
        self.save_final()
        self.after_training(before, time.perf_counter() - t0)
        self.tracker.finish()
        self.engine.close()
        return RunResult(self.out, self.writer.history)


class Stopped(UserError):
    """The run was asked to stop by a signal; a checkpoint was written."""

    def __init__(self, signal_name: str, step: int, path: Path | None) -> None:
        super().__init__(
            f"stopped by {signal_name} after step {step}; checkpoint {path} is saved; resume with the same command "
            "and train.resume=auto"
        )


_POOLS: dict[str, ThreadPoolExecutor] = {}


def _background(name: str) -> ThreadPoolExecutor:
    """One single-thread pool per kind of background work (scoring, generation ahead), made on first use."""
    if name not in _POOLS:
        _POOLS[name] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    return _POOLS[name]


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
