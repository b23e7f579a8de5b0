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
    "metrics": {m: {"mean": 0.8, "std": 0.01, "values": [0.8]} for m in ("accuracy", "f1")},
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
