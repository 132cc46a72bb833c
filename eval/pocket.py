"""The shipped ``pocket`` benchmark file, ``eval/data/pocket.jsonl``: how it is made, deterministically.

It is exactly the held-out set of the pocket recipe (``recipes/pocket-zero.yaml``): the rows
``tasks.generate(<its task>, <its data.task>, <its train.seed>)`` holds out, so the numbers ``r1train eval``
prints for a pocket run are on the very problems the run never trained on. The task options are read from
the recipe, so a change there shows up as a failing test until the file is regenerated::

    python -m eval.pocket            # rewrites eval/data/pocket.jsonl from recipes/pocket-zero.yaml
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from r1train.data import tasks

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "recipes" / "pocket-zero.yaml"
PATH = Path(__file__).resolve().parent / "data" / "pocket.jsonl"


def rows(recipe: Path = RECIPE) -> list[dict[str, Any]]:
    """The pocket recipe's held-out rows: ``question``, ``answer``, ``level``."""
    from r1train.recipe import load_recipe

    cfg = load_recipe(recipe)
    kind, _, task = cfg.data.source.partition(":")
    if kind != "synthetic":
        raise ValueError(f"{recipe} trains on {cfg.data.source!r}, not a synthetic task; the pocket set needs one")
    options = {**cfg.data.task, "train_size": 0}  # the held-out rows do not depend on the train size
    _, held = tasks.generate(task, options, cfg.train.seed)
    return [{k: row[k] for k in ("question", "answer", "level") if k in row} for row in held]


def render(data: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, sort_keys=True) + "\n" for row in data)


def main(argv: list[str] | None = None) -> int:
    target = Path(argv[0]) if argv else PATH
    target.write_text(render(rows()))
    print(f"wrote {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
