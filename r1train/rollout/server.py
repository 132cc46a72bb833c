"""The ``vllm-server`` rollout engine: generation on a vLLM server running on other GPUs.

Start the server with ``r1train serve MODEL --devices 4,5,6,7 [vllm options]`` (see
:mod:`r1train.rollout.serve`) and point the recipe at it (``rollout.engine: vllm-server``,
``rollout.server_url``). Then, per step:

- ``generate``: one ``POST /v1/completions`` carrying every prompt as token ids, ``n`` samples each,
  ``logprobs: 0`` (the sampled token's logprob; the server runs with ``--logprobs-mode
  processed_logprobs``, so it is the logprob under the distribution actually sampled from) and
  ``return_token_ids``. Choices come back numbered ``prompt * n + sample``.
- ``load_weights``: vLLM's own weight transfer over NCCL (``--weight-transfer-config
  '{"backend": "nccl"}'``). On the first sync the trainer opens a one-sender NCCL group with the server's
  workers (``/init_weight_transfer_engine``); each sync then drives ``/start_weight_update``,
  ``/update_weights`` (metadata only) and ``/finish_weight_update`` over HTTP while the tensors
  themselves travel GPU to GPU in packed NCCL broadcasts, one bounded buffer at a time. No weight
  crosses HTTP.

Every HTTP call has a finite timeout (``rollout.server_timeout_s``); an unreachable or silent server is a
one-sentence :class:`~r1train.errors.UserError` that says what to start or change.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlparse

import requests

from r1train.errors import UserError
from r1train.rollout.base import Rollout, Sampling

CONNECT_TIMEOUT_S = 10.0


class ServerEngine:
    """Client of a vLLM server started by ``r1train serve``."""

    def __init__(self, url: str, *, tokenizer: Any = None, model: Any = None, timeout_s: float = 600.0, nccl_port: int = 51216) -> None:
        self.url = url.rstrip("/")
        self.tokenizer = tokenizer
        self.model = model
        self.timeout_s = float(timeout_s)
        self.nccl_port = nccl_port
        self.session = requests.Session()
        self.health()
        self.model_name = self._get("/v1/models")["data"][0]["id"]
        self._transfer: Any = None  # the trainer side of vLLM's NCCL weight transfer, opened on first sync
        self._source: Any = None  # the WeightSource the transfer reads; fed by load_weights

    # -- the RolloutEngine protocol ------------------------------------------------------------------

    def generate(self, prompt_ids: list[list[int]], sampling: Sampling) -> list[Rollout]:
        """``sampling.n`` rollouts per prompt, grouped by prompt, with the server's sampler logprobs."""
        body = completion_request(self.model_name, prompt_ids, sampling)
        choices = sorted(self._post("/v1/completions", body)["choices"], key=lambda c: c["index"])
        if len(choices) != len(prompt_ids) * sampling.n:
            raise RuntimeError(f"vllm server returned {len(choices)} completions for {len(prompt_ids)} x {sampling.n}")
        return [_rollout(c, prompt_ids, sampling) for c in choices]

    def load_weights(self, named_tensors: Iterable[tuple[str, Any]]) -> None:
        """Broadcast the weights to the server's workers over NCCL (vLLM's weight-transfer API)."""
        if self._transfer is None:
            self._open_transfer()
        assert self._source is not None
        self._source.current = iter(named_tensors)
        self._transfer.send_weights()
        self._source.current = None

    def health(self) -> None:
        """Raise a :class:`UserError` unless ``GET /health`` answers 200 within the connect timeout."""
        try:
            response = self.session.get(f"{self.url}/health", timeout=(CONNECT_TIMEOUT_S, CONNECT_TIMEOUT_S))
        except requests.RequestException as exc:
            raise UserError(_unreachable(self.url, exc)) from None
        if response.status_code != 200:
            raise UserError(f"vllm server at {self.url} is not healthy (HTTP {response.status_code}); check its log")

    def close(self) -> None:
        if self._transfer is not None:
            self._transfer.shutdown()
            self._transfer = None
        self.session.close()

    # -- HTTP ---------------------------------------------------------------------------------------

    def _get(self, path: str) -> Any:
        return self._call("GET", path, None)

    def _post(self, path: str, body: dict[str, Any] | None) -> Any:
        return self._call("POST", path, body)

    def _call(self, method: str, path: str, body: dict[str, Any] | None) -> Any:
        try:
            response = self.session.request(method, f"{self.url}{path}", json=body, timeout=(CONNECT_TIMEOUT_S, self.timeout_s))
        except requests.Timeout:
            raise UserError(
                f"vllm server at {self.url} did not answer {path} within {self.timeout_s:g} s; raise "
                "rollout.server_timeout_s or check the server"
            ) from None
        except requests.RequestException as exc:
            raise UserError(_unreachable(self.url, exc)) from None
        if response.status_code >= 400:
            raise RuntimeError(f"vllm server {method} {path} failed with HTTP {response.status_code}: {response.text[:300]}")
        return response.json() if response.content else None

    # -- weight transfer ----------------------------------------------------------------------------

    def _open_transfer(self) -> None:
        import torch

        if not torch.cuda.is_available():
            raise UserError("rollout.engine=vllm-server pushes weights over NCCL and needs a CUDA trainer; use vllm or hf here")
        from vllm.distributed.weight_transfer import HTTPVLLMWeightSyncClient
        from vllm.distributed.weight_transfer.nccl_engine import NCCLTrainerInitInfo, NCCLTrainerWeightTransferEngine

        from r1train.rollout.sync import policy_weights

        rank = torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
        self._source = _policy_stream([(n, t.dtype, tuple(t.shape)) for n, t in policy_weights(self.model)])
        info = NCCLTrainerInitInfo(
            master_address=self.trainer_address(),
            master_port=self.nccl_port,
            world_size=1 + self.server_world_size(),
            rank=rank,
        )
        client = HTTPVLLMWeightSyncClient(self.url, timeout=self.timeout_s)
        self._transfer = NCCLTrainerWeightTransferEngine.trainer_init(info, client=client, source=self._source)

    def server_world_size(self) -> int:
        """How many GPU workers the server runs (tensor x pipeline x data parallel), from ``/server_info``."""
        info = self._get("/server_info?config_format=json")
        parallel = info["vllm_config"]["parallel_config"]
        return int(parallel["tensor_parallel_size"]) * int(parallel["pipeline_parallel_size"]) * int(parallel.get("data_parallel_size", 1))

    def trainer_address(self) -> str:
        """This machine's address on the route to the server (where the server's workers join NCCL)."""
        host = urlparse(self.url).hostname or "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:  # UDP connect: picks the route, sends nothing
            s.connect((host, 9))
            return s.getsockname()[0]


