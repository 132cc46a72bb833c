"""``curves.png``: accuracy/reward, mean response length and think rate over the steps of a run.

Read from ``<output_dir>/metrics.jsonl`` (one row per step), drawn with matplotlib's Agg backend (no
display needed). Missing series (a run without reasoning metrics, say) are skipped, not errors; a light
moving average is drawn over the raw points so that trends show through the per-step noise.

Use::

    write_curves("runs/pocket-zero/metrics.jsonl", "runs/pocket-zero/curves.png")
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

PANELS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("accuracy / reward", (("accuracy", "accuracy"), ("reward", "reward"))),
    ("mean response length (tokens)", (("length/mean", "length"),)),
    ("think rate", (("reasoning/think_rate", "think rate"), ("reasoning/reflection_rate", "reflection rate"),
                    ("tools/call_rate", "tool-call rate"))),  # multi-turn runs (r1train/envs) only
)


def smooth(values: list[float], window: int) -> list[float]:
    """Trailing moving average over the last ``window`` finite values (NaN where there are none)."""
    out = []
    for i in range(len(values)):
        part = [v for v in values[max(0, i - window + 1) : i + 1] if v is not None and math.isfinite(v)]
        out.append(sum(part) / len(part) if part else float("nan"))
    return out


def series(rows: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of ``key`` over the rows that have it (None becomes NaN)."""
    steps, values = [], []
    for row in rows:
        if key in row:
            steps.append(int(row["step"]))
            v = row[key]
            values.append(float("nan") if v is None else float(v))
    return steps, values


Panels = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]


def write_curves(metrics_path: str | Path, png_path: str | Path, title: str | None = None, panels: Panels = PANELS) -> Path:
    """Draw ``panels`` (title, ((metric, legend), …)) from ``metrics_path`` into ``png_path``; returns the PNG's path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in Path(metrics_path).read_text().splitlines() if line.strip()]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4))
    window = max(1, len(rows) // 15)
    for ax, (label, keys) in zip(axes, panels, strict=True):
        for key, name in keys:
            steps, values = series(rows, key)
            if not steps or all(math.isnan(v) for v in values):
                continue
            line = ax.plot(steps, values, alpha=0.3, linewidth=1)[0]
            ax.plot(steps, smooth(values, window), color=line.get_color(), linewidth=2, label=name)
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    out = Path(png_path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
