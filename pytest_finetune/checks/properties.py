"""Checks of padding and collation that any test can call: each raises ``AssertionError``.

Padding bugs rarely crash. A batch padded on the wrong side, an attention mask one short, a
token_type_ids pad of 1 or labels padded like inputs all produce tensors of the right dtype
that train to a slightly worse model, and no loss curve tells you why. These functions state
what a correct batch is, in terms of the unpadded rows it was made from, and say exactly
which example and position broke it.

They take plain data (a collated ``batch`` dict of tensors, the ``features`` list of dicts it
was collated from) so they work with any collator, and the hypothesis strategies of
:mod:`pytest_finetune.checks.strategies` feed them edge cases::

    batch = collator(features)
    check_padded_shapes(batch, features, padding=True, max_length=None, pad_to_multiple_of=8)
    check_padding_values(batch, features, tokenizer)
    check_mask_lengths(batch, features)
"""
from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from transformers import PreTrainedTokenizerBase

from pytest_finetune.mrpc.preprocessing import make_collator

__all__ = [
    "check_padded_shapes", "check_padding_values", "check_mask_lengths", "check_segments",
    "check_truncation_keeps_both", "check_model_padding_invariance", "check_order_independence",
]

Features = Sequence[Mapping[str, Any]]
Batch = Mapping[str, Any]
LABEL_KEYS = ("labels", "label", "label_ids")


def _fail(message: str) -> None:
    raise AssertionError(message)


def _rows(value: Any) -> list:
    """A tensor, array or nested list as nested Python lists (ints compare exactly)."""
    return value.tolist() if hasattr(value, "tolist") else [list(row) for row in value]


def _shape(value: Any) -> tuple[int, ...]:
    if hasattr(value, "shape"):
        return tuple(value.shape)
    rows = list(value)
    if rows and isinstance(rows[0], (list, tuple)):
        return (len(rows), *{len(row) for row in rows})
    return (len(rows),)


def _short(values: Sequence, limit: int = 16) -> str:
    values = list(values)
    if len(values) <= limit:
        return str(values)
    return f"{values[:limit // 2]}...{values[-(limit // 2):]} ({len(values)} values)"


def _label(feature: Mapping[str, Any]) -> Any:
    for key in LABEL_KEYS:
        if key in feature:
            value = feature[key]
            return value.tolist() if hasattr(value, "tolist") else value
    return None


def _sequence_keys(batch: Batch) -> list[str]:
    return [key for key in batch if key not in LABEL_KEYS]


