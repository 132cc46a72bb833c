"""Per-step metrics and sampled completions, appended as JSON lines, plus the console progress bar.

``MetricsWriter.log(step, metrics)`` appends one object to ``<output_dir>/metrics.jsonl``;
``completions(step, rows)`` appends sampled completions to ``completions.jsonl``. Values are plain
floats (NaN written as null) so any JSON reader can load them.
"""

from __future__ import annotations

import json
import math
import statistics
import time
from pathlib import Path
from typing import Any


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _clean(value.item())
    return value


class MetricsWriter:
    def __init__(self, out_dir: Path) -> None:
        self.metrics_path = out_dir / "metrics.jsonl"
        self.completions_path = out_dir / "completions.jsonl"
        self.history: list[dict[str, Any]] = []

    def log(self, step: int, metrics: dict[str, Any]) -> dict[str, Any]:
        row = {"step": step, **{k: _clean(v) for k, v in metrics.items()}}
        with self.metrics_path.open("a") as f:
            f.write(json.dumps(row) + "\n")
        self.history.append(row)
        return row

    def truncate_after(self, step: int) -> None:
        """On resume: keep rows up to ``step`` (they will be produced again); later rows move to
        ``metrics.orphaned.jsonl`` rather than being deleted."""
        if not self.metrics_path.is_file():
            return
        rows = read_metrics(self.metrics_path)
        keep = [r for r in rows if r["step"] <= step]
        later = [r for r in rows if r["step"] > step]
        if later:
            with (self.metrics_path.parent / "metrics.orphaned.jsonl").open("a") as f:
                f.writelines(json.dumps(r) + "\n" for r in later)
        self.metrics_path.write_text("".join(json.dumps(r) + "\n" for r in keep))
        self.history = keep

    def completions(self, step: int, rows: list[dict[str, Any]]) -> None:
        with self.completions_path.open("a") as f:
            for row in rows:
                f.write(json.dumps({"step": step, **{k: _clean(v) for k, v in row.items()}}) + "\n")


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """All rows of a ``metrics.jsonl`` (for plots, summaries and tests)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mean(values: list[float]) -> float:
    ok = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.fmean(ok) if ok else float("nan")


class Progress:
    """A rich progress bar showing step, reward, response length and ETA (quiet when disabled)."""

    def __init__(
        self, total: int, start: int = 0, enabled: bool = True, label: str = "train", fields: tuple[str, str] = ("reward", "len")
    ) -> None:
        """``label`` names the bar, ``fields`` the two numbers ``update`` shows (``r1train sft``: loss, tokens)."""
        self.enabled = enabled
        self.t0 = time.perf_counter()
        if not enabled:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(fields[0] + " {task.fields[reward]}  " + fields[1] + " {task.fields[length]}"),
            TimeRemainingColumn(),
        )
        self.task = self.bar.add_task("train", total=total, completed=start, reward="-", length="-")
        self.bar.start()

    def update(self, reward: float, length: float) -> None:
        if self.enabled:
            self.bar.update(self.task, advance=1, reward=f"{reward:.3f}", length=f"{length:.0f}")

    def close(self) -> None:
        if self.enabled:
            self.bar.stop()
