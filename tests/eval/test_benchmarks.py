"""The benchmark registry: every card loads, data comes from the hub path or a local file of the same shape,
and the shipped pocket set is exactly the pocket recipe's held-out set."""

from __future__ import annotations

from pathlib import Path

import pytest

from eval import benchmarks, pocket
from r1train.errors import UserError
from tests.helpers import write_jsonl

EXPECTED = {"gsm8k", "math500", "aime24", "aime25", "amc23", "minerva_math", "olympiadbench", "countdown", "pocket",
            "humaneval", "mbpp", "livecodebench"}
REPO = Path(__file__).resolve().parents[2]


def test_every_card_registers_with_a_known_template_verifier_and_answer_kind():
    from eval import answers
    from r1train.data import templates

    assert EXPECTED <= set(benchmarks.names())
    for name in benchmarks.names():
        b = benchmarks.get(name)
        assert b.source.startswith(("hf:", "file:", "package:")), name
        assert b.template in templates.TEMPLATES, name
        assert b.extract in answers.ANSWER_KINDS, name
        assert b.max_new_tokens > 0


def test_pocket_file_regenerates_byte_for_byte():
    assert pocket.render(pocket.rows()) == pocket.PATH.read_text()


def test_pocket_set_is_the_pocket_recipes_held_out_set():
    from r1train.data import tasks
    from r1train.recipe import load_recipe

    cfg = load_recipe(REPO / "recipes" / "pocket-zero.yaml")
    _, held = tasks.generate(cfg.data.source.split(":", 1)[1], cfg.data.task, cfg.train.seed)
    shipped = benchmarks.get("pocket").load()
    assert [(r["question"], r["answer"]) for r in shipped] == [(r["question"], r["answer"]) for r in held]
    assert len(shipped) == 128


def test_local_jsonl_and_parquet_of_the_hub_shape(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [
        {"problem": "What is $1+1$?", "answer": "2", "level": 1, "unique_id": "a"},
        {"problem": "Half of one?", "answer": "\\frac{1}{2}", "level": 3, "unique_id": "b"},
    ]
    bench = benchmarks.get("math500")
    jsonl = write_jsonl(tmp_path / "m.jsonl", rows)
    parquet = tmp_path / "m.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    for path in (jsonl, parquet):
        probs = bench.problems(bench.load(path))
        assert [(p.question, p.answer, p.level) for p in probs] == [
            ("What is $1+1$?", "2", "1"),
            ("Half of one?", "\\frac{1}{2}", "3"),
        ]
    # a data directory holding <name>.jsonl is found by name (the offline path)
    write_jsonl(tmp_path / "math500.jsonl", rows[:1])
    assert len(bench.load(data_dir=tmp_path)) == 1


def test_hub_path_reads_the_cards_id_config_and_split_from_the_cache(hub_cache):
    from tests.hub import DATASETS

    rows = benchmarks.get("gsm8k").load()  # hf:openai/gsm8k:main, split test, through datasets offline
    assert rows == DATASETS[("openai/gsm8k", "main")]["test"]


def test_uncached_hub_dataset_offline_is_one_sentence_naming_the_offline_way(hub_cache):
    import dataclasses

    bench = dataclasses.replace(benchmarks.get("aime24"), source="hf:no-such-org/aime_2099")
    with pytest.raises(UserError, match=r"--data aime24=") as info:
        bench.load()
    assert "\n" not in str(info.value) and "no-such-org/aime_2099" in str(info.value)


def test_countdown_question_is_built_from_its_columns():
    b = benchmarks.get("countdown")
    (p,) = b.problems([{"target": 24, "nums": [3, 8, 1]}])
    assert "Using the numbers [3, 8, 1], create an equation that equals 24." in p.question
    assert p.answer == 24 and p.columns == {"target": 24, "nums": [3, 8, 1]}


def test_answer_column_alternatives_and_list_golds():
    from eval.answers import get

    b = benchmarks.get("olympiadbench")
    (p,) = b.problems([{"question": "Find x.", "final_answer": ["$3$"]}])
    assert p.answer == ["$3$"]
    assert get("tag").gold(p.answer) == "$3$"
    assert get("tag").gold(27.0) == "27"


def test_mistakes_are_user_errors():
    with pytest.raises(UserError, match="did you mean 'math500'"):
        benchmarks.get("math50")
    with pytest.raises(UserError, match="no question column 'problem'; its columns are: q, answer"):
        benchmarks.get("math500").problems([{"q": "x", "answer": "1"}])
    with pytest.raises(UserError, match="no answer column"):
        benchmarks.get("gsm8k").problems([{"question": "x", "gold": "1"}])


def test_a_card_of_your_own_by_path(tmp_path):
    write_jsonl(tmp_path / "mine.jsonl", [{"q": "2+2", "a": "4"}])
    card = tmp_path / "mine.yaml"
    card.write_text("source: file:mine.jsonl\nquestion: q\nanswer: a\ntemplate: pocket\nverifier: answer.exact\nextract: tag\n")
    b = benchmarks.get(str(card))
    assert b.name == "mine"
    assert [p.question for p in b.problems(b.load())] == ["2+2"]  # file: is relative to the card
    card.write_text("source: file:mine.jsonl\nquestoin: q\nanswer: a\n")
    with pytest.raises(UserError, match="did you mean 'question'"):
        benchmarks.get(str(card))
