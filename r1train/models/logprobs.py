"""Per-token logprobs of sampled tokens, without materialising full-vocabulary logits for the batch.

``PolicyLogprobs`` wraps a causal LM so that the forward pass used for training goes through one module
(what DDP/FSDP wrap). It runs the decoder, keeps the hidden states at completion positions only, and
applies the output head chunk by chunk: each chunk's (tokens x vocab) logits exist only inside the chunk,
and in training they are recomputed during backward (activation checkpointing), so memory grows with the
number of completion tokens, not tokens x vocab. The chunk is sized by the vocabulary
(:func:`chunk_size`: about 2**25 logits, 128 MiB in float32, i.e. 220 tokens for Qwen's 151,936), so a
small vocabulary runs as one chunk and a large one never holds more than a chunk's logits (measured in
``tests/r1train/models/test_logprobs.py``). Logits are divided by the sampling temperature so the
logprobs are those of the distribution the sampler drew from.

A right-padded batch (every row's mask is ones, then zeros: what :mod:`r1train.train.batch` builds) runs
without its attention mask: under the causal mask a real token only sees earlier positions, which are
all real, so its hidden state is the same, and only the padding positions (never read) change. The
decoder then takes SDPA's causal fast path instead of building and applying a (N, 1, L, L) mask
(measured on one thread for tiny:3m, 128 samples, 2048-token micro-batches: forward/backward
5.58 s with the mask, 4.96 s without, median of 6 alternating; the same logprobs). Left-padded batches keep their mask.

``train.compile: true`` (off by default) runs the decoder through ``torch.compile(dynamic=True)``: on one
CPU thread for tiny:3m, 128 samples in 2048-token micro-batches, forward/backward 5.70 s eager vs 4.81 s
compiled (median of 6 alternating, 2026-11-29), after a first step that compiles for 30-90 s. In the
trainer (trl_compare's recipe, one thread, eager and compiled trainers alternating, 3 measured steps):
forward/backward 3.91, 4.48, 5.18 s compiled vs 5.28, 5.70, 5.16 s eager, the first step 54 s vs 4.6 s.
So it is off by default. Tested in one process; not with FSDP or DeepSpeed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

CHUNK_LOGITS = 2**25  # logits (tokens x vocab) one chunk may hold


def chunk_size(vocab: int) -> int:
    """Tokens per head chunk for a vocabulary of ``vocab``: ``CHUNK_LOGITS // vocab``, at least 16."""
    return max(16, CHUNK_LOGITS // vocab)


def _chunk_logprobs(hidden: Tensor, weight: Tensor, bias: Tensor | None, targets: Tensor, temperature: float):
    logits = nn.functional.linear(hidden, weight, bias).float() / temperature  # (K, V)
    logp_all = logits.log_softmax(-1)  # (K, V)
    logp = logp_all.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (K,)
    entropy = -(logp_all.exp() * logp_all).sum(-1)  # (K,) with gradient, for the entropy bonus
    return logp, entropy


class PolicyLogprobs(nn.Module):
    """``forward(input_ids, attention_mask, completion_mask) -> (logp, entropy)``, both (N, L-1)."""

    def __init__(self, model: nn.Module, chunk_tokens: int | None = None, compile: bool = False) -> None:
        super().__init__()
        self.model = model
        self.chunk_tokens = chunk_tokens  # None: chunk_size(vocab)
        # train.compile: the decoder's forward through torch.compile (a function, not a submodule, so the
        # state-dict names and every other caller of the decoder, e.g. generate, stay as they were)
        self._decoder_forward = torch.compile(model.get_decoder().forward, dynamic=True) if compile else None

    def forward(self, input_ids: Tensor, attention_mask: Tensor, completion_mask: Tensor, temperature: float = 1.0):
        decoder = self.model.get_decoder()
        head = self.model.get_output_embeddings()
        mask = None if right_padded(attention_mask) else attention_mask  # causal alone is exact then
        run = self._decoder_forward or decoder
        hidden = run(input_ids=input_ids, attention_mask=mask).last_hidden_state  # (N, L, H)
        # position t predicts token t+1: the predicted tokens are input_ids[:, 1:]
        predict_mask = completion_mask[:, 1:].bool()  # (N, L-1)
        h = hidden[:, :-1][predict_mask]  # (K, H) only completion positions
        targets = input_ids[:, 1:][predict_mask]  # (K,)
        chunk = self.chunk_tokens or chunk_size(head.weight.shape[0])
        logps, ents = [], []
        for start in range(0, h.shape[0], chunk):
            args = (h[start : start + chunk], head.weight, head.bias, targets[start : start + chunk], temperature)
            if torch.is_grad_enabled():
                lp, ent = checkpoint(_chunk_logprobs, *args, use_reentrant=False)
            else:
                lp, ent = _chunk_logprobs(*args)
            logps.append(lp)
            ents.append(ent)
        if not logps:  # no completion token here: an empty result that still hangs off the graph, so that
            # backward works (and every data-parallel rank runs the same collectives) with zero gradient
            flat_logp = flat_ent = ((hidden.sum() + head.weight.sum()) * 0.0).float().reshape(1)[:0]
        else:
            flat_logp, flat_ent = torch.cat(logps), torch.cat(ents)
        logp = torch.zeros(predict_mask.shape, dtype=flat_logp.dtype, device=h.device)  # (N, L-1)
        entropy = torch.zeros_like(logp)
        logp = logp.masked_scatter(predict_mask, flat_logp)
        entropy = entropy.masked_scatter(predict_mask, flat_ent)
        return logp, entropy


def right_padded(attention_mask: Tensor) -> bool:
    """Every row is ones then zeros (padding only at the end), so the causal mask alone is exact."""
    return bool(((attention_mask[:, 1:] <= attention_mask[:, :-1]).all() & (attention_mask <= 1).all()).item())  # one sync


def unwrap(model: Any) -> Any:
    """The underlying causal LM of a (possibly accelerate-wrapped) ``PolicyLogprobs``."""
    while hasattr(model, "module"):
        model = model.module
    return model.model if isinstance(model, PolicyLogprobs) else model
