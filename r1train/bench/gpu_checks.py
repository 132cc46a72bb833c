"""Every ``@pytest.mark.gpu`` test in one call, for a CUDA machine: ``python -m r1train.bench.gpu_checks``.

CI runs on CPU, where the gpu-marked tests skip (tests/conftest.py); this is the one command to run them
where a GPU is: the DeepSpeed ZeRO-2/3 runs (``tests/r1train/runtime/test_deepspeed_gpu.py``) and whatever else
carries the mark. It first says what it found (GPUs, DeepSpeed, vLLM), refuses with exit code 2 on a
machine without CUDA (a green run of skipped tests would prove nothing), then runs
``pytest -m gpu tests/`` with any extra arguments passed on (e.g. ``-x -k zero3``) and returns pytest's
exit code.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def describe() -> tuple[int, list[str]]:
    """(number of CUDA devices, one line per finding)."""
    import torch

    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    lines = [f"CUDA devices: {count}" + (f" ({torch.cuda.get_device_name(0)})" if count else "")]
    for name in ("deepspeed", "vllm"):
        found = importlib.util.find_spec(name) is not None
        lines.append(f"{name}: {'installed' if found else 'not installed (its tests skip)'}")
    return count, lines


def main(argv: list[str] | None = None) -> int:
    import pytest

    args = list(sys.argv[1:] if argv is None else argv)
    count, lines = describe()
    print("r1train gpu checks: " + "; ".join(lines), flush=True)
    if count == 0:
        print("r1train gpu checks: no CUDA GPU on this machine; run this where one is", file=sys.stderr)
        return 2
    return int(pytest.main(["-m", "gpu", "-rs", str(REPO / "tests"), *args]))


if __name__ == "__main__":
    raise SystemExit(main())
