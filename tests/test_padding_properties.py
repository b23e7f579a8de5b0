"""The padding checks themselves: the strategies reach their edge cases, and each check fails.

The properties of the real tokenizer and collator are guards of the user's stack and ship
in ``pytest_finetune/guard/test_padding.py``; here each check is fed a deliberately broken
batch, collator, tokenizer or model and must raise, so a check that can never fail cannot
hide in the guard suite.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import Phase, find, given, settings
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
from pytest_finetune.checks.strategies import (
    SPECIAL_TOKEN_LITERALS,
    pair_batches,
    sentence_pairs,
    tokenized_features,
)
from pytest_finetune.guard.padding_support import (PAIRS, TOKENIZER, features_of,  # noqa: F401 (fixtures)
                                                   model, sided)
from pytest_finetune.mrpc.preprocessing import make_collator


# --- the strategies themselves ---------------------------------------------------------


@given(pair=sentence_pairs())
def test_pairs_are_plain_str_tuples_without_special_token_text(pair):
    assert type(pair) is tuple and len(pair) == 2 and all(type(s) is str for s in pair)
    assert not any(lit in s.lower() for s in pair for lit in SPECIAL_TOKEN_LITERALS)


def test_strategies_reach_the_edge_cases():
    """Empty, non-ASCII and over-long sentences and batches of mixed lengths are all drawn.

    Found without shrinking: what matters is that each case is drawn, not its smallest
    form, and shrinking took ~97 % of this test's time (4.5 s of CPU against 0.16 s).
    """
    drawn = settings(phases=[Phase.explicit, Phase.reuse, Phase.generate], database=None)
    find(sentence_pairs(), lambda p: "" in p, settings=drawn)
    find(sentence_pairs(), lambda p: any(ord(c) > 127 for c in p[0] + p[1]), settings=drawn)
    find(sentence_pairs(), lambda p: len(TOKENIZER(p[0], add_special_tokens=False)["input_ids"]) > 64,
         settings=drawn)
    find(pair_batches(2, 4), lambda b: len({len(a) + len(c) for a, c in b}) > 1, settings=drawn)
    truncated = find(tokenized_features(TOKENIZER, max_length=st.just(16)),
                     lambda fs: any(len(f["input_ids"]) == 16 for f in fs), settings=drawn)
    assert all(len(f["input_ids"]) <= 16 for f in truncated)


def test_bert_is_not_left_padding_invariant(model, sided):
    """Absolute position embeddings: left pads shift every real token's position."""
    with pytest.raises(AssertionError, match="padding_side='left'.*max \\|diff\\|"):
        check_model_padding_invariance(model, sided["left"], PAIRS, atol=1e-4)


# --- each check fails on a broken input --------------------------------------------------


def test_padding_on_the_wrong_side_is_caught(sided):
    features = features_of(sided["right"], PAIRS)
    batch = make_collator(sided["right"])(features)
    check_padding_values(batch, features, sided["right"])
    with pytest.raises(AssertionError, match="padding_side='left'.*padded on the wrong side"):
        check_padding_values(batch, features, sided["left"])


def test_wrong_token_type_pad_is_caught(sided):
    features = features_of(sided["right"], PAIRS)
    batch = make_collator(sided["right"])(features)
    batch["token_type_ids"][batch["attention_mask"] == 0] = 1
    with pytest.raises(AssertionError, match=r"batch\['token_type_ids'\] example \d: .* should all be 0"):
        check_padding_values(batch, features, sided["right"])


def test_unexpected_shape_is_caught(sided):
    features = features_of(sided["right"], PAIRS)
    batch = make_collator(sided["right"], padding="max_length", max_length=40)(features)
    with pytest.raises(AssertionError, match=r"shape \(3, 40\), expected \(3, 24\)"):
        check_padded_shapes(batch, features, padding=True, pad_to_multiple_of=8)


def test_attention_mask_off_by_one_is_caught(sided):
    features = features_of(sided["right"], PAIRS)
    batch = make_collator(sided["right"])(features)
    last = int(batch["attention_mask"][0].sum()) - 1
    batch["attention_mask"][0, last] = 0  # the final [SEP] of example 0 no longer attended
    with pytest.raises(AssertionError, match="attention_mask of example 0 sums to 17 but the example has 18"):
        check_mask_lengths(batch, features)


@pytest.mark.parametrize("broken, message", [
    (lambda labels, width: labels[:, None].expand(-1, width).clone(), r"shape \(3, \d+\), expected \(3,\)"),
    (lambda labels, width: labels.flip(0), "label of example 0 is 0 in the batch but 1"),
])
def test_padded_or_changed_labels_are_caught(sided, broken, message):
    features = features_of(sided["right"], PAIRS, labels=[1, 1, 0])
    batch = make_collator(sided["right"])(features)
    batch["labels"] = broken(batch["labels"], batch["input_ids"].shape[1])
    with pytest.raises(AssertionError, match=message):
        check_mask_lengths(batch, features)


def test_moved_segment_boundary_is_caught(tokenizer):
    features = features_of(tokenizer, PAIRS)
    check_segments(features, tokenizer)
    types = features[1]["token_type_ids"]
    boundary = features[1]["input_ids"].index(tokenizer.sep_token_id)
    types[boundary] = 1  # the first [SEP] counted as sentence 2
    with pytest.raises(AssertionError, match=rf"example 1: .* \(position, type\) \[\({boundary}, 1\)\]"):
        check_segments(features, tokenizer)


class CutsTheConcatenation:
    """A hand-rolled truncation: tokenize the whole pair, keep the first max_length - 1 + [SEP]."""

    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __call__(self, text, text_pair=None, truncation=False, max_length=None, **kwargs):
        encoded = self.inner(text, text_pair, **kwargs)
        if not (truncation and max_length):
            return encoded
        return {k: [row[:max_length - 1] + row[-1:] for row in v] for k, v in encoded.items()}


def test_truncation_dropping_sentence_two_is_caught(tokenizer):
    pair = ("The baker thanked his old sister , whom he called the hero , for finding the lost keys .",
            "He said so .")
    check_truncation_keeps_both(tokenizer, pair, 12)
    with pytest.raises(AssertionError, match="kept 10 of 19 tokens of sentence 1 and 0 of 4 of sentence 2"):
        check_truncation_keeps_both(CutsTheConcatenation(tokenizer), pair, 12)


def test_reordering_or_mixing_collators_are_caught(sided):
    features = features_of(sided["right"], PAIRS, labels=[2, 0, 1])
    collator = make_collator(sided["right"])
    check_order_independence(collator, features)

    def sorts_by_length(rows):
        return collator(sorted(rows, key=lambda row: len(row["input_ids"])))

    def labels_in_arrival_order_of_first_batch(rows):
        batch = collator(rows)
        batch["labels"] = torch.tensor([f["labels"] for f in features])
        return batch

    for broken in (sorts_by_length, labels_in_arrival_order_of_first_batch):
        with pytest.raises(AssertionError, match=r"changed example \d: batch\['\w+'\] row \d"):
            check_order_independence(broken, features)


class IgnoresAttentionMask(torch.nn.Module):
    """The real model, called without the attention mask (so it attends to pads)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, input_ids, token_type_ids=None, attention_mask=None):
        return self.inner(input_ids=input_ids, token_type_ids=token_type_ids)


def test_model_attending_to_pads_is_caught(model, tokenizer):
    with pytest.raises(AssertionError, match=r"example \d .* max \|diff\| .* > atol 0\.0001"):
        check_model_padding_invariance(IgnoresAttentionMask(model), tokenizer, PAIRS, atol=1e-4)
