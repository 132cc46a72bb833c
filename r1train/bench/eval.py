"""``r1train bench eval [--model tiny:3m --benchmark pocket --problems 64 --samples 4 --tokens 40]``.

Evaluation throughput of the harness on this machine, one row per rollout engine (vLLM and HF): the
whole ``r1train eval`` path (sampling through the engine, grading with the benchmark's verifier, answer
extraction and maj@k votes) on the same model, problems and sampling settings. Each engine is started
once, warmed up on a few problems (first calls build kernels and caches), then timed over ``--problems``
problems, ``--repeats`` times (median). Prints problems/s, samples/s and generated tokens/s per engine and
the vLLM / HF speed-up; asserts nothing. On CPU, use a tiny model (the default).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="r1train bench eval", description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="tiny:3m", help="hub id, local dir, run dir or tiny:<size>")
    parser.add_argument("--benchmark", default="pocket", help="a registered benchmark (default pocket, shipped)")
    parser.add_argument("--data", default=None, help="a local .jsonl/.parquet for the benchmark (offline)")
    parser.add_argument("--problems", type=int, default=64)
    parser.add_argument("--samples", type=int, default=4, help="samples per problem (n)")
    parser.add_argument("--tokens", type=int, default=40, help="max new tokens per sample")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--engines", default="vllm,hf", help="comma-separated engines to time")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--dtype", default="auto")
    return parser.parse_args(argv)


def time_engine(name: str, args: argparse.Namespace, preps: list[Any], settings: Any, tokenizer: Any, source: Any) -> dict[str, Any]:
    """Start engine ``name``, warm it up, and time full evaluations of ``preps``."""
    from eval import runner

    start = time.perf_counter()
    engine = runner.open_engine(args.model, name, args.dtype, preps, settings.seed, tokenizer, source)
    startup = time.perf_counter() - start
    warm = [runner.Prepared(p.bench, p.problems[:2], p.prompts[:2], p.prompt_ids[:2], p.max_new_tokens) for p in preps]
    runner.evaluate_with(engine, warm, settings)
    times, results, records = [], {}, {}
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        results, records = runner.evaluate_with(engine, preps, settings)
        times.append(time.perf_counter() - t0)
    close = getattr(engine, "close", None)
    if callable(close):
        close()
    t = statistics.median(times)
    recs = [r for rs in records.values() for r in rs]
    samples = sum(len(r["lengths"]) for r in recs)
    tokens = sum(sum(r["lengths"]) for r in recs)
    res = next(iter(results.values()))
    return {
        "engine": name,
        "class": type(engine).__name__,
        "startup": startup,
        "seconds": t,
        "problems/s": len(recs) / t,
        "samples/s": samples / t,
        "tokens/s": tokens / t,
        "grade_share": res["time/grade_s"] / max(res["time/generate_s"] + res["time/grade_s"], 1e-9),
        "pass@1": res["pass@1"],
    }


def main(argv: list[str]) -> int:
    args = parse(argv)
    import os

    import torch

    from eval import benchmarks, runner
    from r1train.config import ModelConfig
    from r1train.models.load import load_tokenizer, resolve_source

    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    settings = runner.Settings(
        samples=args.samples, temperature=args.temperature, max_new_tokens=args.tokens, max_problems=args.problems
    )
    source = resolve_source(ModelConfig(name_or_path=args.model))
    tokenizer = load_tokenizer(source)
    preps = [runner.prepare(benchmarks.get(args.benchmark), tokenizer, settings, args.data)]
    rows = [time_engine(e.strip(), args, preps, settings, tokenizer, source) for e in args.engines.split(",") if e.strip()]
    device = "cuda" if torch.cuda.is_available() else f"CPU ({os.cpu_count()} cores)"
    print(
        f"\neval benchmark: {args.model} on {args.benchmark} ({len(preps[0].problems)} problems x {args.samples} samples, "
        f"<= {args.tokens} new tokens, temperature {args.temperature:g}), {device}, median of {args.repeats}"
    )
    print(f"  {'engine':<16} {'start-up s':>10} {'eval s':>8} {'problems/s':>11} {'samples/s':>10} {'tokens/s':>9} {'grading %':>9} {'pass@1':>7}")
    for r in rows:
        label = r["engine"] if r["class"].lower().startswith(r["engine"]) else f"{r['engine']}->{r['class']}"
        print(
            f"  {label:<16} {r['startup']:10.1f} {r['seconds']:8.2f} {r['problems/s']:11.2f} {r['samples/s']:10.1f} "
            f"{r['tokens/s']:9.0f} {100 * r['grade_share']:9.1f} {100 * r['pass@1']:7.1f}"
        )
    by = {r["class"]: r for r in rows}
    if "VLLMEngine" in by and "HFEngine" in by:
        print(f"  vLLM / HF problems/s: {by['VLLMEngine']['problems/s'] / by['HFEngine']['problems/s']:.2f}x")
    return 0
