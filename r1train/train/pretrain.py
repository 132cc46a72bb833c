"""``r1train pretrain RECIPE``: pretrain a tiny base model on a synthetic corpus (next-token prediction).

This makes the pocket lab's base model (``recipes/pocket-base.yaml`` -> ``r1train/assets/pocket-base``):
a model that can reason but rarely does. The corpus (:mod:`r1train.data.corpus`) answers most problems
directly and shows the work in ``<think>…</think>`` for a minority; the model goes through exactly the
same model and tokenizer code as training (``tiny:<size>`` or any local checkpoint), so the RL run loads
the result like any other checkpoint.

The recipe maps onto :class:`PretrainConfig` with the same machinery (and the same one-sentence errors,
``section.key=value`` overrides) as training recipes. The run is reproducible from the recipe and its
seed: the model initialisation, the corpus and the batch order are all seeded.

At the end it measures the base on held-out problems (:func:`r1train.telemetry.summary.evaluate`): how often it
thinks when sampled, and how accurate it is when made to answer directly or to think first, and writes
``pretrain_summary.json`` next to the model.

Use::

    r1train pretrain recipes/pocket-base.yaml [train.steps=200 …]
    # python: r1train.pretrain.main(["recipes/pocket-base.yaml", "train.steps=200"])
"""

from __future__ import annotations

import argparse
import json
import math
import random
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from r1train import config as config_lib
from r1train import recipe
from r1train.data.corpus import Document, build_corpus
from r1train.errors import UserError


@dataclass(frozen=True)
class PretrainModelConfig:
    name_or_path: str = "tiny:1m"  # tiny:<size> (initialised with train.seed) or a local checkpoint
    save_dtype: Literal["float32", "bfloat16", "float16"] = "float32"


@dataclass(frozen=True)
class CorpusConfig:
    task: str = "chain"  # a synthetic task with a worked-solution writer (r1train/data/corpus.py)
    options: dict[str, Any] = field(default_factory=lambda: {"min_ops": 2, "ops": 6})
    size: int = 100_000  # documents
    think_fraction: float = 0.6  # share of documents that show the work in <think>…</think>
    think_start_fraction: float = 1.0  # share of worked documents whose opening <think> token is learned
    template: str = "pocket"  # the prompt template the RL recipe uses (r1train/data/templates.py)
    holdout_seed: int = 0  # the RL recipe's train.seed: its held-out questions are kept out of the corpus
    holdout_size: int = 1024


@dataclass(frozen=True)
class PretrainTrainConfig:
    steps: int = 0  # 0 = one pass over the corpus
    batch_size: int = 64
    lr: float = 3.0e-3
    weight_decay: float = 0.1
    warmup_steps: int = 100
    schedule: Literal["constant", "linear", "cosine"] = "cosine"
    max_grad_norm: float = 1.0
    prompt_loss: bool = False  # also predict the prompt tokens (they are random digits: noise)
    seed: int = 0
    threads: int = 0  # torch CPU threads; 0 = torch's default
    log_every: int = 100
    output_dir: str = "runs/pocket-base"
    overwrite: bool = False
    copy_to: str | None = None  # also copy the final model here (e.g. r1train/assets/pocket-base)


@dataclass(frozen=True)
class PretrainEvalConfig:
    size: int = 256  # held-out problems measured at the end (0 = skip)
    temperature: float = 1.0
    max_new_tokens: int = 48


@dataclass(frozen=True)
class PretrainConfig:
    model: PretrainModelConfig = field(default_factory=PretrainModelConfig)
    corpus: CorpusConfig = field(default_factory=CorpusConfig)
    train: PretrainTrainConfig = field(default_factory=PretrainTrainConfig)
    eval: PretrainEvalConfig = field(default_factory=PretrainEvalConfig)
    description: str = ""


def load_pretrain_recipe(path: str | Path, overrides: list[str] | None = None) -> PretrainConfig:
    """Read a pretraining recipe (YAML + ``section.key=value`` overrides) into a :class:`PretrainConfig`."""
    data = recipe.apply_overrides(recipe.read_yaml(path), list(overrides or []))
    where = str(path) + (" (with overrides)" if overrides else "")
    cfg = config_lib.from_dict(PretrainConfig, data, where)
    if cfg.train.batch_size < 1 or cfg.corpus.size < 1:
        raise UserError(f"'train.batch_size' and 'corpus.size' in {where} must be at least 1")
    return cfg


def is_pretrain_recipe(path: str | Path) -> bool:
    """Whether the YAML at ``path`` is a pretraining recipe (it has a ``corpus`` section) rather than a
    training one; ``r1train check`` uses this to validate either kind."""
    try:
        return "corpus" in recipe.read_yaml(path)
    except UserError:
        return False


