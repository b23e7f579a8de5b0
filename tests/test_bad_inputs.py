"""Every input a user gives, broken on purpose: each error is one line naming the culprit."""
import json
import re

import pytest

from pytest_finetune.baselines.store import read_baseline
from pytest_finetune.mrpc.data import load_mrpc
from pytest_finetune.errors import (BaselineError, ConfigError, DataError, FinetuneError,
                                    ModelError)
from pytest_finetune.mrpc.modeling import load_model, load_tokenizer, pick_device, resolve_model
from pytest_finetune.config.options import OPTIONS_BY_DEST, resolve
from pytest_finetune.runs.runners import Registry
from pytest_finetune.runs import RunConfig, profile_config

HEADER = "Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\n"
ROW = "1\t1\t2\tA b .\tA c .\n"


def mrpc_folder(tmp_path, train=HEADER + ROW, dev=HEADER + ROW, raw_train=None):
    folder = tmp_path / "mrpc"
    folder.mkdir()
    (folder / "train.tsv").write_bytes(raw_train if raw_train is not None else train.encode())
    if dev is not None:
        (folder / "dev.tsv").write_text(dev)
    return folder


def load(folder):
    return load_mrpc(str(folder), cache_dir=folder.parent / "cache")


def parquet_without_label(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    for split in ("train", "validation"):
        pq.write_table(pa.table({"sentence1": ["a"], "sentence2": ["b"], "idx": [0]}),
                       tmp_path / f"{split}-00000-of-00001.parquet")
    return tmp_path


def corrupt_parquet(tmp_path):
    for split in ("train", "validation"):
        (tmp_path / f"{split}-00000-of-00001.parquet").write_bytes(b"PAR1 not really")
    return tmp_path


def model_folder(tmp_path, config="ok", weights=True, num_labels=None):
    from transformers import BertConfig, BertForSequenceClassification

    folder = tmp_path / "model"
    cfg = BertConfig(vocab_size=100, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=8)
    if num_labels:
        cfg.num_labels = num_labels
        cfg.architectures = ["BertForSequenceClassification"]
    BertForSequenceClassification(cfg).save_pretrained(folder)
    if config == "broken":
        (folder / "config.json").write_text("{ not json")
    if config == "missing":
        (folder / "config.json").unlink()
    if not weights:
        (folder / "model.safetensors").unlink()
    return folder


def tokenizer_without_pad(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    folder = model_folder(tmp_path)
    vocab = {"<unk>": 0, **{f"word{i}": i for i in range(1, 100)}}  # as many as the model's rows
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="<unk>").save_pretrained(folder)
    return folder


def baseline_file(tmp_path, mutate):
    record = {"format_version": 1, "scenario": {"task": "mrpc", "runner": "loop"}, "seeds": [42],
              "metrics": {m: {"mean": 0.8, "std": 0.0, "values": [0.8]} for m in ("accuracy", "f1")},
              "tolerance": {"k": 3.0, "metric_floor": 0.01, "loss_floor": 0.05},
              "loss_curve": {"steps": [1], "mean": [0.5], "std": [0.0]},
              "config": {}, "versions": {}}
    mutate(record)
    path = tmp_path / "b.json"
    path.write_text(json.dumps(record, indent=1))
    return path


def setting(dest, value):
    return resolve(OPTIONS_BY_DEST[dest], value, None, environ={})


CASES = [
    # data
    ("data folder missing", lambda t: load(t / "nope"), DataError, r"nope does not exist; pass --finetune-data"),
    ("tsv wrong field count", lambda t: load(mrpc_folder(t, train=HEADER + ROW + "1\t2\tonly three\n")),
     DataError, r"train\.tsv:3: expected 5 tab-separated fields, found 3"),
    ("tsv missing header column", lambda t: load(mrpc_folder(t, train="Quality\t#1 ID\t#2 ID\t#1 String\n")),
     DataError, r"train\.tsv:1: bad header \(missing column\(s\) #2 String\)"),
    ("tsv label not 0/1", lambda t: load(mrpc_folder(t, train=HEADER + "yes\t1\t2\ta\tb\n")),
     DataError, r"train\.tsv:2: label \(column Quality\) must be 0 or 1, found 'yes'"),
    ("tsv not utf-8", lambda t: load(mrpc_folder(t, raw_train=(HEADER + ROW).encode() + b"1\t1\t2\t\xff\tb\n")),
     DataError, r"train\.tsv:3: not UTF-8"),
    ("tsv empty file", lambda t: load(mrpc_folder(t, train="")), DataError, r"train\.tsv: empty file"),
    ("tsv empty split", lambda t: load(mrpc_folder(t, dev=HEADER)), DataError, r"dev\.tsv: no rows after the header"),
    ("no dev split", lambda t: load(mrpc_folder(t, dev=None)), DataError, r"mrpc: no validation split found"),
    ("parquet missing column", lambda t: load(parquet_without_label(t)), DataError,
     r"train-00000-of-00001\.parquet: missing column\(s\) label"),
    ("parquet corrupt", lambda t: load(corrupt_parquet(t)), DataError, r"\.parquet: not a readable parquet file"),
    # model
    ("model folder missing", lambda t: resolve_model(str(t / "no-model")), ModelError,
     r"no-model does not exist; pass --finetune-model"),
    ("config.json unreadable", lambda t: load_model(str(model_folder(t, config="broken"))), ModelError,
     r"config\.json: unreadable config\.json"),
    ("config.json missing", lambda t: load_model(str(model_folder(t, config="missing"))), ModelError,
     r"model folder .*model: no config\.json"),
    ("weights missing", lambda t: load_model(str(model_folder(t, weights=False))), ModelError,
     r"model: no weights; expected one of model\.safetensors"),
    ("num_labels mismatch", lambda t: load_model(str(model_folder(t, num_labels=3)), num_labels=2), ModelError,
     r"classifier with num_labels=3 but the data has 2 labels"),
    ("tokenizer without pad token", lambda t: load_tokenizer(str(tokenizer_without_pad(t))), ModelError,
     r"has no pad token.*set one \(e\.g\. tokenizer\.pad_token = tokenizer\.eos_token\)"),
    ("hub id offline", lambda t: resolve_model("some-org/not-cached-model"), ModelError,
     r"'some-org/not-cached-model': the Hugging Face Hub is unreachable .* pass --finetune-model"),
    # options
    ("unknown runner", lambda t: Registry().runner("jax"), ConfigError, r"runner: 'jax' is not one of trainer, loop"),
    ("runner name not fit for a file name", lambda t: RunConfig(runner="my runner"), ConfigError,
     r"runner: expected a registered runner's name \(letters, digits"),
    ("unknown profile", lambda t: profile_config("huge"), ConfigError, r"profile: 'huge' is not one of tiny, full, gpu"),
    ("unknown device", lambda t: setting("device", "tpu"), ConfigError,
     r"--finetune-device / PYTEST_FINETUNE_DEVICE .*'tpu' is not one of auto, cpu, cuda"),
    ("cuda without cuda", lambda t: pick_device("cuda"), ModelError, r"--finetune-device cuda: no CUDA device"),
    ("zero epochs", lambda t: RunConfig(epochs=0), ConfigError, r"epochs: expected a whole number >= 1, got 0"),
    ("negative batch size", lambda t: RunConfig(batch_size=-8), ConfigError, r"batch_size: expected a whole number >= 1, got -8"),
    ("seeds < 1", lambda t: setting("seeds", "0"), ConfigError, r"--finetune-seeds / PYTEST_FINETUNE_SEEDS .*got 0"),
    ("tolerance not a number", lambda t: setting("tolerance_k", "wide"), ConfigError,
     r"--finetune-tolerance-k .*expected a finite number >= 0, got 'wide'"),
    # baselines
    ("baseline invalid json", lambda t: read_baseline(_write(t / "b.json", '{\n "a": 1,\n oops\n}')),
     BaselineError, r"b\.json:3: invalid JSON"),
    ("baseline of another scenario", lambda t: read_baseline(baseline_file(t, lambda r: None), {"task": "mrpc", "runner": "trainer"}),
     BaselineError, r"b\.json: holds scenario .*loop.*, expected .*trainer"),
    ("baseline missing keys", lambda t: read_baseline(baseline_file(t, lambda r: r.pop("metrics"))),
     BaselineError, r"b\.json: missing key\(s\) metrics"),
    ("baseline newer format", lambda t: read_baseline(baseline_file(t, lambda r: r.update(format_version=99))),
     BaselineError, r"b\.json: format_version 99 is not one this pytest-finetune reads"),
    ("baseline not an object", lambda t: read_baseline(_write(t / "b.json", "[1, 2]")),
     BaselineError, r"b\.json: expected a JSON object"),
]


def _write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("make, error, pattern", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_clear_line(tmp_path, monkeypatch, make, error, pattern):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hub-cache"))
    if error is ModelError and "cuda" in pattern:
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    with pytest.raises(error) as info:
        make(tmp_path)
    message = str(info.value)
    assert re.search(pattern, message), message
    assert "\n" not in message and isinstance(info.value, FinetuneError)
