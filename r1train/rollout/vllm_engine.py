"""The ``vllm`` rollout engine: one in-process ``vllm.LLM`` per training process, sharing its device.

Why in-process: the trainer's tensors reach vLLM's workers without serialisation or a second process.
``VLLM_ENABLE_V1_MULTIPROCESSING=0`` keeps the engine core (and, with one rank, the worker) inside this
process, so ``load_weights`` hands each ``(name, tensor)`` straight to the worker's layer-wise
``reload_weights``, which copies it into vLLM's (possibly sharded, repacked) parameters as it arrives.
That is the one mechanism that works on the CPU build (whose weights are repacked at load, so a plain
``model.load_weights`` after start-up fails) and on CUDA alike.

What it does per step, in the trainer's order:

1. ``generate(prompt_ids, sampling)`` -> ``Rollout`` list with the sampler's per-token logprobs. vLLM runs
   with ``logprobs_mode="processed_logprobs"``: the logprob of each sampled token under the distribution
   it was drawn from (after temperature, top-k, top-p, min-p), the same quantity the HF engine returns.
   With top_k/top_p/min_p off it equals the trainer's ``log_softmax(logits / T)``. With ``sleep_mode`` on
   CUDA the engine then goes to sleep (KV cache freed; weights too when they are replaced every step).
2. ``load_weights(policy_weights(model))`` after the optimizer step (see :func:`sync_weights`): wakes the
   weights if asleep, streams the new ones in, and drops the prefix cache (its KV came from old weights).

Reproducible sampling, two ways (``rollout.seeding``):

* ``step`` (the default): the requests carry no seed; the engine samples from the process's global torch
  generator, seeded with ``Sampling.seed`` for the call and restored afterwards (the engine runs in this
  process, so that generator is the one vLLM's sampler draws from). The same step with the same weights
  and prompts then samples the same tokens, so a resumed run repeats the uninterrupted one; a different
  process count (prompts split differently) samples differently.
* ``prompt``: one seed per prompt (``Sampling.prompt_seeds``), so a prompt's samples do not depend on
  which process draws it or what shares its batch. vLLM then samples every seeded request with its own
  ``torch.Generator``, one row at a time (and on CUDA leaves the FlashInfer sampling kernel): measured on
  2 CPU cores with a 104-token vocabulary, ``random_sample`` for 128 rows took 2.3 ms per decode step
  unseeded and 5.2 ms seeded, about +0.4 s on a 128-token batch.

Text: when no stop strings are set, vLLM does not detokenise (``detokenize=False``: no incremental
detokeniser, no decoding of each logprob's token) and the engine decodes each completion once with the
tokenizer, as the hf engine does; logprobs come back flat (``flat_logprobs``). On tiny:3m, 16 prompts x
8 samples x 128 tokens, one thread (2026-11-29, the other core busy), median of 4 alternating runs:
vLLM's defaults 4.78 s, these settings 4.07 s, this ``generate`` 4.41 s (cProfile: building a logprob
dict per token and decoding its token had taken 1.5 of 10.9 s).

Threads (CPU): in-process, the engine leaves torch's thread count and CPU affinity as they were (checked
after start-up: 2 threads on cores {0, 1}, so training keeps both), but vLLM's CPU worker replaces
``torch.set_num_threads`` with a no-op that warns: set ``OMP_NUM_THREADS`` before the process starts.

Multi-GPU (CUDA): with ``tensor_parallel_size > 1`` each group of that many training ranks shares one
engine through vLLM's ``external_launcher`` executor; their prompts are gathered so every rank of the
group submits the same batch, and each keeps its own share of the outputs.

Use: ``rollout.engine: vllm`` (the default). Tunables live in the recipe's ``rollout`` section.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch

from r1train.rollout.base import Rollout, Sampling

log = logging.getLogger(__name__)


class VLLMEngine:
    """Colocated vLLM generator. Build it with :func:`r1train.rollout.make_engine` (``rollout.engine: vllm``)."""

    def __init__(
        self,
        source: Any,
        rollout: Any,
        *,
        dtype: torch.dtype = torch.float32,
        max_model_len: int = 2048,
        seed: int = 0,
        trust_remote_code: bool = False,
        tokenizer: Any = None,
    ) -> None:
        self.rollout = rollout
        self.on_cuda = torch.cuda.is_available()
        os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"  # in-process: tensors pass by reference
        if not self.on_cuda:
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", _gib(rollout.kv_cache_gb))
        from vllm import LLM

        self.tp_group, self.tp_size = _tp_group(rollout.tensor_parallel_size if self.on_cuda else 1)
        self.sleep_level = 0
        if self.on_cuda and rollout.sleep_mode:
            # level 2 also drops the weights: only safe when every step brings new ones
            self.sleep_level = 2 if rollout.sync_every == 1 else 1
        kwargs: dict[str, Any] = dict(
            model=source.path,
            revision=source.revision,
            dtype=str(dtype).removeprefix("torch."),
            seed=seed,
            max_model_len=max_model_len,
            enable_prefix_caching=rollout.prefix_caching,
            logprobs_mode="processed_logprobs",
            enforce_eager=rollout.enforce_eager or not self.on_cuda,
            trust_remote_code=trust_remote_code,
        )
        if self.on_cuda:
            kwargs.update(
                gpu_memory_utilization=rollout.gpu_memory_utilization,
                enable_sleep_mode=self.sleep_level > 0,
                tensor_parallel_size=self.tp_size,
            )
            if torch.distributed.is_available() and torch.distributed.is_initialized():
                kwargs["distributed_executor_backend"] = "external_launcher"
        self.llm = LLM(**kwargs)
        self.tokenizer = tokenizer if tokenizer is not None else self.llm.get_tokenizer()
        self._asleep: list[str] = []  # memory tags currently released
        self._weights_lost = False  # level-2 sleep discarded the weights; a sync must come first

    # -- the RolloutEngine protocol ------------------------------------------------------------------

    def generate(self, prompt_ids: list[list[int]], sampling: Sampling) -> list[Rollout]:
        """``sampling.n`` rollouts per prompt, grouped by prompt, each with the sampler's logprobs."""
        self._wake(["weights", "kv_cache"])
        if self._weights_lost:
            raise RuntimeError("the vllm engine slept without its weights; call load_weights before generate")
        mine = prompt_ids
        seeds = list(sampling.prompt_seeds)
        if self.tp_size > 1:
            prompt_ids, mine_slice = _gather_group(prompt_ids, self.tp_group)
            if seeds:
                seeds, _ = _gather_group(seeds, self.tp_group)
        if seeds:  # one seeded request per prompt: samples independent of batch composition
            params: Any = [self.sampling_params(replace(sampling, seed=s)) for s in seeds]
        else:  # unseeded requests drawing from the global generator, seeded for this call
            params = self.sampling_params(replace(sampling, seed=None))
        requests = [{"prompt_token_ids": ids} for ids in prompt_ids]
        with self.global_seed(None if seeds else sampling.seed):
            outputs = self.llm.generate(requests, params, use_tqdm=False)
        if self.tp_size > 1:
            outputs = outputs[mine_slice]
            prompt_ids = mine
        flat = [out for req in outputs for out in req.outputs]
        if sampling.stop:  # vLLM detokenised (stop strings need its text)
            texts = [out.text for out in flat]
        else:  # vLLM did not detokenise: decode once here, as the hf engine does
            texts = self.tokenizer.batch_decode([list(out.token_ids) for out in flat], skip_special_tokens=True)
        index = [i for i, req in enumerate(outputs) for _ in req.outputs]
        rollouts = [
            _rollout(prompt_ids[i], out, i, sampling.logprobs, text) for i, out, text in zip(index, flat, texts, strict=True)
        ]
        self._sleep()
        return rollouts

    @contextmanager
    def global_seed(self, seed: int | None) -> Iterator[None]:
        """Seed the global generator(s) vLLM's sampler uses for unseeded requests; restore them after."""
        if seed is None:
            yield
            return
        devices = [torch.cuda.current_device()] if self.on_cuda else []
        with torch.random.fork_rng(devices=devices):
            torch.random.default_generator.manual_seed(seed)
            if self.on_cuda:
                torch.cuda.manual_seed(seed)
            yield

    def load_weights(self, named_tensors: Iterable[tuple[str, Any]]) -> None:
        """Stream full, HF-named weights into the engine (consumed lazily, one tensor at a time)."""
        self._wake(["weights"])
        self.llm.collective_rpc("reload_weights", kwargs={"weights_iterator": iter(named_tensors)})
        self.llm.collective_rpc(_reprocess_tied_layers)
        self._weights_lost = False
        self.llm.reset_prefix_cache()

    # -- helpers ------------------------------------------------------------------------------------

    def sampling_params(self, sampling: Sampling) -> Any:
        """The ``vllm.SamplingParams`` for a :class:`Sampling` (the benchmark uses the very same)."""
        from vllm import SamplingParams

        return SamplingParams(
            n=sampling.n,
            max_tokens=sampling.max_new_tokens,
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k if sampling.top_k > 0 else -1,
            min_p=sampling.min_p,
            stop=list(sampling.stop) or None,
            include_stop_str_in_output=True,  # as the HF engine: the stop string stays in the text
            seed=sampling.seed,
            logprobs=0 if sampling.logprobs else None,  # 0 = only the sampled token's logprob
            flat_logprobs=True,  # one flat list per completion, not a dict per token
            detokenize=bool(sampling.stop),  # stop strings need vLLM's text; otherwise generate() decodes
        )

    def _sleep(self) -> None:
        if self.sleep_level and not self._asleep:
            self.llm.sleep(level=self.sleep_level)
            self._asleep = ["weights", "kv_cache"]
            self._weights_lost = self.sleep_level == 2

    def _wake(self, tags: list[str]) -> None:
        todo = [t for t in tags if t in self._asleep]
        if not todo:
            return
        self.llm.wake_up(tags=todo)
        self._asleep = [t for t in self._asleep if t not in todo]
        if "kv_cache" in todo:
            self.llm.reset_prefix_cache()

    def close(self) -> None:
        """Free the engine (tests and the benchmark build several in one process)."""
        llm, self.llm = self.llm, None
        if llm is not None:
            engine = getattr(llm, "llm_engine", None)
            shutdown = getattr(engine, "shutdown", None) or getattr(getattr(engine, "engine_core", None), "shutdown", None)
            if callable(shutdown):
                shutdown()
        del llm


