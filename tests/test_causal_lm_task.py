"""The causal-LM task without training: its data, tokens, labels, statistics and metrics.

The user's text files are checked value by value (one line naming the file, row and
column); a batch's labels are its input ids with -100 at the padding; the per-example
statistics add up to exactly the loss the model computes itself; perplexity and token
accuracy do not depend on how the examples are batched. Each test builds what it needs in
well under a second (the 2-layer GPT-2 is 2M parameters).
"""
from __future__ import annotations

import json
import math

import pytest
import torch
from transformers import DataCollatorWithPadding, set_seed

from pytest_finetune.checks.properties import check_token_labels
from pytest_finetune.errors import ConfigError, DataError
from pytest_finetune.mrpc.modeling import load_tokenizer
from pytest_finetune.runs.runners import Registry, bind
from pytest_finetune.tasks.base import TOKEN, level_of, lower_is_better, token_eval_loss
from pytest_finetune.tasks.causal_lm import MRPC_LM, CausalLM, TokenMetric, token_statistics

TEXTS = ["The cat sat on the mat .", "Prices fell sharply on Monday after the report came out .", "He left .",
         "A longer sentence about shares , prices and the market , to make the batch uneven ."]


@pytest.fixture(scope="module")
def tokenizer():
    return load_tokenizer(None)


@pytest.fixture(scope="module")
def model():
    set_seed(0)
    return MRPC_LM.load_model(None, hidden_dropout_prob=0.0)


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_text_files_load_one_example_per_non_empty_line(tmp_path):
    task = CausalLM("notes", train=_write(tmp_path / "train.txt", TEXTS + [""]),
                    validation=_write(tmp_path / "dev.txt", TEXTS[:2]))
    splits = task.load(cache_dir=str(tmp_path / "cache"))
    assert splits["train"]["text"] == TEXTS and len(splits["validation"]) == 2
    assert task.describe_source().startswith("txt:sha256:") and task.source and task.level == TOKEN


def test_a_json_lines_text_column_is_checked_value_by_value(tmp_path):
    rows = [{"body": TEXTS[0]}, {"body": 3}]
    (tmp_path / "train.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    task = CausalLM("docs", train=tmp_path / "train.jsonl", validation=tmp_path / "train.jsonl", text="body")
    with pytest.raises(DataError, match=r"train\.jsonl: row 2: column body: expected a non-empty string, found 3"):
        task.check()


@pytest.mark.parametrize("content, problem", [("", r"no text; expected one example per non-empty line"),
                                              (None, r"does not exist; expected a text file")])
def test_an_empty_or_missing_text_file_is_one_line(tmp_path, content, problem):
    train = tmp_path / "train.txt"
    if content is not None:
        train.write_text(content)
    task = CausalLM("notes", train=train, validation=_write(tmp_path / "dev.txt", TEXTS))
    with pytest.raises(DataError, match=rf"train\.txt: {problem}"):
        task.check()


def test_one_file_without_the_other_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match=r"task notes: give both train and validation files, or neither"):
        CausalLM("notes", train=tmp_path / "train.txt")


def test_batches_carry_the_input_ids_as_labels_with_the_padding_left_out(tokenizer):
    features = [dict(tokenizer(text, return_token_type_ids=False)) for text in TEXTS]
    batch = MRPC_LM.collator(tokenizer)(features)
    assert "token_type_ids" not in batch and batch["labels"].shape == batch["input_ids"].shape
    check_token_labels(batch)
    assert (batch["labels"] == -100).sum() == (batch["attention_mask"] == 0).sum() > 0
    classifier_batch = DataCollatorWithPadding(tokenizer)([{**f, "labels": f["input_ids"]} for f in features[:1]])
    classifier_batch["labels"] = classifier_batch["labels"] * 0
    with pytest.raises(AssertionError, match=r"labels of example 0: position 0 is 0, expected 101"):
        check_token_labels(classifier_batch)


