"""A text-classification task read from the user's own files: what is read, what is refused.

Every refusal is one line naming the file, the row (from 1, header not counted) and the
column, raised before anything is tokenized or trained.
"""
from __future__ import annotations

import json
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pytest_finetune import TextClassification
from pytest_finetune.errors import ConfigError, DataError
from synthetic_texts import LABELS, ticket_rows, write_csv, write_ticket_files


def _task(tmp_path, train_rows, dev_rows=None, suffix=".csv", **kwargs):
    header = kwargs.pop("header", ("text", "label"))
    delimiter = "\t" if suffix == ".tsv" else ","
    train = write_csv(tmp_path / f"train{suffix}", train_rows, header, delimiter)
    dev = write_csv(tmp_path / f"dev{suffix}", dev_rows if dev_rows is not None else train_rows, header, delimiter)
    return TextClassification("t", train=train, validation=dev, **kwargs)


def _jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_string_labels_are_inferred_sorted_and_read_as_ids(tmp_path):
    train, dev = write_ticket_files(tmp_path, train=12, validation=6)
    task = TextClassification("tickets", train=train, validation=dev)
    assert task.labels == tuple(sorted(LABELS)) and task.num_labels == 3
    assert task.metric_names == ("accuracy", "f1_macro")
    raw = task.load(cache_dir=str(tmp_path / "cache"))
    assert len(raw["train"]) == 12 and raw["train"].features["label"].names == sorted(LABELS)
    first_text, first_label = ticket_rows(12, seed=1)[0]
    assert raw["train"][0] == {"text": first_text, "label": sorted(LABELS).index(first_label)}


def test_declared_labels_set_the_ids_and_two_labels_give_binary_f1(tmp_path):
    rows = [("good", "pos"), ("bad", "neg")] * 3
    task = _task(tmp_path, rows, labels=["pos", "neg"])
    assert task.labels == ("pos", "neg") and task.metric_names == ("accuracy", "f1")
    assert task.load(cache_dir=str(tmp_path / "c"))["train"]["label"][:2] == [0, 1]


def test_a_text_pair_from_tsv_with_integer_labels(tmp_path):
    rows = [("a cat", "a dog", "1"), ("rain", "sun", "0"), ("up", "down", "2")]
    task = _task(tmp_path, rows, suffix=".tsv", header=("premise", "hypothesis", "gold"),
                 text=("premise", "hypothesis"), label="gold")
    raw = task.load(cache_dir=str(tmp_path / "c"))
    assert task.labels == (0, 1, 2) and raw["validation"][0] == {"text": "a cat", "text_pair": "a dog", "label": 1}


def test_json_lines_and_parquet_are_read_with_their_types(tmp_path):
    records = [{"text": "hello", "label": 1}, {"text": "bye", "label": 0}]
    train, dev = _jsonl(tmp_path / "train.jsonl", records), _jsonl(tmp_path / "dev.jsonl", records)
    assert TextClassification("j", train=train, validation=dev).labels == (0, 1)
    table = pa.table({"text": ["x", "y", "z"], "label": ["b", "a", "b"]})
    pq.write_table(table, tmp_path / "train.parquet")
    pq.write_table(table, tmp_path / "dev.parquet")
    task = TextClassification("p", train=tmp_path / "train.parquet", validation=tmp_path / "dev.parquet")
    assert task.labels == ("a", "b") and task.describe_source().startswith("parquet:sha256:")


def _missing_label_column(tmp_path):
    return _task(tmp_path, [("a", "x"), ("b", "y")], header=("text", "category"))


def _undeclared_label(tmp_path):
    return _task(tmp_path, [("a", "x"), ("b", "y")], [("c", "x"), ("d", "spam")], labels=["x", "y"])


def _label_unseen_in_train(tmp_path):
    return _task(tmp_path, [("a", "x"), ("b", "y")], [("c", "x"), ("d", "z")])


def _empty_split(tmp_path):
    return _task(tmp_path, [("a", "x"), ("b", "y")], [])


def _empty_text(tmp_path):
    return _task(tmp_path, [("a", "x"), ("", "y")])


def _number_as_text(tmp_path):
    records = [{"text": "fine", "label": 0}, {"text": 7, "label": 1}]
    return TextClassification("j", train=_jsonl(tmp_path / "train.jsonl", records),
                              validation=_jsonl(tmp_path / "dev.jsonl", records))


def _float_label(tmp_path):
    records = [{"text": "fine", "label": 0}, {"text": "ok", "label": 1.5}]
    return TextClassification("j", train=_jsonl(tmp_path / "train.jsonl", records),
                              validation=_jsonl(tmp_path / "dev.jsonl", records))


def _mixed_label_kinds(tmp_path):
    return _task(tmp_path, [("a", "1"), ("b", "two"), ("c", "1")])


def _one_label(tmp_path):
    return _task(tmp_path, [("a", "x"), ("b", "x")])


def _outside_num_labels(tmp_path):
    return _task(tmp_path, [("a", "0"), ("b", "3")], num_labels=3)