def _expected_length(longest: int, padding: bool | str, max_length: int | None,
                     pad_to_multiple_of: int | None) -> int:
    """What ``tokenizer.pad`` promises: ``True``/"longest" ignore ``max_length``."""
    target = max_length if padding == "max_length" and max_length is not None else longest
    if pad_to_multiple_of and target % pad_to_multiple_of:
        target = (target // pad_to_multiple_of + 1) * pad_to_multiple_of
    return target


def check_padded_shapes(batch: Batch, features: Features, padding: bool | str = True,
                        max_length: int | None = None, pad_to_multiple_of: int | None = None) -> None:
    """Every sequence tensor is ``(batch, L)``, every label tensor ``(batch,)``.

    ``L`` is the longest example (dynamic padding), rounded up to ``pad_to_multiple_of``, or
    ``max_length`` (rounded up too) with ``padding="max_length"``. Dynamic padding that pads to
    more than the longest example wastes compute; padding to less means rows were truncated.
    """
    size = len(features)
    lengths = [len(feature["input_ids"]) for feature in features]
    longest = max(lengths)
    target = _expected_length(longest, padding, max_length, pad_to_multiple_of)
    why = (f"padding={padding!r}, max_length={max_length!r}, pad_to_multiple_of={pad_to_multiple_of!r}; "
           f"longest example is #{lengths.index(longest)} with {longest} tokens")
    for key in _sequence_keys(batch):
        shape = _shape(batch[key])
        if shape != (size, target):
            _fail(f"batch[{key!r}] has shape {shape}, expected ({size}, {target}) for "
                  f"{size} examples ({why})")
    for key in LABEL_KEYS:
        if key in batch and _shape(batch[key]) != (size,):
            _fail(f"batch[{key!r}] has shape {_shape(batch[key])}, expected ({size},): one label "
                  "per example, labels are never padded")


def check_padding_values(batch: Batch, features: Features, tokenizer: PreTrainedTokenizerBase) -> None:
    """Each row is its example's ids, unchanged, plus pads on ``tokenizer.padding_side``.

    Pads are ``pad_token_id`` in ``input_ids``, 0 in ``attention_mask`` and
    ``tokenizer.pad_token_type_id`` in ``token_type_ids``. Checking the unpadded part against
    the original ids, position by position, is what catches padding on the wrong side: the
    shapes and the mask sums of such a batch are all right.
    """
    side = tokenizer.padding_side
    pads = {"input_ids": tokenizer.pad_token_id, "attention_mask": 0,
            "token_type_ids": tokenizer.pad_token_type_id}
    for key, pad in pads.items():
        if key not in batch:
            continue
        rows = _rows(batch[key])
        if len(rows) != len(features):
            _fail(f"batch[{key!r}] has {len(rows)} rows for {len(features)} examples")
        for index, (row, feature) in enumerate(zip(rows, features)):
            original = list(feature[key]) if key in feature else [1] * len(feature["input_ids"])
            count, width = len(original), len(row)
            if count > width:
                _fail(f"batch[{key!r}] example {index}: {count} tokens but the padded row has only "
                      f"{width} positions: it was truncated while padding")
            content, padding = ((row[:count], row[count:]) if side == "right"
                                else (row[width - count:], row[:width - count]))
            start = 0 if side == "right" else width - count
            if content != original:
                first = next(j for j, (got, want) in enumerate(zip(content, original)) if got != want)
                _fail(f"batch[{key!r}] example {index}: with padding_side={side!r} positions "
                      f"{start}..{start + count - 1} should be its {count} original values "
                      f"{_short(original)} but are {_short(content)} (first difference at position "
                      f"{start + first}: expected {original[first]}, got {content[first]}); "
                      f"padded on the wrong side, or values changed?")
            wrong = [(j + (count if side == "right" else 0), value)
                     for j, value in enumerate(padding) if value != pad]
            if wrong:
                _fail(f"batch[{key!r}] example {index}: its {len(padding)} pad positions "
                      f"({side} side) should all be {pad} but (position, value) {_short(wrong, 8)}")


def check_mask_lengths(batch: Batch, features: Features) -> None:
    """``attention_mask.sum(1)`` is each example's length; labels arrive untouched.

    An attention mask one too short silently drops the final [SEP] from attention; one too
    long lets the model attend to a pad. Labels must keep their values and order and stay one
    per example: a collator that pads them like inputs turns them into a (batch, L) tensor
    and the loss into garbage (or a shape error far away from the cause).
    """
    masks = _rows(batch["attention_mask"])
    if len(masks) != len(features):
        _fail(f"batch['attention_mask'] has {len(masks)} rows for {len(features)} examples")
    for index, (mask, feature) in enumerate(zip(masks, features)):
        expected = (sum(feature["attention_mask"]) if "attention_mask" in feature
                    else len(feature["input_ids"]))
        if sum(mask) != expected:
            _fail(f"attention_mask of example {index} sums to {sum(mask)} but the example has "
                  f"{expected} tokens (mask {_short(mask)})")
    labels = [_label(feature) for feature in features]
    if all(label is None for label in labels):
        return
    if "labels" not in batch:
        _fail(f"the features have labels but the batch has no 'labels' (keys {sorted(batch)})")
    shape = _shape(batch["labels"])
    if shape != (len(features),):
        _fail(f"batch['labels'] has shape {shape}, expected ({len(features)},): labels must not be "
              "padded or reshaped")
    got = _rows(batch["labels"])
    for index, (have, want) in enumerate(zip(got, labels)):
        if have != want:
            _fail(f"label of example {index} is {have} in the batch but {want} in the features "
                  f"(batch labels {_short(got)}, feature labels {_short(labels)})")


def check_token_labels(batch: Batch, ignore_index: int = -100) -> None:
    """A causal LM's labels: ``(batch, L)`` like the inputs, the input ids where the attention
    mask is 1 and ``ignore_index`` where it is 0 (the loss then skips the padding and nothing
    else). A collator that leaves pad ids in the labels trains the model to predict padding."""
    ids, masks = _rows(batch["input_ids"]), _rows(batch["attention_mask"])
    if "labels" not in batch:
        _fail(f"a causal LM's batch has no 'labels' (keys {sorted(batch)})")
    labels = _rows(batch["labels"])
    if _shape(batch["labels"]) != _shape(batch["input_ids"]):
        _fail(f"batch['labels'] has shape {_shape(batch['labels'])}, expected {_shape(batch['input_ids'])} "
              "(one label per input token)")
    for index, (row, mask, label) in enumerate(zip(ids, masks, labels)):
        expected = [token if keep else ignore_index for token, keep in zip(row, mask)]
        if label != expected:
            first = next(j for j, (got, want) in enumerate(zip(label, expected)) if got != want)
            _fail(f"labels of example {index}: position {first} is {label[first]}, expected {expected[first]} "
                  f"(the input id where the mask is 1, {ignore_index} at padding)")


def _has_segment_ids(data: Batch | Features) -> bool:
    if isinstance(data, Mapping):
        return "token_type_ids" in data
    return all("token_type_ids" in feature for feature in data)


def _sequences(data: Batch | Features) -> list[tuple[list[int], list[int] | None]]:
    """``(input_ids, token_type_ids or None)`` of each row, without its pads (by attention_mask)."""
    with_types = _has_segment_ids(data)
    if isinstance(data, Mapping):
        ids = _rows(data["input_ids"])
        types = _rows(data["token_type_ids"]) if with_types else [None] * len(ids)
        masks = _rows(data["attention_mask"]) if "attention_mask" in data else None
    else:
        ids = [list(feature["input_ids"]) for feature in data]
        types = [list(feature["token_type_ids"]) if with_types else None for feature in data]
        masks = [list(feature.get("attention_mask", [1] * len(row))) for feature, row in zip(data, ids)]
    if masks is None:
        return list(zip(ids, types))
    return [([v for v, m in zip(row, mask) if m],
             None if kinds is None else [t for t, m in zip(kinds, mask) if m])
            for row, kinds, mask in zip(ids, types, masks)]


def check_segments(data: Batch | Features, tokenizer: PreTrainedTokenizerBase) -> None:
    """``token_type_ids`` is 0 up to and including the first [SEP] and 1 after it.

    BERT learns which sentence a token belongs to only from token_type_ids; a boundary moved
    by one, or a segment id on the pads, trains a different model from the same text. Works
    on tokenized features (a list of dicts) and on a collated batch (pads are skipped by the
    attention mask). Assumes the sentences contain no literal special tokens ("[SEP]").

    Models without segment ids (DistilBERT, RoBERTa: ``token_type_ids`` is not among the
    tokenizer's ``model_input_names``) tell the sentences apart by the separator alone, so
    for them each example must contain it; data without token_type_ids from a tokenizer that
    makes them fails (they were dropped on the way to the model).
    """
    sep = tokenizer.sep_token_id
    with_types = _has_segment_ids(data)
    if not with_types and "token_type_ids" in tokenizer.model_input_names:
        _fail(f"{type(tokenizer).__name__} produces token_type_ids (model_input_names "
              f"{list(tokenizer.model_input_names)}) but the data has none: they were dropped "
              "between tokenizing and collating")
    for index, (ids, types) in enumerate(_sequences(data)):
        if sep not in ids:
            _fail(f"example {index} has no separator token {tokenizer.sep_token!r} ({sep}): "
                  f"{_short(ids)}")
        if types is None:
            continue
        boundary = ids.index(sep)
        wrong = [(j, t) for j, t in enumerate(types) if t != (0 if j <= boundary else 1)]
        if wrong:
            _fail(f"example {index}: token_type_ids should be 0 at positions 0..{boundary} (through "
                  f"the first {tokenizer.sep_token}) and 1 after it, but (position, type) "
                  f"{_short(wrong, 8)}; token_type_ids {_short(types, 24)}")


def _segment_of_each_token(encoded: Any) -> list[int | None]:
    """Which sentence (0, 1) each token of the first encoded pair came from.

    ``token_type_ids`` where the tokenizer makes them; otherwise (RoBERTa, DistilBERT) the
    fast tokenizer's own ``sequence_ids``, None on special tokens.
    """
    if "token_type_ids" in encoded:
        return list(encoded["token_type_ids"][0])
    if getattr(encoded, "encodings", None):
        return list(encoded.sequence_ids(0))
    _fail("the tokenizer gives neither token_type_ids nor sequence_ids (a fast tokenizer's), so "
          "the two sentences of a pair cannot be told apart")


def check_truncation_keeps_both(tokenizer: PreTrainedTokenizerBase, pair: tuple[str, str],
                                max_length: int) -> None:
    """Truncating a pair to ``max_length`` keeps a start of both sentences when it can.

    ``truncation=True`` (longest first) cuts the longer sentence first, so when both are
    non-empty and there is room for two content tokens, both keep at least one token, and
    what is kept is the beginning of each sentence (the end with ``truncation_side="left"``).
    A hand-rolled truncation that cuts the concatenation pushes sentence 2 out entirely and
    the paraphrase task becomes unlearnable for long pairs. The pair is tokenized batched,
    like ``Dataset.map(batched=True)`` does.
    """
    first, second = pair
    alone = [list(tokenizer(text, add_special_tokens=False)["input_ids"]) for text in pair]
    encoded = tokenizer([first], [second], truncation=True, max_length=max_length)
    ids, types = list(encoded["input_ids"][0]), _segment_of_each_token(encoded)
    shown = tuple(text if len(text) <= 60 else text[:57] + "..." for text in pair)
    if len(ids) > max_length:
        _fail(f"truncating {shown!r} to max_length={max_length} gave {len(ids)} tokens")
    template = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.bos_token_id,
                tokenizer.eos_token_id} - {None}
    kept = [[v for v, t in zip(ids, types) if t == segment and v not in template] for segment in (0, 1)]
    for number, (have, full) in enumerate(zip(kept, alone), start=1):
        expected = full[:len(have)] if tokenizer.truncation_side == "right" else full[len(full) - len(have):]
        if have != expected:
            _fail(f"truncating {shown!r} to max_length={max_length}: sentence {number} kept "
                  f"{_short(have)}, which is not the {tokenizer.truncation_side}-truncated sentence "
                  f"{_short(full)}")
    room = max_length - tokenizer.num_special_tokens_to_add(pair=True)
    if alone[0] and alone[1] and room >= 2 and not (kept[0] and kept[1]):
        _fail(f"truncating {shown!r} to max_length={max_length} kept {len(kept[0])} of "
              f"{len(alone[0])} tokens of sentence 1 and {len(kept[1])} of {len(alone[1])} of "
              f"sentence 2; with room for {room} content tokens both should keep at least one")


