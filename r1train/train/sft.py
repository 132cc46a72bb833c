"""``r1train sft RECIPE``: supervised fine-tuning with the training run's own parts (R1's cold start, distillation).

DeepSeek-R1 = R1-Zero plus supervised stages: a cold start (fine-tuning on long reasoning traces before RL)
and distillation (fine-tuning a smaller student on a strong reasoner's verified traces). This is that
stage as one more entry point, not a second framework: the same recipe schema (plus its ``sft:``
section, :class:`r1train.config.SftConfig`), ``resolve``, model and tokenizer loading (LoRA included),
templates, :class:`~r1train.models.logprobs.PolicyLogprobs` chunked logprobs, token-capped micro-batches
(:mod:`r1train.train.batch`), AdamW and its schedule, atomic checkpoints with exact resume, the output
directory's safety, metrics, the progress bar, W&B and ``curves.png``, under ``accelerate launch``.

One optimizer step takes ``sft.batch_size`` examples (seeded order, epoch after epoch; each process takes
its share) and minimises the mean negative log-likelihood of their completion tokens (a token mean over
the whole batch and all processes, like the GRPO loss's ``token_mean``). Rows come from
:mod:`r1train.train.sft_data`. The data's last ``sft.held_out`` rows are kept out: their loss is measured
before and after (and every ``sft.eval_every`` steps); where the rows carry ``data.answer_column`` (or
``sft.eval_source`` names prompts with answers, e.g. ``synthetic:chain``), held-out accuracy is measured
before and after with the rollout engine and the recipe's first reward, exactly as ``r1train train``
measures it (:func:`r1train.telemetry.summary.evaluate_held_out`), into ``summary.json``.

Use::

    r1train sft recipes/pocket-cold-sft.yaml [train.steps=20 …]
"""

from __future__ import annotations

import json
import math
import signal
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from r1train.config import Config
from r1train.data.prompts import PromptSet, apply_template, load_prompts, read_rows
from r1train.errors import UserError
from r1train.models.load import load_model, load_tokenizer, resolve_source
from r1train.models.logprobs import PolicyLogprobs, unwrap
from r1train.recipe import Launch, resolve
from r1train.runtime import checkpoint, outputs
from r1train.runtime.distributed import after_prepare, make_accelerator, micro_batch, reduce_metrics
from r1train.runtime.resume import find_resume_point
from r1train.runtime.rng import seed_everything
from r1train.telemetry import plots, summary
from r1train.telemetry.metrics import MetricsWriter, Progress
from r1train.telemetry.tracking import Tracker
from r1train.train import optim, scoring
from r1train.train.batch import micro_batches, token_budget
from r1train.train.run import RunResult, Stopped
from r1train.train.sft_data import Example, as_rollout, build_examples

SFT_PANELS: plots.Panels = (
    ("loss (completion tokens)", (("loss", "train"), ("eval/loss", "held-out"))),
    ("learning rate", (("lr", "lr"),)),
    ("tokens per second", (("tokens_per_s", "tokens/s"),)),
)


def check(cfg: Config, where: str = "the recipe") -> None:
    """The ``sft`` section's values (what ``r1train check`` adds for an SFT recipe)."""
    s = cfg.sft
    if s.batch_size < 1 or s.max_tokens < 2 or s.held_out < 0 or s.eval_every < 0:
        raise UserError(f"sft in {where}: batch_size >= 1, max_tokens >= 2, held_out >= 0 and eval_every >= 0 are needed")
    if cfg.data.source.startswith("synthetic:"):
        raise UserError(f"data.source {cfg.data.source!r} in {where} has no completions to learn; sft reads file: or hf: "
                        "rows (e.g. what `r1train sample` writes)")


