"""The ``vllm-process`` rollout engine: the in-process vLLM engine, run in a worker process of its own.

Why: with ``rollout.max_staleness: k > 0`` generation must run *while* the trainer computes. On CPU a
second in-process engine thread crashed (heap corruption), and even where threads work, the engine and
the trainer then share one process's OpenMP pool and cores. Here the engine lives in a child process
(``multiprocessing`` spawn), pinned to its own cores (``os.sched_setaffinity``, ``OMP_NUM_THREADS`` set
before the child imports torch); the trainer keeps the other cores. On CUDA the child sees the trainer's
devices (choosing a device of its own, and a GPU test, are still to do). The child runs :class:`~r1train.rollout.vllm_engine.VLLMEngine` unchanged, so
sampling, logprobs and the weight reload (``collective_rpc("reload_weights")``, tied head re-packed)
are the very code the colocated engine runs.

Protocol (one duplex pipe, requests answered strictly in order, FIFO):

* ``submit(prompt_ids, sampling) -> Future[list[Rollout]]``: returns at once; ``generate`` is
  ``submit(...).result()``. A reader thread resolves the futures as the replies arrive.
* ``load_weights(named_tensors)``: the trainer writes the tensors to one safetensors file in
  ``/dev/shm`` (shared memory: a memcpy, no pickling; measured by ``last_push_s``) and queues a
  ``load`` request naming it; the child streams the file into vLLM and deletes it. It returns once the
  file is written, so the trainer may change its weights right after, and every request queued later
  generates with these weights, every one queued earlier with the ones before: the version a batch
  was sampled with is known when it is submitted. One file per push, so pushes queued behind a long
  generation never overwrite each other.
* Each reply carries the seconds the child sat waiting for work since its previous reply
  (``idle_s``, summed), which the trainer logs as ``time/engine_idle``.

The child dies with its parent (``PR_SET_PDEATHSIG``), so a ``kill -9`` of the trainer leaves no
engine behind (at most the one weights file of a push in flight stays in ``/dev/shm``).

Use: ``rollout.engine: vllm-process`` (``vllm`` with ``max_staleness > 0`` on CPU resolves to it);
``rollout.process_cpus`` names the engine's cores (default: the last half of this process's cores).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import tempfile
import threading
import time
import traceback
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from r1train.rollout.base import Rollout, Sampling


@dataclass(frozen=True)
class WorkerSpec:
    """Everything the child needs to build its engine (pickled once at start-up)."""

    source: Any
    rollout: Any  # RolloutConfig
    dtype: str
    max_model_len: int
    seed: int
    trust_remote_code: bool
    tokenizer: Any
    cpus: tuple[int, ...]  # the child's cores; () = leave affinity alone


def split_cpus(wanted: Iterable[int] = ()) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(trainer cores, engine cores): ``wanted`` for the engine and the rest for the trainer, or by default
    the last half of this process's cores for the engine (one of two) and the first half for the trainer."""
    mine = sorted(os.sched_getaffinity(0))
    engine = tuple(c for c in wanted if c in mine) or tuple(mine[len(mine) // 2 :])
    trainer = tuple(c for c in mine if c not in engine) or tuple(mine)
    return trainer, engine


class ProcessEngine:
    """Rollout engine in a child process. Build it with :func:`r1train.rollout.make_engine`."""

    own_process = True  # the trainer may keep generate calls in flight while it updates the weights

    def __init__(self, spec: WorkerSpec, start_timeout_s: float = 900.0) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # never fork a process holding torch/OpenMP threads
        self._conn, child = ctx.Pipe(duplex=True)
        self._dir = Path(tempfile.mkdtemp(prefix="r1train-weights-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None))
        env = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "TOKENIZERS_PARALLELISM": "false"}
        if spec.cpus and not torch.cuda.is_available():
            env |= {"OMP_NUM_THREADS": str(len(spec.cpus)), "VLLM_CPU_OMP_THREADS_BIND": ",".join(map(str, spec.cpus))}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)  # the child reads its environment at start, before importing torch
        try:
            self._proc = ctx.Process(target=_serve, args=(child, spec), name="r1train-engine", daemon=True)
            self._proc.start()
        finally:
            for k, v in saved.items():
                os.environ.pop(k, None) if v is None else os.environ.__setitem__(k, v)
        child.close()
        if not self._conn.poll(start_timeout_s):
            self._proc.kill()
            raise RuntimeError(f"the vllm-process engine did not start within {start_timeout_s:.0f} s")
        kind, payload, _ = self._conn.recv()
        if kind == "error":
            self._proc.join(5)
            raise RuntimeError(f"the vllm-process engine failed to start:\n{payload}")
        self.info: dict[str, Any] = payload  # the child's pid, cores and threads
        self._pending: deque[Future] = deque()
        self._lock = threading.Lock()
        self.idle_s = 0.0  # seconds the child waited for work, summed over its replies
        self.last_push_s = 0.0  # the trainer's side of the latest load_weights (the file write)
        self.reload_s = 0.0  # the child's side of the latest completed reload
        self._pushes = 0
        self._reader = threading.Thread(target=self._read, name="r1train-engine-reader", daemon=True)
        self._reader.start()

    # -- the RolloutEngine protocol ------------------------------------------------------------------

    def submit(self, prompt_ids: list[list[int]], sampling: Sampling) -> Future:
        """Queue a generate request; the future resolves to its ``list[Rollout]``."""
        return self._request("generate", (prompt_ids, sampling))

    def generate(self, prompt_ids: list[list[int]], sampling: Sampling) -> list[Rollout]:
        return self.submit(prompt_ids, sampling).result()

    def load_weights(self, named_tensors: Iterable[tuple[str, Any]]) -> None:
        """Write the weights to shared memory and queue their reload (see the module docstring)."""
        from safetensors.torch import save_file

        start = time.perf_counter()
        self._pushes += 1
        path = self._dir / f"push-{self._pushes:06d}.safetensors"
        tensors = {name: t.detach().to("cpu").contiguous() for name, t in named_tensors}
        save_file(tensors, str(path))
        self.last_push_s = time.perf_counter() - start
        self._request("load", str(path)).add_done_callback(self._reloaded)

    def close(self) -> None:
        """Stop the child (after what is queued) and remove the weights folder."""
        if self._proc.is_alive():
            try:
                self._request("close", None).result(timeout=60)
            except Exception:
                pass
            self._proc.join(30)
            if self._proc.is_alive():
                self._proc.kill()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- plumbing -----------------------------------------------------------------------------------

    def _request(self, kind: str, payload: Any) -> Future:
        future: Future = Future()
        with self._lock:  # the order of _pending is the order of the pipe
            self._pending.append(future)
            self._conn.send((kind, payload))
        return future

    def _read(self) -> None:
        while True:
            try:
                kind, payload, idle = self._conn.recv()
            except (EOFError, OSError):
                error = RuntimeError(f"the vllm-process engine (pid {self._proc.pid}) exited")
                while self._pending:
                    self._pending.popleft().set_exception(error)
                return
            self.idle_s += idle
            future = self._pending.popleft()
            if kind == "error":
                future.set_exception(RuntimeError(f"the vllm-process engine failed:\n{payload}"))
            else:
                future.set_result(payload)
            if kind == "closed":
                return

    def _reloaded(self, future: Future) -> None:
        if future.exception() is None:
            self.reload_s = float(future.result())


def _serve(conn: Any, spec: WorkerSpec) -> None:
    """The child: build the engine, then answer requests in order until ``close`` or the parent's death."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the trainer
    except OSError:
        pass
    try:
        if spec.cpus:
            os.sched_setaffinity(0, spec.cpus)
        if not torch.cuda.is_available():
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", str(spec.rollout.kv_cache_gb))
        from r1train.rollout.vllm_engine import VLLMEngine

        engine = VLLMEngine(
            spec.source, spec.rollout, dtype=getattr(torch, spec.dtype), max_model_len=spec.max_model_len,
            seed=spec.seed, trust_remote_code=spec.trust_remote_code, tokenizer=spec.tokenizer,
        )
        info = {"pid": os.getpid(), "cpus": sorted(os.sched_getaffinity(0)), "threads": torch.get_num_threads()}
        conn.send(("ready", info, 0.0))
    except Exception:
        conn.send(("error", traceback.format_exc(), 0.0))
        return
    waited = time.perf_counter()
    while True:
        try:
            kind, payload = conn.recv()
        except EOFError:  # the trainer is gone
            break
        idle = time.perf_counter() - waited
        try:
            if kind == "generate":
                reply: tuple[str, Any] = ("done", engine.generate(*payload))
            elif kind == "load":
                start = time.perf_counter()
                _load_file(engine, Path(payload))
                reply = ("done", time.perf_counter() - start)
            else:
                engine.close()
                conn.send(("closed", None, idle))
                break
        except Exception:
            reply = ("error", traceback.format_exc())
        conn.send((*reply, idle))
        waited = time.perf_counter()


def _load_file(engine: Any, path: Path) -> None:
    """Stream a weights file into the engine one tensor at a time, then delete it."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        engine.load_weights((name, f.get_tensor(name)) for name in f.keys())
    path.unlink(missing_ok=True)
