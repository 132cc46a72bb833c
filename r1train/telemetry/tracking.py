"""Weights & Biases tracking: the resolved recipe as run config, every metric with ``step`` as the x axis,
a completions table every ``logging.completions_every`` steps, and the final model as an artifact.

``logging.wandb.mode``: ``online`` | ``offline`` (written under ``<output_dir>/wandb``, sync later with
``wandb sync``) | ``disabled`` (nothing is imported). A resumed run passes the saved run id back so W&B
continues the same run instead of starting a new one. Only the main process tracks.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from r1train.config import Config
from r1train.errors import UserError

TABLE_COLUMNS = ["step", "prompt", "completion", "answer", "reward", "advantage", "rewards"]


class Tracker:
    """A thin wrapper around one W&B run; every method is a no-op when tracking is disabled."""

    def __init__(self, cfg: Config, out_dir: Path, run_id: str | None = None, enabled: bool = True) -> None:
        self.cfg = cfg
        self.run: Any = None
        w = cfg.logging.wandb
        if not enabled or w.mode == "disabled":
            return
        import wandb

        try:
            self.run = wandb.init(
                project=w.project,
                entity=w.entity,
                name=w.name or out_dir.name,
                group=w.group,
                tags=list(w.tags),
                mode=w.mode,
                dir=str(out_dir),
                config=cfg.to_dict(),
                id=run_id,
                resume="allow" if run_id else None,
            )
        except Exception as exc:  # no login, unreachable server: the user's to fix
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise UserError(
                f"Weights & Biases could not start ({first}); run `wandb login`, or set logging.wandb.mode=offline "
                "or disabled"
            ) from None
        self.run.define_metric("step")
        self.run.define_metric("*", step_metric="step")

    @property
    def run_id(self) -> str | None:
        return self.run.id if self.run is not None else None

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        if self.run is None:
            return
        clean = {k: v for k, v in metrics.items() if v is not None and not (isinstance(v, float) and math.isnan(v))}
        self.run.log({**clean, "step": step})

    def log_completions(self, step: int, rows: list[dict[str, Any]]) -> None:
        if self.run is None or not rows:
            return
        import json

        import wandb

        data = [
            [step, r["prompt"], r["completion"], str(r.get("answer")), r["reward"], r["advantage"], json.dumps(r["rewards"])]
            for r in rows
        ]
        self.run.log({"completions": wandb.Table(columns=TABLE_COLUMNS, data=data), "step": step})

    def log_model(self, model_dir: Path) -> None:
        if self.run is None or not self.cfg.logging.wandb.log_model:
            return
        import wandb

        artifact = wandb.Artifact(name=f"model-{self.run.id}", type="model")
        artifact.add_dir(str(model_dir))
        self.run.log_artifact(artifact)

    def finish(self) -> None:
        if self.run is not None:
            self.run.finish()
            self.run = None
