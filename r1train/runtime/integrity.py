"""Is this checkpoint (or model directory) whole? Cheap structural checks, without loading any tensor.

A crash, a full disk or a careless copy can leave a checkpoint that is marked complete but cannot be
loaded: truncated weights, a missing ``optimizer.pt``, a ``state.json`` that is not JSON. Resuming then
falls back to the newest checkpoint that passes :func:`checkpoint_problem`, and a model directory given
to ``eval``/``serve``/``model.name_or_path`` is checked with :func:`model_problem` first, so the user reads
one sentence instead of a traceback from deep inside safetensors, torch or vLLM.

Each ``*_problem`` function returns ``None`` when the files look whole, else a short phrase saying what is
wrong (``"model/model.safetensors is truncated (4194304 of 4195120 bytes)"``). What is checked:

- safetensors: the 8-byte header length and the JSON header read; every tensor's byte range matches its
  dtype and shape and lies inside the file; the file is exactly as long as the header says;
  sharded weights: every shard named by ``model.safetensors.index.json`` exists;
- ``optimizer.pt``, ``scheduler.pt``, ``rng.pt`` (torch's zip format): present and their zip directory
  reads (a truncated zip has lost its directory, which sits at the end);
- ``state.json``: valid JSON with ``step`` and ``batches_consumed`` as integers.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path

# bytes per element of each safetensors dtype
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}  # fmt: skip
MARKER = "COMPLETE"


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with one ``.safetensors`` file, or ``None`` when its header and sizes agree."""
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                return f"{path.name} is truncated ({size} bytes, no header)"
            (n,) = struct.unpack("<Q", head)
            if n > size - 8:
                return f"{path.name} is truncated (its header alone needs {n + 8} bytes, the file has {size})"
            header = json.loads(f.read(n))
    except OSError as exc:
        return f"{path.name} cannot be read ({exc.strerror or type(exc).__name__})"
    except (ValueError, UnicodeDecodeError):
        return f"{path.name} has an unreadable header (not a safetensors file?)"
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        try:
            start, stop = info["data_offsets"]
            count = 1
            for d in info["shape"]:
                count *= int(d)
            width = _DTYPE_BYTES.get(info["dtype"])
        except (KeyError, TypeError, ValueError):
            return f"{path.name} has a malformed entry for {name!r}"
        if width is not None and stop - start != count * width:
            return f"{path.name}: tensor {name!r} has {stop - start} bytes, its shape needs {count * width}"
        end = max(end, stop)
    if size != 8 + n + end:
        return f"{path.name} is truncated ({size} of {8 + n + end} bytes)" if size < 8 + n + end else (
            f"{path.name} is longer than its header says ({size} bytes, expected {8 + n + end})"
        )
    return None


def weights_problem(model_dir: Path) -> str | None:
    """What is wrong with the weights of a Hugging Face model (or adapter) directory, or ``None``."""
    index = model_dir / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return f"{index.name} is not a valid weight index"
        for shard in shards:
            if not (model_dir / shard).is_file():
                return f"weight shard {shard} named by {index.name} is missing"
    files = sorted(model_dir.glob("*.safetensors"))
    for f in files:
        problem = safetensors_problem(f)
        if problem is not None:
            return problem
    if not files and not any(model_dir.glob("*.bin")) and not any(model_dir.glob("*.pt")):
        return "no weight files (*.safetensors)"
    return None


def model_problem(model_dir: Path, need_tokenizer: bool = True) -> str | None:
    """What keeps ``model_dir`` from loading as a model for evaluation or serving, or ``None``."""
    if not (model_dir / "config.json").is_file() and not (model_dir / "adapter_config.json").is_file():
        return "no config.json"  # (a PEFT adapter directory names its base model in adapter_config.json)
    problem = weights_problem(model_dir)
    if problem is None and need_tokenizer and not any(
        (model_dir / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json")
    ):
        problem = "no tokenizer (checkpoints written before r1train saved one with each checkpoint)"
    return problem


def torch_file_problem(path: Path) -> str | None:
    """``None`` when a ``torch.save`` file is present and its zip directory reads."""
    if not path.is_file():
        return f"{path.name} is missing"
    try:
        with zipfile.ZipFile(path) as z:
            z.infolist()
    except (OSError, zipfile.BadZipFile, ValueError):
        return f"{path.name} is truncated or corrupt"
    return None


def state_problem(path: Path) -> str | None:
    """``None`` when ``state.json`` is JSON with an integer ``step`` and ``batches_consumed``."""
    try:
        state = json.loads(path.read_text())
    except FileNotFoundError:
        return "state.json is missing"
    except (OSError, ValueError):
        return "state.json is not valid JSON"
    if not isinstance(state, dict) or not all(isinstance(state.get(k), int) for k in ("step", "batches_consumed")):
        return "state.json lacks an integer step or batches_consumed"
    return None


def checkpoint_problem(path: Path) -> str | None:
    """What keeps checkpoint ``path`` from resuming, or ``None`` when all it needs looks whole."""
    if not (path / MARKER).is_file():
        return "no COMPLETE marker: unfinished, or not a checkpoint"
    problem = state_problem(path / "state.json")
    if problem is None:
        model = path / "model"
        problem = weights_problem(model) if model.is_dir() else "model/ is missing"
        problem = problem if problem is None or not model.is_dir() else f"in model/, {problem}"
    names = ["scheduler.pt", "rng.pt"] + ([] if (path / "deepspeed").is_dir() else ["optimizer.pt"])
    for name in names:
        problem = problem or torch_file_problem(path / name)
    return problem