def test_the_statistics_add_up_to_the_models_own_token_mean_loss(tokenizer, model):
    batch = MRPC_LM.collator(tokenizer)([dict(tokenizer(t, return_token_type_ids=False)) for t in TEXTS])
    model.eval()
    with torch.inference_mode():
        outputs = model(**batch)
    rows = token_statistics(outputs.logits, batch["labels"])
    predicted = int(batch["labels"][:, 1:].ne(-100).sum())
    assert rows.shape == (4, 3) and rows[:, 1].sum() == predicted  # position 0 predicts nothing
    assert token_eval_loss(rows) == pytest.approx(float(outputs.loss), rel=1e-6)


def test_perplexity_and_token_accuracy_do_not_depend_on_the_batching():
    rows = torch.tensor([[20.0, 4, 1], [50.0, 10, 3], [5.0, 1, 0]], dtype=torch.float64)
    whole, split = TokenMetric(), TokenMetric()
    whole.add_batch(rows)
    split.add_batch(rows[:1]), split.add_batch(rows[1:])
    assert whole.compute() == split.compute() == {"perplexity": math.exp(75 / 15), "token_accuracy": 4 / 15}
    assert lower_is_better("perplexity") and lower_is_better("eval_loss") and not lower_is_better("token_accuracy")


def test_the_built_in_task_brings_its_own_model_and_learning_rates():
    bound = bind(Registry(), "loop", "mrpc-lm", "/data")
    assert bound["task"] == "mrpc-lm" and bound["default_model"] == "tiny-random-gpt2"
    assert bound["task_settings"]["tiny"] == {"lr": 3e-3} and bound["data"] == "/data"
    assert level_of(Registry().task("mrpc-lm")) == TOKEN and level_of(Registry().task("mrpc")) == "sequence"


def test_the_tiny_decoder_is_sized_to_the_embedded_tokenizer(tokenizer, model):
    assert model.config.vocab_size == len(tokenizer) and model.config.pad_token_id == tokenizer.pad_token_id
    assert model.config.n_layer == 2 and model.config.resid_pdrop == 0.0  # the run's dropout reached it
    assert sum(p.numel() for p in model.parameters()) < 2.2e6


def test_a_baseline_judges_perplexity_rising_as_worse_and_falling_as_a_gain():
    from factories import make_result
    from pytest_finetune.baselines.compare import compare
    from pytest_finetune.baselines.scenario import scenario_of
    from pytest_finetune.baselines.store import build_baseline

    def run(perplexity, seed=42):
        result = make_result(seed=seed, metrics={"perplexity": perplexity, "token_accuracy": 0.1},
                             prediction_counts=[])
        result.config = result.config.replace(task="mrpc-lm", model="tiny-random-gpt2")
        return result

    seeds = [run(400.0 + 10 * i, seed=42 + i) for i in range(3)]
    baseline = build_baseline(seeds, scenario_of(seeds[0].config, "cpu"), k=3.0)
    worse = compare(run(520.0, seed=50), baseline, "lm", k=3.0)
    assert [row.verdict for row in worse.rows if row.metric == "perplexity"] == ["FAIL"]
    assert any(f.startswith("perplexity: baseline 410.0000") and "allowed <= " in f for f in worse.failures)
    better = compare(run(300.0, seed=50), baseline, "lm", k=3.0)
    assert not [f for f in better.failures if f.startswith("perplexity")]
    assert any("perplexity improved beyond the band" in note for note in better.notes)


def test_token_frequency_perplexity_is_what_the_counts_give():
    import pytest as _pytest

    from pytest_finetune.errors import ConfigError
    from pytest_finetune.tasks.causal_lm import token_frequency_perplexity

    # train predicts token 1 three times (its first token is never predicted): p(1) = 4/5, p(0) = 1/5
    assert token_frequency_perplexity([[0, 1, 1, 1]], [[0, 1]], vocab_size=2) == _pytest.approx(5 / 4)
    assert token_frequency_perplexity([[0, 1, 1, 1]], [[1, 0]], vocab_size=2) == _pytest.approx(5.0)
    # nothing counted: every token equally likely, the vocabulary's size
    assert token_frequency_perplexity([[7]], [[3, 4, 5]], vocab_size=10) == _pytest.approx(10.0)
    with _pytest.raises(ConfigError, match="predict no token"):
        token_frequency_perplexity([[0, 1]], [[1], []], vocab_size=2)
