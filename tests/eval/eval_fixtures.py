"""Test helpers for the evaluation tests: a scripted rollout engine, a character tokenizer, JSONL files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class ScriptedEngine:
    """A rollout engine that answers each prompt with fixed texts: ``script[prompt_text] = [texts…]``.

    It honours the engine protocol (grouped by prompt, ``n`` per prompt) so the runner cannot tell it from
    a model; lengths are the texts' character counts and a text ending in "…" counts as truncated."""

    def __init__(self, tokenizer: Any, script: dict[str, list[str]]) -> None:
        self.tokenizer = tokenizer
        self.script = script
        self.calls: list[tuple[int, Any]] = []

    def generate(self, prompt_ids: list[list[int]], sampling: Any) -> list[Any]:
        from r1train.rollout import Rollout

        self.calls.append((len(prompt_ids), sampling))
        out = []
        for i, ids in enumerate(prompt_ids):
            prompt = self.tokenizer.decode(ids)
            texts = self.script.get(prompt, ["?"])
            for j in range(sampling.n):
                text = texts[j % len(texts)]
                reason = "length" if text.endswith("…") else "stop"
                out.append(Rollout(list(ids), list(range(len(text))), None, reason, text, i))
        return out

    def load_weights(self, named_tensors: Any) -> None:
        pass


class CharTokenizer:
    """A stand-in tokenizer: one id per character (enough for templating, lengths and decoding)."""

    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
