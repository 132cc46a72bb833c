"""Chunked logprobs: the same numbers and gradients as the plain full-vocabulary computation, and memory that
grows with the micro-batch's tokens, not tokens x vocabulary (measured on a 151,936-token vocabulary)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM

from r1train.models.logprobs import PolicyLogprobs, chunk_size

QWEN_VOCAB = 151_936


def tiny_qwen(vocab: int, hidden: int = 32, seed: int = 0) -> Qwen2ForCausalLM:
    torch.manual_seed(seed)
    config = Qwen2Config(
        vocab_size=vocab, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=True, max_position_embeddings=64,
    )
    return Qwen2ForCausalLM(config).float()


def plain_logprobs(model: Qwen2ForCausalLM, ids: torch.Tensor, attn: torch.Tensor, comp: torch.Tensor, t: float):
    """The obviously-correct version: full logits for every position, log-softmax, gather, mask."""
    logits = model(input_ids=ids, attention_mask=attn).logits[:, :-1].float() / t  # (N, L-1, V)
    logp_all = logits.log_softmax(-1)  # (N, L-1, V)
    logp = logp_all.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (N, L-1)
    entropy = -(logp_all.exp() * logp_all).sum(-1)  # (N, L-1)
    m = comp[:, 1:]  # (N, L-1)
    return logp * m, entropy * m


def test_chunk_size_follows_the_vocabulary() -> None:
    # budget 2**25 logits per chunk: 2**25 // 151936 = 220 tokens; a 104-char vocabulary gets one big chunk
    assert chunk_size(QWEN_VOCAB) == 220
    assert chunk_size(104) == 2**25 // 104
    assert chunk_size(10**9) == 16  # never below 16 tokens


def test_chunked_equals_plain_values_and_gradients() -> None:
    model = tiny_qwen(vocab=97)
    ids = torch.randint(0, 97, (3, 9))  # (N, L)
    attn = torch.ones_like(ids)  # (N, L)
    attn[2, 7:] = 0  # right padding on the last row
    comp = torch.zeros(3, 9)  # (N, L)
    comp[0, 4:] = 1
    comp[1, 2:6] = 1
    comp[2, 3:7] = 1
    t = 0.7
    policy = PolicyLogprobs(model, chunk_tokens=4)  # 4 + 4 + 4 + 3 completion tokens: several chunks
    logp, ent = policy(ids, attn, comp, t)
    ref_logp, ref_ent = plain_logprobs(model, ids, attn, comp, t)
    torch.testing.assert_close(logp, ref_logp, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ent, ref_ent, rtol=1e-5, atol=1e-5)
    (logp.sum() + 0.1 * ent.sum()).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    (ref_logp.sum() + 0.1 * ref_ent.sum()).backward()
    for g, p in zip(grads, model.parameters(), strict=True):
        torch.testing.assert_close(g, p.grad, rtol=1e-4, atol=1e-6)


MEMORY_SCRIPT = textwrap.dedent(
    """
    import resource, sys, torch
    sys.path.insert(0, {tests!r})
    from test_logprobs import tiny_qwen, QWEN_VOCAB
    from r1train.models.logprobs import PolicyLogprobs

    torch.set_num_threads(1)
    model = tiny_qwen(QWEN_VOCAB)

    def peak_growth(policy, n_rows):  # MiB the process's peak RSS rises by, forward + backward
        ids = torch.randint(0, QWEN_VOCAB, (n_rows, 64))
        attn = torch.ones_like(ids)
        comp = torch.zeros(n_rows, 64)
        comp[:, 1:] = 1  # 63 predicted tokens per row
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        logp, ent = policy(ids, attn, comp, 1.0)
        (logp.sum() + ent.sum()).backward()
        model.zero_grad(set_to_none=True)
        return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024

    chunked = PolicyLogprobs(model)  # the default chunk for this vocabulary
    small = peak_growth(chunked, 4)  # 252 tokens: one full chunk of 220 and a part: the one-chunk peak
    large = peak_growth(chunked, 16)  # 1008 tokens: 8x the tokens
    full = peak_growth(PolicyLogprobs(model, chunk_tokens=10**9), 16)  # one chunk of every token
    print(small, large, full)
    """
)


def test_logprob_memory_grows_with_tokens_not_tokens_times_vocab(tmp_path) -> None:
    # 1008 tokens x 151936 vocab x 4 bytes = 584 MiB for one float32 logits tensor of the whole micro-batch
    # (log-softmax and its exp each as much again). Chunked, the peak is set by one chunk (220 tokens,
    # ~128 MiB per tensor), which the 252-token run already reaches: 4x the tokens adds ~0 beyond it.
    import pathlib

    tests = str(pathlib.Path(__file__).parent)
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT.format(tests=tests)], capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr[-2000:]
    small, large, full = (float(x) for x in out.stdout.split()[-3:])
    logits_mib = 1008 * QWEN_VOCAB * 4 / 2**20  # 584 MiB
    assert full > 0.8 * logits_mib, (small, large, full)  # the measurement sees a full logits tensor
    assert large < 0.25 * logits_mib, (small, large, full)  # chunked: far below tokens x vocab


def test_right_padded_batches_skip_the_mask_and_match_unpadded_rows() -> None:
    # rows of lengths 9, 6 and 4, right-padded to 9: each row's logprobs must equal those of the row run
    # alone without padding (the obviously-correct version), whether or not the mask was applied
    from r1train.models.logprobs import right_padded

    model = tiny_qwen(vocab=31)
    torch.manual_seed(1)
    lengths = [9, 6, 4]
    ids = torch.randint(1, 31, (3, 9))  # (N, L)
    attn = torch.zeros_like(ids)
    comp = torch.zeros(3, 9)  # (N, L)
    for row, n in enumerate(lengths):
        attn[row, :n] = 1
        comp[row, 2:n] = 1  # two prompt tokens, the rest completion
        ids[row, n:] = 0  # padding
    assert right_padded(attn) and not right_padded(attn.flip(-1))  # left padding keeps the mask
    policy = PolicyLogprobs(model)
    logp, ent = policy(ids, attn, comp, 0.9)  # (N, L-1)
    for row, n in enumerate(lengths):
        alone, alone_ent = policy(ids[row : row + 1, :n], attn[row : row + 1, :n], comp[row : row + 1, :n], 0.9)
        torch.testing.assert_close(logp[row, : n - 1], alone[0], rtol=0, atol=1e-6)
        torch.testing.assert_close(ent[row, : n - 1], alone_ent[0], rtol=0, atol=1e-6)
        assert (logp[row, n - 1 :] == 0).all()  # nothing on padding
    # a left-padded copy of the batch (mask applied) gives the same completion logprobs
    shift = [9 - n for n in lengths]
    left_ids = torch.stack([ids[r].roll(s) for r, s in enumerate(shift)])
    left_attn = torch.stack([attn[r].roll(s) for r, s in enumerate(shift)])
    left_comp = torch.stack([comp[r].roll(s) for r, s in enumerate(shift)])
    left_logp, _ = policy(left_ids, left_attn, left_comp, 0.9)
    for row, n in enumerate(lengths):
        s = shift[row]
        torch.testing.assert_close(left_logp[row, s : s + n - 1][comp[row, 1:n].bool()], logp[row, : n - 1][comp[row, 1:n].bool()], rtol=0, atol=1e-5)


@pytest.mark.slow
def test_compiled_decoder_gives_the_same_logprobs_and_gradients() -> None:
    # train.compile: the same numbers as eager (float32 reassociation only), state-dict names unchanged
    model = tiny_qwen(vocab=41)
    ids = torch.randint(1, 41, (3, 8))  # (N, L)
    attn = torch.ones_like(ids)
    attn[1, 6:] = 0
    comp = torch.zeros(3, 8)
    comp[:, 3:] = 1
    comp[1, 6:] = 0
    eager = PolicyLogprobs(model)
    compiled = PolicyLogprobs(model, compile=True)
    assert list(compiled.state_dict()) == list(eager.state_dict())
    results = []
    for policy in (eager, compiled):
        logp, ent = policy(ids, attn, comp, 0.8)
        (logp.sum() + 0.1 * ent.sum()).backward()
        results.append((logp.detach(), [p.grad.clone() for p in model.parameters()]))
        model.zero_grad()
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-5, atol=1e-5)
    for a, b in zip(results[1][1], results[0][1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
