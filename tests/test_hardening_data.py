"""Issue 13, data side: named folders, unlabelled or mistyped rows, ambiguous folders,
unreadable files, odd characters, the Arrow cache's integrity, and path-free records.

Every fixture here is written by the test itself (made-up sentences): no MRPC text.
"""
import json
import os
import re
import threading
import time
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pytest_finetune.config.options import OPTIONS_BY_DEST, resolve
from pytest_finetune.errors import ConfigError, DataError
from pytest_finetune.mrpc.data import (CACHE_FORMAT, MANIFEST_NAME, ORPHAN_AGE_S, DataCacheWarning,
                                       load_local_mrpc, read_glue_tsv)
from pytest_finetune.mrpc.data_files import describe_source

pytest_plugins = ["pytester"]

HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
TEST_HEADER = "Index\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
ROWS = "1\t1\t2\tThe cat sat .\tA cat sat .\n0\t3\t4\tRain today .\tSun tomorrow .\n"
HUB_ROWS = {"sentence1": ["The cat sat .", "Rain today ."], "sentence2": ["A cat sat .", "Sun tomorrow ."],
            "label": [1, 0], "idx": [0, 1]}


def tsv_folder(root: Path, train: str = HEADER + ROWS, dev: str = HEADER + ROWS, test: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "train.tsv").write_text(train, encoding="utf-8")
    (root / "dev.tsv").write_text(dev, encoding="utf-8")
    if test is not None:
        (root / "test.tsv").write_text(test, encoding="utf-8")
    return root


def write_parquet(path: Path, **changes) -> Path:
    columns = {**HUB_ROWS, **changes}
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table(columns), path)
    return path


def parquet_folder(root: Path) -> Path:
    for split in ("train", "validation"):
        write_parquet(root / f"{split}-00000-of-00001.parquet")
    return root


def one_line(exc: BaseException) -> str:
    message = str(exc)
    assert "\n" not in message and "\r" not in message, message
    return message


def load(folder: Path, cache: Path):
    return load_local_mrpc(folder, cache_dir=cache)


# --- class 4: a named data folder that is not there is a usage error, never a skip ---------------

@pytest.mark.parametrize("kind", ["missing", "file"])
def test_data_option_naming_a_missing_folder_or_a_file_is_a_config_error(tmp_path, kind):
    path = tmp_path / "mrpc"
    if kind == "file":
        path.write_text("not a folder")
    with pytest.raises(ConfigError) as info:
        resolve(OPTIONS_BY_DEST["data"], str(path), None, environ={})
    expected = "does not exist" if kind == "missing" else "is a file, not a folder"
    assert re.search(rf"--finetune-data / PYTEST_FINETUNE_MRPC_DIR / ini finetune_data: MRPC folder "
                     rf"{re.escape(str(path))} {expected}; expected 'hub' or a folder", one_line(info.value))


def test_data_option_accepts_hub_and_an_existing_folder(tmp_path):
    assert resolve(OPTIONS_BY_DEST["data"], None, None, environ={}) == "hub"
    assert resolve(OPTIONS_BY_DEST["data"], str(tmp_path), None, environ={}) == str(tmp_path)