def _logits(model: Any, batch: Batch, device: torch.device) -> torch.Tensor:
    inputs = {key: value.to(device) for key, value in batch.items() if key not in LABEL_KEYS}
    output = model(**inputs)
    output = getattr(output, "logits", output)
    if isinstance(output, (tuple, list)):
        output = output[0]
    return output.detach().float().cpu()


def check_model_padding_invariance(model: Any, tokenizer: PreTrainedTokenizerBase,
                                   pairs: Sequence[tuple[str, str]], atol: float = 1e-5,
                                   max_length: int | None = None) -> float:
    """Each pair's logits are the same alone, dynamically padded in a batch, padded to max_length.

    This is what the attention mask is for: pads must not change any real token's output.
    A model that ignores the mask, a collator that pads the mask with 1s, or left padding
    with a model that has absolute position embeddings (BERT) all fail it. The model runs in
    eval mode (dropout off), restored afterwards. ``max_length`` defaults to the longest
    pair plus 8, but never past the tokenizer's limit (the model cannot embed more positions).
    Returns the largest difference seen, so a test can report the margin.

    ``atol``: on CPU in fp32 the all-MiniLM-L6-v2 classifier differs by about 3e-8 between the
    three ways (different matmul shapes accumulate in a different order); 1e-5 leaves a wide
    margin for other BLAS builds and still catches a pad leaking into attention (1e-3 and up).
    """
    encoded = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation=True)
    features = [{key: list(encoded[key][i]) for key in encoded} for i in range(len(pairs))]
    longest = max(len(feature["input_ids"]) for feature in features)
    target = max_length or max(longest, min(longest + 8, tokenizer.model_max_length))
    dynamic = make_collator(tokenizer)
    fixed = make_collator(tokenizer, padding="max_length", max_length=target)
    parameter = next(iter(model.parameters()), None) if hasattr(model, "parameters") else None
    device = parameter.device if parameter is not None else torch.device("cpu")
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with torch.no_grad():
            alone = [_logits(model, dynamic([feature]), device)[0] for feature in features]
            ways = {"dynamically padded in the batch": _logits(model, dynamic(features), device),
                    f"padded to max_length={target}": _logits(model, fixed(features), device)}
    finally:
        if was_training and hasattr(model, "train"):
            model.train()
    worst = 0.0
    for way, batched in ways.items():
        for index, single in enumerate(alone):
            diff = (batched[index] - single).abs().max().item()
            worst = max(worst, diff)
            if not diff <= atol:
                _fail(f"example {index} {pairs[index]!r} ({len(features[index]['input_ids'])} tokens, "
                      f"padding_side={tokenizer.padding_side!r}): logits alone {single.tolist()} but "
                      f"{way} {batched[index].tolist()}; max |diff| {diff:.3g} > atol {atol:g}")
    return worst


