"""Fixtures for the evaluation tests: in-process vLLM settings and a stand-in tokenizer."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


@pytest.fixture
def char_tokenizer():
    from tests.helpers import CharTokenizer

    return CharTokenizer()