class SFTTrainer:
    """Holds the run's state; ``step()`` performs one optimizer step over ``sft.batch_size`` examples."""

    def __init__(self, cfg: Config) -> None:
        self.accelerator = make_accelerator(cfg.optim.max_grad_norm)
        cfg = resolve(cfg, Launch.from_accelerator(self.accelerator))
        check(cfg)
        if cfg.sft.batch_size % self.accelerator.num_processes:
            raise UserError(f"sft.batch_size ({cfg.sft.batch_size}) must be divisible by the number of processes "
                            f"({self.accelerator.num_processes}); change one of them")
        self.cfg = cfg
        seed_everything(cfg.train.seed)
        self.resume_from = find_resume_point(cfg)
        main = self.accelerator.is_main_process
        self.out = outputs.prepare(cfg, resuming=self.resume_from is not None) if main else Path(cfg.train.output_dir)
        self.source = resolve_source(cfg.model)
        self.tokenizer = load_tokenizer(self.source, cfg.model.trust_remote_code)
        self.model = load_model(cfg.model, self.source, self.accelerator.device.type)
        rows = read_rows(cfg.data.source, cfg.data.split)
        examples, self.dropped = build_examples(rows, cfg, self.tokenizer, f"data.source {cfg.data.source!r}")
        n_held = min(cfg.sft.held_out, len(examples) // 2)
        self.train_examples = examples[: len(examples) - n_held]
        self.held_examples = examples[len(examples) - n_held :]
        self.eval_rows = self._accuracy_rows(rows[len(rows) - n_held :] if n_held else [])
        self.reward_fns = scoring.load(cfg.rewards, {"max_new_tokens": cfg.rollout.max_new_tokens}) if self.eval_rows else []
        optimizer, self.scheduler = optim.build(self.model, cfg)
        self.policy, self.optimizer = self.accelerator.prepare(PolicyLogprobs(self.model, compile=cfg.train.compile), optimizer)
        after_prepare(self.accelerator, self.policy)
        self.engine = None
        if self.eval_rows:
            from r1train.rollout import make_engine

            self.engine = make_engine(cfg, self.model, self.tokenizer, self.source)
        self.writer = MetricsWriter(self.out)
        self.state = checkpoint.TrainState(step=0, batches_consumed=0)
        if self.resume_from is not None:
            self.state = checkpoint.load_state(self.resume_from)
            checkpoint.restore_distributed(self.resume_from, self.accelerator, self.policy, self.optimizer, self.scheduler)
            self.writer.truncate_after(self.state.step)
            print(f"r1train: resuming from {self.resume_from} (step {self.state.step})")
        self.tracker = Tracker(cfg, self.out, self.state.wandb_run_id, enabled=main)
        self.state.wandb_run_id = self.tracker.run_id
        order = PromptSet([{"i": i} for i in range(len(self.train_examples))])
        self.batches = order.batches(cfg.sft.batch_size, cfg.train.seed, cfg.data.shuffle, start=self.state.batches_consumed)
        self.stop_signal: str | None = None

    def _accuracy_rows(self, held_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Templated prompts with answers for held-out accuracy: ``sft.eval_source``'s held-out split, else
        the held-out rows when they carry ``data.answer_column`` (``[]``: no accuracy is measured)."""
        cfg = self.cfg
        if cfg.train.eval_size == 0:
            return []
        if cfg.sft.eval_source:
            data = replace(cfg.data, source=cfg.sft.eval_source, eval_split=None)
            return load_prompts(data, self.tokenizer, cfg.train.seed).held_out[: cfg.train.eval_size]
        if not held_rows or cfg.data.answer_column not in held_rows[0] or cfg.data.prompt_column not in held_rows[0]:
            return []
        rows = apply_template(held_rows, cfg.data, self.tokenizer, cfg.data.prompt_column, cfg.data.answer_column)
        return rows[: cfg.train.eval_size]

    # --- the loss ---------------------------------------------------------------------------------

    def _micro_batches(self, examples: list[Example]) -> list[Any]:
        acc, t = self.accelerator, self.cfg.train
        rollouts = [as_rollout(e, i) for i, e in enumerate(examples)]
        cap = token_budget(t.micro_batch_tokens, acc.device.type, acc.num_processes)
        ones = torch.ones(len(rollouts))  # (N,) every example counts fully
        return micro_batches(rollouts, ones, t.micro_batch_size, self.tokenizer.pad_token_id, None, cap)

    def _global(self, values: list[float]) -> list[float]:
        """Sums over all processes (one all-reduce; the values themselves on one process)."""
        if self.accelerator.num_processes == 1:
            return values
        t = torch.tensor(values, dtype=torch.float64, device=self.accelerator.device)
        return self.accelerator.reduce(t, "sum").cpu().tolist()

    def step(self) -> dict[str, Any]:
        t0 = time.perf_counter()
        rows = next(self.batches)
        self.state.batches_consumed += 1
        acc = self.accelerator
        share = len(rows) // acc.num_processes
        mine = [self.train_examples[r["i"]] for r in rows[acc.process_index * share : (acc.process_index + 1) * share]]
        batches = [mb.to(acc.device) for mb in self._micro_batches(mine)]
        local_tokens = float(sum(float(mb.loss_mask.sum()) for mb in batches))
        (total_tokens,) = self._global([local_tokens])
        nll_sum = 0.0
        self.policy.train()
        for i, mb in enumerate(batches):
            logp, _ = self.policy(mb.input_ids, mb.attention_mask, mb.completion_mask)  # (n, L-1)
            nll = -(logp * mb.loss_mask.to(logp.dtype)).sum()  # this micro-batch's share of the batch's tokens
            loss = nll / max(total_tokens, 1.0)
            with micro_batch(acc, last=i == len(batches) - 1):
                acc.backward(loss * acc.num_processes)  # DDP averages over processes; the mean is over all tokens
            nll_sum += float(nll.detach())
        grad_norm = acc.clip_grad_norm_(self.policy.parameters(), self.cfg.optim.max_grad_norm)
        finite = grad_norm is None or math.isfinite(float(grad_norm))
        if finite:
            self.optimizer.step()
        else:
            self.state.bad_steps += 1
            if self.state.bad_steps > self.cfg.train.max_bad_steps:
                raise UserError(f"{self.state.bad_steps} steps had a non-finite loss or gradient (train.max_bad_steps="
                                f"{self.cfg.train.max_bad_steps}); lower optim.lr or check the data")
        self.optimizer.zero_grad(set_to_none=True)
        lr = self.scheduler.get_last_lr()[0]
        self.scheduler.step()
        (nll_all,) = self._global([nll_sum])
        self.state.step += 1
        elapsed = time.perf_counter() - t0
        metrics: dict[str, Any] = {
            "loss": nll_all / max(total_tokens, 1.0),
            "grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
            "lr": lr,
            "tokens/completion": total_tokens,
            "epoch": self.state.batches_consumed * self.cfg.sft.batch_size / max(1, len(self.train_examples)),
            "bad_steps": float(self.state.bad_steps),
            "time/step": elapsed,
            "tokens_per_s": local_tokens / max(elapsed, 1e-9),
        }
        every = self.cfg.sft.eval_every
        if every and self.state.step % every == 0 and self.held_examples:
            metrics["eval/loss"] = self.held_out_loss()
        metrics = reduce_metrics(metrics, acc)
        row = self.writer.log(self.state.step, metrics) if acc.is_main_process else metrics
        self.tracker.log(self.state.step, row)
        return row

    @torch.no_grad()
    def held_out_loss(self) -> float:
        """Mean negative log-likelihood per completion token of the held-out examples (every process the same)."""
        if not self.held_examples:
            return float("nan")
        self.policy.eval()
        nll, tokens = 0.0, 0.0
        for mb in self._micro_batches(self.held_examples):
            mb = mb.to(self.accelerator.device)
            logp, _ = self.policy(mb.input_ids, mb.attention_mask, mb.completion_mask)  # (n, L-1)
            nll -= float((logp * mb.loss_mask.to(logp.dtype)).sum())
            tokens += float(mb.loss_mask.sum())
        return nll / max(tokens, 1.0)

    # --- held-out figures, saving, the run --------------------------------------------------------

    def held_out(self) -> dict[str, Any]:
        """Held-out loss, and accuracy, length and think rate where there are prompts with answers."""
        figures: dict[str, Any] = {"loss": self.held_out_loss(), "n_loss": len(self.held_examples)}
        if self.engine is not None:
            from r1train.rollout.sync import sync_weights

            sync_weights(self.engine, unwrap(self.policy), step=self.state.step, every=1, force=True)
            if self.accelerator.is_main_process:
                figures |= summary.evaluate_held_out(self.engine, self.tokenizer, self.eval_rows, self.cfg, self.reward_fns[0])
        return figures

    def before_training(self) -> dict[str, Any]:
        path = self.out / "held_out_before.json"
        if path.is_file():
            return json.loads(path.read_text())
        before = self.held_out()
        if self.accelerator.is_main_process and self.state.step == 0:
            path.write_text(json.dumps(before, default=str))
        return before

    def save_final(self) -> Path:
        from r1train.models import lora

        target = self.out / "model"
        full = checkpoint.full_weights(self.accelerator, self.policy)
        if self.accelerator.is_main_process:
            model = unwrap(self.accelerator.unwrap_model(self.policy))
            if full is None:
                lora.save_policy(model, target, self.tokenizer)
            else:
                model.save_pretrained(target, state_dict=full)
                self.tokenizer.save_pretrained(target)
            self.tracker.log_model(target)
        self.accelerator.wait_for_everyone()
        return target

    def after_training(self, before: dict[str, Any], wall_s: float) -> None:
        after = self.held_out()
        if not self.accelerator.is_main_process:
            return
        if "accuracy" in before and "accuracy" in after:
            print(summary.write_summary(self.out, before, after, self.state.step, wall_s))
            data = summary.read_summary(self.out)
        else:
            data = {"steps": self.state.step, "wall_s": round(wall_s, 1)}
        data |= {"loss_before": before["loss"], "loss_after": after["loss"], "held_out_loss_examples": len(self.held_examples),
                 "train_examples": len(self.train_examples), "dropped_too_long": self.dropped, "kind": "sft"}
        (self.out / "summary.json").write_text(json.dumps(summary._clean(data), indent=2) + "\n")
        print(f"held-out loss per completion token: {before['loss']:.4f} -> {after['loss']:.4f}")
        self.curves()

    def curves(self) -> None:
        plots.write_curves(self.out / "metrics.jsonl", self.out / "curves.png", "r1train sft", SFT_PANELS)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self.stop_signal is not None:
            raise KeyboardInterrupt
        self.stop_signal = signal.Signals(signum).name
        print(f"\nr1train: {self.stop_signal} received; finishing step {self.state.step + 1}, then saving a checkpoint", flush=True)

    def run(self) -> RunResult:
        cfg, acc = self.cfg, self.accelerator
        t0 = time.perf_counter()
        print(f"r1train sft: {len(self.train_examples)} training examples, {len(self.held_examples)} held out, "
              f"{self.dropped} longer than sft.max_tokens={cfg.sft.max_tokens} left out", flush=True)
        before = self.before_training()
        progress = Progress(cfg.train.steps, self.state.step, cfg.logging.progress and acc.is_main_process,
                            cfg.logging.log_every, label="sft", fields=("loss", "tokens"))
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
        started = time.perf_counter()
        try:
            while self.state.step < cfg.train.steps:
                if 0 < cfg.train.max_time_s <= time.perf_counter() - started:
                    break
                row = self.step()
                progress.update(row.get("loss") or 0.0, row.get("tokens/completion") or 0.0)
                every = cfg.train.save_every
                if self.stop_signal or (every > 0 and self.state.step % every == 0):
                    path = checkpoint.save_distributed(self.out, acc, self.policy, self.optimizer, self.scheduler,
                                                       self.state, cfg.train.keep_last)
                    if acc.is_main_process:
                        self.curves()
                    if self.stop_signal:
                        raise Stopped(self.stop_signal, self.state.step, path)
        finally:
            progress.close()
            for s, handler in previous.items():
                signal.signal(s, handler)
        self.save_final()
        self.after_training(before, time.perf_counter() - t0)
        self.tracker.finish()
        if self.engine is not None:
            self.engine.close()
        return RunResult(self.out, self.writer.history)


def sft(cfg: Config) -> RunResult:
    """Fine-tune the model described by ``cfg`` on its supervised rows; returns the output dir and history."""
    return SFTTrainer(cfg).run()
