"""The GRPO step: rollout -> rewards -> advantages -> policy update -> weight sync -> log.

:class:`Trainer` holds a run's state (model, engine, optimizer, data position, run directory) and
``step()`` performs one pass of the data path. Each stage is one named call and the step reads like the
data path in DESIGN.md; stage timings go to ``metrics.jsonl`` as ``time/<stage>``. The run around the
steps (checkpoints, signals, the final model, before/after figures) is :mod:`r1train.train.run`, whose
``train(cfg)`` is what ``r1train train RECIPE`` runs.
Runs under ``accelerate launch`` too: each process takes its share of the step's prompts (whole groups),
and the loss is normalised with counts summed over all processes.
"""

from __future__ import annotations

import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from r1train import envs, grpo
from r1train.config import Config
from r1train.data import templates
from r1train.data.prompts import load_prompts, peek
from r1train.errors import UserError
from r1train.models.load import load_model, load_tokenizer, resolve_source
from r1train.models.logprobs import PolicyLogprobs, unwrap
from r1train.recipe import Launch, resolve
from r1train.rollout import Rollout, Sampling, batch_sampling, make_engine
from r1train.rollout.sync import sync_weights
from r1train.runtime import checkpoint, outputs
from r1train.runtime.distributed import after_prepare, make_accelerator, reduce_metrics
from r1train.runtime.lock import RunLock
from r1train.runtime.resume import find_resume_point
from r1train.runtime.rng import seed_everything
from r1train.telemetry import summary
from r1train.telemetry.batch_metrics import batch_metrics, completion_records
from r1train.telemetry.metrics import MetricsWriter
from r1train.telemetry.profile import StageTimer, peak_memory, reset_peak_memory
from r1train.telemetry.tracking import Tracker
from r1train.train import dynamic_sampling, optim, reference, scoring
from r1train.train.ahead import Ahead, staleness_metrics, stamp
from r1train.train.batch import Batch, loss_keep, micro_batches, token_budget
from r1train.train.update import update_policy