def completion_request(model: str, prompt_ids: list[list[int]], sampling: Sampling) -> dict[str, Any]:
    """The ``/v1/completions`` body for a :class:`Sampling` (vLLM's extra sampling fields included)."""
    body: dict[str, Any] = {
        "model": model,
        "prompt": prompt_ids,
        "n": sampling.n,
        "max_tokens": sampling.max_new_tokens,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k if sampling.top_k > 0 else -1,
        "min_p": sampling.min_p,
        "stop": list(sampling.stop),
        "include_stop_str_in_output": True,
        "skip_special_tokens": True,
        "return_token_ids": True,
    }
    if sampling.logprobs:
        body["logprobs"] = 0
    if sampling.seed is not None:
        body["seed"] = sampling.seed
    return body


def _rollout(choice: dict[str, Any], prompt_ids: list[list[int]], sampling: Sampling) -> Rollout:
    prompt_index = choice["index"] // sampling.n
    tokens = list(choice.get("token_ids") or [])
    logps = None
    if sampling.logprobs and choice.get("logprobs"):
        logps = [float(x) for x in choice["logprobs"]["token_logprobs"]]
    reason = "length" if choice.get("finish_reason") == "length" else "stop"
    return Rollout(list(prompt_ids[prompt_index]), tokens, logps, reason, choice.get("text", ""), prompt_index)


def _unreachable(url: str, exc: Exception) -> str:
    kind = type(exc).__name__
    return (
        f"vllm server at {url} is unreachable ({kind}); start it with `r1train serve MODEL --port "
        f"{urlparse(url).port or 8000}` on the generation GPUs, or set rollout.server_url to where it runs"
    )


def _policy_stream(meta: list[tuple[str, Any, tuple[int, ...]]]) -> Any:
    """A vLLM ``WeightSource`` whose tensors are set per sync (``.current``); names and shapes are fixed."""
    from vllm.distributed.weight_transfer import ParamMeta, WeightSource

    class PolicyStream(WeightSource):
        def __init__(self) -> None:
            self.meta = [ParamMeta(n, d, s) for n, d, s in meta]
            self.current: Iterator[tuple[str, Any]] | None = None

        def metadata(self) -> list[Any]:
            return self.meta

        def __iter__(self) -> Iterator[tuple[str, Any]]:
            if self.current is None:
                raise RuntimeError("no weights to send: ServerEngine.load_weights sets them for each sync")
            return self.current

    return PolicyStream()