def check(path: str | Path, overrides: list[str] | None = None) -> str:
    """Validate a pretraining recipe; returns it resolved as YAML (what ``r1train check`` prints)."""
    from dataclasses import asdict

    import yaml

    from r1train.data import tasks, templates
    from r1train.data.corpus import WORKERS

    cfg = load_pretrain_recipe(path, overrides)
    templates.get(cfg.corpus.template)
    if cfg.corpus.task not in WORKERS or cfg.corpus.task not in tasks.TASKS:
        raise UserError(f"corpus.task {cfg.corpus.task!r} in {path} has no worked-solution writer; use one of {', '.join(sorted(WORKERS))}")
    return yaml.safe_dump(asdict(cfg), sort_keys=False).rstrip()


# ---------------------------------------------------------------------------------------------------
# Tokenised examples and batches.


@dataclass(frozen=True)
class Example:
    ids: list[int]  # prompt + completion + eos
    prompt_len: int
    learn_start: bool = True  # False: no loss on the first completion token (the opening <think>)


def encode(docs: list[Document], tokenizer: Any, template: str) -> list[Example]:
    """Template each question, then tokenise prompt and completion (+ eos) separately and join them."""
    from r1train.data import templates

    fn = templates.get(template)
    out = []
    for d in docs:
        prompt = tokenizer(fn(d.question, tokenizer, None), add_special_tokens=False)["input_ids"]
        completion = tokenizer(d.completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        out.append(Example(prompt + completion, len(prompt), d.learn_start))
    return out


def length_grouped_batches(examples: list[Example], batch_size: int, seed: int) -> list[list[Example]]:
    """Shuffle, sort by length inside windows of 64 batches (less padding), then shuffle the batches."""
    rng = random.Random(f"batches-{seed}")
    order = list(examples)
    rng.shuffle(order)
    window = batch_size * 64
    batches = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda e: len(e.ids))
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def collate(batch: list[Example], pad_id: int, prompt_loss: bool) -> tuple[Any, Any, Any]:
    """(input_ids, attention_mask, labels), right-padded; labels are -100 on padding (and the prompt, and
    the first completion token of an example that does not learn its start)."""
    import torch

    width = max(len(e.ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)  # (B, T)
    mask = torch.zeros((len(batch), width), dtype=torch.long)  # (B, T)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)  # (B, T)
    for row, e in enumerate(batch):
        n = len(e.ids)
        ids[row, :n] = torch.tensor(e.ids)
        mask[row, :n] = 1
        first = 0 if prompt_loss else e.prompt_len
        labels[row, first:n] = ids[row, first:n]
        if not e.learn_start:
            labels[row, e.prompt_len] = -100
    return ids, mask, labels


# ---------------------------------------------------------------------------------------------------
# The run.


def _prepare_output(cfg: PretrainConfig) -> Path:
    out = Path(cfg.train.output_dir).expanduser()
    if out.is_dir() and any(out.iterdir()):
        if not cfg.train.overwrite:
            raise UserError(
                f"train.output_dir {str(out)!r} is not empty; choose a new directory or set train.overwrite=true"
            )
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    from dataclasses import asdict

    import yaml

    (out / "pretrain_recipe.yaml").write_text(yaml.safe_dump(asdict(cfg), sort_keys=False))
    return out


def _load(cfg: PretrainConfig) -> tuple[Any, Any]:
    from r1train.config import ModelConfig
    from r1train.models.load import ModelSource, load_model, load_tokenizer, resolve_source

    name = cfg.model.name_or_path
    if name.startswith("tiny:"):
        from r1train.models.tiny import materialise

        source = ModelSource(str(materialise(name, seed=cfg.train.seed)))
    else:
        source = resolve_source(ModelConfig(name_or_path=name))
    mcfg = ModelConfig(name_or_path=source.path, dtype="float32")
    return load_tokenizer(source), load_model(mcfg, source, "cpu")


def pretrain(cfg: PretrainConfig) -> Path:
    """Pretrain as the recipe says; returns the directory of the saved model (``<output_dir>/model``)."""
    import torch

    from r1train.train.optim import lr_factor

    t = cfg.train
    if t.threads > 0:
        torch.set_num_threads(t.threads)
    out = _prepare_output(cfg)
    random.seed(t.seed)
    torch.manual_seed(t.seed)
    tokenizer, model = _load(cfg)
    c = cfg.corpus
    docs = build_corpus(
        c.task, c.options, c.size, c.think_fraction, t.seed, c.holdout_seed, c.holdout_size, c.think_start_fraction
    )
    examples = encode(docs, tokenizer, c.template)
    steps = t.steps or math.ceil(len(examples) / t.batch_size)
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.dim() >= 2]
    no_decay = [p for p in params if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": t.weight_decay}, {"params": no_decay, "weight_decay": 0.0}], lr=t.lr
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, t.warmup_steps, steps, t.schedule))
    worked = sum(d.worked for d in docs)
    print(f"r1train pretrain: {len(docs)} documents ({worked} worked), {steps} steps of {t.batch_size}", flush=True)
    model.train()
    log_path = out / "pretrain_metrics.jsonl"
    t0 = time.perf_counter()
    tokens = 0
    losses: list[float] = []
    step = 0
    epoch = 0
    while step < steps:
        for batch in length_grouped_batches(examples, t.batch_size, t.seed + epoch):
            if step >= steps:
                break
            ids, mask, labels = collate(batch, tokenizer.pad_token_id, t.prompt_loss)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, t.max_grad_norm)
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            tokens += int(mask.sum())
            losses.append(float(loss.detach()))
            if step % t.log_every == 0 or step == steps:
                elapsed = time.perf_counter() - t0
                row = {"step": step, "loss": sum(losses) / len(losses), "lr": scheduler.get_last_lr()[0],
                       "tokens_per_s": tokens / elapsed, "elapsed_s": elapsed}
                losses.clear()
                with log_path.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                eta = elapsed / step * (steps - step)
                print(f"step {step}/{steps}  loss {row['loss']:.4f}  {row['tokens_per_s']:.0f} tok/s  eta {eta:.0f}s", flush=True)
        epoch += 1
    model.eval()
    target = save(model, tokenizer, out / "model", cfg.model.save_dtype)
    report = {"steps": step, "documents": len(docs), "worked_documents": worked, "wall_s": time.perf_counter() - t0}
    if cfg.eval.size > 0:
        report.update(measure_base(model, tokenizer, cfg))
    (out / "pretrain_summary.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if t.copy_to:
        dest = Path(t.copy_to)
        shutil.rmtree(dest, ignore_errors=True)
        shutil.copytree(target, dest)
        print(f"r1train pretrain: copied the model to {dest}")
    return target


def save(model: Any, tokenizer: Any, target: Path, dtype: str) -> Path:
    """Save model (in ``dtype``, safetensors) and tokenizer in Hugging Face format."""
    import torch

    model.to(getattr(torch, dtype)).save_pretrained(target, safe_serialization=True)
    model.to(torch.float32)
    tokenizer.save_pretrained(target)
    return target


def measure_base(model: Any, tokenizer: Any, cfg: PretrainConfig) -> dict[str, Any]:
    """Held-out figures of the base: sampled think rate/accuracy, and accuracy forced direct or thinking."""
    from r1train.config import DataConfig
    from r1train.data import tasks
    from r1train.data.prompts import apply_template
    from r1train.rollout.hf import HFEngine
    from r1train.telemetry.summary import evaluate

    c, e = cfg.corpus, cfg.eval
    opts = {k: v for k, v in c.options.items() if k not in tasks.OPTION_KEYS}
    _, held = tasks.generate(c.task, {**opts, "train_size": 0, "eval_size": e.size}, c.holdout_seed)
    rows = apply_template(held, DataConfig(source="synthetic:" + c.task, template=c.template), tokenizer, "question", "answer")
    engine = HFEngine(model, tokenizer)
    kw = {"max_new_tokens": e.max_new_tokens, "temperature": e.temperature, "seed": cfg.train.seed}
    sampled = evaluate(engine, tokenizer, rows, **kw)
    direct = evaluate(engine, tokenizer, rows, prefix="<answer>", **kw)
    think = evaluate(engine, tokenizer, rows, prefix="<think>", **kw)
    return {
        "sampled": sampled,
        "accuracy_forced_direct": direct["accuracy"],
        "accuracy_forced_think": think["accuracy"],
        "accuracy_forced_direct_by_level": direct.get("accuracy_by_level", {}),
        "accuracy_forced_think_by_level": think.get("accuracy_by_level", {}),
    }


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="r1train pretrain", description="Pretrain a tiny base model on a synthetic corpus.")
    p.add_argument("recipe", help="path to a pretraining recipe, e.g. recipes/pocket-base.yaml")
    p.add_argument("overrides", nargs="*", help="section.key=value overrides, e.g. train.steps=200")
    return p


def main(argv: list[str]) -> int:
    """``r1train pretrain RECIPE [overrides]``; user mistakes raise :class:`UserError` (the CLI prints it)."""
    ns = build_parser().parse_args(argv)
    cfg = load_pretrain_recipe(ns.recipe, ns.overrides)
    target = pretrain(cfg)
    print(f"r1train: done; the pretrained model is in {target}")
    return 0
