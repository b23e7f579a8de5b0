"""The MRPC data layer: sizes, labels, sources and the errors for broken files."""
import re

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pytest_finetune.mrpc.data import FEATURES, LABEL_NAMES, load_local_mrpc, load_mrpc, read_glue_tsv
from pytest_finetune.errors import DataError

HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"


def test_split_sizes_and_label_counts(mrpc_raw):
    assert len(mrpc_raw["train"]) == 3668 and len(mrpc_raw["validation"]) == 408
    assert sum(mrpc_raw["train"]["label"]) == 2474
    assert sum(mrpc_raw["validation"]["label"]) == 279


def test_hub_columns_and_label_names(mrpc_raw):
    for split in ("train", "validation"):
        assert mrpc_raw[split].features == FEATURES
    assert mrpc_raw["train"].features["label"].names == LABEL_NAMES
    assert mrpc_raw["train"][0]["idx"] == 0 and mrpc_raw["train"][3667]["idx"] == 3667


def test_quotes_in_sentences_survive(mrpc_raw):
    # The first train pair quotes "the witness": a csv reader with quoting on would eat it.
    assert '" the witness "' in mrpc_raw["train"][0]["sentence1"]


def test_parquet_folder_equals_tsv_folder(mrpc_raw, tmp_path):
    for split, dataset in mrpc_raw.items():
        table = pa.table({name: dataset[name] for name in FEATURES})
        pq.write_table(table, tmp_path / f"{split}-00000-of-00001.parquet")
    from_parquet = load_local_mrpc(tmp_path, cache_dir=tmp_path / "cache")
    assert set(from_parquet) == set(mrpc_raw)
    for split in mrpc_raw:
        assert from_parquet[split].to_list() == mrpc_raw[split].to_list()


def _write(folder, train_text, dev_text=None, encoding_bytes=None):
    folder.mkdir(exist_ok=True)
    (folder / "train.tsv").write_bytes(encoding_bytes if encoding_bytes is not None else train_text.encode())
    (folder / "dev.tsv").write_text(dev_text if dev_text is not None else HEADER + "1\t1\t2\tA b .\tA b !\n")
    return folder


def test_bom_and_quotes_are_read(tmp_path):
    folder = _write(tmp_path / "d", "", encoding_bytes=("\ufeff" + HEADER + '0\t1\t2\tHe said " hi .\tNo .\n').encode())
    ds = load_mrpc(str(folder), cache_dir=tmp_path / "cache")
    assert ds["train"][0] == {"sentence1": 'He said " hi .', "sentence2": "No .", "label": 0, "idx": 0}


@pytest.mark.parametrize("content, expected", [
    ("", r"train\.tsv: empty file"),
    ("Quality\t#1 ID\t#2 ID\t#1 String\n1\t1\t2\ta\n", r"train\.tsv:1: bad header \(missing column\(s\) #2 String\)"),
    (HEADER + "2\t1\t2\ta\tb\n", r"train\.tsv:2: label \(column Quality\) must be 0 or 1, found '2'"),
    (HEADER + "1\t1\t2\ta\tb\n1\t1\t2\ta\n", r"train\.tsv:3: expected 5 tab-separated fields, found 4"),
    (HEADER, r"train\.tsv: no rows after the header"),
])
def test_broken_tsv_gives_one_line_error_naming_file(tmp_path, content, expected):
    folder = _write(tmp_path / "d", content)
    with pytest.raises(DataError) as info:
        load_mrpc(str(folder), cache_dir=tmp_path / "cache")
    assert re.search(expected, str(info.value)), str(info.value)
    assert "\n" not in str(info.value)


def test_missing_folder_names_the_option(tmp_path):
    with pytest.raises(DataError, match=r"does-not-exist does not exist; pass --finetune-data .* PYTEST_FINETUNE_MRPC_DIR"):
        load_mrpc(str(tmp_path / "does-not-exist"))


def test_non_utf8_names_the_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_bytes(HEADER.encode() + b"1\t1\t2\tcaf\xe9\tb\n")
    with pytest.raises(DataError, match=r"train\.tsv:2: not UTF-8"):
        read_glue_tsv(path)


def test_hub_source_offline_fails_fast_with_hint(monkeypatch):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", "/nonexistent-cache-for-test")
    started = time.perf_counter()
    with pytest.raises(DataError, match="Hub is unreachable .* --finetune-data"):
        load_mrpc("hub")
    assert time.perf_counter() - started < 10
