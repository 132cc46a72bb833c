"""What a training run prints for the person (or the Slurm log) watching it, besides the progress bar.

* :func:`banner`: the start-up lines (model, data, engine, steps, processes, output directory), so that a
  log file says what ran before the first step has finished;
* :class:`RunWatch`: loud warnings when a run trains on nothing: every group's rewards all equal for
  several steps in a row (advantages are then all 0), or a reward function unable to score a single
  completion of a step (``reward/<fn>/none`` equal to the number of samples; its mean is then missing
  and the total reward is no longer what the recipe says);
* :func:`quiet_third_party`: known third-party noise off unless ``r1train train --verbose``: vLLM's
  CPU notices (its log level to ERROR), PyTorch's C++ warnings, FutureWarnings and DeprecationWarnings
  from other packages, and the weight-loading and shard-writing bars of transformers, the hub and tqdm.
  Environment variables the user set win over these defaults.
"""

from __future__ import annotations

import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from r1train.config import Config

# variables read when the libraries start (set before they are imported); a user's own value wins
QUIET_ENV = {
    "VLLM_LOGGING_LEVEL": "ERROR",  # the CPU build warns about triton, tcmalloc, thread binding ... at start
    "TORCH_CPP_LOG_LEVEL": "ERROR",  # c10 warnings such as the NUMA binding notice
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TQDM_DISABLE": "1",  # tqdm's default for bars that do not set `disable` themselves
}


def quiet_third_party(verbose: bool) -> None:
    """Silence the known noise of vLLM, PyTorch, transformers and the hub (see the module docstring)."""
    if verbose:
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # INFO would log every weight reload
        return
    for name, value in QUIET_ENV.items():
        os.environ.setdefault(name, value)
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # "Loading weights", "Writing model shards"
    except ImportError:  # transformers is a dependency; without it nothing would have printed anyway
        pass


def _count(n: int) -> str:
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            return f"{n / div:.2f}{unit}"
    return str(n)


def banner(cfg: Config, out: Path, model: Any, engine: Any, train_rows: int, held_out_rows: int,
           processes: int, device: str, start_step: int = 0) -> str:
    """The start-up lines of a run, one fact per line, each starting ``r1train:`` (``model``: the policy
    module as loaded, for its parameter count and dtype; ``engine``: the rollout engine built)."""
    params = list(model.parameters())
    parameters = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    dtype = str(params[0].dtype).removeprefix("torch.") if params else "?"
    engine = f"{cfg.rollout.engine} ({type(engine).__name__})"
    r, t, d = cfg.rollout, cfg.train, cfg.data
    tuned = "full fine-tuning" if trainable >= parameters else f"{_count(trainable)} trainable (LoRA)"
    steps = f"{t.steps}" + (f", resuming at step {start_step}" if start_step else "")
    save = f"checkpoint every {t.save_every}" if t.save_every else "checkpoint at the end"
    lines = [
        f"model      {cfg.model.name_or_path} ({_count(parameters)} parameters, {dtype}, {tuned})",
        f"data       {d.source} ({train_rows} training rows, {held_out_rows} held out, template {d.template})",
        f"engine     {engine}: {r.prompts_per_step} prompts x {r.num_generations} samples, "
        f"up to {r.max_new_tokens} new tokens",
        f"steps      {steps}; {save}",
        f"processes  {processes} ({device})",
        f"output     {out}",
    ]
    return "\n".join("r1train: " + line for line in lines)


@dataclass
class RunWatch:
    """Warnings about a run that is not learning, from each step's metrics row (main process)."""

    samples: int  # completions per step, all processes together
    zero_std_steps: int = 3  # steps in a row with every group flat before warning
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    flat: int = 0
    warned: set[str] = field(default_factory=set)

    def check(self, row: dict[str, Any]) -> list[str]:
        """The warnings this step raises (also printed to ``stream``)."""
        step = row.get("step")
        found = []
        frac = row.get("frac_zero_std")
        self.flat = self.flat + 1 if frac is not None and frac >= 1.0 else 0
        if self.flat == self.zero_std_steps:  # once per streak
            found.append(
                f"every group had identical rewards in each of the last {self.flat} steps (up to step {step}): "
                "all advantages are 0 and the policy is not learning; check that the rewards can tell the "
                "completions apart (completions.jsonl), or raise rollout.num_generations or rollout.temperature"
            )
        for key, value in row.items():
            if key.startswith("reward/") and key.endswith("/none") and value is not None and value >= self.samples:
                name = key[len("reward/") : -len("/none")]
                if name in self.warned:
                    continue
                self.warned.add(name)
                errors = row.get(f"reward/{name}/errors") or 0
                why = f"it failed {errors:.0f} time(s)" if errors else "it returned None for each of them"
                found.append(
                    f"reward {name!r} could not score any of the {self.samples} completions of step {step} ({why}): "
                    "its reward is missing, not 0; see the log above for its error and check its arguments "
                    "and the data columns it reads"
                )
        for message in found:
            print(f"r1train: WARNING: {message}", file=self.stream, flush=True)
        return found
