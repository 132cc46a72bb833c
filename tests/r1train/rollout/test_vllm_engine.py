"""The colocated ``vllm`` engine against transformers, on the CPU build of vLLM (tiny:3m, float32).

One engine serves the whole session (see conftest); every test first syncs its own trainer model into it,
which is the trainer's own sequence: optimizer step -> ``sync_weights`` -> ``generate``.

Tolerance for sampler logprobs: vLLM's processed logprobs and the trainer's recomputation both compute
``log_softmax(logits / T)`` in float32 from the same weights, through different kernels (vLLM's CPU
attention and GEMMs vs. torch SDPA); on this model they agree to about 1e-5, and the test allows 1e-3
absolute per token, far below the 0.2 clip range of the ratio they feed.
"""

from __future__ import annotations

import dataclasses

import torch
import vllm  # noqa: E402, F401  (a dependency: an import error must fail, not skip)

from r1train.config import LoraConfig
from r1train.models.logprobs import PolicyLogprobs
from r1train.rollout import Sampling
from r1train.rollout.sync import sync_weights

PROMPTS = ["User: 12+7=?\nAssistant:", "What is 3*4?", "<think>", "abc def ghi", "x", "The answer is"]
LOGPROB_ATOL = 1e-3


def _ids(tokenizer) -> list[list[int]]:
    return [tokenizer(p, add_special_tokens=False)["input_ids"] for p in PROMPTS]


