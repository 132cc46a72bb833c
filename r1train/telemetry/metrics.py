"""Per-step metrics and sampled completions, appended as JSON lines, plus the console progress bar.

``MetricsWriter.log(step, metrics)`` appends one object to ``<output_dir>/metrics.jsonl``;
``completions(step, rows)`` appends sampled completions to ``completions.jsonl``. Values are plain
floats (NaN written as null) so any JSON reader can load them. :class:`Progress` shows the run's progress:
a bar on a terminal, plain lines every ``logging.log_every`` steps when stdout is not one (Slurm, nohup).
"""

from __future__ import annotations

import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any, TextIO


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


def clock(seconds: float) -> str:
    """``3725`` -> ``"1:02:05"`` (hours:minutes:seconds)."""
    s = max(int(round(seconds)), 0)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    """Progress of the run: step, reward, response length, elapsed, s/step and ETA.

    On a terminal, a rich bar. Otherwise (nohup, Slurm, a pipe) one plain, flushed line every
    ``log_every`` steps, and for the first and the last step::

        step 20/500  reward 0.412  len 187  12.31 s/step  elapsed 0:04:06  ETA 1:38:29

    s/step is the mean over the steps of this process so far (a resumed run counts from its resume).
    Quiet when disabled; ``log_every: 0`` turns the plain lines off.
    """

    def __init__(self, total: int, start: int = 0, enabled: bool = True, log_every: int = 10,
                 stream: TextIO | None = None, label: str = "train", fields: tuple[str, str] = ("reward", "len")) -> None:
        """``label`` names the bar, ``fields`` the two numbers ``update`` shows (``r1train sft``: loss, tokens)."""
        self.enabled, self.total, self.start, self.step = enabled, total, start, start
        self.label, self.fields = label, fields
        self.log_every = log_every
        self.stream = stream if stream is not None else sys.stdout
        self.t0 = time.perf_counter()
        self.bar: Any = None
        if not enabled or not self.stream.isatty():
            return
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as RichProgress

        self.bar = RichProgress(
            TextColumn(f"[bold]{label}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(fields[0] + " {task.fields[reward]}  " + fields[1] + " {task.fields[length]}  {task.fields[rate]}  elapsed"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),  # from s/step: rich's own estimate needs many samples
            console=Console(file=self.stream),
        )
        self.task = self.bar.add_task("train", total=total, completed=start, reward="-", length="-", rate="",
                                      eta="-")
        self.bar.start()

    def seconds_per_step(self) -> float:
        return (time.perf_counter() - self.t0) / max(self.step - self.start, 1)

    def line(self, reward: float | None, length: float | None) -> str:
        """The plain line for the current step (``-`` for a reward or length that is missing)."""
        rate = self.seconds_per_step()
        elapsed = time.perf_counter() - self.t0
        first, second = self.fields
        return (f"step {self.step}/{self.total}  {first} {_fmt(reward, '.3f')}  {second} {_fmt(length, '.0f')}  "
                f"{rate:.2f} s/step  elapsed {clock(elapsed)}  ETA {clock(rate * (self.total - self.step))}")

    def update(self, reward: float | None, length: float | None) -> None:
        self.step += 1
        if not self.enabled:
            return
        if self.bar is not None:
            rate = self.seconds_per_step()
            self.bar.update(self.task, advance=1, reward=_fmt(reward, ".3f"), length=_fmt(length, ".0f"),
                            rate=f"{rate:.2f} s/step", eta=clock(rate * (self.total - self.step)))
            return
        every = self.log_every
        if every > 0 and (self.step % every == 0 or self.step in (self.start + 1, self.total)):
            print(self.line(reward, length), file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)
