"""Fuzzing the readers of user files: a correct result or a clear error, never another crash."""
import json

from hypothesis import given, strategies as st

from pytest_finetune.baselines.store import read_baseline
from pytest_finetune.mrpc.data import read_glue_tsv
from pytest_finetune.errors import BaselineError, DataError

VALID_TSV = ("\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
             '1\t1\t2\tHe said " yes .\tYes , he said .\n0\t3\t4\tA .\tB .\n').encode()
VALID_BASELINE = json.dumps({
    "format_version": 1, "scenario": {"task": "mrpc"}, "seeds": [42],
    "metrics": {m: {"mean": 0.8, "std": 0.0, "values": [0.8]} for m in ("accuracy", "f1")},
    "tolerance": {"k": 3.0, "metric_floor": 0.01, "loss_floor": 0.05},
    "loss_curve": {"steps": [1, 2], "mean": [0.6, 0.5], "std": [0.0, 0.0]},
    "config": {}, "versions": {}}, indent=1).encode()


@st.composite
def mutated(draw, valid: bytes):
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "truncate"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "delete" and data:
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "insert":
            data[at:at] = draw(st.sampled_from([b"\t", b"\n", b'"', b"\xff", b"2", b"{", b"]", b"null", b"-1"]))
        else:
            del data[at:]
    return bytes(data)


def _read_or_clear_error(tmp_path_factory, name: str, data: bytes, reader, error):
    """The reader's result, or None once its error is checked to be one line naming the file."""
    path = tmp_path_factory.mktemp("fuzz") / name
    path.write_bytes(data)
    try:
        return reader(path)
    except error as exc:
        assert str(exc).startswith(str(path)) and "\n" not in str(exc)
        return None


def _read_tsv(tmp_path_factory, data: bytes):
    columns = _read_or_clear_error(tmp_path_factory, "train.tsv", data, read_glue_tsv, DataError)
    if columns is None:
        return
    n = len(columns["idx"])
    assert n > 0 and all(len(columns[c]) == n for c in columns)
    assert set(columns["label"]) <= {-1, 0, 1}


@given(st.binary(max_size=300))
def test_tsv_reader_on_random_bytes(tmp_path_factory, data):
    _read_tsv(tmp_path_factory, data)


@given(mutated(VALID_TSV))
def test_tsv_reader_on_mutated_files(tmp_path_factory, data):
    _read_tsv(tmp_path_factory, data)


def _read_baseline(tmp_path_factory, data: bytes):
    record = _read_or_clear_error(tmp_path_factory, "b.json", data, read_baseline, BaselineError)
    if record is None:
        return
    assert isinstance(record["metrics"]["accuracy"]["mean"], (int, float))


@given(st.binary(max_size=300))
def test_baseline_reader_on_random_bytes(tmp_path_factory, data):
    _read_baseline(tmp_path_factory, data)


@given(mutated(VALID_BASELINE))
def test_baseline_reader_on_mutated_files(tmp_path_factory, data):
    _read_baseline(tmp_path_factory, data)


# Any text without a tab or a line break of its own (\n; \r only mid-sentence) is a sentence:
# U+2028, NEL, form feed, NUL and friends must come back exactly, on their own row.
SENTENCE = st.text(st.characters(blacklist_characters="\t\n", blacklist_categories=("Cs",)),
                   min_size=1, max_size=40).filter(lambda s: s.strip() and not s.endswith("\r"))


@given(st.lists(st.tuples(st.sampled_from("01"), SENTENCE, SENTENCE), min_size=1, max_size=5),
       st.sampled_from(["\n", "\r\n"]))
def test_tsv_reader_round_trips_any_sentence(tmp_path_factory, rows, newline):
    header = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String"
    lines = [header] + [f"{label}\t1\t2\t{a}\t{b}" for label, a, b in rows]
    path = tmp_path_factory.mktemp("fuzz") / "train.tsv"
    path.write_bytes((newline.join(lines) + newline).encode("utf-8"))
    columns = read_glue_tsv(path)
    assert columns["sentence1"] == [a for _, a, _ in rows]
    assert columns["sentence2"] == [b for _, _, b in rows]
    assert columns["label"] == [int(label) for label, _, _ in rows]


ANY_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40), st.floats(allow_nan=True),
                      st.text(max_size=5), st.sampled_from([0, 1, -1, "a .", "", " "]))


@given(st.sampled_from(["sentence1", "sentence2", "label", "idx"]), st.lists(ANY_VALUE, min_size=1, max_size=4),
       st.sampled_from(["train", "validation", "test"]))
def test_parquet_reader_on_any_column_values(tmp_path_factory, column, values, split):
    """Whatever one column holds: the rows as the Hub has them, or one line naming file, row, column."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from pytest_finetune.mrpc.data import _read_parquet

    n = len(values)
    table = {"sentence1": ["a ."] * n, "sentence2": ["b ."] * n, "label": [1] * n, "idx": list(range(n))}
    table[column] = values
    try:
        arrow = pa.table(table)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        return  # pyarrow cannot store this mix of types in one column: no such file can exist
    path = tmp_path_factory.mktemp("fuzz") / f"{split}-00000-of-00001.parquet"
    pq.write_table(arrow, path)
    try:
        columns = _read_parquet([path], split)
    except DataError as exc:
        assert str(exc).startswith(f"{path}: row ") and f"column {column}: expected" in str(exc)
        assert "\n" not in str(exc)
        return
    labels = {-1, 0, 1} if split == "test" else {0, 1}
    assert all(isinstance(v, str) and v.strip() for c in ("sentence1", "sentence2") for v in columns[c])
    assert all(type(v) is int and v in labels for v in columns["label"])
    assert all(type(v) is int and 0 <= v < 2**31 for v in columns["idx"])
