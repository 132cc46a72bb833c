"""Prompt sources, templates and synthetic tasks."""

from __future__ import annotations

import json
from itertools import islice
from pathlib import Path

import pytest

from r1train.config import DataConfig
from r1train.data import tasks, templates
from r1train.data.prompts import PromptSet, load_prompts
from r1train.errors import UserError
from r1train.models.tiny import build_tokenizer


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def test_addition_is_seeded_and_held_out_is_disjoint() -> None:
    train, held = tasks.generate("addition", {"digits": 3, "train_size": 500, "eval_size": 50}, seed=1)
    again, _ = tasks.generate("addition", {"digits": 3, "train_size": 500, "eval_size": 50}, seed=1)
    assert train == again and len(train) == 500 and len(held) == 50
    assert not {r["question"] for r in held} & {r["question"] for r in train}
    for row in train[:50]:
        a, b = row["question"].split("+")
        assert int(row["answer"]) == int(a) + int(b) and len(a) <= 3 and len(b) <= 3


def test_r1_zero_template_wraps_question(tok) -> None:
    text = templates.get("r1-zero")("2+3", tok, None)
    assert "<think> </think>" in text and text.endswith("User: 2+3. Assistant:")
    assert templates.get("plain")("2+3", tok, None) == "2+3"
    assert "\\boxed{}" in templates.get("boxed")("2+3", tok, None)
    assert templates.get("chat")("hi", tok, "sys") == "sys\nUser: hi\nAssistant:"
    with pytest.raises(UserError, match="unknown template"):
        templates.get("r1zero")


def test_jsonl_source_and_missing_column(tmp_path: Path, tok) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text("\n".join(json.dumps({"problem": f"{i}+1", "solution": str(i + 1)}) for i in range(5)))
    cfg = DataConfig(source=f"file:{path}", prompt_column="problem", answer_column="solution", template="plain")
    ps = load_prompts(cfg, tok, seed=0)
    assert [r["prompt"] for r in ps.train][:2] == ["0+1", "1+1"] and ps.train[0]["answer"] == "1"
    bad = DataConfig(source=f"file:{path}", template="plain")  # default column 'question' does not exist
    with pytest.raises(UserError, match="no column 'question'.*columns are: problem, solution"):
        load_prompts(bad, tok, seed=0)


def test_parquet_source(tmp_path: Path, tok) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"question": ["1+1", "2+2"], "answer": ["2", "4"]}), path)
    ps = load_prompts(DataConfig(source=f"file:{path}", template="plain"), tok, seed=0)
    assert [r["answer"] for r in ps.train] == ["2", "4"]


def test_hub_path_loads_through_datasets(tmp_path: Path, tok) -> None:
    # `hf:<id>` goes through datasets.load_dataset; a local dataset directory exercises the same call offline.
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "train.jsonl").write_text(json.dumps({"question": "5+5", "answer": "10"}) + "\n")
    ps = load_prompts(DataConfig(source=f"hf:{tmp_path / 'ds'}", template="plain"), tok, seed=0)
    assert ps.train[0]["answer"] == "10"
    with pytest.raises(UserError, match="could not be loaded"):
        load_prompts(DataConfig(source="hf:no-such-org/no-such-dataset", template="plain"), tok, seed=0)


def test_batches_cover_an_epoch_and_resume_exactly() -> None:
    ps = PromptSet(train=[{"i": i} for i in range(10)])
    first = list(islice(ps.batches(5, seed=3), 4))
    assert sorted(r["i"] for b in first[:2] for r in b) == list(range(10))  # epoch 0 is a permutation
    resumed = list(islice(ps.batches(5, seed=3, start=2), 2))
    assert resumed == first[2:]


def test_unreadable_data_files_are_one_sentence(tmp_path: Path) -> None:
    from r1train.data.prompts import read_file

    latin = tmp_path / "latin1.jsonl"
    latin.write_bytes(b'{"question": "1+1", "answer": "2"}\n{"question": "caf\xe9", "answer": "x"}\n')
    # 0xe9 (é in Latin-1) is not UTF-8; it sits on line 2 (it used to be a UnicodeDecodeError traceback)
    with pytest.raises(UserError, match=r"latin1.jsonl' is not UTF-8 text \(byte 0xe9 on line 2\); re-save it as UTF-8"):
        read_file(str(latin))
    import pyarrow as pa
    import pyarrow.parquet as pq

    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"question": ["1+1"] * 50, "answer": ["2"] * 50}), good)
    assert len(read_file(str(good))) == 50
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # a copy cut short: no footer
    with pytest.raises(UserError, match=r"broken.parquet' is not a readable Parquet file \(.*\); write it again"):
        read_file(str(broken))
    bad_json = tmp_path / "rows.json"
    bad_json.write_text('[{"question": "1+1",]')
    with pytest.raises(UserError, match=r"rows.json' is not valid JSON \(line 1"):
        read_file(str(bad_json))


def test_peek_reads_a_few_rows_and_names_missing_columns(tmp_path: Path) -> None:
    from r1train.data.prompts import peek

    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"problem": f"{i}+1", "answer": str(i + 1)}) + "\n" for i in range(10)))
    rows = peek(DataConfig(source=f"file:{path}", prompt_column="problem"), n=3)
    assert [r["answer"] for r in rows] == ["1", "2", "3"]
    with pytest.raises(UserError) as err:  # the default prompt column is 'question'
        peek(DataConfig(source=f"file:{path}"))
    assert str(err.value) == (f"data.source 'file:{path}' has no column 'question' (set by data.prompt_column); "
                              "its columns are: problem, answer")
    with pytest.raises(UserError, match="does not exist"):
        peek(DataConfig(source=f"file:{tmp_path / 'missing.jsonl'}"))
    with pytest.raises(UserError, match="data.eval_split .* has no column 'problem'"):
        other = tmp_path / "held.jsonl"
        other.write_text(json.dumps({"q": "1", "answer": "1"}) + "\n")
        peek(DataConfig(source=f"file:{path}", prompt_column="problem", eval_split=f"file:{other}"))
    # a hub dataset (a local dataset directory here: the same datasets.load_dataset call, streamed)
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "train.jsonl").write_text(path.read_text())
    assert len(peek(DataConfig(source=f"hf:{tmp_path / 'ds'}", prompt_column="problem"), n=2)) == 2
    with pytest.raises(UserError, match="could not be loaded"):
        peek(DataConfig(source="hf:no-such-org/no-such-dataset"))
    # a synthetic task draws n rows with its own columns
    drawn = peek(DataConfig(source="synthetic:copy"), n=2)
    assert len(drawn) == 2 and all(r["question"] == r["answer"] for r in drawn)  # copy: the answer is the question
