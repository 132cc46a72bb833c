"""Before/after evaluation on held-out problems, ``summary.json`` and the printed table.

The pocket lab's claim is a comparison: the same held-out problems, sampled the same way, before RL and
after. :func:`evaluate` samples one completion per problem with the run's own rollout engine and
sampling settings, scores it with the correctness reward, and measures accuracy, mean response length,
think rate and reflection rate (:mod:`r1train.telemetry.reasoning`). :func:`write_summary` writes
``<output_dir>/summary.json`` and returns the before/after table that the run prints.

Use (what the trainer does around its loop)::

    before = evaluate_held_out(engine, tokenizer, prompts.held_out[: cfg.train.eval_size], cfg, reward_fns[0])
    ...train...
    after = evaluate_held_out(engine, tokenizer, prompts.held_out[: cfg.train.eval_size], cfg, reward_fns[0])
    print(write_summary(out_dir, before, after, steps, wall_s))
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from r1train import envs
from r1train.config import RewardSpec
from r1train.data import templates
from r1train.rollout.base import Sampling
from r1train.telemetry import reasoning
from r1train.telemetry.tools import held_out_tool_figures
from r1train.train import scoring
from r1train.train.scoring import RewardFunction

if TYPE_CHECKING:
    from r1train.config import Config
    from r1train.envs import EnvSpec

SUMMARY_KEYS = ("accuracy", "length", "think_rate", "reflection_rate")
TOOL_KEYS = ("tool_call_rate", "turns", "tool_errors")
EVAL_SEED = 1234  # the same samples before and after (the policy differs, the random stream does not)


def evaluate(
    engine: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    *,
    max_new_tokens: int,
    temperature: float = 1.0,
    seed: int = EVAL_SEED,
    prefix: str = "",
    reward: RewardFunction | None = None,
    reflection_words: Sequence[str] = reasoning.DEFAULT_REFLECTION_WORDS,
    add_special_tokens: bool = True,
    env: EnvSpec | None = None,
) -> dict[str, Any]:
    """Sample one completion per row (``prompt`` + ``prefix``) and measure it.

    ``reward`` is the correctness reward (default ``answer.exact``), called through the trainer's own
    reward stage (:func:`r1train.train.scoring.score`: its ``timeout_s``, ``on_error`` and output checks). ``prefix`` forces the completion's
    start (e.g. ``"<think>"``); it counts as part of the completion. With a multi-turn ``env`` each problem
    is an episode (tools answer as in training) and ``tool_call_rate`` and ``turns`` are added. Returns ``accuracy``, ``length``
    (mean completion tokens), ``think_rate``, ``reflection_rate``, ``accuracy_by_level``, ``n``.
    """
    if not rows:
        return {"n": 0}
    if reward is None:
        reward = scoring.load([RewardSpec(name="answer.exact")])[0]
    ids = [tokenizer(r["prompt"] + prefix, add_special_tokens=add_special_tokens)["input_ids"] for r in rows]
    sampling = Sampling(n=1, max_new_tokens=max_new_tokens, temperature=temperature, seed=seed, logprobs=False)
    if env is not None and env.multi_turn:
        rollouts = envs.generate(engine, tokenizer, list(rows), ids, sampling, env)
    else:
        rollouts = engine.generate(ids, sampling)
    texts = [prefix + r.text for r in rollouts]
    lengths = [r.policy_tokens + (1 if prefix else 0) for r in rollouts]
    columns = scoring.columns_for(list(rows), list(range(len(rows))), lengths)
    scores = scoring.score([reward], texts, columns).per_function[reward.name]
    m = reasoning.step_metrics(texts, lengths, scores, columns.get("level"), reflection_words)
    by_level = {k.removeprefix("accuracy/level_"): v for k, v in m.items() if k.startswith("accuracy/level_")}
    return {
        "n": len(rows),
        "accuracy": m["accuracy"],
        "length": sum(lengths) / len(lengths),
        "think_rate": m["reasoning/think_rate"],
        "reflection_rate": m["reasoning/reflection_rate"],
        "accuracy_think": m["accuracy/think"],
        "accuracy_direct": m["accuracy/direct"],
        "accuracy_by_level": by_level,
        "examples": texts[:3],
        **held_out_tool_figures(rollouts),
    }


def evaluate_held_out(
    engine: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], cfg: Config, reward: RewardFunction
) -> dict[str, Any]:
    """:func:`evaluate` with a training recipe's settings: its sampling, and ``reward``, its first
    (correctness) reward as the trainer loaded it (with the recipe's args, timeout and on_error)."""
    words = getattr(cfg.logging, "reflection_words", reasoning.DEFAULT_REFLECTION_WORDS)
    return evaluate(
        engine,
        tokenizer,
        rows,
        max_new_tokens=cfg.rollout.max_new_tokens,
        temperature=cfg.rollout.temperature,
        reward=reward,
        reflection_words=words,
        add_special_tokens=not templates.get(cfg.data.template).special_tokens_in_text,
        env=envs.load(cfg.env),
    )


def write_summary(out_dir: str | Path, before: dict[str, Any], after: dict[str, Any], steps: int, wall_s: float) -> str:
    """Write ``summary.json`` (``accuracy_before``, ``accuracy_after``, … ``steps``, ``wall_s``) and
    return the before/after table as text (the caller prints it)."""
    summary: dict[str, Any] = {"steps": steps, "wall_s": round(wall_s, 1), "held_out": before.get("n", 0)}
    for key in SUMMARY_KEYS:
        summary[f"{key}_before"] = before.get(key)
        summary[f"{key}_after"] = after.get(key)
    summary["accuracy_by_level_before"] = before.get("accuracy_by_level", {})
    summary["accuracy_by_level_after"] = after.get("accuracy_by_level", {})
    for key in TOOL_KEYS:  # multi-turn runs only
        if key in before or key in after:
            summary[f"{key}_before"] = before.get(key)
            summary[f"{key}_after"] = after.get(key)
    for key in ("accuracy_think", "accuracy_direct", "examples"):
        summary[f"{key}_before"] = before.get(key)
        summary[f"{key}_after"] = after.get(key)
    path = Path(out_dir) / "summary.json"
    path.write_text(json.dumps(_clean(summary), indent=2) + "\n")
    return format_table(before, after, steps, wall_s)


def format_table(before: dict[str, Any], after: dict[str, Any], steps: int, wall_s: float) -> str:
    """A fixed-width before/after table of the held-out figures."""
    lines = [f"held-out problems: {before.get('n', 0)}   steps: {steps}   wall time: {wall_s:.0f} s",
             f"{'':<22}{'before':>10}{'after':>10}"]
    names = {"accuracy": "accuracy", "length": "mean length (tokens)", "think_rate": "think rate",
             "reflection_rate": "reflection rate", "tool_call_rate": "tool-call rate", "turns": "turns per episode"}
    for key, label in names.items():
        if key in TOOL_KEYS and key not in before:
            continue
        lines.append(f"{label:<22}{_fmt(before.get(key), key):>10}{_fmt(after.get(key), key):>10}")
    levels = sorted(set(before.get("accuracy_by_level", {})) | set(after.get("accuracy_by_level", {})))
    if len(levels) > 1:
        for level in levels:
            b = before.get("accuracy_by_level", {}).get(level)
            a = after.get("accuracy_by_level", {}).get(level)
            lines.append(f"{'accuracy, level ' + level:<22}{_fmt(b, 'accuracy'):>10}{_fmt(a, 'accuracy'):>10}")
    return "\n".join(lines)


def _fmt(value: Any, key: str) -> str:
    if value is None or value != value:  # None or NaN
        return "-"
    if key == "turns":
        return f"{value:.2f}"
    return f"{value:.1f}" if key == "length" else f"{100 * value:.1f}%"


def _clean(value: Any) -> Any:
    """NaN becomes null so that any JSON reader loads the file."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def read_summary(out_dir: str | Path) -> dict[str, Any]:
    """The ``summary.json`` of a run."""
    return json.loads((Path(out_dir) / "summary.json").read_text())
