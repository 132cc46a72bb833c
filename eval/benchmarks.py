"""The benchmark registry: one small YAML card per benchmark, in ``eval/data/<name>.yaml``.

A card names where the problems come from and how to grade them::

    name: math500
    source: hf:HuggingFaceH4/MATH-500    # hf:<id>[:<config>] (datasets) or file:<path> (.jsonl/.parquet)
    split: test
    question: problem                    # a column, or a format string such as "Reach {target} with {nums}"
    answer: answer                       # a column, or a list of candidate columns (the first present wins)
    level: level                         # optional: a column for the per-level breakdown
    template: boxed                      # default prompt template (r1train/data/templates.py)
    verifier: math.accuracy              # a reward from the rewards registry: the very grader of training
    extract: math                        # answer kind for maj@k (eval/answers.py)
    max_new_tokens: 2048

Every card loads from the hub through ``datasets`` and, offline, from a local file of the same shape:
``--data math500=path.jsonl``, or a directory holding ``<name>.jsonl`` / ``<name>.parquet``
(``--data-dir`` or ``$R1TRAIN_EVAL_DATA``). ``file:`` sources are relative to ``eval/data/`` (the
``pocket`` set ships there). A path to a ``.yaml`` card of your own works wherever a name does.

Use::

    from eval import benchmarks
    bench = benchmarks.get("gsm8k")
    rows = bench.load()                 # raw dataset rows
    problems = bench.problems(rows)     # (question, answer, level, columns) per row
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1train.errors import UserError

DATA_DIR = Path(__file__).resolve().parent / "data"
DATA_ENV = "R1TRAIN_EVAL_DATA"


@dataclass(frozen=True)
class Problem:
    """One benchmark problem in canonical form; ``columns`` are the raw row's columns for the verifier."""

    index: int
    question: str
    answer: Any  # the gold value as the dataset has it (e.g. GSM8K's whole solution ending in "#### 42")
    level: str | None
    columns: dict[str, Any]


@dataclass(frozen=True)
class Benchmark:
    name: str
    source: str  # hf:<id>[:<config>] | file:<path>
    question: str  # column name or format string with {column} fields
    answer: str | list[str]  # column name(s); the first present in the data is used
    split: str = "test"
    level: str | None = None
    template: str = "boxed"
    verifier: str = "math.accuracy"
    verifier_args: dict[str, Any] = field(default_factory=dict)
    extract: str = "math"
    max_new_tokens: int = 2048
    correct_threshold: float = 1.0  # a sample counts as correct when its verifier score reaches this
    description: str = ""
    card: str = ""  # the file the card was read from

    # -- data -------------------------------------------------------------------------------------

    def local_file(self, data_dir: str | Path | None = None) -> Path | None:
        """A local copy ``<dir>/<name>.jsonl|.parquet`` in ``data_dir`` or ``$R1TRAIN_EVAL_DATA``, if any."""
        for base in (data_dir, os.environ.get(DATA_ENV)):
            if not base:
                continue
            for suffix in (".jsonl", ".parquet", ".json"):
                p = Path(base).expanduser() / f"{self.name}{suffix}"
                if p.is_file():
                    return p
        return None

    def load(self, path: str | Path | None = None, data_dir: str | Path | None = None) -> list[dict[str, Any]]:
        """Raw rows: from ``path``, else a local copy in ``data_dir``, else the card's own source."""
        from r1train.data.prompts import read_file, read_hub

        local = Path(path) if path else self.local_file(data_dir)
        if local is not None:
            return read_file(str(local))
        kind, _, rest = self.source.partition(":")
        if kind == "file":
            p = Path(rest).expanduser()
            return read_file(str(p if p.is_absolute() else Path(self.card).parent / p if self.card else DATA_DIR / p))
        if kind == "hf":
            try:
                return read_hub(rest, self.split)
            except UserError:
                raise UserError(
                    f"benchmark {self.name!r} could not load {rest!r} (split {self.split!r}) from the hub; "
                    f"offline, pass a local copy with --data {self.name}=<file.jsonl|.parquet> or put "
                    f"{self.name}.jsonl in --data-dir / ${DATA_ENV}"
                ) from None
        raise UserError(f"benchmark {self.name!r} has source {self.source!r}; it must start with hf: or file:")

    def problems(self, rows: list[dict[str, Any]]) -> list[Problem]:
        """Canonical problems from raw rows; a missing column names the columns that exist."""
        if not rows:
            raise UserError(f"benchmark {self.name!r} has no rows; check its data file or split")
        have = list(rows[0])
        answer_col = self._answer_column(rows[0])
        out = []
        for i, row in enumerate(rows):
            if "{" in self.question:
                try:
                    question = self.question.format(**row)
                except KeyError as exc:
                    raise UserError(
                        f"benchmark {self.name!r}: its question format needs column {exc.args[0]!r}; "
                        f"the data has: {', '.join(have)}"
                    ) from None
            else:
                if self.question not in row:
                    raise UserError(
                        f"benchmark {self.name!r}: the data has no question column {self.question!r}; "
                        f"its columns are: {', '.join(have)}"
                    )
                question = str(row[self.question])
            level = row.get(self.level) if self.level else None
            out.append(Problem(i, question, row[answer_col], None if level is None else str(level), dict(row)))
        return out

    def _answer_column(self, row: dict[str, Any]) -> str:
        options = [self.answer] if isinstance(self.answer, str) else list(self.answer)
        for col in options:
            if col in row:
                return col
        raise UserError(
            f"benchmark {self.name!r}: the data has no answer column {' or '.join(map(repr, options))}; "
            f"its columns are: {', '.join(row)}"
        )


# ---------------------------------------------------------------------------------------------------
# The registry.

BENCHMARKS: dict[str, Benchmark] = {}


def register(bench: Benchmark) -> Benchmark:
    """Add a benchmark under its name (a card read later replaces one of the same name)."""
    BENCHMARKS[bench.name] = bench
    return bench


def from_card(card: dict[str, Any], where: str) -> Benchmark:
    """Build a :class:`Benchmark` from a card's mapping; unknown keys name the closest valid one."""
    from r1train.config import from_dict

    return from_dict(Benchmark, card, where)


def read_card(path: str | Path) -> Benchmark:
    import yaml

    p = Path(path).expanduser()
    if not p.is_file():
        raise UserError(f"benchmark card {str(path)!r} does not exist; give a name from `r1train eval --list` or a .yaml card")
    try:
        card = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UserError(f"benchmark card {str(path)!r} is not valid YAML ({exc.__class__.__name__}); fix it") from None
    card.setdefault("name", p.stem)
    card["card"] = str(p)
    return dataclasses.replace(from_card(card, str(p)), card=str(p))


_loaded = False


def load_builtins() -> None:
    """Register every card shipped in ``eval/data/`` (once)."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    for p in sorted(DATA_DIR.glob("*.yaml")):
        register(read_card(p))


def names() -> list[str]:
    load_builtins()
    return sorted(BENCHMARKS)


def get(name: str) -> Benchmark:
    """A registered benchmark by name, or a card by path (``my_bench.yaml``)."""
    load_builtins()
    if name.endswith((".yaml", ".yml")):
        return read_card(name)
    if name not in BENCHMARKS:
        import difflib

        close = difflib.get_close_matches(name, BENCHMARKS, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise UserError(f"unknown benchmark {name!r}; {hint}choose from {', '.join(sorted(BENCHMARKS))} or give a .yaml card")
    return BENCHMARKS[name]
