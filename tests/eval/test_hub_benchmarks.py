"""Every benchmark card with a hub source evaluates through its real dataset id, from the offline cache.

``r1train eval Qwen/Qwen2.5-Math-1.5B -b <card>`` with nothing swapped: the model id and the card's
``hf:<id>[:<config>]`` and split resolve through ``huggingface_hub`` and ``datasets`` exactly as on a
machine that downloaded them once (:mod:`tests.hub` holds tiny weights and a few rows under those ids).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval import benchmarks
from tests.hub import DATASETS, RAW_FILES

# Every card that reads the hub: through a dataset's builder, or (LiveCodeBench) raw files of its repo.
HUB_CARDS = sorted(n for n in benchmarks.names() if benchmarks.get(n).source.startswith("hf:"))


def _rows(bench: benchmarks.Benchmark) -> list[dict]:
    repo_id, _, config = bench.source.removeprefix("hf:").partition(":")
    if bench.data_files:
        return [row for name in bench.data_files for row in RAW_FILES[repo_id][name]]
    return DATASETS[(repo_id, config or None)][bench.split]


def test_every_hub_card_has_its_dataset_in_the_offline_cache() -> None:
    assert set(HUB_CARDS) >= {"gsm8k", "math500", "aime24", "aime25", "amc23", "minerva_math", "olympiadbench",
                              "countdown"}
    for name in HUB_CARDS:
        assert _rows(benchmarks.get(name)), name  # the cache holds the card's id, config and split


@pytest.mark.parametrize("name", HUB_CARDS)
def test_card_evaluates_through_its_hub_id(name: str, tmp_path: Path, hub_cache: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from r1train.cli import main

    out = tmp_path / "report.json"
    argv = ["eval", "Qwen/Qwen2.5-Math-1.5B", "-b", name, "-n", "2", "--engine", "hf", "--max-new-tokens", "3",
            "--output", str(out), "--no-progress"]
    assert main(argv) == 0, capsys.readouterr().err
    report = json.loads(out.read_text())
    rows = _rows(benchmarks.get(name))
    result, records = report["results"][name], report["records"][name]
    assert result["problems"] == len(rows) == len(records) and result["samples"] == 2
    assert report["model"] == "Qwen/Qwen2.5-Math-1.5B"
    from eval.answers import ANSWER_KINDS

    bench = benchmarks.get(name)
    problems = bench.problems(rows)  # the card's column mapping applied to the cached rows by hand
    gold = ANSWER_KINDS[bench.extract].gold
    assert [r["question"] for r in records] == [p.question for p in problems]
    assert [r["answer"] for r in records] == [gold(p.answer) for p in problems]
    assert all(str(r["answer"]) for r in records)  # every gold answer survived extraction
    for record in records:
        assert len(record["completions"]) == 2 and all(0 < n <= 3 for n in record["lengths"])
