"""The ``hf`` rollout engine: transformers ``generate`` on the trainer's own model (the fallback).

It shares the policy module with the trainer, so ``load_weights`` has nothing to copy. Sampler logprobs
come from the processed scores of ``generate`` (temperature/top-k/top-p applied), the same distribution
the tokens were drawn from. Prompts are left-padded in one batch per call; finished samples are cut at
their first eos or stop string.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from r1train.rollout.base import Rollout, Sampling


class HFEngine:
    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.batch_size = batch_size

    def load_weights(self, named_tensors: Iterable[tuple[str, Any]]) -> None:
        """Nothing to do: generation uses the trainer's module itself."""

    def close(self) -> None:
        """Nothing to release: the model belongs to the trainer."""

    @torch.no_grad()
    def generate(self, prompt_ids: list[list[int]], sampling: Sampling) -> list[Rollout]:
        flat = [(i, ids) for i, ids in enumerate(prompt_ids) for _ in range(sampling.n)]
        out: list[Rollout] = []
        for start in range(0, len(flat), self.batch_size):
            out.extend(self._generate_batch(flat[start : start + self.batch_size], sampling))
        return out

    def _generate_batch(self, items: list[tuple[int, list[int]]], sampling: Sampling) -> list[Rollout]:
        tok = self.tokenizer
        model = self.model
        device = next(model.parameters()).device
        pad = tok.pad_token_id
        eos = tok.eos_token_id
        width = max(len(ids) for _, ids in items)
        input_ids = torch.full((len(items), width), pad, dtype=torch.long)  # (N, P) left-padded
        attention = torch.zeros((len(items), width), dtype=torch.long)
        for row, (_, ids) in enumerate(items):
            input_ids[row, width - len(ids) :] = torch.tensor(ids)
            attention[row, width - len(ids) :] = 1
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)
        was_training = model.training
        model.eval()
        gen = model.generate(
            input_ids=input_ids.to(device),
            attention_mask=attention.to(device),
            do_sample=True,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k or None,
            min_p=sampling.min_p or None,
            max_new_tokens=sampling.max_new_tokens,
            pad_token_id=pad,
            eos_token_id=eos,
            output_scores=sampling.logprobs,
            return_dict_in_generate=True,
        )
        if was_training:
            model.train()
        sequences = gen.sequences[:, width:].cpu()  # (N, T)
        token_logps = None
        if sampling.logprobs:
            scores = torch.stack(gen.scores, dim=1).float().log_softmax(-1)  # (N, T, V)
            token_logps = scores.gather(-1, sequences.to(scores.device).unsqueeze(-1)).squeeze(-1).cpu()  # (N, T)
        rollouts = []
        for row, (prompt_index, ids) in enumerate(items):
            completion, reason = _cut(sequences[row].tolist(), eos, pad, sampling.max_new_tokens)
            text = tok.decode(completion, skip_special_tokens=True)
            completion, text, reason = _apply_stop(completion, text, reason, sampling.stop, tok)
            logps = token_logps[row, : len(completion)].tolist() if token_logps is not None else None
            rollouts.append(Rollout(list(ids), completion, logps, reason, text, prompt_index))
        return rollouts


def _cut(tokens: list[int], eos: int, pad: int, max_new: int) -> tuple[list[int], str]:
    """Keep tokens up to and including the first eos; 'length' if it never came."""
    if eos in tokens:
        return tokens[: tokens.index(eos) + 1], "stop"
    return tokens, "length" if len(tokens) >= max_new else "stop"


def _apply_stop(completion: list[int], text: str, reason: str, stop: tuple[str, ...], tok: Any):
    """Cut at the first stop string (kept in the text, as vLLM's include_stop_str_in_output does)."""
    if not stop:
        return completion, text, reason
    hits = [(text.find(s), s) for s in stop if s in text]
    if not hits:
        return completion, text, reason
    pos, s = min(hits)
    end_char = pos + len(s)
    for n in range(1, len(completion) + 1):  # shortest token prefix whose text reaches the stop string
        if len(tok.decode(completion[:n], skip_special_tokens=True)) >= end_char:
            return completion[:n], tok.decode(completion[:n], skip_special_tokens=True), "stop"
    return completion, text, "stop"
