"""Hypothesis strategies for the inputs of tokenization and collation: use them in your tests.

MRPC is pairs of English news sentences, but a fine-tuning pipeline meets whatever its users
feed it: empty strings, accents, CJK, emoji, control characters, sentences far longer than
``max_length``. These strategies draw such pairs, tokenize them the way ``Dataset.map`` does
and draw ``DataCollatorWithPadding`` settings, so that the checks in
:mod:`pytest_finetune.checks.properties` run on the cases that break padding code.

Sizes are bounded on purpose: a property test is run dozens of times per session, and a
sentence only needs to be longer than the drawn ``max_length`` to exercise truncation.

Example::

    from hypothesis import given
    from pytest_finetune.checks.strategies import collation_cases

    @given(case=collation_cases(my_tokenizer))
    def test_my_collator(case):
        features, settings = case
        ...
"""
from __future__ import annotations

from typing import Any

from hypothesis import note
from hypothesis import strategies as st
from transformers import PreTrainedTokenizerBase

__all__ = [
    "SPECIAL_TOKEN_LITERALS", "WORDS", "sentences", "sentence_pairs", "pair_batches",
    "tokenized_features", "collator_settings", "collation_cases",
]

# Words that real tokenizers split in different ways: plain English, accents (NFD-stripped by
# uncased BERT), CJK (one token per character), emoji and rare scripts ([UNK]), punctuation,
# digits, and characters that the normalizer deletes (zero-width space, soft hyphen).
WORDS = (
    "the", "a", "cat", "sat", "on", "mat", "said", "shares", "rose", "percent", "Tuesday",
    "company", "Marlowe", "thanked", "his", "sister", "whom", "he", "called", "hero",
    "deliberately", "finding", "keys", ".", ",", "'s", "\"", "(", ")", "-", "$", "3.5",
    "2003", "1,000", "naïve", "café", "Straße", "résumé", "東京", "北京大学", "🙂", "👍🏽",
    "Ελληνικά", "русский", "עברית", "مرحبا", "नमस्ते", "\u200b", "\u00ad", "e\u0301",
    "tab\there", "new\nline", "UPPER", "MiXeD", "don't", "co-operate", "U.S.", "e-mail",
)

# Literal special tokens inside a sentence are matched as special tokens by the tokenizer
# (``"a [SEP] b"`` encodes a real [SEP]), which breaks the segment structure on purpose.
# That is a property of the text, not of padding, so the strategies never draw them.
SPECIAL_TOKEN_LITERALS = ("[cls]", "[sep]", "[pad]", "[mask]", "[unk]",
                          "<s>", "</s>", "<pad>", "<unk>", "<mask>", "<|endoftext|>")


def _no_special_literals(text: str) -> bool:
    lowered = text.lower()
    return not any(literal in lowered for literal in SPECIAL_TOKEN_LITERALS)


def _word_sentence(min_words: int, max_words: int) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(WORDS), min_size=min_words, max_size=max_words).map(" ".join)


def sentences(allow_long: bool = True, max_chars: int = 40,
              max_long_chars: int = 300) -> st.SearchStrategy[str]:
    """One sentence: empty, word-built, arbitrary unicode, or (with ``allow_long``) very long.

    - ``""``: an empty sentence is legal input and tokenizes to no tokens at all;
    - word-built sentences look like MRPC and shrink to readable failing examples;
    - arbitrary unicode (up to ``max_chars`` characters, every category except surrogates,
      which cannot be encoded to UTF-8) finds what the normalizer deletes or maps to [UNK];
    - long sentences repeat a word-built sentence, cut to ``max_long_chars`` characters
      (about 40 to 150 tokens): longer than most drawn ``max_length`` values, without
      Hypothesis drawing hundreds of words one by one (slow, and shrinks badly).

    Why long sentences are capped at a few hundred characters: the fast tokenizer's
    truncation of a pair builds the cross product of both sentences' overflow windows, even
    with ``return_overflowing_tokens=False``, so its cost grows like
    ``(len1 / max_length) * (len2 / max_length)``: two 400-token sentences truncated to
    ``max_length=5`` take seconds, per call.

    Set ``allow_long=False`` for tests that run a model, where sequence length is the cost.
    """
    options = [
        st.just(""),
        _word_sentence(1, 12),
        st.text(st.characters(codec="utf-8"), min_size=1, max_size=max_chars),
    ]
    if allow_long:
        options.append(st.tuples(_word_sentence(1, 8), st.integers(8, 40))
                       .map(lambda drawn: " ".join([drawn[0]] * drawn[1])[:max_long_chars]))
    return st.one_of(options).filter(_no_special_literals)


