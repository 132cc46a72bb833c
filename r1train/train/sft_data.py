"""Supervised examples for ``r1train sft``: rows with a prompt and a completion, or chat ``messages``.

Two row formats (``sft.format``; ``auto`` picks ``messages`` when the rows have ``sft.messages_column``):

* ``prompt_completion``: the prompt is ``data.prompt_column`` rendered by ``data.template`` (the same
  templates as ``r1train train``, so a model fine-tuned here is prompted the same way in RL), the target
  is ``sft.completion_column`` (what ``r1train sample`` writes: ``question`` + ``completion``);
* ``messages``: a list of ``{role, content}`` turns (ShareGPT's ``{from, value}`` too, as in
  Bespoke-Stratos and OpenThoughts); every turn but the last is rendered by the tokenizer's chat template
  with the generation prompt, and the last, an assistant turn, is the target.

Either way the loss sees the completion tokens only (and the end-of-sequence token after them, so the
model learns to stop): :class:`Example` keeps the prompt and completion ids apart, and
:func:`as_rollout` turns one into the :class:`~r1train.rollout.base.Rollout` shape that
:mod:`r1train.train.batch` pads into micro-batches (``completion_mask`` = the loss mask).

Use::

    examples, dropped = build_examples(rows, cfg, tokenizer)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from r1train.data import templates
from r1train.errors import UserError
from r1train.rollout.base import Rollout

if TYPE_CHECKING:
    from r1train.config import Config

SHAREGPT_ROLES = {"human": "user", "gpt": "assistant", "system": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class Example:
    """One tokenised supervised example: the loss is on ``completion_ids`` only."""

    prompt_ids: list[int]
    completion_ids: list[int]  # the target, then end-of-sequence


def row_format(rows: list[dict[str, Any]], cfg: Config) -> str:
    """``prompt_completion`` or ``messages``: ``sft.format``, or what the first row holds when ``auto``."""
    s = cfg.sft
    if s.format != "auto":
        return s.format
    return "messages" if rows and s.messages_column in rows[0] else "prompt_completion"


def check_rows(rows: list[dict[str, Any]], cfg: Config, where: str) -> str:
    """The format of ``rows``; a missing column is one sentence naming the columns that exist."""
    if not rows:
        raise UserError(f"{where} has no rows; check data.source and data.split")
    kind = row_format(rows, cfg)
    have = ", ".join(rows[0].keys())
    needed = (
        [("sft.messages_column", cfg.sft.messages_column)]
        if kind == "messages"
        else [("data.prompt_column", cfg.data.prompt_column), ("sft.completion_column", cfg.sft.completion_column)]
    )
    for key, col in needed:
        if col not in rows[0]:
            raise UserError(f"{where} has no column {col!r} (set by {key}; format {kind}); its columns are: {have}")
    return kind


def normalise_messages(turns: Any, system_prompt: str | None, where: str) -> list[dict[str, str]]:
    """``[{role, content}]`` from role/content or ShareGPT from/value turns; the last must be the assistant's."""
    if not isinstance(turns, list) or not turns:
        raise UserError(f"{where}: the messages column must hold a non-empty list of turns, not {type(turns).__name__}")
    out = [{"role": "system", "content": system_prompt}] if system_prompt else []
    for t in turns:
        if not isinstance(t, dict):
            raise UserError(f"{where}: every turn must be a mapping with role/content (or from/value)")
        role = SHAREGPT_ROLES.get(str(t.get("role", t.get("from", ""))), str(t.get("role", t.get("from", ""))))
        out.append({"role": role, "content": str(t.get("content", t.get("value", "")))})
    if out[-1]["role"] != "assistant":
        raise UserError(f"{where}: the last turn is {out[-1]['role']!r}; the target of a messages row is its last, assistant turn")
    return out


def prompt_and_target(row: dict[str, Any], kind: str, cfg: Config, tokenizer: Any) -> tuple[str, str, bool]:
    """(prompt text, target text, whether the prompt already holds the special tokens) for one row."""
    if kind == "messages":
        turns = normalise_messages(row[cfg.sft.messages_column], cfg.data.system_prompt, "an sft row")
        if getattr(tokenizer, "chat_template", None) is None:
            raise UserError("the rows are chat messages but the tokenizer has no chat template; use prompt/completion rows")
        prompt = tokenizer.apply_chat_template(turns[:-1], tokenize=False, add_generation_prompt=True)
        return prompt, turns[-1]["content"], True
    template = templates.get(cfg.data.template)
    prompt = template(str(row[cfg.data.prompt_column]), tokenizer, cfg.data.system_prompt)
    return prompt, str(row[cfg.sft.completion_column]), template.special_tokens_in_text


def encode(row: dict[str, Any], kind: str, cfg: Config, tokenizer: Any) -> Example:
    """Tokenise prompt and target apart (so the boundary is exact), then append end-of-sequence."""
    prompt, target, special_in_text = prompt_and_target(row, kind, cfg, tokenizer)
    prompt_ids = tokenizer(prompt, add_special_tokens=not special_in_text)["input_ids"]
    completion_ids = tokenizer(target, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    return Example(list(prompt_ids), list(completion_ids))


def build_examples(rows: list[dict[str, Any]], cfg: Config, tokenizer: Any, where: str = "the sft data") -> tuple[list[Example], int]:
    """Every row as an :class:`Example`; rows longer than ``sft.max_tokens`` are left out and counted."""
    kind = check_rows(rows, cfg, where)
    examples, dropped = [], 0
    for row in rows:
        ex = encode(row, kind, cfg, tokenizer)
        if len(ex.prompt_ids) + len(ex.completion_ids) > cfg.sft.max_tokens:
            dropped += 1
            continue
        examples.append(ex)
    return examples, dropped


def as_rollout(example: Example, index: int) -> Rollout:
    """The example in the shape :func:`r1train.train.batch.micro_batches` pads (no sampler logprobs)."""
    return Rollout(example.prompt_ids, example.completion_ids, None, "stop", "", prompt_index=index)
