"""Fixtures for the rollout-engine tests: a private tiny-model cache, recipes, and one shared vLLM engine.

Starting vLLM costs tens of seconds on CPU, so one colocated engine (``tiny:3m``, float32) serves every
test in the session; each test first syncs its own model into it, which is exactly what the trainer does.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


@pytest.fixture(scope="session", autouse=True)
def _tiny_cache(tmp_path_factory: pytest.TempPathFactory):
    old = os.environ.get("R1TRAIN_CACHE")
    os.environ["R1TRAIN_CACHE"] = str(tmp_path_factory.mktemp("r1train-cache"))
    yield
    if old is None:
        os.environ.pop("R1TRAIN_CACHE", None)
    else:
        os.environ["R1TRAIN_CACHE"] = old


def make_cfg(**rollout: Any) -> Any:
    """A recipe for ``tiny:3m`` in float32 with these ``rollout`` keys."""
    from r1train.recipe import build_config

    data = {
        "model": {"name_or_path": "tiny:3m", "dtype": "float32"},
        "data": {"source": "synthetic:addition", "max_prompt_tokens": 64},
        "rollout": {"max_new_tokens": 32, "kv_cache_gb": 1, **rollout},
    }
    return build_config(data, "test recipe")


@pytest.fixture(scope="session")
def cfg() -> Any:
    return make_cfg()


@pytest.fixture(scope="session")
def source(cfg: Any) -> Any:
    from r1train.models.load import resolve_source

    return resolve_source(cfg.model)


@pytest.fixture(scope="session")
def tokenizer(source: Any) -> Any:
    from r1train.models.load import load_tokenizer

    return load_tokenizer(source)


@pytest.fixture
def model(cfg: Any, source: Any) -> Any:
    """A fresh trainer-side policy (plain, float32) for each test."""
    from r1train.models.load import load_model

    return load_model(cfg.model, source)


@pytest.fixture(scope="session")
def vllm_engine(cfg: Any, source: Any, tokenizer: Any) -> Any:
    """The one colocated vLLM engine of the session (skips where vLLM does not import)."""
    import vllm  # noqa: F401  (a dependency: an import error must fail, not skip)

    from r1train.models.load import load_model
    from r1train.rollout import make_engine
    from r1train.rollout.vllm_engine import VLLMEngine

    engine = make_engine(cfg, load_model(cfg.model, source), tokenizer, source)
    assert isinstance(engine, VLLMEngine)
    yield engine
    engine.close()