class Trainer:
    """Holds the run's state; ``step()`` performs one full GRPO step and returns its metrics."""

    def __init__(self, cfg: Config) -> None:
        # DDP, FSDP2 or DeepSpeed as `accelerate launch` configured; without CUDA over gloo (FSDP2 included)
        self.accelerator = make_accelerator(cfg.optim.max_grad_norm)
        # every check and derived value for this launch, before anything loads; what runs is what is recorded
        cfg = resolve(cfg, Launch.from_accelerator(self.accelerator))
        self.cfg = cfg
        main = self.accelerator.is_main_process
        # one process per run directory, locked before anything reads it; the kernel drops it on a crash
        self.lock = RunLock.acquire(Path(cfg.train.output_dir).expanduser()) if main else None
        self.started = False  # nothing is written to the output directory before begin()
        try:
            self._set_up(cfg, main)
        except BaseException:
            self.close(failed=True)  # a start-up failure leaves no trace that blocks the corrected rerun
            raise

    def _set_up(self, cfg: Config, main: bool) -> None:
        peek(cfg.data)  # a missing file or column fails now, not after the model has loaded
        seed_everything(cfg.train.seed)
        self.resume_from = find_resume_point(cfg, verbose=main)
        self.env = envs.load(cfg.env)  # single_turn: generate() goes straight to the engine, as before
        self.continues = outputs.continues(cfg, self.resume_from)  # resumes a checkpoint of this directory
        self.out = outputs.check(cfg, resuming=self.continues)  # refuses; writes nothing
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
        self.tracker: Tracker | None = None  # started by begin(): W&B writes under the output directory
        self.rewind(0)  # the data iterator, at the checkpoint's position
        self.add_special = not templates.get(cfg.data.template).special_tokens_in_text
        self.engine_version = self.state.step  # the policy version the engine holds (set by every sync)
        self.ahead = Ahead(self, cfg.rollout.max_staleness) if cfg.rollout.max_staleness else None  # train/ahead.py

    def begin(self) -> None:
        """The run's first writes, just before its first step (so a start-up failure leaves none): an
        overwritten run moved aside, interrupted checkpoint writes cleared, this start's recipe saved
        (``recipe.yaml``, then ``recipe.resume-N.yaml``), metrics past the checkpoint set aside, W&B."""
        if self.started:
            return
        main = self.accelerator.is_main_process
        recipe = outputs.commit(self.cfg, self.continues) if main else None
        had_wandb = (self.out / "wandb").exists()
        try:
            self.tracker = Tracker(self.cfg, self.out, self.state.wandb_run_id, enabled=main)
        except BaseException:  # W&B could not start: the directory is left as a rerun can use it
            if recipe is not None:
                recipe.unlink(missing_ok=True)
                if not had_wandb:
                    shutil.rmtree(self.out / "wandb", ignore_errors=True)
            raise
        self.state.wandb_run_id = self.tracker.run_id
        if main and self.continues:
            self.writer.truncate_after(self.state.step)
        self.started = True

    def close(self, failed: bool = False) -> None:
        """Release the run directory's lock (``failed`` before begin(): a directory that only the lock
        file made is removed again)."""
        if self.lock is not None:
            self.lock.release(failed_start=failed and not self.started)
            self.lock = None

    @property
    def step_index(self) -> int:
        return self.state.step

    def restore(self, path: Path) -> None:
        """Continue from checkpoint ``path``: weights, optimizer, schedule, RNG, data position, W&B id."""
        self.state = checkpoint.load_state(path)
        # every process: sharded weights and optimizer state are scattered to this run's processes
        checkpoint.restore_distributed(path, self.accelerator, self.policy, self.optimizer, self.scheduler)
        self.sync(force=True)
        print(f"r1train: resuming from {path} (step {self.state.step})")

    # --- the stages -------------------------------------------------------------------------------

    def rewind(self, batches: int) -> None:
        """Move the data position back by ``batches`` (the ones discarded in flight) and restart there."""
        self.state.batches_consumed -= batches  # no dynamic sampling with k > 0: one batch per step
        c = self.cfg
        self.batches = self.prompts.batches(c.rollout.prompts_per_step, c.train.seed, c.data.shuffle, start=self.state.batches_consumed)

    def next_prompts(self) -> list[dict[str, Any]]:
        """This process's share of the next batch of prompt rows."""
        rows = next(self.batches)
        self.state.batches_consumed += 1
        acc = self.accelerator
        share = len(rows) // acc.num_processes
        return rows[acc.process_index * share : (acc.process_index + 1) * share]

    def generate(self, rows: list[dict[str, Any]]) -> list[Rollout]:
        """Rollouts of ``rows`` through the environment (single turn: one engine call), stamped with the
        policy version the engine holds."""
        rollouts = envs.generate(self.engine, self.tokenizer, rows, *self.request(rows), self.env)
        return stamp(rollouts, self.engine_version)

    def request(self, rows: list[dict[str, Any]]) -> tuple[list[list[int]], Sampling]:
        """The prompt ids and sampling of a generate call for ``rows`` (the seed follows the batch number)."""
        prompt_ids = [self.tokenizer(r["prompt"], add_special_tokens=self.add_special)["input_ids"] for r in rows]
        too_long = max(len(p) for p in prompt_ids)
        if too_long > self.cfg.data.max_prompt_tokens:
            raise UserError(
                f"a prompt has {too_long} tokens, more than data.max_prompt_tokens={self.cfg.data.max_prompt_tokens}; "
                "raise it or shorten the prompts"
            )
        return prompt_ids, self.sampling(len(rows))

    def sampling(self, n_prompts: int) -> Sampling:
        """This batch's sampling; its seeds follow (train seed, batch number), see ``batch_sampling``."""
        threaded = self.cfg.rollout.max_staleness > 0 and not getattr(self.engine, "own_process", False)
        return batch_sampling(self.cfg, self.state.batches_consumed, self.accelerator.process_index, n_prompts, threaded)

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
        if not force and self.step_index % every:
            return 0.0
        self.engine_version = self.step_index
        return sync_weights(self.engine, unwrap(self.policy), step=self.step_index, every=every, force=True)

    # --- one step ---------------------------------------------------------------------------------

    def step(self) -> dict[str, Any]:
        self.begin()
        timer = StageTimer()
        reset_peak_memory()
        t0 = time.perf_counter()
        with timer.stage("rollout"):
            batch, sync_ahead_s, ahead_stats = self.rollouts_for_step()  # async: sync + launch of t+k inside
        batch, ref = self.score_and_reference(batch, timer)  # reference logprobs while scoring
        with timer.stage("dynamic_sampling"):  # DAPO; off: the batch as it is
            batch, sampling = dynamic_sampling.stage(batch, self.sample_more, self.cfg.algorithm,
                                                     self.cfg.rollout.num_generations, self.accelerator)
        t2 = time.perf_counter()
        batch, kl_stats = self.advantages(batch)
        stats = self.update(batch, timer, ref) | sampling | kl_stats | ahead_stats
        stats |= staleness_metrics(batch.rollouts, self.step_index)
        self.count_bad_step(stats)
        t3 = time.perf_counter()
        self.state.step += 1
        sync_s = sync_ahead_s if self.ahead is not None else self.sync()
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
            self.settle()  # like a checkpoint: the batches after it come from the weights evaluated
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

    def rollouts_for_step(self) -> tuple[Batch, float, dict[str, float]]:
        """This step's rows and rollouts, the seconds spent syncing weights, and the pipeline's metrics: by
        default generated now; with ``rollout.max_staleness: k`` submitted k steps ago (train/ahead.py)."""
        if self.ahead is None:
            rows = self.next_prompts()
            return Batch(rows, self.generate(rows)), 0.0, {}
        return self.ahead.take(self.step_index)

    def draw(self) -> tuple[list[dict[str, Any]], list[list[int]], Sampling]:
        rows = self.next_prompts()  # on this thread, in order: the seed follows the batch number
        return (rows, *self.request(rows))

    def settle(self) -> None:
        """Before a checkpoint, an evaluation or the end: no batch in flight, the engine on the current weights."""
        if self.ahead is not None:
            self.ahead.settle(self.step_index)

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
        state, tok = self.state, self.tokenizer
        return checkpoint.save_distributed(self.out, acc, self.policy, self.optimizer, self.scheduler, state, keep, tok)

    def held_out(self) -> dict[str, Any] | None:
        """Accuracy, length, think and reflection rate of the current policy on the held-out problems."""
        rows = self.prompts.held_out[: self.cfg.train.eval_size]
        if not rows or not self.accelerator.is_main_process:
            return None
        return summary.evaluate_held_out(self.engine, self.tokenizer, rows, self.cfg, self.reward_fns[0])

_POOLS: dict[str, ThreadPoolExecutor] = {}


def _background(name: str) -> ThreadPoolExecutor:
    """One single-thread pool per kind of background work (scoring, generation ahead), made on first use."""
    if name not in _POOLS:
        _POOLS[name] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
    return _POOLS[name]
