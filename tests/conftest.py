"""Shared test fixtures: a private model cache per test session, so tiny models are built fresh and
nothing in the user's ~/.cache is read or written; wandb never reaches the network.

The Hugging Face caches point at a private temporary root, set here at import (before anything imports
``huggingface_hub`` or ``datasets``, which read these variables once), with the hub offline; the
``hub_cache`` fixture fills it with tiny stand-ins under the real hub ids (:mod:`tests.hub`).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

_HF_ROOT = Path(tempfile.mkdtemp(prefix="r1train-hf-"))
atexit.register(shutil.rmtree, _HF_ROOT, True)
os.environ.update(
    HF_HOME=str(_HF_ROOT),
    HF_HUB_CACHE=str(_HF_ROOT / "hub"),
    HF_DATASETS_CACHE=str(_HF_ROOT / "datasets"),
    HF_HUB_OFFLINE="1",
    HF_DATASETS_OFFLINE="1",
    HF_HUB_DISABLE_TELEMETRY="1",
)


@pytest.fixture(scope="session", autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    os.environ["R1TRAIN_CACHE"] = str(tmp_path_factory.mktemp("r1train-cache"))
    os.environ.setdefault("WANDB_MODE", "offline")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def hub_cache() -> Path:
    """The offline hub and datasets caches, built once per session (a few seconds) on first use."""
    from tests import hub

    if not (_HF_ROOT / "hub").is_dir():
        hub.build(_HF_ROOT)
    return _HF_ROOT


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.gpu`` tests need CUDA: on a CPU machine they are skipped, with the reason shown."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)
