"""The ``vllm-server`` client's HTTP path against a stand-in server (CPU, no vLLM process needed).

The stand-in answers the routes a ``r1train serve`` server has (``/health``, ``/v1/models``,
``/v1/completions``, ``/server_info``) with the response shapes of a real ``r1train serve`` server (checked
by hand against the CPU build). The NCCL weight push needs two CUDA devices and has no test here.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from r1train.errors import UserError
from r1train.rollout import Sampling
from r1train.rollout.serve import build_command
from r1train.rollout.server import ServerEngine, completion_request


class FakeVLLM(BaseHTTPRequestHandler):
    requests: list[dict] = []
    delay_s = 0.0

    def log_message(self, *args):  # keep test output clean
        pass

    def _send(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self._send(200, {})
        elif self.path == "/v1/models":
            self._send(200, {"data": [{"id": "/cache/tiny-3m-seed0"}]})
        elif self.path.startswith("/server_info"):
            parallel = {"tensor_parallel_size": 2, "pipeline_parallel_size": 1, "data_parallel_size": 2}
            self._send(200, {"vllm_config": {"parallel_config": parallel}})
        else:
            self._send(404, {"error": "no route"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        FakeVLLM.requests.append(body)
        time.sleep(FakeVLLM.delay_s)
        n, prompts = body["n"], body["prompt"]
        choices = []
        for p, ids in enumerate(prompts):
            for s in range(n):
                tokens = [10 + p, 20 + s, 98] if s == 0 else [10 + p, 20 + s, 30, 40]
                choices.append({
                    "index": p * n + s,
                    "text": "".join(chr(65 + t % 26) for t in tokens),
                    "token_ids": tokens,
                    "logprobs": {"token_logprobs": [-0.5] * len(tokens), "tokens": [], "top_logprobs": []},
                    "finish_reason": "stop" if s == 0 else "length",
                })
        choices.reverse()  # a server may answer out of order; the client sorts by index
        self._send(200, {"choices": choices})


@pytest.fixture
def server():
    FakeVLLM.requests = []
    FakeVLLM.delay_s = 0.0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeVLLM)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_generate_sends_token_ids_and_groups_samples_by_prompt(server):
    engine = ServerEngine(server, timeout_s=5)
    sampling = Sampling(n=2, max_new_tokens=4, temperature=0.8, top_k=5, stop=("</answer>",), seed=7)
    rollouts = engine.generate([[1, 2, 3], [4, 5]], sampling)

    (sent,) = FakeVLLM.requests
    assert sent["model"] == "/cache/tiny-3m-seed0" and sent["prompt"] == [[1, 2, 3], [4, 5]]
    assert (sent["n"], sent["max_tokens"], sent["temperature"], sent["top_k"], sent["seed"]) == (2, 4, 0.8, 5, 7)
    assert sent["logprobs"] == 0 and sent["return_token_ids"] and sent["include_stop_str_in_output"]
    assert sent["stop"] == ["</answer>"]
    # choices 0,1 answer prompt 0 and 2,3 prompt 1 (index = prompt * n + sample)
    assert [r.prompt_index for r in rollouts] == [0, 0, 1, 1]
    assert [r.prompt_ids for r in rollouts] == [[1, 2, 3], [1, 2, 3], [4, 5], [4, 5]]
    assert rollouts[0].completion_ids == [10, 20, 98] and rollouts[3].completion_ids == [11, 21, 30, 40]
    assert [r.finish_reason for r in rollouts] == ["stop", "length", "stop", "length"]
    assert all(len(r.logprobs) == len(r.completion_ids) for r in rollouts)


def test_top_k_off_is_minus_one_for_vllm():
    body = completion_request("m", [[1]], Sampling(n=1, top_k=0, logprobs=False))
    assert body["top_k"] == -1 and "logprobs" not in body and "seed" not in body


def test_server_world_size_counts_every_worker(server):
    assert ServerEngine(server, timeout_s=5).server_world_size() == 2 * 1 * 2


def test_unreachable_server_is_one_clear_error():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError, match=r"unreachable.*r1train serve MODEL --port"):
        ServerEngine(f"http://127.0.0.1:{port}", timeout_s=5)


def test_silent_server_times_out(server):
    engine = ServerEngine(server, timeout_s=0.3)
    FakeVLLM.delay_s = 2.0
    with pytest.raises(UserError, match="did not answer /v1/completions within 0.3 s"):
        engine.generate([[1]], Sampling(n=1))


def test_serve_command_sets_up_weight_transfer_and_keeps_user_options():
    command, env, hint = build_command(
        ["tiny:1m", "--devices", "2,3", "--port", "9001", "--tensor-parallel-size", "2", "--logprobs-mode", "raw_logprobs"]
    )
    assert env["CUDA_VISIBLE_DEVICES"] == "2,3" and env["VLLM_SERVER_DEV_MODE"] == "1"
    assert command[command.index("--model") + 1].endswith("tiny-1m-seed0")
    assert command[command.index("--weight-transfer-config") + 1] == '{"backend": "nccl"}'
    assert command.count("--logprobs-mode") == 1 and "raw_logprobs" in command  # the user's choice wins
    assert command[command.index("--tensor-parallel-size") + 1] == "2"  # passed through to vLLM
    assert hint == "rollout.engine=vllm-server rollout.server_url=http://127.0.0.1:9001"



def test_serve_resolves_a_hub_id_from_the_offline_cache(hub_cache):
    command, env, _ = build_command(["Qwen/Qwen2.5-Math-1.5B", "--port", "9002"])
    assert command[command.index("--model") + 1] == "Qwen/Qwen2.5-Math-1.5B"  # vLLM reads the hub cache itself
    assert env["HF_HUB_CACHE"] == str(hub_cache / "hub") and env["HF_HUB_OFFLINE"] == "1"  # and sees the same one


def test_serve_of_an_uncached_hub_id_offline_is_one_sentence(capsys):
    from r1train.cli import main

    assert main(["serve", "Qwen/Qwen2.5-Math-72B"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'Qwen/Qwen2.5-Math-72B' is a Hugging Face hub id" in err and "HF_HUB_OFFLINE" in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_the_cpu_vllm_server_from_the_hub_cache_and_answers(hub_cache, tmp_path):
    """The real thing: ``r1train serve <hub id>``'s command runs vLLM's CPU server, which loads the tiny
    weights under the real id from the offline cache and answers one completion with token ids."""
    import subprocess
    import urllib.request

    port = _free_port()
    command, env, _ = build_command(["Qwen/Qwen2.5-Math-1.5B", "--host", "127.0.0.1", "--port", str(port),
                                     "--enforce-eager", "--max-model-len", "256", "--dtype", "float32"])
    env.update(VLLM_CPU_KVCACHE_SPACE="1", VLLM_ENABLE_V1_MULTIPROCESSING="0")
    log = tmp_path / "server.log"
    with log.open("w") as sink:
        process = subprocess.Popen(command, env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "no /health within 240 s:\n" + log.read_text()[-3000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(1)
        engine = ServerEngine(f"http://127.0.0.1:{port}")
        [rollout] = engine.generate([[17, 18, 19]], Sampling(n=1, max_new_tokens=3, temperature=0.0))
        assert 0 < len(rollout.completion_ids) <= 3 and rollout.logprobs is not None
        assert len(rollout.logprobs) == len(rollout.completion_ids)
        engine.close()
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
