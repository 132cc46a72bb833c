"""Helpers shared by the tests (one module, so that no test imports another test).

* Paths: ``REPO`` (the checkout), ``REWARDS_FILE`` (reward functions referenced as ``file.py:function``).
* The CLI in a subprocess: ``cli`` (run it), ``start_cli`` (start it), ``kill_when`` (SIGKILL it at a
  checkpoint, for the resume tests), all from the checkout with ``cli_env``.
* Multi-process runs (DDP, FSDP2, DeepSpeed): ``write_recipe``, ``run``, ``accelerate_train``, ``rows``.
* Evaluation: ``ScriptedEngine`` (fixed completions per prompt), ``CharTokenizer``, ``write_jsonl``.
* W&B: ``wandb_log`` reads an offline run file back with W&B's own reader (``wandb leet inspect --json``).
* The policy update: a float64 ``ToyPolicy`` with the ``PolicyLogprobs`` interface, ``OneProcess``
  (accelerate's surface for one CPU process), ``make_rollouts``, ``update_config``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from r1train.recipe import build_config
from r1train.rollout.base import Rollout
from r1train.train.update import record_logprobs

REPO = Path(__file__).resolve().parents[1]
REWARDS_FILE = Path(__file__).with_name("reward_fixtures.py")

# --- the CLI in a subprocess ----------------------------------------------------------------------

R1TRAIN = [sys.executable, "-m", "r1train"]


def cli_env(**extra: str) -> dict[str, str]:
    """This process's environment (with conftest's offline hub cache: ``HF_HUB_OFFLINE=1``, ``HF_HOME``…),
    the checkout importable, and ``extra``."""
    return {**os.environ, "PYTHONPATH": str(REPO), **extra}


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``r1train ARGS`` run to the end from the checkout; its exit status and output, as text."""
    return subprocess.run([*R1TRAIN, *args], cwd=REPO, env=cli_env(), capture_output=True, text=True, timeout=timeout)


def start_cli(*args: str, **popen: Any) -> subprocess.Popen:
    """``r1train ARGS`` started from the checkout; its output is discarded unless ``popen`` routes it."""
    streams = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    return subprocess.Popen([*R1TRAIN, *args], cwd=REPO, env=cli_env(), **(streams | popen))


def kill_when(path: Path, *args: str, timeout: float = 300) -> None:
    """Start ``r1train ARGS``, SIGKILL it as soon as ``path`` exists (a checkpoint's marker, a saved chunk),
    it ends by itself, or ``timeout`` seconds pass, and wait until it is gone. The caller asserts what it left."""
    proc = start_cli(*args)
    deadline = time.time() + timeout
    while time.time() < deadline and not path.exists() and proc.poll() is None:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


# --- multi-process training runs ------------------------------------------------------------------

TRAIN = [*R1TRAIN, "train"]


def write_recipe(tmp_path: Path, model: dict[str, Any] | None = None, **train: Any) -> Path:
    """tiny:1m on the copy task with the vLLM engine (``rollout.seeding: prompt`` makes rollouts independent
    of the process split) and a digit-fraction reward that gives every group signal; ``train`` keys override."""
    data = {
        "model": {"name_or_path": "tiny:1m", **(model or {})},
        "data": {"source": "synthetic:copy", "template": "pocket", "task": {"train_size": 64, "eval_size": 4}},
        "rollout": {"engine": "vllm", "prompts_per_step": 4, "num_generations": 4, "max_new_tokens": 8,
                    "seeding": "prompt"},
        "rewards": [{"name": f"{REWARDS_FILE}:digits"}],
        "optim": {"lr": 1.0e-2},
        "train": {"steps": 2, "seed": 5, "micro_batch_size": 3, "save_every": 1, "keep_last": 0, **train},
        "logging": {"progress": False},
    }
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def run(cmd: list[str], cache: Path, timeout: int = 900) -> None:
    env = cli_env(R1TRAIN_CACHE=str(cache))
    out = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr[-4000:]


def accelerate_train(port: int, processes: int = 2, config: str | None = None) -> list[str]:
    """``accelerate launch … -m r1train train`` (plain multi-process data parallelism without a config)."""
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(processes)]
    launch += ["--config_file", str(REPO / "recipes" / "accelerate" / config)] if config else ["--multi_gpu", "--num_machines", "1", "--dynamo_backend", "no"]
    return [*launch, "--mixed_precision", "no", "--main_process_port", str(port), "-m", "r1train", "train"]


def rows(out: Path) -> list[dict]:
    return [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]


# --- evaluation -----------------------------------------------------------------------------------