def _reprocess_tied_layers(worker: Any) -> int:
    """Runs inside each vLLM worker after a reload: redo the post-load processing of tied layers.

    A tied output head (``lm_head.weight is embed_tokens.weight``) receives no checkpoint tensor of its
    own, so the layer-wise reload skips its post-load step and, on the CPU build, the head would keep
    multiplying by the weights packed at start-up. Re-running the step re-packs it from the new values
    (on CUDA the step is a no-op for unquantised heads)."""
    model = worker.model_runner.get_model()
    by_storage: dict[int, list[Any]] = {}
    for module in model.modules():
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor) and not weight.is_meta and getattr(module, "quant_method", None):
            by_storage.setdefault(weight.data_ptr(), []).append(module)
    done = 0
    for modules in by_storage.values():
        for module in modules[1:] if len(modules) > 1 else []:
            module.quant_method.process_weights_after_loading(module)
            done += 1
    return done


class _QuietReload(logging.Filter):
    """Drop vLLM's per-sync warning about layers that never have checkpoint weights of their own."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        return not ("Failed to load weights" in text and text.split(":")[0] in ("RotaryEmbedding", "ParallelLMHead"))


logging.getLogger("vllm.model_executor.model_loader.reload.layerwise").addFilter(_QuietReload())


def _rollout(prompt: list[int], out: Any, prompt_index: int, want_logprobs: bool, text: str) -> Rollout:
    """One vLLM ``CompletionOutput`` as a :class:`Rollout`."""
    tokens = list(out.token_ids)
    logps = None
    if want_logprobs and out.logprobs is not None:
        flat = out.logprobs  # FlatLogprobs; with logprobs=0 one entry per position, the sampled token's
        if getattr(flat, "token_ids", None) == tokens:
            logps = list(flat.logprobs)
        else:
            logps = [step[tok].logprob for step, tok in zip(out.logprobs, tokens, strict=True)]
    reason = "length" if out.finish_reason == "length" else "stop"
    return Rollout(list(prompt), tokens, logps, reason, text, prompt_index)


def _gib(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _tp_group(tp: int) -> tuple[Any, int]:
    """The process group of the ``tp`` consecutive training ranks that share one engine (CUDA only)."""
    if tp <= 1:
        return None, 1
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() % tp:
        raise ValueError(f"rollout.tensor_parallel_size={tp} needs a launch whose world size is a multiple of {tp}")
    group, _ = dist.new_subgroups(group_size=tp)
    return group, tp


def _gather_group(prompt_ids: list[Any], group: Any) -> tuple[list[Any], slice]:
    """All prompts of the tensor-parallel group (every member submits the same batch) and this rank's slice."""
    dist = torch.distributed
    parts: list[Any] = [None] * dist.get_world_size(group)
    dist.all_gather_object(parts, prompt_ids, group=group)
    me = dist.get_rank(group)
    start = sum(len(p) for p in parts[:me])
    return [ids for part in parts for ids in part], slice(start, start + len(prompt_ids))
