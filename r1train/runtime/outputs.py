"""The run's output directory: one run at a time, nothing of an earlier run lost, no trace of a failed start.

A training run goes through three calls, in this order:

1. :func:`check` (start-up, nothing written): a directory that already holds a run (a recipe, metrics,
   checkpoints or a model) is refused unless the run resumes one of its checkpoints (:func:`continues`)
   or sets ``train.overwrite: true``.
2. :func:`commit` (when the first step is about to start): with ``overwrite`` the old run's files move
   aside to ``<dir>.old-<timestamp>`` (never deleted; the lock file stays, so the directory is never
   unlocked); checkpoint writes that a crash interrupted (``checkpoints/.tmp-*``) are removed; and the
   resolved recipe of this start is saved: ``recipe.yaml`` for the first start, ``recipe.resume-1.yaml``,
   ``recipe.resume-2.yaml``, … for each resume, so no start's recipe is ever overwritten.
3. The run's own writes (metrics, checkpoints, model), under the lock of :mod:`r1train.runtime.lock`.

A start-up failure between 1 and 2 therefore leaves the directory as it was (or absent), and the
corrected command starts cleanly.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import yaml

from r1train.config import Config
from r1train.errors import UserError
from r1train.runtime.lock import LOCK_NAME

RUN_MARKERS = ("recipe.yaml", "metrics.jsonl", "checkpoints", "model")
_RESUME_RECIPE = re.compile(r"recipe\.resume-(\d+)\.yaml")


def holds_run(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in RUN_MARKERS)


def contents(path: Path) -> list[Path]:
    """What the directory holds besides the lock file (which alone means nothing)."""
    if not path.is_dir():
        return []
    return sorted(p for p in path.iterdir() if p.name != LOCK_NAME)


def continues(cfg: Config, resume_from: Path | None) -> bool:
    """Whether the run continues the one in its output directory: it resumes a checkpoint inside it (a
    checkpoint of another run only seeds a new run, in a directory that must be free like any other)."""
    if resume_from is None:
        return False
    return Path(cfg.train.output_dir).expanduser().resolve() in resume_from.resolve().parents


def check(cfg: Config, resuming: bool = False) -> Path:
    """Refuse a directory that holds files, unless resuming it or ``train.overwrite``; writes nothing."""
    out = Path(cfg.train.output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"train.output_dir {str(out)!r} is a file; choose a directory path")
    if not resuming and contents(out) and not cfg.train.overwrite:
        what = "another run" if holds_run(out) else "files"
        raise UserError(
            f"train.output_dir {str(out)!r} already holds {what}; choose a new directory, resume it with "
            "train.resume=auto, or set train.overwrite=true (the old run is moved aside, not deleted)"
        )
    return out


def commit(cfg: Config, resuming: bool = False) -> Path:
    """The first write of a run (see the module docstring): move an overwritten run aside, clear
    interrupted writes, save this start's resolved recipe. Returns the recipe file written."""
    out = check(cfg, resuming)
    out.mkdir(parents=True, exist_ok=True)
    if not resuming and cfg.train.overwrite and contents(out):
        move_aside(out)
    clear_interrupted(out)
    recipe = recipe_path(out)
    recipe.write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return recipe


def prepare(cfg: Config, resuming: bool = False) -> Path:
    """:func:`check` then :func:`commit` at once, for entry points whose first write comes at start-up
    (``r1train sft``, ``r1train sample``); returns the output directory."""
    commit(cfg, resuming)
    return Path(cfg.train.output_dir).expanduser()


def move_aside(out: Path) -> Path:
    """Move everything in ``out`` but the lock file to a new ``<out>.old-<timestamp>`` beside it."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    aside = out.with_name(f"{out.name}.old-{stamp}")
    n = 1
    while aside.exists():
        n += 1
        aside = out.with_name(f"{out.name}.old-{stamp}-{n}")
    aside.mkdir()
    for p in contents(out):
        p.rename(aside / p.name)
    print(f"r1train: train.overwrite=true: the earlier run in {out} is now in {aside}")
    return aside


def clear_interrupted(out: Path) -> list[Path]:
    """Remove the temporary directories of checkpoint (``checkpoints/.tmp-*``) and final-model
    (``.tmp-model-*``) writes that a crash cut short; the lock is held, so no live writer owns them."""
    root = out / "checkpoints"
    stale = [p for p in root.iterdir() if p.name.startswith(".tmp-")] if root.is_dir() else []
    stale += [p for p in out.glob(".tmp-model-*")]
    for p in stale:
        shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)
    if stale:
        print(f"r1train: removed {len(stale)} interrupted write(s): {', '.join(p.name for p in stale)}")
    return stale


def recipe_path(out: Path) -> Path:
    """Where this start's recipe goes: ``recipe.yaml`` first, then the next free ``recipe.resume-N.yaml``."""
    if not (out / "recipe.yaml").exists():
        return out / "recipe.yaml"
    numbers = [int(m.group(1)) for p in out.iterdir() if (m := _RESUME_RECIPE.fullmatch(p.name))]
    return out / f"recipe.resume-{max(numbers, default=0) + 1}.yaml"
