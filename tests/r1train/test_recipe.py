"""The one resolve step: every check before anything loads, and the derived values it records."""

from __future__ import annotations

from pathlib import Path

import pytest

from r1train.errors import UserError
from r1train.recipe import CPU_MICRO_BATCH_TOKENS, Launch, build_config, load_recipe, resolve

CPU = Launch(processes=1, cuda=False)
GPU = Launch(processes=1, cuda=True)


def recipe(**sections: dict) -> dict:
    base = {"model": {"name_or_path": "tiny:1m"}, "data": {"source": "synthetic:copy", "template": "pocket"}}
    for key, value in sections.items():
        base[key] = {**base.get(key, {}), **value}
    return base


def test_async_generation_resolves_the_rollout_correction_it_needs() -> None:
    cfg = build_config(recipe(rollout={"async_generation": True}), "r.yaml")
    assert cfg.algorithm.rollout_is == "off"  # as written
    assert resolve(cfg, GPU).algorithm.rollout_is == "token_truncate"  # as it runs, and as recipe.yaml records
    written = build_config(recipe(rollout={"async_generation": True}, algorithm={"rollout_is": "sequence_truncate"}), "r")
    assert resolve(written, GPU).algorithm.rollout_is == "sequence_truncate"  # a choice is kept
    assert resolve(build_config(recipe(), "r"), GPU).algorithm.rollout_is == "off"


def test_max_staleness_resolves_its_engine_and_absorbs_async_generation() -> None:
    on_cpu = resolve(build_config(recipe(rollout={"max_staleness": 2}), "r"), CPU)
    assert (on_cpu.rollout.engine, on_cpu.rollout.max_staleness) == ("vllm-process", 2)  # no engine thread on CPU
    assert on_cpu.algorithm.rollout_is == "token_truncate"
    on_gpu = resolve(build_config(recipe(rollout={"max_staleness": 2}), "r"), GPU)
    assert on_gpu.rollout.engine == "vllm"
    former = resolve(build_config(recipe(rollout={"async_generation": True}), "r"), CPU)
    assert (former.rollout.max_staleness, former.rollout.async_generation, former.rollout.engine) == (1, False, "vllm-process")
    assert resolve(build_config(recipe(), "r"), CPU).rollout.engine == "vllm"  # k = 0: as it was
    with pytest.raises(UserError, match="max_staleness' in r is -1; it must be 0"):
        build_config(recipe(rollout={"max_staleness": -1}), "r")
    with pytest.raises(UserError, match="async_generation and max_staleness=2 in r disagree"):
        build_config(recipe(rollout={"max_staleness": 2, "async_generation": True}), "r")


def test_refusals_that_used_to_wait_for_the_first_step() -> None:
    with pytest.raises(UserError, match="max_staleness=1 is not supported with the vllm-server engine without CUDA"):
        resolve(build_config(recipe(rollout={"max_staleness": 1, "engine": "vllm-server"}), "r"), CPU)
    with pytest.raises(UserError, match="'hf' generates with the very weights"):
        build_config(recipe(rollout={"async_generation": True, "engine": "hf"}), "r")
    with pytest.raises(UserError, match="dynamic_sampling"):
        build_config(recipe(rollout={"async_generation": True}, algorithm={"dynamic_sampling": True}), "r")
    with pytest.raises(UserError, match="divisible by the number of processes \\(3\\)"):
        resolve(build_config(recipe(rollout={"prompts_per_step": 16}), "r"), Launch(processes=3))
    with pytest.raises(UserError, match="tensor_parallel_size=2.*needs the vllm engine"):
        build_config(recipe(rollout={"engine": "hf", "tensor_parallel_size": 2}), "r")


def test_sharded_launches_refuse_what_cannot_run_there() -> None:
    fsdp = Launch(processes=2, cuda=True, backend="fsdp")
    zero3 = Launch(processes=2, cuda=True, backend="deepspeed", zero_stage=3)
    with pytest.raises(UserError, match="LoRA training under FSDP"):
        resolve(build_config(recipe(model={"lora": {"r": 4}}), "r"), fsdp)
    with pytest.raises(UserError, match="rollout.engine=hf generates with the training model, which ZeRO-3"):
        resolve(build_config(recipe(rollout={"engine": "hf"}), "r"), zero3)
    zero2 = Launch(processes=2, cuda=True, backend="deepspeed", zero_stage=2)
    assert resolve(build_config(recipe(model={"lora": {"r": 4}}), "r"), zero2).model.lora is not None


def test_micro_batch_token_cap_is_derived_from_the_launch() -> None:
    cfg = build_config(recipe(), "r")
    assert cfg.train.micro_batch_tokens is None
    assert resolve(cfg, CPU).train.micro_batch_tokens == CPU_MICRO_BATCH_TOKENS == 2048
    assert resolve(cfg, GPU).train.micro_batch_tokens == 0  # no cap on CUDA
    assert resolve(cfg, Launch(processes=2)).train.micro_batch_tokens == 0  # ranks must agree on micro-batches
    chosen = build_config(recipe(train={"micro_batch_tokens": 512}), "r")
    assert resolve(chosen, CPU).train.micro_batch_tokens == 512


def test_launch_from_the_environment_accelerate_sets() -> None:
    env = {"WORLD_SIZE": "4", "ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}
    launch = Launch.from_env(env)
    assert (launch.processes, launch.backend, launch.zero_stage, launch.shards_parameters) == (4, "deepspeed", 3, "ZeRO-3")
    assert Launch.from_env({"ACCELERATE_USE_FSDP": "true"}).shards_parameters == "FSDP"
    assert Launch.from_env({}).processes == 1 and Launch.from_env({}).shards_parameters is None


@pytest.mark.parametrize(
    "section, values, match",
    [
        ("rollout", {"temperature": float("nan")}, "rollout.temperature' in r is nan; it must be a finite number"),
        ("optim", {"lr": -1}, "'optim.lr' in r is -1.0; it must be above 0"),
        ("rollout", {"gpu_memory_utilization": 3}, "gpu_memory_utilization' in r is 3.0; it is a share"),
        ("rollout", {"top_p": 0}, "top_p must be in \\(0, 1\\]"),
        ("optim", {"betas": [0.9]}, "give two numbers in \\[0, 1\\)"),
        ("data", {"template": "r1zero"}, "unknown template 'r1zero'"),
        ("data", {"source": "synthetic:chian"}, "unknown synthetic task 'chian'"),
        ("data", {"task": {"digitz": 3}}, "data.task options \\['digitz'\\] do not fit task 'copy'"),
        ("rollout", {"engine": "sglang"}, "rollout.engine"),
    ],
)
def test_bad_values_are_one_sentence(section: str, values: dict, match: str) -> None:
    with pytest.raises(UserError, match=match):
        build_config(recipe(**{section: values}), "r")


def test_a_recipe_that_is_not_utf8_is_one_sentence(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("model: {name_or_path: tiny:1m}\n# d\xe9j\xe0\n".encode("latin-1"))
    with pytest.raises(UserError, match="is not UTF-8 text .*save it as UTF-8"):
        load_recipe(path)


def test_multi_turn_episodes_do_not_generate_ahead() -> None:
    cfg = build_config(recipe(env={"name": "tools", "args": {"tools": ["calculator"]}}, rollout={"max_staleness": 1}), "r")
    with pytest.raises(UserError, match="multi-turn episodes.*set rollout.max_staleness=0"):
        resolve(cfg, GPU)
