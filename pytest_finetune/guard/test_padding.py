"""Padding and collation properties of the real tokenizer and ``DataCollatorWithPadding``.

Hypothesis draws sentence pairs, tokenizes them with the session's tokenizer (whatever
``--finetune-model`` is: BERT, RoBERTa, DistilBERT) and collates them under drawn
settings (padding strategy, max_length, pad_to_multiple_of, padding side); each property
check says which example and position broke. A tokenizer or collator upgrade that pads on
the wrong side, miscounts the mask or moves a segment boundary fails here.
"""
from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from pytest_finetune.checks.properties import (
    check_mask_lengths,
    check_model_padding_invariance,
    check_order_independence,
    check_padded_shapes,
    check_padding_values,
    check_segments,
    check_truncation_keeps_both,
)
from pytest_finetune.checks.strategies import collation_cases, pair_batches, sentence_pairs
from pytest_finetune.guard.padding_support import collate, model, sided  # noqa: F401 (fixtures)
from pytest_finetune.mrpc.preprocessing import make_collator

# Padding with padding=True and a max_length is one of the drawn settings; the collator
# ignoring that max_length (and warning about it) is what check_padded_shapes expects.
pytestmark = pytest.mark.filterwarnings("ignore:`max_length` is ignored when `padding`=`True`")


@given(data=st.data())
def test_collated_shapes(sided, data):
    features, options = data.draw(collation_cases(sided["right"]))
    batch, _ = collate(sided, features, options)
    check_padded_shapes(batch, features, options["padding"], options["max_length"],
                        options["pad_to_multiple_of"])


@given(data=st.data())
def test_padding_values_on_the_tokenizer_side(sided, data):
    features, options = data.draw(collation_cases(sided["right"]))
    batch, tokenizer = collate(sided, features, options)
    check_padding_values(batch, features, tokenizer)


@given(data=st.data())
def test_mask_lengths_and_untouched_labels(sided, data):
    features, options = data.draw(collation_cases(sided["right"]))
    batch, _ = collate(sided, features, options)
    check_mask_lengths(batch, features)


@given(data=st.data())
def test_segments_in_features_and_in_the_padded_batch(sided, data):
    features, options = data.draw(collation_cases(sided["right"]))
    check_segments(features, sided["right"])
    batch, tokenizer = collate(sided, features, options)
    check_segments(batch, tokenizer)


@given(pair=sentence_pairs(), max_length=st.integers(3, 64))
def test_truncation_keeps_both_sentences(tokenizer, pair, max_length):
    # A pair needs its special tokens whatever is cut: 3 for BERT, 4 for RoBERTa.
    assume(max_length >= tokenizer.num_special_tokens_to_add(pair=True))
    check_truncation_keeps_both(tokenizer, pair, max_length)


@given(data=st.data(), seed=st.integers(0, 2**16))
def test_collation_order_only_permutes_rows(sided, data, seed):
    features, options = data.draw(collation_cases(sided["right"]))
    tokenizer = sided[options["padding_side"]]
    collator = make_collator(tokenizer, **{k: v for k, v in options.items() if k != "padding_side"})
    check_order_independence(collator, features, seed=seed)


@settings(max_examples=10)
@given(pairs=pair_batches(2, 5, allow_long=False))
def test_model_logits_do_not_depend_on_padding(model, tokenizer, pairs):
    check_model_padding_invariance(model, tokenizer, pairs, atol=1e-5)
