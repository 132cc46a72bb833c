"""Which checkpoint a start resumes from, decided before anything loads.

``train.resume``: ``never``; ``auto`` (the default) = the newest *intact* checkpoint in the output
directory, if any: a checkpoint marked complete but damaged since (checks in
:mod:`r1train.runtime.integrity`) is skipped with a line saying which and why, and the one before it is
used; with ``train.overwrite: true`` nothing is resumed (the old run is moved aside); or a checkpoint path,
which must be intact. A resume with ``train.steps`` below the checkpoint's step is refused.
"""

from __future__ import annotations

import sys
from pathlib import Path

from r1train.config import Config
from r1train.errors import UserError
from r1train.runtime import checkpoint
from r1train.runtime.integrity import checkpoint_problem


def find_resume_point(cfg: Config, verbose: bool = True) -> Path | None:
    """The checkpoint to resume from: ``auto`` = the newest intact one in the output dir, if any (none
    with ``train.overwrite``: the old run is moved aside); damaged newer ones are skipped, saying why."""
    resume, out = cfg.train.resume, Path(cfg.train.output_dir).expanduser()
    if resume == "never":
        return None
    if resume == "auto":
        if cfg.train.overwrite:
            return None
        path, skipped = checkpoint.newest_intact(out)
        for bad, why in skipped:
            if verbose:
                print(f"r1train: skipping checkpoint {bad} ({why})", file=sys.stderr)
        if path is None and skipped:
            reasons = "; ".join(f"{bad.name}: {why}" for bad, why in skipped)
            raise UserError(
                f"no checkpoint in {str(out)!r} can be resumed ({reasons}); set train.overwrite=true to start "
                "over (the old run is moved aside) or choose a new train.output_dir"
            )
    else:
        path = Path(resume).expanduser()
        if cfg.train.overwrite and out.resolve() in path.resolve().parents:
            raise UserError(
                f"train.overwrite=true moves the run in {str(out)!r} aside, so it cannot also resume from its "
                f"checkpoint {resume!r}; drop one of the two"
            )
        problem = checkpoint_problem(path) if path.is_dir() else "it does not exist"
        if problem is not None:
            raise UserError(f"checkpoint {resume!r} cannot be resumed ({problem}); give another or use train.resume=auto")
    if path is not None:
        step = checkpoint.load_state(path).step
        if cfg.train.steps < step:
            raise UserError(
                f"train.steps={cfg.train.steps} is below step {step} of the checkpoint it resumes ({path}); set "
                f"train.steps to at least {step}, or start a new run in another train.output_dir"
            )
        if verbose and step == cfg.train.steps:
            print(f"r1train: checkpoint {path} is already at train.steps={step}: nothing left to train", file=sys.stderr)
    return path
