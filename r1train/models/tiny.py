"""The built-in tiny model family: Qwen2-architecture models with a character-level tokenizer.

``model.name_or_path: tiny:3m`` builds (once, seeded) a randomly initialised Qwen2 model and a character
tokenizer, saves both in Hugging Face format to a cache directory, and from then on they load through
exactly the same ``from_pretrained`` path as a hub checkpoint. This is what makes the pocket lab and the
test suite run on a laptop CPU and offline.

Sizes (parameters, tied embeddings): ``tiny:1m``, ``tiny:3m``, ``tiny:10m``, ``tiny:30m``.
The cache lives in ``$R1TRAIN_CACHE`` (default ``~/.cache/r1train``).
"""

from __future__ import annotations

import os
import string
from pathlib import Path

from r1train.errors import UserError

SPECIAL_TOKENS = ("<pad>", "<|endoftext|>", "<unk>")
TAG_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")
CHARS = string.printable.replace("\x0b", "").replace("\x0c", "").replace("\r", "")

# hidden, intermediate, layers, heads, kv heads (head_dim 64 everywhere: supported by every vLLM backend)
SIZES: dict[str, tuple[int, int, int, int, int]] = {
    "300k": (64, 256, 4, 1, 1),  # the pocket lab's distillation student (recipes/pocket-student-base.yaml)
    "1m": (128, 512, 4, 2, 1),
    "3m": (256, 768, 4, 4, 2),
    "10m": (384, 1152, 6, 6, 2),
    "30m": (512, 1536, 10, 8, 2),
}

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n"
    "{% elif message['role'] == 'user' %}User: {{ message['content'] }}\n"
    "{% else %}Assistant: {{ message['content'] }}<|endoftext|>\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}Assistant:{% endif %}"
)


def cache_dir() -> Path:
    return Path(os.environ.get("R1TRAIN_CACHE", Path.home() / ".cache" / "r1train"))


def parse_size(name: str) -> str:
    """``"tiny:3m"`` -> ``"3m"``; an unknown size is a :class:`UserError` listing the sizes."""
    size = name.split(":", 1)[1].strip().lower()
    if size not in SIZES:
        raise UserError(f"model 'tiny:{size}' does not exist; use one of {', '.join('tiny:' + s for s in SIZES)}")
    return size


def _byte_level(ch: str) -> str:
    """GPT-2/Qwen byte-level alphabet: printable ASCII maps to itself, space to 'Ġ', newline to 'Ċ'…"""
    b = ord(ch)
    if 33 <= b <= 126:
        return ch
    shifted = [b2 for b2 in range(256) if not (33 <= b2 <= 126 or 161 <= b2 <= 172 or 174 <= b2 <= 255)]
    return chr(256 + shifted.index(b))


def build_tokenizer(max_length: int = 2048):  # -> PreTrainedTokenizerFast
    """A character-level tokenizer in Qwen2's byte-level BPE format: one token per printable character
    (a byte-level vocabulary with no merges) plus the R1 tags and specials. Because it *is* a Qwen2
    tokenizer, transformers and vLLM load it with their Qwen2 code, exactly as a hub checkpoint."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {_byte_level(ch): i for i, ch in enumerate(CHARS)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token=None))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    core.add_tokens([AddedToken(t, special=False, normalized=False) for t in TAG_TOKENS])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core,
        pad_token="<pad>",
        eos_token="<|endoftext|>",
        unk_token="<unk>",
        model_max_length=max_length,
        clean_up_tokenization_spaces=False,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def build_model(size: str, vocab_size: int, seed: int, eos_id: int, pad_id: int, max_positions: int = 2048):
    """A randomly initialised Qwen2ForCausalLM of the given size, in float32."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    hidden, inter, layers, heads, kv = SIZES[size]
    config = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv,
        max_position_embeddings=max_positions,
        tie_word_embeddings=True,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        rope_theta=10000.0,
        torch_dtype="float32",
    )
    torch.manual_seed(seed)
    return Qwen2ForCausalLM(config)


def _declare_qwen2_tokenizer(directory: Path) -> None:
    """Name the tokenizer class Qwen2Tokenizer, as a Qwen checkpoint does, so every loader agrees."""
    import json

    path = directory / "tokenizer_config.json"
    data = json.loads(path.read_text())
    data["tokenizer_class"] = "Qwen2Tokenizer"
    path.write_text(json.dumps(data, indent=2))


def materialise(name: str, seed: int = 0) -> Path:
    """Build ``tiny:<size>`` once into the cache and return its directory (atomically written)."""
    size = parse_size(name)
    target = cache_dir() / f"tiny-{size}-seed{seed}"
    if (target / "config.json").is_file() and (target / "tokenizer.json").is_file():
        return target
    tok = build_tokenizer()
    model = build_model(size, len(tok), seed, tok.eos_token_id, tok.pad_token_id)
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    _declare_qwen2_tokenizer(tmp)
    try:
        tmp.rename(target)
    except OSError:  # another process won the race; theirs is identical
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return target
