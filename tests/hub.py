"""An offline Hugging Face cache holding tiny stand-ins under the real hub ids the recipes and cards name.

``build(root)`` writes, under ``root``, exactly what a machine that once ran the real downloads holds:

* ``hub/`` (``HF_HUB_CACHE``): ``models--Qwen--Qwen2.5-Math-1.5B/{blobs,refs/main,snapshots/<commit>}``
  for every model id in :data:`MODELS`: a random ``tiny:1m`` Qwen2 model and its Qwen2 tokenizer
  (:mod:`r1train.models.tiny`), saved with ``save_pretrained``, files stored as blobs with snapshot
  symlinks the way ``huggingface_hub`` stores them; and ``datasets--<org>--<name>`` repos with the
  dataset's parquet files in the hub's layout (``<config>/<split>-00000-of-00001.parquet`` behind a
  README ``configs:`` block, or ``data/<split>-…`` for the default config).
* ``datasets/`` (``HF_DATASETS_CACHE``): what ``datasets.load_dataset(<id>, <config>)`` prepared from
  that repo: ``<org>___<name>/<config>/0.0.0/<hash>/`` with ``dataset_info.json`` and
  ``<name>-<split>.arrow``. Offline (``HF_HUB_OFFLINE=1``) ``load_dataset`` cannot ask the hub for the
  repo (``datasets.load.dataset_module_factory`` raises ``ConnectionError`` before any download) and
  falls back to ``CachedDatasetModuleFactory``, which globs exactly this directory; the arrow files are
  written by ``datasets``' own parquet builder run on the repo snapshot, not by hand.

Only the weights and the rows are small; ids, configs, splits and column names are the real ones
(:data:`DATASETS`). ``tests/conftest.py`` points ``HF_HOME``/``HF_HUB_CACHE``/``HF_DATASETS_CACHE`` at a
temporary root before anything imports ``huggingface_hub``, and the ``hub_cache`` session fixture builds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

# Every model id a shipped recipe, README command or eval example names.
MODELS = (
    "Qwen/Qwen2.5-Math-1.5B",
    "Qwen/Qwen2.5-Math-7B",
    "Qwen/Qwen2.5-3B",
    "Qwen/Qwen2.5-7B",
    "Qwen/Qwen2.5-0.5B-Instruct",
    "Qwen/Qwen2.5-Coder-1.5B-Instruct",
    "Qwen/Qwen2.5-Coder-7B-Instruct",
)

def _code_example(adapter: str) -> dict[str, Any]:
    from r1train.data import code_rows

    return dict(code_rows.get(adapter).example)


_MATH_SOLUTION = "Since $1+1=2$, the answer is $\\boxed{2}$."

def _openr1_row(n: int) -> dict[str, Any]:
    """A row of open-r1/OpenR1-Math-220k with all of its columns: R1's generations with their checks, and
    ``messages`` (role/content), whose last, assistant turn is the one R1 trace kept for SFT."""
    trace = (f"<think>\nI add {n} and {n}: {n}+{n}={2 * n}.\n</think>\n\n"
             f"${n}+{n}={2 * n}$, so the answer is $\\boxed{{{2 * n}}}$.")
    return {"problem": f"What is ${n}+{n}$?", "solution": f"${n}+{n}={2 * n}$", "answer": str(2 * n),
            "problem_type": "Algebra", "question_type": "math-word-problem", "source": "olympiads",
            "uuid": f"{n:08d}-0000-5000-8000-000000000000", "is_reasoning_complete": [True, True],
            "generations": [trace, trace], "correctness_math_verify": [True, True], "correctness_llama": [True, False],
            "finish_reasons": ["stop", "stop"], "correctness_count": 2,
            "messages": [{"content": f"What is ${n}+{n}$?", "role": "user"}, {"content": trace, "role": "assistant"}]}


# (id, config or None) -> {split: rows}; columns as the real datasets have them.
DATASETS: dict[tuple[str, str | None], dict[str, list[dict[str, Any]]]] = {
    ("openai/gsm8k", "main"): {
        split: [{"question": f"Tom has {n} apples and buys 2 more. How many does he have?",
                 "answer": f"He has {n}+2=<<{n}+2={n + 2}>>{n + 2} apples.\n#### {n + 2}"} for n in range(1, 5)]
        for split in ("train", "test")
    },
    ("DigitalLearningGmbH/MATH-lighteval", None): {
        split: [{"problem": f"What is ${n}+1$?", "level": f"Level {n + 2}", "solution": f"$\\boxed{{{n + 1}}}$",
                 "type": "Algebra"} for n in range(1, 5)]
        for split in ("train", "test")
    },
    ("open-r1/DAPO-Math-17k-Processed", "en"): {
        "train": [{"prompt": f"Compute ${n}\\cdot 3$.", "solution": str(3 * n), "data_source": "math_dapo",
                   "source_prompt": [{"content": f"Compute ${n}\\cdot 3$.", "role": "user"}], "ability": "MATH",
                   "reward_model": {"ground_truth": str(3 * n), "style": "rule-lighteval/MATH_v2"},
                   "extra_info": {"index": f"id-{n}"}} for n in range(1, 5)]
    },
    ("HuggingFaceH4/MATH-500", None): {
        "test": [{"problem": f"What is ${n}+{n}$?", "solution": f"$\\boxed{{{2 * n}}}$", "answer": str(2 * n),
                  "subject": "Prealgebra", "level": n, "unique_id": f"test/prealgebra/{n}.json"} for n in range(1, 4)]
    },
    ("HuggingFaceH4/aime_2024", None): {
        "train": [{"id": 60 + n, "problem": f"Find ${n}^2$.", "solution": f"${n}^2={n * n}$", "answer": str(n * n),
                   "url": "https://artofproblemsolving.com/wiki", "year": "2024"} for n in range(1, 4)]
    },
    ("yentinglin/aime_2025", None): {
        "train": [{"id": n, "problem": f"Find ${n}^3$.", "solution": f"{n ** 3}", "answer": str(n ** 3),
                   "url": "https://artofproblemsolving.com/wiki", "year": "2025"} for n in range(1, 4)]
    },
    ("math-ai/amc23", None): {
        "test": [{"id": n, "question": f"What is ${n}+3$?", "answer": float(n + 3), "url": "https://aops.com"}
                 for n in range(1, 4)]
    },
    ("math-ai/minervamath", None): {
        "test": [{"question": f"Compute ${n}\\times 5$.", "answer": str(5 * n)} for n in range(1, 4)]
    },
    ("math-ai/olympiadbench", None): {
        "test": [{"id": 1600 + n, "question": f"Find ${n}+7$.", "solution": [f"${n}+7={n + 7}$"],
                  "final_answer": [str(n + 7)], "context": None, "image_1": None, "modality": "Text-only",
                  "difficulty": "Competition", "is_multiple_answer": False, "unit": None, "answer_type": "Numerical",
                  "error": None, "question_type": "Open-ended", "subfield": "Algebra", "subject": "Math",
                  "language": "English"} for n in range(1, 4)]
    },
    ("Jiayi-Pan/Countdown-Tasks-3to4", None): {
        "train": [{"target": 10 + n, "nums": [n, 5, 5]} for n in range(1, 4)]
    },
    # config default = the repo's data/train-*.parquet; R1's traces of NuminaMath-1.5 problems, one row a problem
    ("open-r1/OpenR1-Math-220k", "default"): {"train": [_openr1_row(n) for n in range(1, 5)]},
    # code sets: rows of each dataset's own shape, the ones its row adapter (r1train/data/code_rows.py) reads
    ("KodCode/KodCode-Light-RL-10K", None): {"train": [_code_example("kodcode")] * 4},
    ("agentica-org/DeepCoder-Preview-Dataset", "primeintellect"): {"train": [_code_example("deepcoder")] * 4},
    ("google-research-datasets/mbpp", "sanitized"): {
        "test": [{"source_file": "Benchmark Questions Verification V2.ipynb", "task_id": 600 + n,
                  "prompt": f"Write a function to add {n} to a number.", "code": f"def add_{n}(x):\n    return x + {n}",
                  "test_imports": [], "test_list": [f"assert add_{n}(1) == {1 + n}", f"assert add_{n}(0) == {n}"]}
                 for n in range(1, 4)]
    },
}


# dataset repos read as raw files (a card's ``data_files``): repo -> {file name: rows, one JSON object a line}
RAW_FILES: dict[str, dict[str, list[dict[str, Any]]]] = {
    "livecodebench/code_generation_lite": {
        name: [_code_example("livecodebench")] for name in ("test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl",
                                                             "test5.jsonl")
    },
}


def commit_of(repo_id: str) -> str:
    """A fixed 40-hex commit per repo, so paths are stable from run to run."""
    return hashlib.sha1(repo_id.encode()).hexdigest()


def _store(repo_dir: Path, commit: str, files: Path) -> Path:
    """Move ``files`` into ``repo_dir`` as huggingface_hub does: content-addressed blobs, snapshot symlinks."""
    snapshot = repo_dir / "snapshots" / commit
    (repo_dir / "blobs").mkdir(parents=True, exist_ok=True)
    for src in sorted(p for p in files.rglob("*") if p.is_file()):
        blob = repo_dir / "blobs" / hashlib.sha256(src.read_bytes()).hexdigest()
        if not blob.exists():
            shutil.copyfile(src, blob)
        link = snapshot / src.relative_to(files)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (repo_dir / "refs").mkdir(exist_ok=True)
    (repo_dir / "refs" / "main").write_text(commit)
    return snapshot


def _model_files(staging: Path) -> Path:
    """A tiny Qwen2 checkpoint and tokenizer, saved the way a hub checkpoint is."""
    from r1train.models import tiny

    out = staging / "tiny-qwen2"
    tok = tiny.build_tokenizer()
    model = tiny.build_model("1m", len(tok), 0, tok.eos_token_id, tok.pad_token_id)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    tiny._declare_qwen2_tokenizer(out)
    return out


def _dataset_files(staging: Path, repo_id: str, config: str | None, splits: dict[str, list[dict]]) -> Path:
    """The dataset repo's files: parquet shards plus a README whose ``configs:`` names them."""
    import datasets

    out = staging / "datasets" / repo_id.replace("/", "--")
    folder = config if config not in (None, "default") else "data"  # the hub's folder for the default config
    for split, rows in splits.items():
        (out / folder).mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_list(rows).to_parquet(str(out / folder / f"{split}-00000-of-00001.parquet"))
    if config:
        parts = "".join(f"  - split: {s}\n    path: {folder}/{s}-*\n" for s in splits)
        (out / "README.md").write_text(f"---\nconfigs:\n- config_name: {config}\n  data_files:\n{parts}---\n")
    else:
        (out / "README.md").write_text(f"# {repo_id}\n")
    return out


