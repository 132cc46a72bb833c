"""``r1train serve``: safe defaults, and a real vLLM server (CPU build) on tiny:1m that SIGTERM stops
without leaving any of its processes behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from r1train.rollout.serve import build_command, host_warning, served_name
from tests.helpers import start_cli


def test_defaults_listen_locally_with_a_short_name_and_a_cpu_cache_that_fits(monkeypatch) -> None:
    monkeypatch.delenv("VLLM_CPU_KVCACHE_SPACE", raising=False)
    command, env, hint = build_command(["tiny:1m"])
    assert command[command.index("--host") + 1] == "127.0.0.1"
    assert command[command.index("--served-model-name") + 1] == "tiny-1m"
    assert env["VLLM_CPU_KVCACHE_SPACE"] == "1"  # this machine has no CUDA
    command, env, _ = build_command(["tiny:1m", "--served-model-name", "mine", "--kv-cache-memory-bytes", "2e9"])
    assert command.count("--served-model-name") == 1 and "mine" in command and "VLLM_CPU_KVCACHE_SPACE" not in env
    assert [served_name(m) for m in ("tiny:3m", "Qwen/Qwen2.5-0.5B", "runs/gsm8k/model", "/data/ckpt/")] == [
        "tiny-3m", "Qwen2.5-0.5B", "gsm8k", "ckpt"]
    assert host_warning("127.0.0.1") is None and host_warning("localhost") is None
    assert "weight-update routes" in host_warning("0.0.0.0")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _descendants(root: int) -> set[int]:
    """Every live process whose chain of parents reaches ``root`` (read from /proc)."""
    parent = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z":
                parent[int(entry.name)] = int(fields[1])
    found = {root}
    grew = True
    while grew:
        new = {pid for pid, ppid in parent.items() if ppid in found} - found
        found |= new
        grew = bool(new)
    return found - {root}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_sigterm_stops_the_vllm_server_and_every_process_it_started(tmp_path: Path) -> None:
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    serve = start_cli("serve", "tiny:1m", "--port", str(port), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 600  # vLLM's CPU start-up: ~1 min idle, several on a busy machine
        models = None
        while time.monotonic() < deadline and serve.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=5) as response:
                    models = json.load(response)
                break
            except OSError:
                time.sleep(2)
        assert models is not None, (tmp_path / "serve.log").read_text()[-3000:]
        assert [m["id"] for m in models["data"]] == ["tiny-1m"]
        children = _descendants(serve.pid)
        assert children  # the vLLM server (and its engine process)
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=90) == 128 + signal.SIGTERM
        time.sleep(1)
        assert [pid for pid in children if _alive(pid)] == []
        assert "SIGTERM received; the vLLM server has stopped" in (tmp_path / "serve.log").read_text()
    finally:
        if serve.poll() is None:
            os.killpg(serve.pid, signal.SIGKILL)  # only the group this test started
        for pid in _descendants(serve.pid):
            os.kill(pid, signal.SIGKILL)