class ScriptedEngine:
    """A rollout engine that answers each prompt with fixed texts: ``script[prompt_text] = [texts…]``.

    It honours the engine protocol (grouped by prompt, ``n`` per prompt) so the runner cannot tell it from
    a model; lengths are the texts' character counts and a text ending in "…" counts as truncated."""

    def __init__(self, tokenizer: Any, script: dict[str, list[str]]) -> None:
        self.tokenizer = tokenizer
        self.script = script
        self.calls: list[tuple[int, Any]] = []

    def generate(self, prompt_ids: list[list[int]], sampling: Any) -> list[Any]:
        from r1train.rollout import Rollout

        self.calls.append((len(prompt_ids), sampling))
        out = []
        for i, ids in enumerate(prompt_ids):
            prompt = self.tokenizer.decode(ids)
            texts = self.script.get(prompt, ["?"])
            for j in range(sampling.n):
                text = texts[j % len(texts)]
                reason = "length" if text.endswith("…") else "stop"
                out.append(Rollout(list(ids), list(range(len(text))), None, reason, text, i))
        return out

    def load_weights(self, named_tensors: Any) -> None:
        pass

    def close(self) -> None:
        pass


class CharTokenizer:
    """A stand-in tokenizer: one id per character (enough for templating, lengths and decoding)."""

    chat_template = None

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": [ord(c) for c in text]}

    def decode(self, ids: list[int], skip_special_tokens: bool = True) -> str:
        return "".join(chr(i) for i in ids)


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


# --- W&B ------------------------------------------------------------------------------------------

def wandb_log(path: Path) -> dict[str, Any]:
    """``{"run_id", "config", "history"}`` of an offline ``run-<id>.wandb`` file, read by W&B itself.

    ``wandb leet inspect --json FILE`` is wandb-core's reader of the transaction log: one JSON object
    per record (``{"num", "type", <type>: …}``). ``config`` is the run record's config (plain values);
    ``history`` is each history record's ``item``, nested keys joined with ``.`` (``completions._type``).
    """
    cmd = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(path)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env={**os.environ, "WANDB_MODE": "offline"})
    assert done.returncode == 0, done.stderr[-2000:]
    records = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    [run] = [r["run"] for r in records if r["type"] == "run"]
    return {
        "run_id": run["run_id"],
        "config": run["config"]["update"],
        "history": [r["history"]["item"] for r in records if r["type"] == "history"],
    }


# --- the policy update ----------------------------------------------------------------------------

VOCAB = 13


class ToyPolicy(nn.Module):
    """``forward(input_ids, attention_mask, completion_mask, temperature) -> (logp, entropy)``, (N, L-1)."""

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(VOCAB, 6).double()
        self.head = nn.Linear(6, VOCAB).double()

    def forward(self, input_ids, attention_mask, completion_mask, temperature: float = 1.0):
        logits = self.head(torch.tanh(self.emb(input_ids[:, :-1]))) / temperature  # (N, L-1, V)
        logp_all = logits.log_softmax(-1)  # (N, L-1, V)
        logp = logp_all.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)  # (N, L-1)
        entropy = -(logp_all.exp() * logp_all).sum(-1)  # (N, L-1)
        m = completion_mask[:, 1:].to(logp.dtype)  # (N, L-1)
        return logp * m, entropy * m


class GradientState:
    """accelerate's gradient state, as far as the update touches it (the micro-batch boundary flag)."""

    sync_gradients = True

    def _set_sync_gradients(self, value: bool) -> None:
        self.sync_gradients = value


class OneProcess:
    device = torch.device("cpu")
    num_processes = 1
    process_index = 0
    gradient_state = GradientState()

    def backward(self, loss: torch.Tensor) -> None:
        loss.backward()

    def clip_grad_norm_(self, params: Any, max_norm: float) -> torch.Tensor:
        return nn.utils.clip_grad_norm_(list(params), max_norm)


def make_rollouts(n: int = 8, seed: int = 0) -> list[Rollout]:
    gen = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        p = int(torch.randint(2, 5, (1,), generator=gen))
        c = int(torch.randint(1, 9, (1,), generator=gen))
        ids = torch.randint(1, VOCAB, (p + c,), generator=gen).tolist()
        logps = (-torch.rand(c, generator=gen, dtype=torch.float64) * 2).tolist()
        reason = "length" if i % 3 == 0 else "stop"
        out.append(Rollout(ids[:p], ids[p:], logps, reason, "", prompt_index=i // 4))
    return out


def update_config(**algorithm: Any):
    return build_config(
        {
            "model": {"name_or_path": "tiny:1m"},
            "data": {"source": "synthetic:copy"},
            "rollout": {"max_new_tokens": 8, "num_generations": 4, "temperature": 0.7},
            "optim": {"max_grad_norm": 1e9},
            "algorithm": algorithm,
        },
        "test",
    )


class ToyReference:
    """A frozen, differently initialised toy model standing in for the reference policy."""

    def __init__(self) -> None:
        self.module = ToyPolicy(seed=7)

    def logprobs(self, batches, temperature):
        return record_logprobs(self.module, batches, temperature)