DATA_TEST = """
def test_data(mrpc_raw):
    assert len(mrpc_raw["train"]) == 2
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["cli", "cli-file", "env", "ini"])
def test_missing_data_folder_is_a_usage_error_not_a_skip(pytester, monkeypatch, how):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PYTEST_FINETUNE_MRPC_DIR", raising=False)
    pytester.makepyfile(DATA_TEST)
    missing = pytester.path / "no-such-mrpc"
    args = []
    if how == "cli":
        args = ["--finetune-data", str(missing)]
    elif how == "cli-file":
        missing = pytester.makefile(".txt", notafolder="x")
        args = [f"--finetune-data={missing}"]
    elif how == "env":
        monkeypatch.setenv("PYTEST_FINETUNE_MRPC_DIR", str(missing))
    else:
        pytester.makeini(f"[pytest]\nfinetune_data = {missing}\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if "finetune-data" in line]
    assert len(errors) == 1 and str(missing) in errors[0], result.stderr.lines
    assert "skipped" not in result.stdout.str()


@pytest.mark.slow
def test_relative_data_folder_resolves_from_the_invocation_folder(pytester, monkeypatch):
    monkeypatch.delenv("PYTEST_FINETUNE_MRPC_DIR", raising=False)
    monkeypatch.setenv("PYTEST_FINETUNE_CACHE", str(pytester.path / "cache"))
    tsv_folder(pytester.path / "mydata")
    pytester.makepyfile(DATA_TEST)
    pytester.runpytest("--finetune-data", "mydata").assert_outcomes(passed=1)


def test_cli_run_with_a_missing_data_folder_exits_2_before_training(tmp_path, capsys):
    from pytest_finetune.cli.main import main

    missing = tmp_path / "nope"
    started = time.perf_counter()
    assert main(["run", "--data", str(missing), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and f"MRPC folder {missing} does not exist" in err and "--finetune-data" in err
    assert time.perf_counter() - started < 30 and not (tmp_path / "out").exists()


# --- class 8: only the test split may be unlabelled ----------------------------------------------

@pytest.mark.parametrize("name", ["train.tsv", "dev.tsv"])
def test_test_header_in_train_or_dev_is_refused(tmp_path, name):
    unlabelled = TEST_HEADER + "0\t1\t2\tOne .\tTwo .\n"
    folder = tsv_folder(tmp_path / "d", **{"train" if name == "train.tsv" else "dev": unlabelled})
    with pytest.raises(DataError) as info:
        load(folder, tmp_path / "cache")
    split = "train" if name == "train.tsv" else "validation"
    assert re.search(rf"{name}:1: unlabelled test-set header \(Index \.\.\.\) in the {split} split; "
                     r"only test\.tsv may be unlabelled", one_line(info.value))


def test_test_tsv_may_be_unlabelled(tmp_path):
    folder = tsv_folder(tmp_path / "d", test=TEST_HEADER + "0\t1\t2\tOne .\tTwo .\n")
    assert load(folder, tmp_path / "cache")["test"]["label"] == [-1]


@pytest.mark.parametrize("split", ["train", "validation"])
def test_parquet_label_minus_one_outside_test_is_refused(tmp_path, split):
    folder = parquet_folder(tmp_path / "d")
    bad = write_parquet(folder / f"{split}-00000-of-00001.parquet", label=[1, -1])
    with pytest.raises(DataError) as info:
        load(folder, tmp_path / "cache")
    assert one_line(info.value) == f"{bad}: row 1: column label: expected an integer 0 or 1, found -1 (int)"


def test_parquet_test_split_may_carry_minus_one(tmp_path):
    folder = parquet_folder(tmp_path / "d")
    write_parquet(folder / "test-00000-of-00001.parquet", label=[-1, -1])
    assert load(folder, tmp_path / "cache")["test"]["label"] == [-1, -1]


# --- class 10: one split in several forms is refused, naming the files ---------------------------

@pytest.mark.parametrize("extra, named", [
    ("train.parquet", r"train-\*\.parquet: train-00000-of-00001\.parquet; train\.parquet: train\.parquet"),
    ("train/part-0.parquet", r"train-\*\.parquet: train-00000-of-00001\.parquet; train/\*\.parquet: train/part-0\.parquet"),
])
def test_several_parquet_layouts_for_one_split_are_refused(tmp_path, extra, named):
    folder = parquet_folder(tmp_path / "d")
    write_parquet(folder / extra)
    with pytest.raises(DataError) as info:
        load(folder, tmp_path / "cache")
    assert re.search(rf"split train is in several parquet layouts at once \({named}\); keep exactly one",
                     one_line(info.value)), str(info.value)


def test_tsv_and_parquet_in_one_folder_are_refused(tmp_path):
    folder = parquet_folder(tsv_folder(tmp_path / "d"))
    with pytest.raises(DataError) as info:
        describe_source(folder)
    assert re.search(r"holds both GLUE TSV files \(train\.tsv, dev\.tsv\) and parquet files "
                     r"\(train-00000-of-00001\.parquet, validation-00000-of-00001\.parquet\); keep one source",
                     one_line(info.value))


@pytest.mark.parametrize("layout", ["{split}.parquet", "{split}/part-0.parquet", "{split}-00000-of-00001.parquet"])
def test_each_parquet_layout_alone_reads_once(tmp_path, layout):
    folder = tmp_path / "d"
    for split in ("train", "validation"):
        write_parquet(folder / layout.format(split=split))
    assert load(folder, tmp_path / "cache")["train"].num_rows == 2


# --- class 13/14: long fields and odd characters inside sentences --------------------------------

def test_a_field_beyond_the_csv_limit_is_read_intact(tmp_path):
    long = "word " * 40_000  # 200,000 characters: the csv module stops at 131,072
    path = tmp_path / "train.tsv"
    path.write_text(HEADER + f"1\t1\t2\t{long}\tshort .\n", encoding="utf-8")
    assert read_glue_tsv(path)["sentence1"] == [long]


@pytest.mark.parametrize("char", ["\u2028", "\u2029", "\x85", "\x0c", "\x0b", "\x1c", "\x1d", "\x1e", "\r"])
def test_line_separators_inside_a_sentence_do_not_split_the_row(tmp_path, char):
    path = tmp_path / "train.tsv"
    path.write_text(HEADER + f"1\t1\t2\tBefore{char}after .\tOther .\r\n0\t3\t4\tA .\tB .\n",
                    encoding="utf-8", newline="")
    columns = read_glue_tsv(path)
    assert columns["sentence1"] == [f"Before{char}after .", "A ."] and columns["sentence2"][0] == "Other ."


def test_old_mac_line_endings_are_one_clear_line(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text((HEADER + ROWS).replace("\n", "\r"), encoding="utf-8", newline="")
    with pytest.raises(DataError) as info:
        read_glue_tsv(path)
    assert one_line(info.value) == (f"{path}:1: lines end in a lone carriage return (\\r); expected \\n or "
                                    "\\r\\n line endings")


# --- class 15: unreadable files while hashing or reading ----------------------------------------

def _directory_named_train_tsv(folder: Path) -> Path:
    (folder / "train.tsv").unlink()
    (folder / "train.tsv").mkdir()
    return folder / "train.tsv"


def _symlink_loop(folder: Path) -> Path:
    (folder / "train.tsv").unlink()
    (folder / "train.tsv").symlink_to("train.tsv")
    return folder / "train.tsv"


@pytest.mark.parametrize("make, reason", [
    (_directory_named_train_tsv, "is a directory, expected a data file"),
    (_symlink_loop, r"cannot read file \(Too many levels of symbolic links\)"),
])
@pytest.mark.parametrize("call", ["load", "describe"])
def test_unreadable_file_is_one_line_naming_it(tmp_path, make, reason, call):
    folder = tsv_folder(tmp_path / "d")
    bad = make(folder)
    with pytest.raises(DataError) as info:
        load(folder, tmp_path / "cache") if call == "load" else describe_source(folder)
    assert re.fullmatch(rf"{re.escape(str(bad))}: {reason}", one_line(info.value))


def test_unreadable_parquet_shard_is_one_line_naming_it(tmp_path):
    folder = tmp_path / "d"
    write_parquet(folder / "validation-00000-of-00001.parquet")
    write_parquet(folder / "train-00000-of-00002.parquet")
    (folder / "train-00001-of-00002.parquet").mkdir()
    with pytest.raises(DataError, match=r"train-00001-of-00002\.parquet: is a directory, expected a data file"):
        load(folder, tmp_path / "cache")


# --- class 16: every parquet value type-checked --------------------------------------------------

@pytest.mark.parametrize("column, values, expected, found", [
    ("label", [1.0, 0.0], "an integer 0 or 1", "1.0 (float)"),
    ("label", [True, False], "an integer 0 or 1", "True (bool)"),
    ("label", [1, None], "an integer 0 or 1", "null"),
    ("label", [1, 2], "an integer 0 or 1", "2 (int)"),
    ("sentence1", [7, 8], "a non-empty string", "7 (int)"),
    ("sentence2", ["A cat sat .", None], "a non-empty string", "null"),
    ("sentence1", [["a"], ["b"]], "a non-empty string", "['a'] (list)"),
    ("idx", ["0", "1"], "an integer 0..2147483647", "'0' (str)"),
    ("idx", [0, 2**31], "an integer 0..2147483647", "2147483648 (int)"),
    ("idx", [-1, 0], "an integer 0..2147483647", "-1 (int)"),
])
def test_parquet_values_of_the_wrong_type_are_refused(tmp_path, column, values, expected, found):
    folder = parquet_folder(tmp_path / "d")
    bad = write_parquet(folder / "validation-00000-of-00001.parquet", **{column: values})
    row = next(i for i, v in enumerate(values) if v != HUB_ROWS[column][i] or type(v) is not type(HUB_ROWS[column][i]))
    with pytest.raises(DataError) as info:
        load(folder, tmp_path / "cache")
    assert one_line(info.value) == f"{bad}: row {row}: column {column}: expected {expected}, found {found}"


# --- class 9: the Arrow cache is verified before reuse -------------------------------------------

def _cached(tmp_path):
    folder = tsv_folder(tmp_path / "d", dev=HEADER + "0\t7\t8\tDev only .\tNot in train .\n")
    cache = tmp_path / "cache"
    first = load(folder, cache)
    entries = [p for p in (cache / "mrpc").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert len(entries) == 1 and (entries[0] / MANIFEST_NAME).is_file()
    return folder, cache, entries[0], first


def _truncate(entry: Path) -> None:
    arrow = next((entry / "train").glob("data-*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[: arrow.stat().st_size // 2])


def _delete_dataset_dict(entry: Path) -> None:
    (entry / "dataset_dict.json").unlink()


def _swap_validation(entry: Path) -> None:
    """A valid Arrow file in the wrong place: train rows would silently become validation."""
    train = next((entry / "train").glob("data-*.arrow"))
    validation = next((entry / "validation").glob("data-*.arrow"))
    validation.write_bytes(train.read_bytes())


def _delete_manifest(entry: Path) -> None:
    (entry / MANIFEST_NAME).unlink()


@pytest.mark.parametrize("damage, problem", [
    (_truncate, r"train/data-00000-of-00001\.arrow differs from what was written"),
    (_delete_dataset_dict, r"dataset_dict\.json is missing"),
    (_swap_validation, r"validation/data-00000-of-00001\.arrow differs from what was written"),
    (_delete_manifest, rf"no {MANIFEST_NAME}"),
])
def test_corrupt_cache_is_detected_and_rebuilt_with_one_warning(tmp_path, damage, problem):
    folder, cache, entry, first = _cached(tmp_path)
    expected = {split: first[split].to_list() for split in first}
    damage(entry)
    with pytest.warns(DataCacheWarning) as caught:
        again = load(folder, cache)
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "\n" not in message and re.search(rf"MRPC cache .*: {problem}.*; rebuilding it from", message), message
    assert {split: again[split].to_list() for split in again} == expected
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # rebuilt once: the next session reuses it silently
        assert load(folder, cache)["validation"].to_list() == expected["validation"]


def test_cache_is_keyed_by_content(tmp_path):
    folder, cache, entry, _ = _cached(tmp_path)
    (folder / "dev.tsv").write_text(HEADER + "1\t5\t6\tNew text .\tOther text .\n", encoding="utf-8")
    assert load(folder, cache)["validation"]["sentence1"] == ["New text ."]


def test_orphans_of_killed_builds_are_removed_when_old_and_ignored_when_young(tmp_path):
    folder, cache, entry, _ = _cached(tmp_path)
    root = cache / "mrpc"
    old_dir, young_dir = root / ".tmp-killed", root / ".tmp-inprogress"
    for d in (old_dir, young_dir):
        (d / "train").mkdir(parents=True)
        (d / "train" / "data-00000-of-00001.arrow").write_bytes(b"half")
    old_file, young_file = root / ".x.json.abc.tmp", entry / "train" / "tmpk1ll3d"
    old_file.write_text("half")
    young_file.write_text("half")
    map_leftover = entry / "validation" / "tmpabc123"
    map_leftover.write_text("half")
    stale = time.time() - ORPHAN_AGE_S - 60
    for path in (old_dir, old_file, map_leftover):
        os.utime(path, (stale, stale))
    load(folder, cache)
    assert not old_dir.exists() and not old_file.exists() and not map_leftover.exists()
    assert young_dir.exists() and young_file.exists()


def test_cache_build_waits_for_the_lock_held_by_another_worker(tmp_path):
    from pytest_finetune._io import file_lock
    from pytest_finetune.mrpc.data_files import content_digest, split_files

    folder = tsv_folder(tmp_path / "d")
    cache = tmp_path / "cache"
    from pytest_finetune.compat.versions import arrow_cache_tag

    key = f"{content_digest(split_files(folder)[1])[:16]}-v{CACHE_FORMAT}-{arrow_cache_tag()}"
    done = []
    with file_lock(cache / "mrpc" / key):
        worker = threading.Thread(target=lambda: done.append(load(folder, cache)))
        worker.start()
        worker.join(1.0)
        assert worker.is_alive() and not done  # blocked: another process is building this entry
    worker.join(60)
    assert done and done[0]["train"].num_rows == 2


def test_cache_dir_that_is_a_file_names_the_option(tmp_path):
    folder = tsv_folder(tmp_path / "d")
    blocker = tmp_path / "cache-file"
    blocker.write_text("x")
    with pytest.raises(ConfigError) as info:
        load(folder, blocker)
    assert re.match(r"--finetune-cache-dir / PYTEST_FINETUNE_CACHE .*: cannot create the cache folder "
                    rf"{re.escape(str(blocker))}/mrpc", one_line(info.value))


# --- class 23: records name the data by kind and content, never by path --------------------------

def test_describe_source_is_kind_and_content_hash_independent_of_the_path(tmp_path):
    a = tsv_folder(tmp_path / "alice" / "mrpc")
    b = tsv_folder(tmp_path / "bob" / "elsewhere")
    described = describe_source(a)
    assert re.fullmatch(r"glue-tsv:sha256:[0-9a-f]{16}", described)
    assert describe_source(str(b)) == described
    assert describe_source(parquet_folder(tmp_path / "p")).startswith("parquet:sha256:")
    assert describe_source("hub") == "hub:nyu-mll/glue/mrpc"
    (b / "dev.tsv").write_text(HEADER + "0\t9\t9\tChanged .\tText .\n", encoding="utf-8")
    assert describe_source(b) != described


def _result(data: str, data_source: str | None):
    from pytest_finetune.runs import RunResult, profile_config

    return RunResult(config=profile_config("tiny", runner="loop", data=data), device="cpu",
                     losses=[0.7, 0.6], learning_rates=[1e-4, 1e-4],
                     eval_history=[{"epoch": 1.0, "accuracy": 0.5, "f1": 0.6, "eval_loss": 0.7}],
                     accuracy=0.5, f1=0.6, prediction_counts=[1, 1], param_delta=0.1, train_examples=2,
                     wall_time_s=1.0, train_time_s=1.0, examples_per_s=2.0,
                     versions={"torch": "x"}, hardware={"machine": "x"}, data_source=data_source)


def test_results_and_baselines_store_the_description_not_the_path(tmp_path):
    from pytest_finetune.baselines.store import build_baseline
    from pytest_finetune.runs import RunResult

    folder = tsv_folder(tmp_path / "someuser" / "mrpc")
    for result in (_result(str(folder), describe_source(folder)), _result(str(folder), None)):
        record = result.to_dict()
        assert record["config"]["data"] == describe_source(folder)
        baseline = build_baseline([result], {"task": "mrpc"}, 3.0)
        for text in (json.dumps(record), json.dumps(baseline)):
            assert str(tmp_path) not in text and "someuser" not in text
        assert RunResult.from_dict(record).to_dict() == record


def test_committed_baselines_hold_no_local_path():
    from pytest_finetune.baselines.store import PACKAGED_BASELINES as baselines

    def strings(value):
        if isinstance(value, dict):
            for item in value.values():
                yield from strings(item)
        elif isinstance(value, list):
            for item in value:
                yield from strings(item)
        elif isinstance(value, str):
            yield value

    files = sorted(baselines.glob("*.json"))
    assert files
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        paths = [s for s in strings(record) if s.startswith(("/", "~")) or os.path.expanduser("~") in s]
        assert not paths, f"{path.name} stores local paths: {paths}"
        if "config" in record:
            assert re.fullmatch(r"(sentences:)?(glue-tsv|parquet):sha256:[0-9a-f]{16}|hub:nyu-mll/glue/mrpc",
                                record["config"]["data"])


# --- class 9, tokenized half: Dataset.map's cache files are verified too -------------------------

def _tokenized(split):
    return split.with_format(None).to_dict()


@pytest.mark.parametrize("damage", ["truncate", "swap", "no-record"])
def test_damaged_tokenized_cache_is_rebuilt_with_one_warning(tmp_path, damage):
    from pytest_finetune.mrpc.modeling import load_tokenizer
    from pytest_finetune.mrpc.preprocessing import tokenize_mrpc

    folder, cache, entry, raw = _cached(tmp_path)
    tokenizer = load_tokenizer(None)
    first = tokenize_mrpc(raw, tokenizer)
    expected = {s: _tokenized(first[s]) for s in first}  # before the damage: first maps these files
    del first
    files = {split: next((entry / split).glob("map-*.arrow")) for split in ("train", "validation")}
    assert all(f.with_name(f.name + ".sha256").is_file() for f in files.values())
    target = files["validation"]
    if damage == "truncate":
        target.write_bytes(target.read_bytes()[:100])
    elif damage == "swap":
        target.write_bytes(files["train"].read_bytes())
    else:
        target.with_name(target.name + ".sha256").unlink()
    with pytest.warns(DataCacheWarning) as caught:
        again = tokenize_mrpc(load(folder, cache), tokenizer)
    assert len(caught) == 1 and "\n" not in str(caught[0].message)
    assert re.search(rf"tokenized MRPC validation cache .*{target.name}: .*; rebuilding it", str(caught[0].message))
    assert {s: _tokenized(again[s]) for s in again} == expected


# --- neighbours: shards, repeated idx, empty sentences -------------------------------------------

@pytest.mark.parametrize("names, message", [
    (["train-00000-of-00002.parquet"], r"split train is missing shard\(s\) train-00001-of-00002\.parquet; "
                                       r"expected all 2 shards"),
    (["train-00000-of-00001.parquet", "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"],
     r"split train mixes shard sets \(train-00000-of-00001\.parquet, train-00000-of-00002\.parquet, "
     r"train-00001-of-00002\.parquet\)"),
    (["train-00000-of-00001.parquet", "train-extra.parquet"], r"split train mixes shard sets"),
    (["train-00000-of-00001.parquet", "train-00001-of-00001.parquet"],
     r"split train has repeated or out-of-range shard numbers"),
])
def test_incomplete_or_mixed_parquet_shards_are_refused(tmp_path, names, message):
    folder = tmp_path / "d"
    write_parquet(folder / "validation-00000-of-00001.parquet")
    for i, name in enumerate(names):
        write_parquet(folder / name, idx=[2 * i, 2 * i + 1])
    with pytest.raises(DataError) as info:
        describe_source(folder)
    assert re.search(message, one_line(info.value)), str(info.value)


def test_complete_shard_set_is_read_in_order(tmp_path):
    folder = tmp_path / "d"
    write_parquet(folder / "validation-00000-of-00001.parquet")
    write_parquet(folder / "train-00001-of-00002.parquet", idx=[2, 3])
    write_parquet(folder / "train-00000-of-00002.parquet", idx=[0, 1])
    assert load(folder, tmp_path / "cache")["train"]["idx"] == [0, 1, 2, 3]


def test_repeated_idx_in_one_split_is_refused(tmp_path):
    folder = tmp_path / "d"
    write_parquet(folder / "validation-00000-of-00001.parquet")
    write_parquet(folder / "train-00000-of-00002.parquet")
    second = write_parquet(folder / "train-00001-of-00002.parquet")  # the same rows again
    with pytest.raises(DataError) as info:
        load(folder, tmp_path / "cache")
    assert one_line(info.value) == (f"{second}: row 0: column idx: 0 repeats row 0 of "
                                    "train-00000-of-00002.parquet; expected each idx once per split")


@pytest.mark.parametrize("row, column", [("1\t1\t2\t\tB .\n", "#1 String"), ("1\t1\t2\tA .\t  \n", "#2 String")])
def test_empty_sentence_in_tsv_is_refused(tmp_path, row, column):
    path = tmp_path / "train.tsv"
    path.write_text(HEADER + ROWS + row, encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_glue_tsv(path)
    assert one_line(info.value) == f"{path}:4: column {column} is empty; expected a sentence"


def test_empty_sentence_in_parquet_is_refused(tmp_path):
    folder = parquet_folder(tmp_path / "d")
    bad = write_parquet(folder / "train-00000-of-00001.parquet", sentence2=["A cat sat .", " "])
    with pytest.raises(DataError) as info:
        load(folder, tmp_path / "cache")
    assert one_line(info.value) == f"{bad}: row 1: column sentence2: expected a non-empty string, found ' ' (str)"


def test_extra_header_column_is_named(tmp_path):
    path = tmp_path / "train.tsv"
    path.write_text(HEADER.replace("\n", "\tNotes\n") + ROWS, encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_glue_tsv(path)
    assert re.match(rf"{re.escape(str(path))}:1: bad header \(extra column\(s\) 'Notes'\)", one_line(info.value))


def test_cache_that_cannot_be_written_names_the_option_and_leaves_nothing(tmp_path, monkeypatch):
    from datasets import DatasetDict

    def full_disk(self, path, **kwargs):
        Path(path, "half.arrow").write_bytes(b"half")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(DatasetDict, "save_to_disk", full_disk)
    folder = tsv_folder(tmp_path / "d")
    with pytest.raises(ConfigError) as info:
        load(folder, tmp_path / "cache")
    assert re.match(r"--finetune-cache-dir / PYTEST_FINETUNE_CACHE .*: cannot write to the cache folder "
                    r".*/mrpc \(No space left on device\); expected a writable folder", one_line(info.value))
    assert [p.name for p in (tmp_path / "cache" / "mrpc").iterdir()] == []


@pytest.mark.slow
def test_processes_building_one_cache_at_once_do_not_race(tmp_path):
    """What xdist workers do on a fresh machine: every one gets the same rows, one entry, no warning."""
    import subprocess
    import sys

    folder = tsv_folder(tmp_path / "d")
    cache = tmp_path / "cache"
    code = ("import json, sys, warnings\n"
            "warnings.simplefilter('error')\n"
            "from pytest_finetune.mrpc.data import load_local_mrpc\n"
            "ds = load_local_mrpc(sys.argv[1], cache_dir=sys.argv[2])\n"
            "print(json.dumps({s: ds[s].to_list() for s in ds}, sort_keys=True))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)}
    workers = [subprocess.Popen([sys.executable, "-c", code, str(folder), str(cache)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [worker.communicate(timeout=300) for worker in workers]
    assert all(worker.returncode == 0 for worker in workers), [err for _, err in outputs]
    assert len({out for out, _ in outputs}) == 1 and json.loads(outputs[0][0])["train"][0]["idx"] == 0
    entries = [p.name for p in (cache / "mrpc").iterdir()]  # one entry, no temporary leftovers
    assert len(entries) == 1 and entries[0].startswith(f"{describe_source(folder).split(':')[-1]}-v{CACHE_FORMAT}-")
