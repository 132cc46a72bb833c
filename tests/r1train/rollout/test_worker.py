"""The ``vllm-process`` engine: the CPU build of vLLM in a real worker process, against transformers.

One engine (tiny:3m, float32) serves the module; the trainer side (this process) keeps the other core.
What must hold: greedy output equals transformers' after a weight push (the push is exact), requests are
answered in order (a batch submitted before a push samples the old weights, one submitted after it the
new ones, even while the first is still generating), and the child is pinned to its own core.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pytest
import torch

from r1train.rollout import Sampling
from r1train.rollout.sync import policy_weights, sync_weights
from tests.r1train.rollout.conftest import make_cfg
from tests.r1train.rollout.test_vllm_engine import PROMPTS, _hf_greedy, _ids, _train_step


@pytest.fixture(scope="module")
def process_engine(source: Any, tokenizer: Any) -> Any:
    from r1train.models.load import load_model
    from r1train.rollout import make_engine
    from r1train.rollout.worker import ProcessEngine

    cfg = make_cfg(engine="vllm-process")
    mine = os.sched_getaffinity(0)
    threads = torch.get_num_threads()
    engine = make_engine(cfg, load_model(cfg.model, source), tokenizer, source)
    assert isinstance(engine, ProcessEngine)
    trainer_cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, mine)  # the factory pinned this process (the trainer) to its share: undo for the session
    torch.set_num_threads(threads)
    yield engine, trainer_cpus
    engine.close()


def _greedy_async(engine: Any, prompt_ids: list[list[int]], n: int) -> Any:
    return engine.submit(prompt_ids, Sampling(n=1, max_new_tokens=n, temperature=0.0))


def test_push_is_exact_and_requests_keep_their_order(process_engine: Any, model: Any, tokenizer: Any) -> None:
    engine, _ = process_engine
    prompt_ids = _ids(tokenizer)
    sync_weights(engine, model, step=0, force=True)
    expected_before = _hf_greedy(model, prompt_ids, 24)
    _train_step(model, tokenizer)
    expected_after = _hf_greedy(model, prompt_ids, 24)
    assert expected_after != expected_before  # the step changed the greedy outputs, so the test can fail
    # queue: generate (old weights), push (new), generate (new): all three in flight before any answer
    first = _greedy_async(engine, prompt_ids, 24)
    engine.load_weights(policy_weights(model))
    second = _greedy_async(engine, prompt_ids, 24)
    old = [r.completion_ids for r in first.result(timeout=300)]
    new = [r.completion_ids for r in second.result(timeout=300)]
    assert [o[: len(e)] for o, e in zip(old, expected_before, strict=True)] == expected_before
    assert [o[: len(e)] for o, e in zip(new, expected_after, strict=True)] == expected_after
    assert len(new) == len(PROMPTS)


def test_push_costs_a_memcpy_and_the_child_has_its_own_core(process_engine: Any, model: Any) -> None:
    engine, trainer_cpus = process_engine
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) >= 2:  # default split: the engine takes the last half, the trainer the first
        assert engine.info["cpus"] == cores[len(cores) // 2 :]
        assert sorted(trainer_cpus) == cores[: len(cores) // 2]
        assert engine.info["threads"] == len(engine.info["cpus"])
    start = time.perf_counter()
    for _ in range(3):
        engine.load_weights(policy_weights(model))
    engine.generate([[1, 2, 3]], Sampling(n=1, max_new_tokens=1, temperature=0.0))  # after the three reloads
    total = time.perf_counter() - start
    params = sum(p.numel() for p in model.parameters())
    print(f"\npush of {params / 1e6:.1f}M float32 parameters: trainer side {engine.last_push_s * 1e3:.1f} ms, "
          f"engine reload {engine.reload_s * 1e3:.1f} ms; 3 pushes + 1 token {total:.2f} s (load {os.getloadavg()[0]:.2f})")
    assert engine.last_push_s < 1.0 and engine.reload_s > 0.0
    assert not list(engine._dir.iterdir())  # every pushed file was consumed and removed


def test_a_dead_engine_fails_the_caller_instead_of_hanging(source: Any, tokenizer: Any) -> None:
    from r1train.rollout.worker import ProcessEngine, WorkerSpec

    cfg = make_cfg(engine="vllm-process")
    spec = WorkerSpec(source, cfg.rollout, "float32", 96, 0, False, tokenizer, ())
    engine = ProcessEngine(spec)
    engine._proc.kill()
    with pytest.raises(RuntimeError, match="exited"):
        engine.generate([[1, 2]], Sampling(n=1, max_new_tokens=2))
    engine.close()
