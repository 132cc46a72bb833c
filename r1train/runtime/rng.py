"""Every random stream of a run in one place: seed them all, save them all, restore them all.

A checkpoint stores :func:`state` (Python's ``random``, NumPy's, torch's CPU generator and, with CUDA,
every device's) and a resume :func:`restore` s it, so the run continues with the very draws the
uninterrupted run would have made (``tests/r1train/runtime/test_resume.py``).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's generators (torch seeds every CUDA device too)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def state() -> dict[str, Any]:
    """Every generator's state, for a checkpoint."""
    out: dict[str, Any] = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        out["cuda"] = torch.cuda.get_rng_state_all()
    return out


def restore(saved: dict[str, Any]) -> None:
    """Put every generator back where :func:`state` found it."""
    random.setstate(saved["python"])
    np.random.set_state(saved["numpy"])
    torch.set_rng_state(saved["torch"])
    if "cuda" in saved and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(saved["cuda"])