def _unpadded(batch: Batch, key: str, row: int) -> Any:
    value = _rows(batch[key])[row]
    if "attention_mask" in batch and isinstance(value, list):
        mask = _rows(batch["attention_mask"])[row]
        return [v for v, m in zip(value, mask) if m]
    return value


def check_order_independence(collator: Callable[[list], Batch], features: Features, seed: int = 0) -> None:
    """Collating a shuffled list gives the same rows, permuted the same way, and nothing else.

    The data loader shuffles every epoch; a collator that sorts rows by length, or pads one
    row with another's values, pairs inputs with the wrong labels only for some orders. The
    permutation is seeded (``seed``) and never the identity when there are two or more rows.
    Rows are compared without their pads (by each batch's attention mask).
    """
    order = list(range(len(features)))
    random.Random(seed).shuffle(order)
    if len(order) > 1 and order == sorted(order):
        order = order[1:] + order[:1]
    original = collator([dict(feature) for feature in features])
    shuffled = collator([dict(features[index]) for index in order])
    if sorted(original) != sorted(shuffled):
        _fail(f"collating in order {order} gave keys {sorted(shuffled)}, in the original order "
              f"{sorted(original)}")
    for position, index in enumerate(order):
        for key in original:
            want, have = _unpadded(original, key, index), _unpadded(shuffled, key, position)
            if have != want:
                _fail(f"collating the examples in order {order} changed example {index}: "
                      f"batch[{key!r}] row {position} is {_short(have) if isinstance(have, list) else have} "
                      f"but row {index} of the batch in the original order is "
                      f"{_short(want) if isinstance(want, list) else want}; a collator may only "
                      "permute rows")
