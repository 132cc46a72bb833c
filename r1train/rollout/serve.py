"""``r1train serve MODEL [--devices 4,5,6,7] [--port 8000] [vllm serve options]``: a vLLM server for training.

Starts ``vllm serve`` on the chosen GPUs, set up the way the ``vllm-server`` rollout engine expects:

- ``VLLM_SERVER_DEV_MODE=1``, which mounts vLLM's RL routes (``/init_weight_transfer_engine``,
  ``/start_weight_update``, ``/update_weights``, ``/finish_weight_update``) and ``/server_info``;
- ``--weight-transfer-config '{"backend": "nccl"}'``: new weights arrive over NCCL from the trainer;
- ``--logprobs-mode processed_logprobs``: returned logprobs are those of the distribution sampled from;
- ``MODEL`` may be anything a recipe's ``model.name_or_path`` may be (``tiny:3m``, a run directory…).

Any option given explicitly wins over these defaults; everything else goes to ``vllm serve`` unchanged
(e.g. ``--tensor-parallel-size 4``, ``--gpu-memory-utilization 0.9``). Then train with
``rollout.engine=vllm-server rollout.server_url=http://HOST:PORT``.

Safe defaults for a shared machine:

- it listens on ``127.0.0.1``: the weight-update routes let anyone who reaches the port replace the
  model's weights, so ``--host 0.0.0.0`` (for a trainer on another node) warns that they are then open;
- the model is served as a short name (``tiny-1m``, ``Qwen2.5-0.5B``, the directory's name), not a cache
  path (``--served-model-name`` to choose);
- without CUDA, vLLM's CPU KV cache is 1 GiB (``VLLM_CPU_KVCACHE_SPACE``; vLLM's own default asks for most
  of the machine's memory and fails to start where others are using it);
- vLLM runs in its own process group: SIGTERM or SIGINT (Ctrl-C) to ``r1train serve`` is forwarded to it,
  waited for (30 s), and whatever of its process tree is still alive then is killed, so nothing is left
  running when ``r1train serve`` exits (under Slurm, ``scancel`` sends SIGTERM).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from r1train.errors import UserError

DEFAULTS: dict[str, str] = {
    "--weight-transfer-config": '{"backend": "nccl"}',
    "--logprobs-mode": "processed_logprobs",
}


def build_command(argv: list[str]) -> tuple[list[str], dict[str, str], str]:
    """``(command, environment, trainer_hint)`` for ``r1train serve argv`` (nothing is started)."""
    parser = argparse.ArgumentParser(prog="r1train serve", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="hub id, local directory, run directory or tiny:<size>")
    parser.add_argument("--devices", help="GPUs to use, e.g. 4,5,6,7 (sets CUDA_VISIBLE_DEVICES)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--revision", default=None)
    args, passthrough = parser.parse_known_args(argv)

    from r1train.config import ModelConfig
    from r1train.models.load import resolve_source

    source = resolve_source(ModelConfig(name_or_path=args.model, revision=args.revision))
    # vLLM's API-server entry point is what `vllm serve` runs; called directly it also works for the CPU
    # build, whose `vllm` command stops at a package-metadata lookup (it is installed as vllm-cpu)
    entry = "vllm.entrypoints.launchers.api_server.entry"
    command = [sys.executable, "-m", entry, "--model", source.path, "--host", args.host, "--port", str(args.port)]
    if source.revision:
        command += ["--revision", source.revision]
    given = {a.split("=", 1)[0] for a in passthrough if a.startswith("--")}
    for flag, value in {**DEFAULTS, "--served-model-name": served_name(args.model)}.items():
        if flag not in given:
            command += [flag, value]
    command += passthrough
    env = dict(os.environ, VLLM_SERVER_DEV_MODE="1")
    if args.devices:
        env["CUDA_VISIBLE_DEVICES"] = args.devices
    if not _cuda() and "--kv-cache-memory-bytes" not in given:
        env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; vLLM's CPU default takes most of the machine
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    hint = f"rollout.engine=vllm-server rollout.server_url=http://{host}:{args.port}"
    return command, env, hint


def served_name(model: str) -> str:
    """The short name clients see in ``/v1/models``: ``tiny:1m`` -> ``tiny-1m``, ``Qwen/Qwen2.5-0.5B`` ->
    ``Qwen2.5-0.5B``, ``runs/x/model`` -> ``x``, ``/data/ckpt`` -> ``ckpt``."""
    if model.startswith("tiny:"):
        return model.replace(":", "-")
    path = Path(model.rstrip("/"))
    return (path.parent.name if path.name == "model" and path.parent.name else path.name) or model


def host_warning(host: str) -> str | None:
    """The warning for an address other machines can reach (``None`` for this machine only)."""
    if host in ("localhost", "::1") or host.startswith("127."):
        return None
    return (f"listening on {host}: vLLM's weight-update routes (/update_weights …) are open to anyone who can "
            "reach this port; use it only on a private network")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def main(argv: list[str]) -> int:
    """Run the server in the foreground until it exits or a signal stops it; returns its exit status."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise UserError("r1train serve needs vLLM; install it (pip install vllm) on the generation machine") from None
    command, env, hint = build_command(argv)
    warning = host_warning(command[command.index("--host") + 1])
    if warning:
        print(f"r1train serve: WARNING: {warning}", file=sys.stderr, flush=True)
    print(f"r1train serve: starting vLLM; train against it with: {hint}", file=sys.stderr, flush=True)
    process = subprocess.Popen(command, env=env, start_new_session=True)  # its own process group
    received: list[int] = []

    def forward(signum: int, frame: Any) -> None:
        received.append(signum)
        _signal(process.pid, signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                code = process.wait(timeout=30 if received else None)
                break
            except subprocess.TimeoutExpired:  # asked to stop 30 s ago and still running
                _signal(-process.pid, signal.SIGKILL)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        _signal(-process.pid, signal.SIGKILL)  # whatever of vLLM's process tree outlived its server
    if received:
        name = signal.Signals(received[0]).name
        print(f"r1train serve: {name} received; the vLLM server has stopped", file=sys.stderr, flush=True)
        return 128 + received[0]
    return code


def _signal(pid: int, signum: int) -> None:
    """``os.kill`` (a negative pid is a process group) that ignores a process already gone."""
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
