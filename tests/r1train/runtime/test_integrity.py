"""Is a checkpoint whole: the structural checks of r1train.runtime.integrity on files made by hand."""

from __future__ import annotations

import struct
from pathlib import Path

import torch
from safetensors.torch import save_file

from r1train.runtime import integrity


def test_safetensors_sizes_are_checked_against_the_header(tmp_path: Path) -> None:
    f = tmp_path / "w.safetensors"
    save_file({"a": torch.zeros(3, 4), "b": torch.ones(5, dtype=torch.bfloat16)}, str(f))
    # data: a is 3*4 float32 = 48 bytes, b is 5 bf16 = 10 bytes; the file is 8 + header + 58 bytes
    (n,) = struct.unpack("<Q", f.read_bytes()[:8])
    assert f.stat().st_size == 8 + n + 58
    assert integrity.safetensors_problem(f) is None
    whole = f.read_bytes()
    f.write_bytes(whole[:-1])
    assert integrity.safetensors_problem(f) == f"w.safetensors is truncated ({8 + n + 57} of {8 + n + 58} bytes)"
    f.write_bytes(whole[:20])
    assert "header alone needs" in (integrity.safetensors_problem(f) or "")
    f.write_bytes(b"not a safetensors file at all")
    assert integrity.safetensors_problem(f) is not None


def test_torch_files_and_state_json_are_checked(tmp_path: Path) -> None:
    opt = tmp_path / "optimizer.pt"
    assert integrity.torch_file_problem(opt) == "optimizer.pt is missing"
    torch.save({"x": torch.arange(1000)}, opt)
    assert integrity.torch_file_problem(opt) is None
    opt.write_bytes(opt.read_bytes()[: opt.stat().st_size // 2])  # the zip directory sits at the end
    assert integrity.torch_file_problem(opt) == "optimizer.pt is truncated or corrupt"
    state = tmp_path / "state.json"
    for text, ok in (('{"step": 3, "batches_consumed": 3}', True), ("{\x00garbage", False), ('{"step": "3"}', False)):
        state.write_text(text)
        assert (integrity.state_problem(state) is None) is ok, text