def _train_step(model, tokenizer, lr: float = 3e-2) -> None:
    """One AdamW step that pushes the policy toward a fixed text, so its greedy outputs change."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr)
    ids = torch.tensor([tokenizer("The answer is 42. The answer is 42.", add_special_tokens=False)["input_ids"]])
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    opt.step()
    opt.zero_grad()


@torch.no_grad()
def _hf_greedy(model, prompt_ids: list[list[int]], n: int) -> list[list[int]]:
    model.eval()
    out = []
    for ids in prompt_ids:  # one at a time: no padding, the plainest reference
        seq = model.generate(torch.tensor([ids]), do_sample=False, max_new_tokens=n, min_new_tokens=n)
        out.append(seq[0, len(ids) :].tolist())
    return out


def _greedy(engine, prompt_ids: list[list[int]], n: int) -> list[list[int]]:
    sampling = Sampling(n=1, max_new_tokens=n, temperature=0.0)
    return [r.completion_ids for r in engine.generate(prompt_ids, sampling)]


def _no_eos(tokenizer, model) -> None:
    """Make eos unreachable so both engines run the full length (eos handling is tested separately)."""
    model.generation_config.eos_token_id = None


def test_greedy_matches_transformers_after_step_and_sync(vllm_engine, model, tokenizer):
    prompt_ids = _ids(tokenizer)
    sync_weights(vllm_engine, model, step=0, force=True)
    before = _greedy(vllm_engine, prompt_ids, 24)  # also fills the prefix cache with the old weights' KV
    _train_step(model, tokenizer)
    sync_weights(vllm_engine, model, step=1)
    after = _greedy(vllm_engine, prompt_ids, 24)
    expected = _hf_greedy(model, prompt_ids, 24)
    assert [a[: len(e)] for a, e in zip(after, expected)] == expected
    assert after != before  # the step changed the policy, and the engine followed (no stale prefix cache)


def test_greedy_matches_transformers_for_lora_model(vllm_engine, cfg, source, tokenizer):
    from r1train.models.load import load_model

    lora = dataclasses.replace(cfg.model, lora=LoraConfig(r=8, alpha=16, target_modules="all-linear"))
    model = load_model(lora, source)
    prompt_ids = _ids(tokenizer)
    sync_weights(vllm_engine, model, step=0, force=True)
    before = _greedy(vllm_engine, prompt_ids, 24)  # LoRA B starts at 0: this is the base model
    _train_step(model, tokenizer, lr=5e-2)
    sync_weights(vllm_engine, model, step=1)
    after = _greedy(vllm_engine, prompt_ids, 24)
    expected = _hf_greedy(model, prompt_ids, 24)  # peft's unmerged forward: x W + s (x A) B
    assert [a[: len(e)] for a, e in zip(after, expected)] == expected
    assert after != before


def test_sampler_logprobs_match_trainer_recomputation(vllm_engine, model, tokenizer):
    _train_step(model, tokenizer)
    sync_weights(vllm_engine, model, step=1)
    temperature = 0.7
    rollouts = vllm_engine.generate(_ids(tokenizer), Sampling(n=4, max_new_tokens=16, temperature=temperature))
    assert len(rollouts) == 4 * len(PROMPTS)
    width = max(len(r.prompt_ids) + len(r.completion_ids) for r in rollouts)
    input_ids = torch.full((len(rollouts), width), tokenizer.pad_token_id)  # (N, L)
    attention = torch.zeros((len(rollouts), width), dtype=torch.long)  # (N, L)
    completion = torch.zeros((len(rollouts), width))  # (N, L)
    for row, r in enumerate(rollouts):
        seq = r.prompt_ids + r.completion_ids
        input_ids[row, : len(seq)] = torch.tensor(seq)
        attention[row, : len(seq)] = 1
        completion[row, len(r.prompt_ids) : len(seq)] = 1
    with torch.no_grad():
        logp, _ = PolicyLogprobs(model.eval())(input_ids, attention, completion, temperature)  # (N, L-1)
    worst = 0.0
    for row, r in enumerate(rollouts):
        p, c = len(r.prompt_ids), len(r.completion_ids)
        assert r.logprobs is not None and len(r.logprobs) == c
        trainer = logp[row, p - 1 : p - 1 + c]  # position t predicts token t+1
        worst = max(worst, (trainer - torch.tensor(r.logprobs)).abs().max().item())
    assert worst < LOGPROB_ATOL, worst


def test_vllm_and_hf_rollouts_have_the_same_shape_and_finish_reasons(vllm_engine, model, tokenizer):
    from r1train.rollout.hf import HFEngine

    sync_weights(vllm_engine, model, step=0, force=True)
    prompt_ids = _ids(tokenizer)
    greedy = _hf_greedy(model, prompt_ids[:1], 8)[0]
    stop = tokenizer.decode(greedy[5:6])  # the first prompt will hit this stop string by its 6th token
    # temperature 1e-3: both engines sample, but so sharply that they pick the argmax, i.e. the same tokens
    sampling = Sampling(n=2, max_new_tokens=12, temperature=1e-3, stop=(stop,))
    hf = HFEngine(model, tokenizer).generate(prompt_ids, sampling)
    vl = vllm_engine.generate(prompt_ids, sampling)
    assert len(vl) == len(hf) == 2 * len(prompt_ids)
    assert [r.prompt_index for r in vl] == [r.prompt_index for r in hf] == [i for i in range(len(PROMPTS)) for _ in range(2)]
    assert [r.prompt_ids for r in vl] == [r.prompt_ids for r in hf]
    assert [r.finish_reason for r in vl] == [r.finish_reason for r in hf]
    assert [len(r.completion_ids) for r in vl] == [len(r.completion_ids) for r in hf]
    assert [len(r.logprobs) for r in vl] == [len(r.logprobs) for r in hf]
    assert [r.text for r in vl] == [r.text for r in hf]
    assert vl[0].finish_reason == "stop" and vl[0].text.endswith(stop)
    assert "length" in {r.finish_reason for r in vl}


def test_eos_is_kept_and_finishes_with_stop(vllm_engine, model, tokenizer):
    """Force eos as the most likely next token (bias the head's eos row), as in a trained model."""
    with torch.no_grad():
        model.get_output_embeddings().weight[tokenizer.eos_token_id] *= 0  # tied: also the eos embedding
        model.model.norm.weight.abs_()
        model.get_output_embeddings().weight[tokenizer.eos_token_id] += model.model.norm.weight.sign() * 5
    sync_weights(vllm_engine, model, step=0, force=True)
    (r,) = vllm_engine.generate(_ids(tokenizer)[:1], Sampling(n=1, max_new_tokens=8, temperature=1e-3))
    assert r.completion_ids[-1] == tokenizer.eos_token_id
    assert r.finish_reason == "stop"
    assert len(r.logprobs) == len(r.completion_ids)


def test_step_seed_repeats_the_samples_and_leaves_the_global_generator_alone(vllm_engine, model, tokenizer):
    # rollout.seeding: step — unseeded requests, the global generator seeded for the call and restored after
    sync_weights(vllm_engine, model, step=0, force=True)
    prompt_ids = _ids(tokenizer)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    a = vllm_engine.generate(prompt_ids, Sampling(n=3, max_new_tokens=16, temperature=1.0, seed=11))
    assert torch.equal(torch.get_rng_state(), state)  # the trainer's own random stream is untouched
    b = vllm_engine.generate(prompt_ids, Sampling(n=3, max_new_tokens=16, temperature=1.0, seed=11))
    c = vllm_engine.generate(prompt_ids, Sampling(n=3, max_new_tokens=16, temperature=1.0, seed=12))
    assert [r.completion_ids for r in a] == [r.completion_ids for r in b]
    assert [r.logprobs for r in a] == [r.logprobs for r in b]
    assert [r.completion_ids for r in a] != [r.completion_ids for r in c]


def test_text_and_logprobs_without_vllm_detokenising_match_vllms_own(vllm_engine, model, tokenizer):
    # no stop strings: vLLM skips detokenising and returns flat logprobs; the engine decodes the text.
    # vLLM's defaults (detokenize, a logprob dict per token) on the same seed give the same tokens, text
    # and logprobs.
    import copy

    sync_weights(vllm_engine, model, step=0, force=True)
    prompt_ids = _ids(tokenizer)
    sampling = Sampling(n=2, max_new_tokens=24, temperature=1.0, seed=5)
    ours = vllm_engine.generate(prompt_ids, sampling)
    params = copy.copy(vllm_engine.sampling_params(dataclasses.replace(sampling, seed=None)))
    assert params.detokenize is False and params.flat_logprobs is True
    params.detokenize, params.flat_logprobs = True, False
    with vllm_engine.global_seed(5):
        raw = vllm_engine.llm.generate([{"prompt_token_ids": p} for p in prompt_ids], params, use_tqdm=False)
    flat = [out for req in raw for out in req.outputs]
    assert [r.completion_ids for r in ours] == [list(o.token_ids) for o in flat]
    assert [r.text for r in ours] == [o.text for o in flat]
    assert any(r.text for r in ours)
    assert [r.logprobs for r in ours] == [[s[t].logprob for s, t in zip(o.logprobs, o.token_ids)] for o in flat]
