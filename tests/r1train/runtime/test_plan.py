"""The memory planner: parameter counts, parts worked out by hand, the phases under sleep mode, LoRA, the
command line, and every shipped recipe on the hardware its header names."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from r1train.models.architectures import KNOWN, lora_parameters, shape_of
from r1train.recipe import read_yaml
from r1train.runtime.plan import GIB, PlanInput, estimate, hardware_from_accelerate, main
from r1train.train import pretrain

REPO = Path(__file__).resolve().parents[3]
ALL_RECIPES = sorted((REPO / "recipes").glob("*.yaml"))
# every recipe plan models: train, sft and sample ones (pretraining uses no vLLM)
RECIPES = [p for p in ALL_RECIPES if not pretrain.is_pretrain_recipe(p)]
SAMPLE_RECIPES = [p for p in RECIPES if "sample" in read_yaml(p)]


def test_parameter_counts_match_the_published_sizes() -> None:
    # published totals: Qwen2.5-0.5B 0.49B, 1.5B 1.54B, 3B 3.09B, 7B 7.62B, 14B 14.7B, 32B 32.8B
    expect = {"0.5B": 0.494, "1.5B": 1.544, "3B": 3.086, "7B": 7.616, "14B": 14.77, "32B": 32.76}
    for size, billions in expect.items():
        assert shape_of(f"Qwen/Qwen2.5-{size}").params / 1e9 == pytest.approx(billions, rel=0.01), size
    assert KNOWN["Qwen/Qwen2.5-Math-7B"] == KNOWN["Qwen/Qwen2.5-7B"]


def test_tiny_and_pocket_shapes_match_the_built_models() -> None:
    from r1train.config import ModelConfig
    from r1train.models.load import load_model, resolve_source

    for name in ("tiny:1m", "pocket-base"):
        cfg = ModelConfig(name_or_path=name)
        model = load_model(cfg, resolve_source(cfg))
        assert shape_of(name).params == sum(p.numel() for p in model.parameters()), name


def seven_b(**kw) -> PlanInput:
    shape = shape_of("Qwen/Qwen2.5-7B")
    base = dict(shape=shape, gpus=8, gpu_mem_gib=80, strategy="zero3", bf16=True, trainable=shape.params,
                reference=False, micro_batch_tokens=2 * 4096, seq_len=4096, grad_checkpointing=True,
                sequences_per_gpu=128, engine="vllm", gpu_memory_utilization=0.4, sleep_mode=True)
    return PlanInput(**{**base, **kw})


def test_seven_b_under_zero3_worked_by_hand() -> None:
    P = 7_615_616_512  # Qwen2.5-7B: 3584 hidden, 18944 intermediate, 28 layers, 4 KV heads of 128, 152064 vocab
    assert shape_of("Qwen/Qwen2.5-7B").params == P
    parts = estimate(seven_b())
    assert parts["policy weights"] == 2 * P / 8  # bf16, sharded
    assert parts["output head"] == 2 * 152064 * 3584  # gathered once for chunked logprobs
    assert parts["master weights"] == 4 * P / 8 and parts["optimizer"] == 8 * P / 8 and parts["gradients"] == 2 * P / 8
    # backward: 8192 tokens; checkpointing keeps 2*3584 B per layer and token, one layer recomputed in full
    # at 2*(12*3584 + 3*512 + 4*18944) = 2*120,320 B per token; the logprob chunk is 220 tokens (2**25 //
    # 152064) x 152064 x 4 B x 3; two head-sized bf16 gradients over 8 shards; two layers gathered
    layer = (P - 2 * 152064 * 3584) / 28
    backward = (8192 * 28 * 2 * 3584 + 8192 * 2 * 120_320 + 220 * 152064 * 12
                + 2 * 2 * 152064 * 3584 / 8 + 2 * 2 * layer)
    assert parts["activations"] == pytest.approx(backward)
    # vLLM takes 40% of 80 GiB: its bf16 weights, buffers (8192 tokens x 2 B x (4*3584 + 2*18944), 256 x
    # 152064 x 8 B of logits, 0.5 GiB of CUDA graphs), and a KV cache of the rest, 2*28*512*2 B per token
    buffers = 8192 * 2 * (4 * 3584 + 2 * 18944) + 256 * 152064 * 8 + 0.5 * GIB
    kv = 0.4 * 80 * GIB - 2 * P - buffers
    assert parts["vllm kv cache"] == pytest.approx(kv)
    assert parts["kv tokens"] == pytest.approx(kv / (2 * 28 * 512 * 2))
    assert parts["kv batch share"] == pytest.approx(kv / (128 * 4096 * 2 * 28 * 512 * 2))  # < 1: queued, not OOM
    resident = 2 * P / 8 + 2 * 152064 * 3584 + 12 * P / 8 + 2 * P / 8
    # sleep mode: the larger phase; the training side carries 10% allocator slack
    assert parts["training phase"] == pytest.approx(1.1 * (resident + backward))
    assert parts["generation phase"] == pytest.approx(1.1 * resident + 0.4 * 80 * GIB)
    assert parts["peak"] == pytest.approx(max(parts["training phase"], parts["generation phase"]))
    assert parts["peak"] < parts["available"] == 80 * GIB - 1.5 * GIB


def test_without_sleep_mode_both_phases_add_up() -> None:
    awake = estimate(seven_b(sleep_mode=False))
    assert awake["peak"] == pytest.approx(awake["training phase"] + 0.4 * 80 * GIB)
    assert awake["peak"] > estimate(seven_b())["peak"]


def test_a_vllm_share_too_small_for_the_weights_leaves_no_kv_cache() -> None:
    parts = estimate(seven_b(gpu_memory_utilization=0.15))  # 12 GiB < 14.2 GiB of bf16 weights
    assert parts["vllm kv cache"] == 0.0 and parts["kv short"] == 1.0


def test_lora_has_no_full_optimizer_state_and_a_free_reference() -> None:
    shape = shape_of("Qwen/Qwen2.5-0.5B")
    # r=32 on q, k, v, o, gate, up, down: 32 * ((896+896)*2 + (896+128)*2 + (896+4864)*2 + (4864+896)) per layer
    T = lora_parameters(shape, 32)
    assert T == 24 * 32 * (3584 + 2048 + 11520 + 5760) == 17_596_416
    p = PlanInput(shape=shape, gpus=1, gpu_mem_gib=24, strategy="ddp", bf16=True, trainable=T, reference=True,
                  micro_batch_tokens=8 * 1024, seq_len=1024, grad_checkpointing=True, sequences_per_gpu=128)
    parts = estimate(p)
    assert parts["policy weights"] == 2 * shape.params  # the frozen bf16 base
    assert parts["optimizer"] == 8 * T and parts["gradients"] == 4 * T  # float32 adapters (peft upcasts them)
    assert parts["reference model"] == 0.0  # the base with its adapters off


def test_accelerate_configs_give_processes_and_strategy() -> None:
    acc = REPO / "recipes" / "accelerate"
    assert hardware_from_accelerate(str(acc / "zero3.yaml")) == (8, "zero3")
    assert hardware_from_accelerate(str(acc / "zero2.yaml"))[1] == "zero2"
    assert hardware_from_accelerate(str(acc / "fsdp2.yaml"))[1] == "fsdp"
    assert hardware_from_accelerate(str(acc / "ddp.yaml"))[1] == "ddp"


def test_overrides_anywhere_and_lora_under_zero3_warns(capsys) -> None:
    recipe = str(REPO / "recipes" / "gsm8k-qwen2.5-0.5b-lora.yaml")
    assert main([recipe, "--gpu-mem", "24", "train.micro_batch_size=2", "--strategy", "ddp", "rollout.num_generations=4"]) == 0
    out = capsys.readouterr().out
    assert "1 GPU(s) x 24 GiB, ddp, LoRA (17.6M trainable)" in out and "64 sequences" in out  # 16 prompts x 4
    assert main([recipe, "--accelerate-config", str(REPO / "recipes" / "accelerate" / "zero3.yaml")]) == 1
    out = capsys.readouterr().out
    assert out.startswith("r1train plan: WARNING: r1train train refuses this launch: LoRA training under ZeRO-3")


def stage_input(path: Path) -> list[str]:
    """A pipeline stage's model is made by an earlier recipe (``runs/<dir>/model``): plan it with the model
    that recipe trains, found by its ``train.output_dir``."""
    name = read_yaml(path)["model"]["name_or_path"]
    while name.startswith("runs/"):
        out = name.removesuffix("/model")
        producer = next(p for p in ALL_RECIPES if read_yaml(p).get("train", {}).get("output_dir") == out)
        name = read_yaml(producer)["model"]["name_or_path"]
    return [f"model.name_or_path={name}"] if name != read_yaml(path)["model"]["name_or_path"] else []


def header_hardware(path: Path) -> list[str]:
    """``plan`` arguments for the hardware a recipe's header names: its launch command's accelerate config
    and --num_processes, and "8x 80 GB", "a single 24 GB GPU" or "CPU" (a laptop: 8 GiB)."""
    lines = [ln for ln in path.read_text().splitlines() if ln.startswith("#")]
    launch, header = lines[0], " ".join(lines)
    if "CPU" in header and "GPU" not in header:
        return ["--cpu", "--gpu-mem", "8"]
    args = []
    config = re.search(r"--config_file (\S+)", launch)
    if config:
        args += ["--accelerate-config", str(REPO / config.group(1))]
    gpus = re.search(r"(\d+) ?x ?(\d+) ?GB", header)
    single = re.search(r"single (\d+) GB GPU", header)
    assert gpus or single, header
    processes = re.search(r"--num_processes (\d+)", launch)
    count = processes.group(1) if processes else (gpus.group(1) if gpus else "1")
    return args + ["--gpus", count, "--gpu-mem", gpus.group(2) if gpus else single.group(1)]


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: p.name)
def test_every_recipe_fits_where_its_header_says_it_runs(path: Path, capsys) -> None:
    args = header_hardware(path) + stage_input(path)
    code = main([str(path), *args])
    out = capsys.readouterr().out
    assert code == 0 and out.rstrip().endswith("fits"), f"{args}\n{out}"


@pytest.mark.slow
def test_bench_plan_runs_a_real_training_and_prints_both_figures(capsys, tmp_path: Path) -> None:
    from r1train.bench import plan as bench_plan

    code = bench_plan.main(["--shape", "tiny:1m", "--engine", "hf", "--steps", "1", "--keep", str(tmp_path)])
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if ln.startswith("tiny:1m"))
    planned, measured, ratio = (float(x) for x in row.split()[2:5])
    assert measured > 0.3  # a real process's peak RSS (torch alone is more than this)
    assert ratio == pytest.approx(planned / measured, abs=0.03)  # the printed figures are rounded
    assert code == (0 if abs(ratio - 1) <= 0.25 else 1)


def test_sampling_plans_the_engine_alone_worked_by_hand() -> None:
    # r1train sample: no optimizer, gradients, activations or GPU copy of the policy; vLLM's share is the peak
    parts = estimate(seven_b(gpus=1, strategy="ddp", gpu_memory_utilization=0.85, generate_only=True))
    assert parts["policy weights"] == 0 and "optimizer" not in parts and "activations" not in parts
    assert parts["training phase"] == 0
    assert parts["generation phase"] == pytest.approx(0.85 * 80 * GIB)  # weights + buffers + the KV cache that fills it
    assert parts["peak"] == parts["generation phase"]
    cpu = estimate(seven_b(gpus=1, strategy="ddp", generate_only=True, cpu=True, cpu_kv_cache_gib=2.0))
    assert cpu["policy weights"] == 4 * 7_615_616_512  # the host copy sample loads, float32 on CPU


def test_a_sample_recipe_is_planned_as_sampling_by_default(capsys) -> None:
    assert SAMPLE_RECIPES, "the shipped recipes include rejection-sampling ones"
    recipe = str(REPO / "recipes" / "rejection-sample-math.yaml")
    assert main([recipe, "--gpus", "1", "--gpu-mem", "80"]) == 0
    out = capsys.readouterr().out
    first, last = out.splitlines()[0], out.rstrip().splitlines()[-1]
    assert first.endswith("r1train sample (generation only)") and last == "fits"
    assert "optimizer" not in out and "4096 sequences" in out  # 512 prompts per call x 8 samples
    assert main([recipe, "--gpus", "1", "--gpu-mem", "80", "--command", "train"]) == 1  # trained, a 7B does not fit
    assert "r1train sample" not in capsys.readouterr().out
