"""The run's output directory: created safely, never silently overwritten.

A directory that already holds a run (a ``recipe.yaml``, metrics or checkpoints) is refused unless the
recipe resumes it (``train.resume``) or sets ``train.overwrite: true``; even then nothing is deleted: an
overwrite moves the old run aside to ``<dir>.old-<timestamp>``.
"""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from r1train.config import Config
from r1train.errors import UserError

RUN_MARKERS = ("recipe.yaml", "metrics.jsonl", "checkpoints", "model")


def holds_run(path: Path) -> bool:
    return path.is_dir() and any((path / m).exists() for m in RUN_MARKERS)


def prepare(cfg: Config, resuming: bool = False) -> Path:
    """Create ``train.output_dir`` (or accept it when resuming) and save the resolved recipe in it."""
    out = Path(cfg.train.output_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise UserError(f"train.output_dir {str(out)!r} is a file; choose a directory path")
    if not resuming and out.is_dir() and any(out.iterdir()):
        if not cfg.train.overwrite:
            what = "another run" if holds_run(out) else "files"
            raise UserError(
                f"train.output_dir {str(out)!r} already holds {what}; choose a new directory, resume it with "
                "train.resume=auto, or set train.overwrite=true (the old run is moved aside, not deleted)"
            )
        aside = out.with_name(f"{out.name}.old-{time.strftime('%Y%m%d-%H%M%S')}")
        out.rename(aside)
    out.mkdir(parents=True, exist_ok=True)
    (out / "recipe.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return out