def _prepare(snapshot: Path, repo_id: str, config: str | None, cache: Path, staging: Path) -> None:
    """Run datasets' own builder on the snapshot and file the result where offline ``load_dataset`` looks."""
    import datasets
    from datasets.naming import camelcase_to_snakecase

    # the builder names its directory after the folder it reads: give it the repo's own name
    named = staging / "prepare" / repo_id.split("/")[1]
    shutil.copytree(snapshot, named, symlinks=False)
    builder = datasets.load_dataset_builder(str(named), config, cache_dir=str(staging / "prepared"))
    builder.download_and_prepare()
    built = Path(builder.cache_dir)  # <staging>/prepared/<name>/<config>/0.0.0/<hash>
    org, name = repo_id.split("/")
    target = cache / f"{org}___{camelcase_to_snakecase(name)}" / built.relative_to(built.parents[2])
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(built), str(target))


def build(root: Path) -> Path:
    """Fill ``root/hub`` and ``root/datasets`` (see the module docstring); returns ``root``."""
    hub, cache, staging = root / "hub", root / "datasets", root / "staging"
    files = _model_files(staging)
    for repo_id in MODELS:
        _store(hub / f"models--{repo_id.replace('/', '--')}", commit_of(repo_id), files)
    for (repo_id, config), splits in DATASETS.items():
        snapshot = _store(hub / f"datasets--{repo_id.replace('/', '--')}", commit_of(repo_id),
                          _dataset_files(staging, repo_id, config, splits))
        _prepare(snapshot, repo_id, config, cache, staging)
    for repo_id, named in RAW_FILES.items():
        folder = staging / "raw" / repo_id.replace("/", "--")
        folder.mkdir(parents=True)
        for name, rows in named.items():
            (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
        _store(hub / f"datasets--{repo_id.replace('/', '--')}", commit_of(repo_id), folder)
    shutil.rmtree(staging)
    return root
