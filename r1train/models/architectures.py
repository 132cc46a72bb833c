"""Shapes of well-known model architectures, for planning memory and for benchmarks that need a real
model's shape without downloading its weights.

``shape_of(name_or_path)`` returns an :class:`ArchShape` from this table (hub ids of the Qwen2.5 family,
the models r1train's recipes use), from a local ``config.json`` (a run directory's ``model/`` too), for
``pocket-base`` (the shipped base) or from the tiny family; :func:`lora_parameters` counts adapters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from r1train.errors import UserError


@dataclass(frozen=True)
class ArchShape:
    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    tied: bool

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    @property
    def params(self) -> int:
        """Parameter count of a Qwen2/Llama-style decoder: embeddings, attention (q/k/v with bias, o),
        gated MLP, two RMSNorms per layer and a final norm; the output head unless tied."""
        h, kv = self.hidden, self.kv_heads * self.head_dim
        attn = h * h + h + 2 * (h * kv + kv) + h * h  # q (+bias), k and v (+bias), o
        mlp = 3 * h * self.intermediate
        per_layer = attn + mlp + 2 * h
        head = 0 if self.tied else self.vocab * h
        return self.vocab * h + self.layers * per_layer + h + head


QWEN25 = {
    "Qwen/Qwen2.5-0.5B": ArchShape(896, 4864, 24, 14, 2, 151936, True),
    "Qwen/Qwen2.5-1.5B": ArchShape(1536, 8960, 28, 12, 2, 151936, True),
    "Qwen/Qwen2.5-3B": ArchShape(2048, 11008, 36, 16, 2, 151936, True),
    "Qwen/Qwen2.5-7B": ArchShape(3584, 18944, 28, 28, 4, 152064, False),
    "Qwen/Qwen2.5-14B": ArchShape(5120, 13824, 48, 40, 8, 152064, False),
    "Qwen/Qwen2.5-32B": ArchShape(5120, 27648, 64, 40, 8, 152064, False),
}
KNOWN: dict[str, ArchShape] = {**QWEN25}
for _name, _shape in QWEN25.items():
    KNOWN[_name + "-Instruct"] = _shape
KNOWN["Qwen/Qwen2.5-Math-1.5B"] = QWEN25["Qwen/Qwen2.5-1.5B"]
KNOWN["Qwen/Qwen2.5-Math-7B"] = QWEN25["Qwen/Qwen2.5-7B"]
KNOWN["Qwen/Qwen2.5-Coder-1.5B-Instruct"] = QWEN25["Qwen/Qwen2.5-1.5B"]  # the same shapes as the base models
KNOWN["Qwen/Qwen2.5-Coder-7B-Instruct"] = QWEN25["Qwen/Qwen2.5-7B"]


def from_config_json(path: Path) -> ArchShape:
    c = json.loads(path.read_text())
    return ArchShape(
        hidden=c["hidden_size"],
        intermediate=c["intermediate_size"],
        layers=c["num_hidden_layers"],
        heads=c["num_attention_heads"],
        kv_heads=c.get("num_key_value_heads", c["num_attention_heads"]),
        vocab=c["vocab_size"],
        tied=bool(c.get("tie_word_embeddings", False)),
    )


def lora_parameters(shape: ArchShape, r: int) -> int:
    """Adapter parameters of LoRA rank ``r`` on every linear layer of the decoder (``all-linear``: q, k, v, o,
    gate, up, down; not the output head): ``r * (fan_in + fan_out)`` per matrix."""
    h, i, kv = shape.hidden, shape.intermediate, shape.kv_heads * shape.head_dim
    per_layer = r * ((h + h) * 2 + (h + kv) * 2 + (h + i) * 2 + (i + h))
    return shape.layers * per_layer


def shape_of(name_or_path: str) -> ArchShape:
    """The architecture shape of a known hub id, a local model directory, ``pocket-base`` or ``tiny:<size>``."""
    if name_or_path in KNOWN:
        return KNOWN[name_or_path]
    shipped = Path(__file__).resolve().parents[1] / "assets" / name_or_path / "config.json"
    if "/" not in name_or_path and shipped.is_file():  # pocket-base, pocket-tools-base
        return from_config_json(shipped)
    if name_or_path.startswith("tiny:"):
        from r1train.models.tiny import CHARS, SIZES, SPECIAL_TOKENS, TAG_TOKENS, parse_size

        h, inter, layers, heads, kv = SIZES[parse_size(name_or_path)]
        return ArchShape(h, inter, layers, heads, kv, len(CHARS) + len(SPECIAL_TOKENS) + len(TAG_TOKENS), True)
    p = Path(name_or_path).expanduser()
    for candidate in (p / "config.json", p / "model" / "config.json"):
        if candidate.is_file():
            return from_config_json(candidate)
    raise UserError(
        f"the shape of {name_or_path!r} is unknown offline; give a local model directory or one of: "
        + ", ".join(sorted(QWEN25))
    )
