"""Prompt data: rows from a synthetic task, a local JSONL/Parquet file, or ``datasets.load_dataset``.

``data.source`` forms:

* ``synthetic:<task>`` (see :mod:`r1train.data.tasks`), options in ``data.task``;
* ``file:<path.jsonl|.json|.parquet>``, a local file (the held-out split is ``data.eval_split`` as another
  ``file:`` path, or none);
* ``hf:<id>[:<config>]``, anything ``datasets.load_dataset`` can load (the real hub path; offline it
  works from the local cache or a local dataset directory).

``data.adapter`` runs a row adapter (:mod:`r1train.data.code_rows`) on every row first: a code set's own
test fields become the ``tests`` column the code rewards read.

:func:`load_prompts` returns a :class:`PromptSet`: rows with ``prompt`` (the templated text) plus the
original columns, and an iterator that yields seeded, shuffled batches epoch after epoch.
:func:`peek` reads only a few raw rows and checks the columns, without a tokenizer or model: ``r1train
check`` and the trainer (before the model loads) call it so that a missing file or column fails at once.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1train.config import DataConfig
from r1train.data import code_rows, tasks, templates
from r1train.errors import UserError


@dataclass
class PromptSet:
    """Templated rows for training and held-out evaluation."""

    train: list[dict[str, Any]]
    held_out: list[dict[str, Any]] = field(default_factory=list)

    def batches(self, size: int, seed: int, shuffle: bool = True, start: int = 0) -> Iterator[list[dict[str, Any]]]:
        """Endless batches of ``size`` rows; epoch ``e`` is shuffled with seed ``(seed, e)``.

        ``start`` skips that many batches (resuming yields exactly the batches an uninterrupted run would).
        """
        if not self.train:
            raise UserError("the training data has no rows; check data.source and data.split")
        n = len(self.train)
        index = 0
        epoch = 0
        while True:
            order = list(range(n))
            if shuffle:
                random.Random(f"{seed}-{epoch}").shuffle(order)
            for i in range(0, n - size + 1 if n >= size else 1, size):
                chunk = [self.train[order[(i + j) % n]] for j in range(size)]
                if index >= start:
                    yield chunk
                index += 1
            epoch += 1


def read_rows(source: str, split: str) -> list[dict[str, Any]]:
    """Raw rows of ``source`` (without templating)."""
    kind, _, rest = source.partition(":")
    if kind == "file":
        return read_file(rest)
    if kind == "hf":
        return read_hub(rest, split)
    raise UserError(f"data.source {source!r} must start with synthetic:, file: or hf:")


def read_file(path_str: str) -> list[dict[str, Any]]:
    """Rows of a local ``.jsonl``/``.json``/``.parquet`` file; a file that cannot be read or parsed (not
    UTF-8, corrupt Parquet, invalid JSON, no permission) is one sentence naming the file and the fix."""
    path = Path(path_str).expanduser()
    if not path.is_file():
        raise UserError(f"data file {path_str!r} does not exist; check data.source")
    if path.suffix not in (".parquet", ".jsonl", ".json"):
        raise UserError(f"data file {path_str!r} must be .jsonl, .json or .parquet")
    try:
        if path.suffix == ".parquet":
            return _read_parquet(path, path_str)
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"data file {path_str!r} cannot be read ({exc.strerror or type(exc).__name__}); check its permissions") from None
    except UnicodeDecodeError as exc:
        raw = path.read_bytes()
        line = raw.count(b"\n", 0, exc.start) + 1
        raise UserError(
            f"data file {path_str!r} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); re-save it as UTF-8"
        ) from None
    if path.suffix == ".json" and text.lstrip().startswith("["):
        try:
            return list(json.loads(text))
        except json.JSONDecodeError as exc:
            raise UserError(f"data file {path_str!r} is not valid JSON (line {exc.lineno}: {exc.msg}); fix it") from None
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise UserError(f"data file {path_str!r} line {n} is not valid JSON ({exc.msg}); fix that line") from None
    return rows


def _read_parquet(path: Path, path_str: str) -> list[dict[str, Any]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path).to_pylist()
    except (pa.ArrowException, ValueError) as exc:  # ArrowInvalid: truncated, not Parquet, bad footer
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise UserError(f"data file {path_str!r} is not a readable Parquet file ({first}); write it again") from None


def read_hub(spec: str, split: str) -> list[dict[str, Any]]:
    import datasets

    name, _, config = spec.partition(":")
    try:
        ds = datasets.load_dataset(name, config or None, split=split)
    except Exception as exc:  # offline, unknown id, missing split: all user-fixable
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise UserError(
            f"dataset {name!r} (split {split!r}) could not be loaded ({first}); check the id and split, "
            "or download it and use file:<path>"
        ) from None
    return ds.to_list()


def check_columns(rows: list[dict[str, Any]], cfg: DataConfig, where: str) -> None:
    """A missing prompt or answer column names the columns that do exist."""
    if not rows:
        raise UserError(f"{where} has no rows; check data.source and data.split")
    have = list(rows[0].keys())
    for key, col in (("data.prompt_column", cfg.prompt_column), ("data.answer_column", cfg.answer_column)):
        if col not in rows[0]:
            raise UserError(f"{where} has no column {col!r} (set by {key}); its columns are: {', '.join(have)}")


def peek(cfg: DataConfig, n: int = 4) -> list[dict[str, Any]]:
    """The first ``n`` rows of the training source (through ``data.adapter``), its columns checked (and
    the held-out split's).

    Needs no model or tokenizer: a synthetic task draws ``n`` rows, a hub dataset is streamed (read from
    the local cache under ``HF_HUB_OFFLINE``/``HF_DATASETS_OFFLINE``; an unreachable hub is one sentence
    after the hub client's own retries), a local file is read with :func:`read_file`.
    A missing file, an unloadable dataset or a missing column is one :class:`UserError` sentence.
    """
    kind, _, rest = cfg.source.partition(":")
    if kind == "synthetic":
        train, _ = tasks.generate(rest, {**cfg.task, "train_size": n, "eval_size": n}, seed=0)
        return train
    rows = code_rows.apply(cfg.adapter, _first_rows(cfg.source, cfg.split, n))  # the columns training sees
    check_columns(rows, cfg, f"data.source {cfg.source!r}")
    if cfg.eval_split:
        held = _first_rows(cfg.eval_split, "test", n) if ":" in cfg.eval_split else _first_rows(cfg.source, cfg.eval_split, n)
        check_columns(code_rows.apply(cfg.adapter, held), cfg, f"data.eval_split {cfg.eval_split!r}")
    return rows



def _first_rows(source: str, split: str, n: int) -> list[dict[str, Any]]:
    kind, _, rest = source.partition(":")
    if kind == "hf":
        name, _, config = rest.partition(":")
        offline = any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
        if not offline or Path(name).expanduser().is_dir():  # offline, a hub id can only come from the cache
            try:  # a few rows over the network (or from a local dataset directory), not the whole dataset
                import datasets

                stream = datasets.load_dataset(name, config or None, split=split, streaming=True)
                rows = [dict(row) for _, row in zip(range(n), stream, strict=False)]
                if rows:
                    return rows
            except Exception as exc:  # not streamable: the full read below; unreachable: say so now
                if "Connection" in type(exc).__name__ or "couldn't reach" in str(exc).lower():
                    raise UserError(
                        f"dataset {name!r} could not be reached on the hub; check the network, set HF_HUB_OFFLINE=1 "
                        "to use a cached copy, or skip the data with r1train check --no-data"
                    ) from None
    return read_rows(source, split)[:n]


def apply_template(
    rows: list[dict[str, Any]], cfg: DataConfig, tokenizer: Any, prompt_col: str, answer_col: str
) -> list[dict[str, Any]]:
    """Add ``prompt`` (templated question) and ``answer`` (the answer column) to each row."""
    template = templates.get(cfg.template)
    out = []
    for row in rows:
        new = dict(row)
        new["prompt"] = template(str(row[prompt_col]), tokenizer, cfg.system_prompt)
        new["answer"] = row.get(answer_col, "")
        out.append(new)
    return out


def load_prompts(cfg: DataConfig, tokenizer: Any, seed: int) -> PromptSet:
    """All rows of the configured source, templated, split into train and held-out."""
    kind, _, rest = cfg.source.partition(":")
    if kind == "synthetic":
        train, held = tasks.generate(rest, cfg.task, seed)
        columns = ("question", "answer")  # a synthetic task's own columns
    else:
        columns = (cfg.prompt_column, cfg.answer_column)
        train = code_rows.apply(cfg.adapter, read_rows(cfg.source, cfg.split))
        check_columns(train, cfg, f"data.source {cfg.source!r}")
        held = []
        if cfg.eval_split:
            held = read_rows(cfg.eval_split, "test") if ":" in cfg.eval_split else read_rows(cfg.source, cfg.eval_split)
            held = code_rows.apply(cfg.adapter, held)
            check_columns(held, cfg, f"data.eval_split {cfg.eval_split!r}")
    return PromptSet(apply_template(train, cfg, tokenizer, *columns), apply_template(held, cfg, tokenizer, *columns))