def sentence_pairs(allow_long: bool = True) -> st.SearchStrategy[tuple[str, str]]:
    """An MRPC-like ``(sentence1, sentence2)``: a plain tuple of str, so it prints readably."""
    return st.tuples(sentences(allow_long), sentences(allow_long))


def pair_batches(min_size: int = 1, max_size: int = 8,
                 allow_long: bool = True) -> st.SearchStrategy[list[tuple[str, str]]]:
    """A batch of pairs of mixed lengths: each pair picks its own kind of sentence.

    Mixed lengths are the point: padding code is only exercised when the rows of a batch
    differ in length (and its bugs hide when they all have the same length).
    """
    return st.lists(sentence_pairs(allow_long), min_size=min_size, max_size=max_size)


@st.composite
def tokenized_features(draw: st.DrawFn, tokenizer: PreTrainedTokenizerBase, min_size: int = 1,
                       max_size: int = 8, max_length: st.SearchStrategy[int | None] | None = None,
                       allow_long: bool = True, num_labels: int = 2) -> list[dict[str, Any]]:
    """Rows as ``Dataset.map`` gives them to the collator: lists of ints, one ``labels`` int.

    The rows come from really calling ``tokenizer`` (batched, ``truncation=True``, with a drawn
    ``max_length``: ``None``, the model's own limit, or 8 to 64 unless ``max_length`` is given;
    smaller limits make truncating long pairs slow, see :func:`sentences`), because hand-made
    ids would only
    test what we believe the tokenizer does. It is called batched, like ``Dataset.map(batched
    =True)``: a single call treats an empty second sentence as no pair at all (no second
    [SEP]), a batched call does not, and the collator sees what the batched call produced.

    The drawn sentence pairs and ``max_length`` are ``note``-d, so a failing example shows the
    text, not only lists of ids.
    """
    pairs = draw(pair_batches(min_size, max_size, allow_long))
    limit = draw(max_length if max_length is not None else st.one_of(st.none(), st.integers(8, 64)))
    labels = draw(st.lists(st.integers(0, num_labels - 1), min_size=len(pairs), max_size=len(pairs)))
    note(f"sentence pairs: {pairs!r}")
    note(f"tokenized with truncation=True, max_length={limit!r}; labels {labels}")
    encoded = tokenizer([first for first, _ in pairs], [second for _, second in pairs],
                        truncation=True, max_length=limit)
    keys = [key for key in ("input_ids", "token_type_ids", "attention_mask") if key in encoded]
    return [{**{key: list(encoded[key][i]) for key in keys}, "labels": labels[i]}
            for i in range(len(pairs))]


@st.composite
def collator_settings(draw: st.DrawFn, longest: int = 1, max_length_cap: int = 96) -> dict[str, Any]:
    """``DataCollatorWithPadding`` keyword arguments plus the tokenizer's ``padding_side``.

    ``padding`` is ``True``, ``"longest"`` or ``"max_length"``; ``pad_to_multiple_of`` is
    ``None`` or a power of two (what tensor cores want) or 3 (to catch code that assumes a
    power of two). With ``True``/``"longest"`` a ``max_length`` is sometimes drawn too, since
    the collator must then ignore it. ``"max_length"`` padding never truncates, so its
    ``max_length`` is drawn from ``longest`` (the longest feature of the batch) upwards.

    ``padding_side`` is not a collator argument: set it on a copy of the tokenizer.
    """
    padding = draw(st.sampled_from([True, "longest", "max_length"]))
    if padding == "max_length":
        max_length = longest + draw(st.integers(0, max_length_cap))
    else:
        max_length = draw(st.one_of(st.none(), st.integers(1, max_length_cap)))
    return {"padding": padding, "max_length": max_length,
            "pad_to_multiple_of": draw(st.sampled_from([None, 2, 3, 8, 16])),
            "padding_side": draw(st.sampled_from(["right", "left"]))}


@st.composite
def collation_cases(draw: st.DrawFn, tokenizer: PreTrainedTokenizerBase, min_size: int = 1,
                    max_size: int = 8) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``(features, settings)``: a tokenized batch and collator settings valid for it."""
    features = draw(tokenized_features(tokenizer, min_size=min_size, max_size=max_size))
    longest = max(len(feature["input_ids"]) for feature in features)
    settings = draw(collator_settings(longest=longest))
    note(f"collator settings: {settings!r}")
    return features, settings
