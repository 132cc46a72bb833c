"""``r1train eval`` and ``r1train compare``: benchmark a model, and put reports side by side.

::

    r1train eval MODEL --benchmarks math500,aime24 --samples 8 [--engine vllm|hf] [--temperature 0.6]
                 [--max-problems N] [--max-new-tokens T] [--template boxed] [--data math500=test.jsonl]
                 [--data-dir DIR] [--output report.json]
    r1train eval --list
    r1train compare base.json trained.json [--labels base,trained] [--output compare.md]

``MODEL`` is a hub id, a local model directory, a training output directory (its ``model/``) or
``tiny:<size>``. ``eval`` prints a table and, with ``--output``, writes the JSON report (see
:mod:`eval.report`); ``compare`` prints a markdown table. ``main(["eval", …])`` / ``main(["compare", …])``
is what ``r1train/cli.py`` calls; mistakes end in one ``r1train: error: …`` line and exit status 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eval import benchmarks, report, runner
from r1train.errors import UserError


def eval_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="r1train eval",
        description="Evaluate a model on reasoning benchmarks: pass@1 (mean over samples), pass@k, maj@k.",
        epilog="benchmarks: " + ", ".join(benchmarks.names()) + " (or a path to a .yaml card)",
    )
    p.add_argument("model", nargs="?", help="hub id, local model dir, training output dir, or tiny:<size>")
    p.add_argument("--benchmarks", "-b", default=None, help="comma-separated names, e.g. math500,aime24")
    p.add_argument("--samples", "-n", type=int, default=1, help="completions per problem (default 1)")
    p.add_argument("--engine", choices=["vllm", "hf"], default="vllm", help="rollout engine (default vllm; falls back to hf)")
    p.add_argument("--temperature", type=float, default=0.6, help="sampling temperature; 0 = greedy (default 0.6)")
    p.add_argument("--top-p", type=float, default=0.95, help="nucleus sampling (default 0.95)")
    p.add_argument("--max-new-tokens", type=int, default=None, help="generation budget (default: each benchmark's)")
    p.add_argument("--max-problems", type=int, default=None, help="only the first N problems of each benchmark")
    p.add_argument("--template", default=None, help="prompt template for all benchmarks (default: each benchmark's)")
    p.add_argument("--system-prompt", default=None, help="system prompt (chat template only)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"])
    p.add_argument("--data", action="append", default=[], metavar="NAME=FILE", help="a local .jsonl/.parquet for a benchmark")
    p.add_argument("--data-dir", default=None, help="a directory of <benchmark>.jsonl|.parquet files (offline use)")
    p.add_argument("--output", "-o", default=None, help="write the JSON report here")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list", action="store_true", help="list the registered benchmarks and exit")
    return p


def compare_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="r1train compare", description="Reports from `r1train eval` side by side (markdown).")
    p.add_argument("reports", nargs="+", help="two or more JSON reports")
    p.add_argument("--labels", default=None, help="comma-separated column names (default: the models)")
    p.add_argument("--output", "-o", default=None, help="also write the markdown here")
    return p


def list_benchmarks() -> str:
    rows = [benchmarks.get(n) for n in benchmarks.names()]
    width = max(len(b.name) for b in rows)
    return "\n".join(f"{b.name:<{width}}  {b.source:<40}  {b.verifier:<18}  {b.description}" for b in rows)


def parse_data(items: list[str]) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise UserError(f"--data {item!r} must look like NAME=FILE, e.g. --data math500=math500.jsonl")
        out[name.strip()] = path.strip()
    return out


def eval_main(argv: list[str]) -> int:
    ns = eval_parser().parse_args(argv)
    if ns.list:
        print(list_benchmarks())
        return 0
    if not ns.model:
        raise UserError("r1train eval needs a MODEL: a hub id, a local directory, a training output dir or tiny:<size>")
    if not ns.benchmarks:
        raise UserError(f"r1train eval needs --benchmarks, e.g. --benchmarks math500,aime24 (choose from {', '.join(benchmarks.names())})")
    if ns.samples < 1:
        raise UserError(f"--samples is {ns.samples}; it must be at least 1")
    names = [n.strip() for n in ns.benchmarks.split(",") if n.strip()]
    settings = runner.Settings(
        samples=ns.samples,
        temperature=ns.temperature,
        top_p=ns.top_p,
        max_new_tokens=ns.max_new_tokens,
        template=ns.template,
        system_prompt=ns.system_prompt,
        max_problems=ns.max_problems,
        seed=ns.seed,
    )
    rep = runner.evaluate(
        ns.model,
        names,
        settings,
        engine=ns.engine,
        data=parse_data(ns.data),
        data_dir=ns.data_dir,
        dtype=ns.dtype,
        progress=not ns.no_progress and sys.stderr.isatty(),
    )
    print(report.table(rep))
    if ns.output:
        print(f"r1train: report written to {report.write(rep, ns.output)}")
    return 0


def compare_main(argv: list[str]) -> int:
    ns = compare_parser().parse_args(argv)
    reports = [report.read(p) for p in ns.reports]
    labels = [s.strip() for s in ns.labels.split(",")] if ns.labels else report.labels_for(reports, ns.reports)
    if len(labels) != len(reports):
        raise UserError(f"--labels has {len(labels)} names for {len(reports)} reports; give one per report")
    text = report.compare(reports, labels)
    print(text)
    if ns.output:
        Path(ns.output).expanduser().write_text(text + "\n")
    return 0


def main(argv: list[str]) -> int:
    """``main(["eval", …])`` or ``main(["compare", …])``; a user's mistake prints one line, exit status 2."""
    argv = list(argv)
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    try:
        if command == "eval":
            return eval_main(rest)
        if command == "compare":
            return compare_main(rest)
        raise UserError(f"unknown command {command!r}; use eval or compare")
    except UserError as err:
        print(f"r1train: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("r1train: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
