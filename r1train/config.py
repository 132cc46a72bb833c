"""The recipe schema: one YAML file maps 1:1 onto this tree of frozen dataclasses.

:func:`from_dict` builds a dataclass from plain data: unknown or misspelled keys, values of the wrong
type and missing required values raise :class:`~r1train.errors.UserError` naming the key, the file and
the closest valid key. Every key has a default except ``model.name_or_path`` and ``data.source``.
Reading YAML, overrides and the one resolve step (derived values, checks) are in :mod:`r1train.recipe`.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Literal

from r1train.errors import UserError

REQUIRED: Any = dataclasses.MISSING


@dataclass(frozen=True)
class LoraConfig:
    r: int = 16
    alpha: int = 32
    dropout: float = 0.0  # only active in train mode; r1train keeps dropout off (ratio exactly 1 at the start)
    target_modules: str | list[str] = "all-linear"  # all-linear: every linear layer but the output head
    quantize: Literal["none", "4bit", "8bit"] = "none"  # 4bit = QLoRA (bitsandbytes NF4, CUDA only)


@dataclass(frozen=True)
class ModelConfig:
    name_or_path: str = REQUIRED  # hub id, local dir, or tiny:<size>
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    lora: LoraConfig | None = None
    revision: str | None = None
    trust_remote_code: bool = False
    gradient_checkpointing: bool = False


@dataclass(frozen=True)
class DataConfig:
    source: str = REQUIRED  # hf:<id>[:<config>] | file:<path.jsonl|.parquet> | synthetic:<task>
    split: str = "train"
    eval_split: str | None = None  # held-out split; synthetic tasks make their own
    prompt_column: str = "question"
    answer_column: str = "answer"
    template: str = "r1-zero"  # see r1train/data/templates.py
    system_prompt: str | None = None
    task: dict[str, Any] = field(default_factory=dict)  # options of a synthetic task, e.g. {digits: 3}
    adapter: str | None = None  # a row adapter (r1train/data/code_rows.py): a code set's tests -> the `tests` column
    shuffle: bool = True
    max_prompt_tokens: int = 1024


@dataclass(frozen=True)
class RolloutConfig:
    engine: str = "vllm"  # vllm | vllm-process | vllm-server | hf, or an engine registered by name; vllm falls back to hf where vLLM cannot run
    prompts_per_step: int = 16
    num_generations: int = 8  # group size G
    max_new_tokens: int = 1024
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    min_p: float = 0.0
    stop: list[str] = field(default_factory=list)
    seed: int | None = None  # the engine's sampling seed; None = train.seed
    # step: one seed per generate call (a resume repeats the run); prompt: one per prompt (also the same
    # samples for any process count; vLLM then samples row by row, ~+0.4 s per 128 x 128 batch on CPU)
    seeding: Literal["step", "prompt"] = "step"
    sync_every: int = 1  # push the trainer's weights to the engine every this many optimizer steps
    # k > 0: generate batches up to k optimizer steps ahead of the update (batch t sampled by the weights of
    # step t-k), corrected by truncated importance weights (algorithm.rollout_is, token_truncate when off);
    # 0 = synchronous. On CPU `vllm` then resolves to `vllm-process` (the engine in its own process)
    max_staleness: int = 0
    async_generation: bool = False  # the former switch: true reads as max_staleness: 1
    process_cpus: list[int] = field(default_factory=list)  # vllm-process on CPU: the engine's cores ([] = last half)
    # vllm (colocated) engine
    gpu_memory_utilization: float = 0.3  # CUDA: share of device memory vLLM may take (weights + KV cache)
    kv_cache_gb: int = 1  # CPU build: KV cache size in whole GiB (VLLM_CPU_KVCACHE_SPACE)
    sleep_mode: bool = True  # CUDA: free vLLM's KV cache (and weights) while the trainer runs
    tensor_parallel_size: int = 1  # CUDA: shard the engine across this many training ranks
    prefix_caching: bool = True
    enforce_eager: bool = False  # CUDA: skip CUDA graphs (always eager on CPU)
    # vllm-server engine (`r1train serve MODEL` on other GPUs)
    server_url: str = "http://127.0.0.1:8000"
    server_timeout_s: float = 600.0  # per HTTP request; a server silent this long is an error
    server_nccl_port: int = 51216  # rendezvous port this trainer opens for the weight broadcast


@dataclass(frozen=True)
class RewardSpec:
    name: str = REQUIRED  # registry name, module:function, or path/file.py:function
    weight: float = 1.0
    args: dict[str, Any] = field(default_factory=dict)  # keyword options passed to the function
    timeout_s: float = 600.0  # a call that takes longer counts as an error (see on_error)
    on_error: Literal["fail", "none"] = "fail"  # raise, hang or wrong output: stop the run, or score None


@dataclass(frozen=True)
class EnvConfig:
    """The episode each prompt starts (r1train/envs): single_turn (the default) or a multi-turn environment."""

    name: str = "single_turn"  # registry name (single_turn | tools), module:Class, or path/file.py:Class
    args: dict[str, Any] = field(default_factory=dict)  # the environment's options, e.g. {tools: [python]}
    max_turns: int = 4  # policy turns per episode at most; rollout.max_new_tokens bounds the whole completion
    workers: int = 8  # environment steps (tool calls) run at once


@dataclass(frozen=True)
class AlgorithmConfig:
    advantage: str = "grpo"  # grpo | rloo | reinforce_pp (registry in r1train/grpo/)
    advantage_scale: Literal["group", "batch", "none"] | None = None  # None: the estimator's own (r1train/grpo/advantages.py)
    loss: str = "grpo"  # grpo (token ratios) | gspo (sequence ratio); registry in r1train/grpo/
    loss_agg: Literal["token_mean", "seq_mean_token_mean", "seq_mean_token_sum_norm"] = "token_mean"
    clip_low: float = 0.2
    clip_high: float = 0.28
    dual_clip: float | None = None  # c > 1 (e.g. 3.0): cap the loss of negative-advantage tokens at c|A|
    kl_beta: float = 0.0  # 0 loads no reference model
    kl_estimator: Literal["k1", "k2", "k3"] = "k3"
    kl_in_reward: bool = False  # subtract kl_beta * sum_t KL_t from each reward instead of adding it to the loss
    entropy_coef: float = 0.0  # entropy bonus: loss -= entropy_coef * H(pi) per token
    iterations: int = 1  # optimizer steps per batch (the paper's mu); ratios against the batch's old logprobs
    dynamic_sampling: bool = False  # DAPO: drop groups whose rewards are all equal, sample more until full
    max_sampling_tries: int = 3  # generate calls per step at most when dynamic_sampling is on
    mask_truncated: bool = False  # DAPO overlong filtering: completions cut at max_new_tokens get no loss
    rollout_is: Literal["off", "token_truncate", "sequence_truncate"] = "off"  # sampler/trainer mismatch correction
    rollout_is_cap: float = 2.0  # truncation of the rollout importance weight

    # Where the KL to the reference goes, decided here once (every stage asks these, none re-derives them).
    @property
    def needs_reference(self) -> bool:
        """A reference policy is loaded: ``kl_beta > 0``."""
        return self.kl_beta > 0

    @property
    def kl_in_loss(self) -> bool:
        """``kl_beta * KL_t`` is added to the per-token loss (not subtracted from the rewards)."""
        return self.kl_beta > 0 and not self.kl_in_reward


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1.0e-6
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1.0e-8
    warmup_steps: int = 0
    schedule: Literal["constant", "linear", "cosine"] = "constant"
    max_grad_norm: float = 1.0


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 500
    seed: int = 0
    output_dir: str = "runs/example"
    save_every: int = 50  # checkpoint every N steps (0 = only at the end)
    keep_last: int = 2  # complete checkpoints to keep (0 = all)
    resume: str = "auto"  # auto | never | <checkpoint path>
    max_bad_steps: int = 10  # steps skipped for a non-finite loss/gradient before the run stops
    overwrite: bool = False  # allow writing into a directory that holds another run
    micro_batch_size: int = 16  # sequences per forward/backward
    micro_batch_tokens: int | None = None  # padded tokens per micro-batch at most; None: 2048 on CPU, 0: no cap
    compile: bool = False  # torch.compile the decoder for training (first step slower; see r1train/models/logprobs.py)
    eval_size: int = 64  # held-out prompts for the before/after accuracy
    max_time_s: float = 0.0  # stop (and save) after this many seconds of training in this launch; 0 = no limit


@dataclass(frozen=True)
class WandbConfig:
    project: str = "r1train"
    entity: str | None = None
    name: str | None = None
    group: str | None = None
    tags: list[str] = field(default_factory=list)
    mode: Literal["online", "offline", "disabled"] = "disabled"
    log_model: bool = False  # upload the final model as an artifact


@dataclass(frozen=True)
class LoggingConfig:
    wandb: WandbConfig = field(default_factory=WandbConfig)
    completions_every: int = 1
    completions_per_step: int = 4
    progress: bool = True
    log_every: int = 10  # when stdout is not a terminal (Slurm, nohup): one plain progress line every N steps (0 = none)
    # words counted by the reflection-rate metric (r1train/telemetry/reasoning.py), whole words, any case
    reflection_words: list[str] = field(default_factory=lambda: ["wait", "verify", "check", "recheck"])


@dataclass(frozen=True)
class EvalConfig:
    """Benchmarks run with the live policy during training (eval/live.py); ``r1train eval`` runs them after."""

    every: int = 0  # evaluate every this many optimizer steps; 0 = off
    benchmarks: list[str] = field(default_factory=list)  # registry names (r1train eval --list) or .yaml cards
    samples: int = 4  # completions per problem: pass@1 is their mean; pass@k and maj@k use all of them
    max_problems: int | None = None  # the first N problems of each benchmark; None = all
    temperature: float = 0.6  # 0 = greedy
    top_p: float = 0.95
    max_new_tokens: int | None = None  # None = rollout.max_new_tokens
    template: str | None = None  # None = data.template (the format the policy is trained in)
    data: dict[str, str] = field(default_factory=dict)  # benchmark -> local .jsonl/.parquet (offline)
    seed: int = 0


@dataclass(frozen=True)
class SftConfig:
    """``r1train sft``: supervised fine-tuning on prompt/completion or chat ``messages`` rows (r1train/train/sft.py).

    Steps, seed, output, checkpoints and resume come from ``train``; the learning rate from ``optim``."""

    format: Literal["auto", "prompt_completion", "messages"] = "auto"  # auto: messages when the rows have that column
    completion_column: str = "completion"  # prompt_completion: the target text (the prompt is data.prompt_column)
    messages_column: str = "messages"  # messages: [{role, content}]; the loss is on the last assistant turn
    batch_size: int = 32  # sequences per optimizer step (split into token-capped micro-batches)
    max_tokens: int = 4096  # prompt + completion tokens of one example at most; longer ones are left out (counted)
    held_out: int = 64  # the data's last N rows are kept out of training: held-out loss (and accuracy with an answer)
    eval_source: str | None = None  # prompts for held-out accuracy instead, e.g. synthetic:chain (its held-out split)
    eval_every: int = 0  # held-out loss every N steps too (0: before and after only)


@dataclass(frozen=True)
class SampleConfig:
    """``r1train sample``: N = ``rollout.num_generations`` samples per prompt, scored by ``rewards``, filtered
    into a dataset in ``train.output_dir`` (r1train/train/sample.py)."""

    keep: Literal["correct", "shortest_correct", "first_k_correct", "threshold", "all"] = "correct"
    k: int = 1  # first_k_correct: at most k per prompt
    threshold: float = 1.0  # threshold: total (weighted) reward at least this
    unique: bool = True  # identical kept completions of one prompt are kept once
    prefix: str = ""  # forced start of every completion (e.g. "<think>"); part of the written completion
    max_prompts: int = 0  # prompts of the training data to sample (in order), 0 = all
    prompts_per_call: int = 64  # prompts per generate call; each call's results are saved (the resume unit)
    format: Literal["jsonl", "parquet"] = "jsonl"


@dataclass(frozen=True)
class Config:
    model: ModelConfig = REQUIRED
    data: DataConfig = REQUIRED
    rollout: RolloutConfig = field(default_factory=RolloutConfig)
    rewards: list[RewardSpec] = field(default_factory=lambda: [RewardSpec(name="answer.exact")])
    env: EnvConfig = field(default_factory=EnvConfig)
    algorithm: AlgorithmConfig = field(default_factory=AlgorithmConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    sft: SftConfig = field(default_factory=SftConfig)  # used by `r1train sft` only
    sample: SampleConfig = field(default_factory=SampleConfig)  # used by `r1train sample` only
    description: str = ""  # one line, shown by `r1train recipes`

    def to_dict(self) -> dict[str, Any]:
        """The resolved recipe as plain data (what is saved next to a run and sent to W&B)."""
        return dataclasses.asdict(self)


# ---------------------------------------------------------------------------------------------------
# Building dataclasses from plain data, with errors a person can act on.


def from_dict(cls: type, data: Any, where: str, path: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``; ``where`` names the file, ``path`` the key prefix."""
    if not isinstance(data, dict):
        raise UserError(f"{_key(path)} in {where} must be a mapping of keys, not {_show(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise UserError(_unknown(str(key), list(fields), where, path))
        kwargs[key] = _coerce(hints[key], value, where, _join(path, key))
    for name, f in fields.items():
        if name not in kwargs and f.default is REQUIRED and f.default_factory is REQUIRED:
            raise UserError(f"{_key(_join(path, name))} is required in {where}; add it to the recipe")
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, where: str, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _coerce(option, value, where, path)
            except UserError as err:
                errors.append(err)
        raise errors[0]
    if origin is Literal:
        if value not in args:
            close = difflib.get_close_matches(str(value), [str(a) for a in args], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            choices = " | ".join(str(a) for a in args)
            raise UserError(f"{_key(path)} in {where} is {value!r}{hint}; it must be one of {choices}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value if value is not None else {}, where, path)
    if origin is list:
        if not isinstance(value, list | tuple):
            raise UserError(f"{_key(path)} in {where} must be a list, not {_show(value)}")
        return [_coerce(args[0], v, where, f"{path}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise UserError(f"{_key(path)} in {where} must be a mapping, not {_show(value)}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise UserError(f"{_key(path)} in {where} must be true or false, not {_show(value)}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise UserError(f"{_key(path)} in {where} must be a whole number, not {_show(value)}")
    if tp is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-6 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise UserError(f"{_key(path)} in {where} must be a number, not {_show(value)}")
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        raise UserError(f"{_key(path)} in {where} must be a string, not {_show(value)}")
    raise TypeError(f"config type {tp!r} at {path} is not supported")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _key(path: str) -> str:
    return f"'{path}'" if path else "the recipe"


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}"


def _unknown(key: str, valid: list[str], where: str, path: str) -> str:
    close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
    hint = f"did you mean '{_join(path, close[0])}'?" if close else f"valid keys are: {', '.join(valid)}"
    return f"unknown key '{_join(path, key)}' in {where}; {hint}"
