"""A whole training run around the GRPO step: what ``r1train train RECIPE`` does.

``train(cfg)`` builds the :class:`~r1train.train.trainer.Trainer` (whose ``step()`` is one pass of the data
path) and :func:`run` drives it: the run directory's first writes (``Trainer.begin``), the start-up
banner, the held-out figures before training, steps until ``train.steps`` with checkpoints every
``train.save_every`` and the progress bar (plain lines without a terminal), SIGTERM/SIGINT (finish the
step, save a checkpoint, stop with :class:`Stopped`), then the final model, the before/after table and
``summary.json``, and ``curves.png``. The directory's lock is released however the run ends.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from r1train.config import Config
from r1train.errors import UserError
from r1train.models import lora
from r1train.models.logprobs import unwrap
from r1train.runtime import checkpoint
from r1train.telemetry import console, plots, summary
from r1train.telemetry.metrics import Progress
from r1train.train.trainer import Trainer


@dataclass
class RunResult:
    output_dir: Path
    history: list[dict[str, Any]]


class Stopped(UserError):
    """The run was asked to stop by a signal; a checkpoint was written."""

    def __init__(self, signal_name: str, step: int, path: Path | None) -> None:
        super().__init__(
            f"stopped by {signal_name} after step {step}; checkpoint {path} is saved; resume with the same command "
            "and train.resume=auto"
        )


def train(cfg: Config) -> RunResult:
    """Train the policy described by ``cfg``; returns the output directory and the metrics history."""
    return run(Trainer(cfg))


def run(trainer: Trainer) -> RunResult:
    """Train to ``train.steps`` and save the final model; the directory's lock is released however it ends."""
    try:
        return _run(trainer)
    finally:
        trainer.close()


class _StopOnSignal:
    """SIGTERM/SIGINT set ``name``: the run finishes its step, saves a checkpoint and stops; a second one
    stops at once."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.name: str | None = None

    def __call__(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self.name is not None:  # a second signal: stop now
            raise KeyboardInterrupt
        self.name = name
        step = self.trainer.step_index + 1
        print(f"\nr1train: {name} received; finishing step {step}, then saving a checkpoint", flush=True)


def _run(t: Trainer) -> RunResult:
    cfg = t.cfg
    t0 = time.perf_counter()
    t.begin()
    first_step = t.step_index
    main = t.accelerator.is_main_process
    if main:  # what runs, before the first step (a log file says so even if the run dies)
        acc, p = t.accelerator, t.prompts
        print(console.banner(cfg, t.out, unwrap(t.policy), t.engine, len(p.train), len(p.held_out),
                             acc.num_processes, acc.device.type, t.step_index), flush=True)
    before = before_training(t)
    progress = Progress(cfg.train.steps, t.step_index, cfg.logging.progress and main, cfg.logging.log_every)
    watch = console.RunWatch(samples=cfg.rollout.prompts_per_step * cfg.rollout.num_generations)
    stop = _StopOnSignal(t)
    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        started = time.perf_counter()
        while t.step_index < cfg.train.steps:
            if 0 < cfg.train.max_time_s <= time.perf_counter() - started:  # a wall-time budget (pocket comparisons)
                print(f"r1train: train.max_time_s={cfg.train.max_time_s:g} reached after step {t.step_index}")
                break
            row = t.step()
            progress.update(row.get("reward"), row.get("length/mean"))  # None (all unverifiable) shows as -
            if main:
                watch.check(row)
            save_every = cfg.train.save_every
            if stop.name or (save_every > 0 and t.step_index % save_every == 0):
                t.settle()  # async: nothing in flight, the data position at the next batch
                path = t.save_checkpoint()
                if main:  # people would rather look than read
                    plots.write_curves(t.out / "metrics.jsonl", t.out / "curves.png")
                if stop.name:
                    raise Stopped(stop.name, t.step_index, path)
    finally:
        progress.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    t.settle()  # and the engine on the final weights for the held-out figures
    if t.step_index > first_step or not (t.out / "model").exists():  # a finished run's model stays
        save_final(t)
    after_training(t, before, time.perf_counter() - t0)
    if t.tracker is not None:
        t.tracker.finish()
    t.engine.close()
    return RunResult(t.out, t.writer.history)


def save_final(t: Trainer) -> Path:
    """``model/`` with the tokenizer, written beside it first and renamed in whole (a crash leaves no half
    model); a ``model/`` already there (the run was extended) moves to ``model.old-<timestamp>``."""
    target = t.out / "model"
    full = checkpoint.full_weights(t.accelerator, t.policy)  # FSDP2 / ZeRO-3: gathered; else None
    if t.accelerator.is_main_process:
        model = unwrap(t.accelerator.unwrap_model(t.policy))
        tmp = t.out / f".tmp-model-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        if full is None:
            lora.save_policy(model, tmp, t.tokenizer)  # merged model (+ target/adapter with LoRA)
        else:
            model.save_pretrained(tmp, state_dict=full)
            t.tokenizer.save_pretrained(tmp)
        if target.exists():
            target.rename(t.out / f"model.old-{time.strftime('%Y%m%d-%H%M%S')}")
        tmp.rename(target)
        if t.tracker is not None:
            t.tracker.log_model(target)
    t.accelerator.wait_for_everyone()
    return target


def before_training(t: Trainer) -> dict[str, Any] | None:
    """The held-out figures before any update (saved, so a resumed run compares with the real start)."""
    path = t.out / "held_out_before.json"
    if path.is_file():
        return json.loads(path.read_text())
    before = t.held_out() if t.step_index == 0 else None
    if before is not None:
        path.write_text(json.dumps(before, default=str))
    return before


def after_training(t: Trainer, before: dict[str, Any] | None, wall_s: float) -> None:
    """summary.json and the before/after table, and curves.png from metrics.jsonl."""
    if not t.accelerator.is_main_process:
        return
    if before is not None:
        after = t.held_out()
        if after is not None:
            print(summary.write_summary(t.out, before, after, t.step_index, wall_s))
    plots.write_curves(t.out / "metrics.jsonl", t.out / "curves.png")
