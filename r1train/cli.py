"""The ``r1train`` command line (also ``python -m r1train``).

Sub-commands::

    r1train train RECIPE [section.key=value …]   train with GRPO (--verbose: third-party notices too)
    r1train check RECIPE [section.key=value …]   validate a recipe, its data and rewards, no model (--no-data)
    r1train sft RECIPE [section.key=value …]     supervised fine-tuning (cold start, distillation)
    r1train sample RECIPE [section.key=value …]  sample, verify and keep: a dataset for sft (rejection sampling)
    r1train recipes                              list the shipped recipes
    r1train rewards                              list the registered reward functions
    r1train eval MODEL -b gsm8k,math500 -k 8     evaluate on benchmarks (pass@1, pass@k, maj@k)
    r1train compare A.json B.json                reports side by side (markdown)
    r1train pretrain RECIPE [overrides …]        pretrain a tiny base model (the pocket lab)
    r1train bench NAME [args …]                  run a benchmark (r1train/bench/NAME.py)
    r1train serve MODEL [vllm options]           start a vLLM server for rollout.engine=vllm-server
    r1train plan RECIPE --gpus N --gpu-mem G     estimate memory per device and whether it fits (--cpu)

Mistakes a user can make end in one line ``r1train: error: …`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from pathlib import Path

from r1train.errors import UserError

REPO_ROOT = Path(__file__).resolve().parents[1]


def recipes_dir() -> Path:
    """``./recipes`` when run from a checkout, else the one next to the installed package."""
    here = Path.cwd() / "recipes"
    return here if here.is_dir() else REPO_ROOT / "recipes"


def bench_names() -> list[str]:
    import r1train.bench as bench

    return sorted(m.name for m in pkgutil.iter_modules(bench.__path__) if not m.name.startswith("_"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="r1train",
        description="Train language models to reason with RL from verifiable rewards (R1-Zero style GRPO).",
        epilog="Start with: r1train train recipes/pocket-zero.yaml   (see `r1train recipes`)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    for name, help_text in (("train", "train a policy with GRPO from a recipe"), ("check", "validate a recipe and print it resolved"),
                            ("sft", "supervised fine-tuning from a recipe (cold start, distillation)"),
                            ("sample", "sample N answers per prompt, verify them, keep some as an sft dataset")):
        p = sub.add_parser(name, help=help_text, description=help_text + ".")
        p.add_argument("recipe", help="path to a recipe YAML (see `r1train recipes`)")
        p.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.steps=50 optim.lr=1e-5")
        if name == "check":
            p.add_argument("--no-data", action="store_true", help="do not read the data source (e.g. offline)")
        else:
            p.add_argument("--verbose", action="store_true", help="show third-party notices (vLLM, warnings, loading bars)")

    sub.add_parser("eval", help="evaluate a model on benchmarks: pass@1, pass@k, maj@k", add_help=False)
    sub.add_parser("compare", help="eval reports side by side as a markdown table", add_help=False)
    sub.add_parser("recipes", help="list the shipped recipes with one-line descriptions")
    sub.add_parser("rewards", help="list the registered reward functions")

    b = sub.add_parser("bench", help="run a benchmark that prints its figures", add_help=False)
    b.add_argument("name", nargs="?", help="benchmark name")
    b.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the benchmark (try NAME --help)")

    pt = sub.add_parser("pretrain", help="pretrain a tiny base model on a synthetic corpus (the pocket lab)", add_help=False)
    pt.add_argument("args", nargs=argparse.REMAINDER, help="RECIPE [section.key=value …] (try pretrain --help)")

    pl = sub.add_parser("plan", help="estimate GPU memory per device for a recipe", add_help=False)
    pl.add_argument("args", nargs=argparse.REMAINDER, help="RECIPE [overrides] --gpus N --gpu-mem G (try plan --help)")

    s = sub.add_parser("serve", help="start a vLLM server for rollout.engine=vllm-server", add_help=False)
    s.add_argument("args", nargs=argparse.REMAINDER, help="MODEL [vllm options] (try serve --help)")
    return parser


def cmd_check(recipe: str, overrides: list[str], read_data: bool = True) -> int:
    """Everything that needs no model: the recipe resolved, a few data rows and their columns, the rewards."""
    import yaml

    from r1train.data.prompts import peek
    from r1train.recipe import load_recipe, resolve
    from r1train.train import pretrain
    from r1train.train.scoring import load

    if pretrain.is_pretrain_recipe(recipe):
        print(pretrain.check(recipe, overrides))
        print(f"r1train: {recipe} is valid")
        return 0
    cfg = resolve(load_recipe(recipe, overrides), where=recipe)  # every check train runs before loading
    load(cfg.rewards)  # reward names resolve
    rows = peek(cfg.data) if read_data else None  # the source opens and has the columns the recipe names
    kind = recipe_kind(recipe)
    if kind != "train":
        importlib.import_module(f"r1train.train.{kind}").check(cfg, recipe)  # sft / sample: their own section
    print(yaml.safe_dump(cfg.to_dict(), sort_keys=False).rstrip())
    if rows is None:
        print(f"r1train: data {cfg.data.source} not read (--no-data)")
    else:
        print(f"r1train: data {cfg.data.source}: columns {', '.join(rows[0])} (read {len(rows)} rows)")
    print(f"r1train: {recipe} is valid")
    return 0


def recipe_kind(recipe: str) -> str:
    """``train``, or ``sft`` / ``sample`` for a recipe whose YAML has that section."""
    from r1train.recipe import read_yaml

    data = read_yaml(recipe)
    return next((k for k in ("sft", "sample") if k in data), "train")


def cmd_train(recipe: str, overrides: list[str], verbose: bool = False, command: str = "train") -> int:
    from r1train.telemetry.console import quiet_third_party

    quiet_third_party(verbose)  # before vLLM, torch and transformers are imported
    from r1train.recipe import load_recipe
    from r1train.train.run import Stopped, train

    cfg = load_recipe(recipe, overrides)
    if command != "train":
        train = getattr(importlib.import_module(f"r1train.train.{command}"), command)  # sft.sft, sample.sample
    try:
        result = train(cfg)
    except Stopped as stop:
        print(f"r1train: {stop}", file=sys.stderr)
        return 143 if "SIGTERM" in str(stop) else 130
    what = {"train": "metrics, completions and the model", "sft": "metrics and the model",
            "sample": "the dataset and its card"}[command]
    print(f"r1train: done; {what} are in {result.output_dir}")
    return 0


def cmd_recipes() -> int:
    from r1train.recipe import first_comment_line

    root = recipes_dir()
    paths = sorted(p for p in root.rglob("*.yaml") if "accelerate" not in p.parts)
    if not paths:
        print(f"r1train: no recipes found under {root}")
        return 0
    width = max(len(str(p.relative_to(root.parent))) for p in paths)
    for p in paths:
        print(f"{str(p.relative_to(root.parent)):<{width}}  {first_comment_line(p)}")
    return 0


def cmd_rewards() -> int:
    import rewards

    names = rewards.names()
    width = max(len(n) for n in names)
    for name in names:
        print(f"{name:<{width}}  {rewards.describe(name)}")
    return 0


def cmd_bench(name: str | None, args: list[str]) -> int:
    names = bench_names()
    if not name or name in ("-h", "--help"):
        print("usage: r1train bench NAME [args …]\n\nbenchmarks: " + ", ".join(names))
        return 0
    if name not in names:
        raise UserError(f"unknown benchmark {name!r}; choose one of {', '.join(names)}")
    module = importlib.import_module(f"r1train.bench.{name}")
    return int(module.main(list(args)) or 0)


def cmd_serve(args: list[str]) -> int:
    from r1train.rollout import serve

    return int(serve.main(list(args)) or 0)


def _pretrain(args: list[str]) -> int:
    from r1train.train import pretrain

    return int(pretrain.main(args) or 0)


def _plan(args: list[str]) -> int:
    from r1train.runtime import plan

    return int(plan.main(args) or 0)


def _eval(argv: list[str]) -> int:
    from eval.cli import main as eval_main

    return int(eval_main(argv) or 0)


# Commands with parsers of their own: everything after the command name is theirs (their --help too).
PASSTHROUGH = {
    "bench": lambda args: cmd_bench(args[0] if args else None, args[1:]),
    "serve": cmd_serve,
    "pretrain": _pretrain,
    "plan": _plan,
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    if not argv or argv[0] != "train":  # train sets its own (r1train/telemetry/console.py)
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")  # vLLM logs every weight reload at INFO
    try:
        if argv and argv[0] in ("eval", "compare"):
            return _eval(argv)  # eval's CLI takes the command name itself
        if argv and argv[0] in PASSTHROUGH:
            return PASSTHROUGH[argv[0]](argv[1:])
        parser = build_parser()
        ns = parser.parse_args(argv)
        if ns.command in ("train", "sft", "sample"):
            return cmd_train(ns.recipe, ns.overrides, verbose=ns.verbose, command=ns.command)
        if ns.command == "check":
            return cmd_check(ns.recipe, ns.overrides, read_data=not ns.no_data)
        if ns.command == "recipes":
            return cmd_recipes()
        if ns.command == "rewards":
            return cmd_rewards()
        parser.print_help()
        return 0
    except UserError as err:
        print(f"r1train: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("r1train: interrupted", file=sys.stderr)
        return 130