def _missing_file(tmp_path):
    return TextClassification("t", train=tmp_path / "nope.csv", validation=tmp_path / "nope.csv")


def _ragged_csv(tmp_path):
    (tmp_path / "train.csv").write_text("text,label\na,x\nb,y,extra,more\n")
    return TextClassification("t", train=tmp_path / "train.csv", validation=tmp_path / "train.csv")


BAD_FILES = [
    ("missing label column", _missing_label_column,
     r"train\.csv: missing column\(s\) label; expected columns text, label, found text, category"),
    ("label outside the declared set", _undeclared_label,
     r"dev\.csv: row 2: column label: 'spam' \(str\) is not one of the declared labels \(x, y\)$"),
    ("label the train split never shows", _label_unseen_in_train,
     r"dev\.csv: row 2: column label: 'z' \(str\) is not one of the labels of the train split \(x, y\); "
     r"declare labels=\[\.\.\.\] if the train split lacks one"),
    ("empty split", _empty_split, r"dev\.csv: no rows after the header; the split is empty"),
    ("empty text", _empty_text, r"train\.csv: row 2: column text: expected a non-empty string, found '' \(str\)"),
    ("number where text belongs", _number_as_text,
     r"train\.jsonl: row 2: column text: expected a non-empty string, found 7 \(int\)"),
    ("float label", _float_label,
     r"train\.jsonl: row 2: column label: expected an integer or a string label, found 1\.5 \(float\)"),
    ("labels mixing integers and strings", _mixed_label_kinds,
     r"train\.csv: row 2: column label: 'two' \(str\) among int labels; expected one kind of label per column"),
    ("a single label", _one_label, r"train\.csv: column label holds one label \('x' \(str\)\); a classifier needs at least 2"),
    ("label outside num_labels", _outside_num_labels,
     r"train\.csv: row 2: column label: 3 \(int\) is outside 0\.\.2 \(num_labels=3\)"),
    ("missing file", _missing_file, r"nope\.csv: does not exist; expected a csv data file"),
    ("ragged csv", _ragged_csv, r"train\.csv: not a readable csv file \(.*\)"),
]


@pytest.mark.parametrize("make, pattern", [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_a_bad_file_is_one_line_naming_file_row_and_column(tmp_path, make, pattern):
    with pytest.raises(DataError) as info:
        make(tmp_path).check()
    message = str(info.value)
    assert "\n" not in message and re.search(pattern, message), message


BAD_DEFINITIONS = [
    (dict(name="my task"), r"task name 'my task': expected letters, digits"),
    (dict(train=3), r"task t: train: expected a file path, got 3"),
    (dict(train="train.xlsx"), r"task t: train: train\.xlsx: unknown file type '\.xlsx'; expected \.csv, \.tsv"),
    (dict(text=("a", "b", "c")), r"text: expected a column name or a pair of column names"),
    (dict(label="text"), r"task t: label column 'text' is also a text column"),
    (dict(labels=["x"]), r"labels: expected at least 2 label values"),
    (dict(labels=["x", "x"]), r"labels: \['x', 'x'\] names a label twice"),
    (dict(labels=["x", "y"], num_labels=3), r"num_labels: 3 but labels lists 2 values"),
]


@pytest.mark.parametrize("changes, pattern", BAD_DEFINITIONS, ids=[c[1][:30] for c in BAD_DEFINITIONS])
def test_a_bad_definition_is_refused_when_the_task_is_made(changes, pattern):
    arguments = dict(name="t", train="train.csv", validation="dev.csv") | changes
    with pytest.raises(ConfigError, match=pattern):
        TextClassification(**arguments)


def test_the_tiny_slice_takes_the_labels_in_turn_in_file_order(tmp_path):
    rows = [(f"text {i}", "a") for i in range(6)] + [(f"text {i}", "b") for i in range(6, 9)]
    task = _task(tmp_path, rows)  # sorted by label: the first 4 rows are all "a"
    raw = task.load(cache_dir=str(tmp_path / "c"))
    from pytest_finetune.mrpc.modeling import load_tokenizer

    ready = task.tokenize(raw, load_tokenizer(None))["train"].with_format(None)
    picked = task.limit(ready, 4)
    assert picked["labels"] == [0, 0, 1, 1]
    assert picked["input_ids"] == [ready["input_ids"][i] for i in (0, 1, 6, 7)]
    assert task.limit(ready, 4)["input_ids"] == picked["input_ids"]  # the same rows every time


def test_identity_follows_the_definition_and_the_data_label_the_bytes(tmp_path):
    train, dev = write_ticket_files(tmp_path, train=6, validation=3)
    one = TextClassification("t", train=train, validation=dev)
    assert TextClassification("t", train=train, validation=dev).source == one.source
    assert TextClassification("t", train=train, validation=dev, labels=sorted(LABELS)).source != one.source
    before = one.describe_source()
    assert str(tmp_path) not in before and before.startswith("csv:sha256:")
    write_csv(dev, ticket_rows(4, seed=9))
    assert one.describe_source() != before
