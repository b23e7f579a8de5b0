"""Causal-LM fine-tuning as a ``Task``: next-token loss over text, eval loss and perplexity.

::

    CausalLM()                                              # built in as "mrpc-lm": MRPC's sentences
    CausalLM("notes", train="data/train.txt", validation="data/dev.txt")   # one example per line
    CausalLM("docs", train="train.jsonl", validation="dev.jsonl", text="body")  # a text column

Sequence classification averages its loss over examples, so it hardly feels a
normalization bug: every example weighs the same whatever its length. A language model's
loss averages over *tokens*, and examples differ in length, so a loss averaged per batch,
per accumulated micro-batch or per process weighs tokens unequally: exactly what gradient
accumulation and multi-device training get wrong (transformers issues 34191, 35204,
37766). This task makes those bugs visible to the equivalence invariants.

- **Model**: by default a 2-layer, 64-wide GPT-2 built from a config (``tiny-random-gpt2``,
  seeded random initialisation, no download) sized to the embedded tokenizer's vocabulary;
  GPT-2 rather than Llama because it has dropout (embeddings, attention, residual), which
  the RNG-dependent invariants (gradient checkpointing, resume) need. A folder or Hub id of
  a causal LM works too (``--finetune-model``); its own tokenizer is used.
- **Data**: each MRPC sentence (both of a pair, in file order) is one example, from the
  session's ``--finetune-data`` folder; or the user's files: ``.txt`` (one example per
  non-empty line) or CSV, TSV, JSON Lines or parquet with a text column. Every value is
  checked before anything trains (file, row, column in one line).
- **Loss**: the model's own (labels are the input ids, padding ``-100``, as transformers'
  ``DataCollatorForLanguageModeling(mlm=False)`` makes them; the model shifts them), so the
  runners train exactly as a user's causal-LM fine-tuning does.
- **Evaluation**: per example the NLL sum, the predicted tokens and the correct ones
  (``eval_statistics``); the metrics are ``perplexity`` (exp of the token-weighted eval loss)
  and ``token_accuracy`` (next-token top-1), both independent of how the split is batched.
"""
from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from pytest_finetune.errors import ConfigError, DataError
from pytest_finetune.mrpc.sources import HUB_SOURCE, TINY_RANDOM_GPT2
from pytest_finetune.tasks.base import TOKEN, check_name

DEFINITION_VERSION = 1  # raise when reading or tokenizing changes: records then differ
TEXT = "text"
TEXT_SUFFIXES = (".txt", ".text")
IGNORE_INDEX = -100  # what the loss skips: padding (and position 0, which nothing predicts)
# The tiny decoder: 2 layers of width 64 over the embedded tokenizer's 30,522 tokens, tied
# input and output embeddings (2.0M parameters, 1.95M of them the embedding), 512 positions
# (the tokenizer's own limit), GPT-2's default dropout of 0.1.
TINY_DECODER = dict(n_embd=64, n_layer=2, n_head=2, n_inner=128, n_positions=512)
# Our own sentences (not MRPC's, whose licence forbids copies): the untrained model's
# outputs on them are a drift fingerprint.
FIXED_TEXTS = ["The cat sat on the mat .", "Shares rose 5 percent on Tuesday after the report .",
               "He said he would not run again .", "Prices fell ."]


class TokenMetric:
    """Perplexity and next-token accuracy from ``eval_statistics`` rows, ``evaluate``-style
    (``add_batch`` then ``compute``): sums, so batching cannot change the result."""

    def __init__(self) -> None:
        self.nll, self.tokens, self.correct = 0.0, 0.0, 0.0

    def add_batch(self, predictions: Any, references: Any = None) -> None:
        import numpy as np

        rows = np.asarray(predictions.cpu() if hasattr(predictions, "cpu") else predictions, dtype=np.float64)
        if rows.size:
            self.nll += float(rows[:, 0].sum())
            self.tokens += float(rows[:, 1].sum())
            self.correct += float(rows[:, 2].sum())

    def compute(self, predictions: Any = None, references: Any = None) -> dict[str, float]:
        if predictions is not None:
            self.add_batch(predictions)
        if not self.tokens:
            return {"perplexity": float("nan"), "token_accuracy": float("nan")}
        loss = self.nll / self.tokens
        return {"perplexity": math.exp(loss) if loss < 700 else float("inf"),
                "token_accuracy": self.correct / self.tokens}


def token_statistics(logits: Any, labels: Any) -> Any:
    """Per example: [NLL summed over its predicted tokens, how many, how many top-1 correct].

    Position ``t`` predicts label ``t + 1`` (the shift the model's own loss makes); labels of
    ``-100`` (padding) count nowhere. float64 sums, so that adding up rows in another
    grouping (other eval batches, other processes) gives the same totals to the last bits
    that matter.
    """
    import torch
    import torch.nn.functional as F

    shifted, targets = logits[:, :-1, :].float(), labels[:, 1:]
    mask = targets.ne(IGNORE_INDEX)
    nll = F.cross_entropy(shifted.transpose(1, 2), targets.clamp(min=0), reduction="none")
    correct = shifted.argmax(-1).eq(targets) & mask
    return torch.stack([(nll.double() * mask).sum(1), mask.sum(1).double(), correct.sum(1).double()], dim=1)


class CausalLM:
    """A causal-LM ``Task`` (``level = "token"``) on MRPC's sentences or the user's text files."""

    level = TOKEN
    num_labels = 0  # no classes: predictions are tokens, counted by the metric
    metric_names = ("perplexity", "token_accuracy")
    default_model = TINY_RANDOM_GPT2
    # The tiny decoder learns from a random start, so it takes a larger step than the
    # profiles' (set for a pretrained encoder): at 2e-4 its tiny run's loss fell 2.4 % in 20
    # steps, at 1e-3 10.0 %, at 3e-3 28.6 % (10.34 -> 7.38, eval loss still falling: seed 42,
    # loop runner, one thread).
    profile_settings = {"tiny": {"lr": 3e-3}, "full": {"lr": 1e-3}}

    def __init__(self, name: str = "mrpc-lm", train: str | Path | None = None,
                 validation: str | Path | None = None, text: str = TEXT) -> None:
        self.name = check_name(name)
        if (train is None) != (validation is None):
            raise ConfigError(f"task {name}: give both train and validation files, or neither (MRPC's sentences)")
        self.files = None if train is None else {"train": Path(train).expanduser(),
                                                  "validation": Path(validation).expanduser()}
        if not isinstance(text, str) or not text:
            raise ConfigError(f"task {name}: text: expected a column name, got {text!r}")
        self.text_column = text
        formats = [] if self.files is None else [_format(path) for path in self.files.values()]
        definition = {"kind": "causal-lm", "version": DEFINITION_VERSION, "text": text, "formats": formats}
        # The built-in task (MRPC's sentences) is this package's code: no digest, as for MRPC.
        self.source = None if self.files is None and name == "mrpc-lm" else \
            hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:8]

    def __repr__(self) -> str:
        if self.files is None:
            return f"CausalLM({self.name!r})"
        return f"CausalLM({self.name!r}, train={str(self.files['train'])!r}, " \
               f"validation={str(self.files['validation'])!r})"

    # -- data ------------------------------------------------------------------------------
    def data_source(self, data: str) -> str:
        if self.files is None:
            return str(data) if data else HUB_SOURCE
        return self.describe_source(data)

    def describe_source(self, data: str = "") -> str:
        if self.files is None:
            from pytest_finetune.mrpc.data_files import describe_source

            return f"sentences:{describe_source(data)}"
        return f"{'+'.join(dict.fromkeys(_format(p) for p in self.files.values()))}:sha256:" \
               f"{self._content_digest()[:16]}"

    def check(self, data: str = "") -> None:
        if self.files is None:
            self.describe_source(data)
        else:
            for split, path in self.files.items():
                _read_texts(path, self.text_column)

    def _content_digest(self) -> str:
        digest = hashlib.sha256(f"causal-lm-content-v1\0{self.source}".encode())
        for split, path in (self.files or {}).items():
            try:
                content = path.read_bytes()
            except OSError as exc:
                problem = "does not exist" if isinstance(exc, FileNotFoundError) else \
                    "is a folder, not a file" if isinstance(exc, IsADirectoryError) else \
                    f"cannot be read ({exc.strerror})"
                raise DataError(f"{path}: {problem}; expected the {split} text file of task {self.name}") from None
            digest.update(f"\0{split}\0{len(content)}\0".encode() + content)
        return digest.hexdigest()

    def load(self, data: str = "", cache_dir: str | None = None) -> Any:
        """The validated splits, one ``text`` per example."""
        if self.files is None:
            return self._mrpc_sentences(data, cache_dir)
        from pytest_finetune.hf.cache import cache_root, cached_splits

        def build() -> dict[str, Any]:
            from datasets import Dataset, Features, Value

            return {split: Dataset.from_dict({TEXT: _read_texts(path, self.text_column)},
                                             features=Features({TEXT: Value("string")}), split=split)
                    for split, path in self.files.items()}

        return cached_splits(cache_root(cache_dir, "tasks"), self._content_digest(), build,
                             f"task {self.name}", ", ".join(map(str, self.files.values())))

    def _mrpc_sentences(self, data: str, cache_dir: str | None) -> Any:
        from datasets import DatasetDict

        from pytest_finetune.hf.cache import checked_map_cache
        from pytest_finetune.mrpc.data import load_mrpc

        def flatten(batch: dict) -> dict:
            return {TEXT: [s for pair in zip(batch["sentence1"], batch["sentence2"]) for s in pair]}

        raw, out = load_mrpc(data, cache_dir), {}
        for split in ("train", "validation"):
            fingerprint = hashlib.sha256(f"mrpc-sentences-v1-{raw[split]._fingerprint}".encode()).hexdigest()[:16]
            with checked_map_cache(raw[split], fingerprint, f"{self.name} {split} sentences") as cache_file:
                out[split] = raw[split].map(flatten, batched=True, remove_columns=raw[split].column_names,
                                            new_fingerprint=fingerprint, cache_file_name=cache_file,
                                            desc=f"Sentences of MRPC {split}")
        return DatasetDict(out)

    def tokenize(self, raw: Any, tokenizer: Any, max_length: int | None = None) -> Any:
        """``input_ids`` and ``attention_mask`` (no ``token_type_ids``: a decoder takes none);
        the labels are the input ids, made by the collator per batch (``collator``)."""
        from pytest_finetune.hf.tokenizers import tokenize_splits

        def encode(batch: dict) -> dict:
            encoded = tokenizer(batch[TEXT], truncation=True, max_length=max_length, return_token_type_ids=False)
            return {"input_ids": encoded["input_ids"], "attention_mask": encoded["attention_mask"]}

        ready = tokenize_splits(raw, tokenizer, encode, "tokenize-causal-lm-v2", max_length, self.name,
                                splits=("train", "validation"), remove_columns=[TEXT])
        ready.set_format("torch")
        return ready

    def limit(self, split: Any, count: int) -> Any:
        return split.select(range(min(count, len(split))))

    # -- model and evaluation ----------------------------------------------------------------
    def load_model(self, model: str | None, trust_remote_code: bool = False, **overrides: Any) -> Any:
        """The tiny GPT-2 (``model`` None or ``tiny-random-gpt2``; call ``set_seed`` first), or
        the causal LM ``model`` names. A run's ``dropout`` arrives as the BERT fields
        ``runs.prepare.model_overrides`` sets and becomes the decoder's own."""
        dropout = overrides.pop("hidden_dropout_prob", None)
        overrides.pop("attention_probs_dropout_prob", None), overrides.pop("classifier_dropout", None)
        if model in (None, "", TINY_RANDOM_GPT2):
            from transformers import GPT2Config, GPT2LMHeadModel

            from pytest_finetune.mrpc.modeling import load_tokenizer

            tokenizer = load_tokenizer(None)
            settings: dict[str, Any] = dict(TINY_DECODER, vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                                            bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id,
                                            **overrides)
            if dropout is not None:
                settings.update(resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout)
            return GPT2LMHeadModel(GPT2Config(**settings))
        from pytest_finetune.mrpc.modeling import load_causal_lm

        return load_causal_lm(model, trust_remote_code=trust_remote_code, dropout=dropout, **overrides)

    def collator(self, tokenizer: Any) -> Any:
        """transformers' causal-LM collator: pads, and sets ``labels`` to the input ids with
        ``-100`` at the padding (the model shifts them itself)."""
        from transformers import DataCollatorForLanguageModeling

        return DataCollatorForLanguageModeling(tokenizer, mlm=False, return_tensors="pt")

    def metric(self) -> Any:
        from pytest_finetune.mrpc.metric import MetricChoice

        return MetricChoice("local:token_statistics", TokenMetric)

    def predictions(self, logits: Any) -> Any:
        return logits.argmax(-1)

    def eval_statistics(self, logits: Any, labels: Any) -> Any:
        return token_statistics(logits, labels)

    def fixed_outputs(self, logits: Any, labels: Any) -> Any:
        """Per example: the mean NLL of its tokens and the logit of the first token it predicts
        (how the fixed-batch check and the drift fingerprint see a language model's outputs:
        its whole logits are 30,522 numbers per token)."""
        import torch

        rows = token_statistics(logits, labels)
        first = logits[:, 0, :].float().gather(1, labels[:, 1:2].clamp(min=0)).squeeze(1)
        return torch.stack([rows[:, 0] / rows[:, 1].clamp(min=1), first.double()], dim=1)

    def example_text(self, row: dict[str, Any]) -> str:
        return str(row[TEXT])


def token_frequency_perplexity(train_ids: Any, eval_ids: Any, vocab_size: int) -> float:
    """The eval perplexity of a model that knows only how often each token occurs in the
    train split (add-one smoothed over the vocabulary), scored on the tokens a causal LM
    predicts (each sequence's tokens after its first).

    The floor a trained language model must beat, as the majority class is a classifier's:
    a decoder whose perplexity is not below it has learnt token frequencies, not context.
    On MRPC's sentences with the embedded tokenizer it is about 1,160 (the untrained tiny
    decoder starts at the vocabulary's 30,522). ``train_ids``/``eval_ids``: sequences of
    token id sequences (lists or 1-d tensors)."""
    import torch

    if vocab_size < 1:
        raise ConfigError(f"token_frequency_perplexity: vocab_size must be >= 1, got {vocab_size!r}")
    counts = torch.zeros(vocab_size, dtype=torch.float64)
    for ids in train_ids:
        counts += torch.bincount(torch.as_tensor(ids)[1:].long(), minlength=vocab_size)[:vocab_size].double()
    log_p = torch.log((counts + 1) / (counts.sum() + vocab_size))
    predicted = [torch.as_tensor(ids)[1:].long() for ids in eval_ids]
    total = sum(int(ids.numel()) for ids in predicted)
    if total == 0:
        raise ConfigError("token_frequency_perplexity: the eval sequences predict no token (each has one at most)")
    nll = -sum(float(log_p[ids].sum()) for ids in predicted)
    return math.exp(nll / total)


def _format(path: Path) -> str:
    if Path(path).suffix.lower() in TEXT_SUFFIXES:
        return "txt"
    from pytest_finetune.tasks.files import data_format

    return data_format(path)


def _read_texts(path: Path, column: str) -> list[str]:
    """The examples of one split, checked: a ``.txt`` file's non-empty lines, or a table's
    text column (every value a non-empty string)."""
    from pytest_finetune.tasks.files import read_table, shown, text_problem

    if _format(path) != "txt":
        values = read_table(path, [column], [column])[column]
        for row, value in enumerate(values, start=1):
            if text_problem(value):
                raise DataError(f"{path}: row {row}: column {column}: expected {text_problem(value)}, "
                                f"found {shown(value)}")
        return list(values)
    if not path.is_file():
        problem = "is a folder, not a file" if path.is_dir() else "does not exist"
        raise DataError(f"{path}: {problem}; expected a text file with one example per line")
    try:
        lines = path.read_text(encoding="utf-8-sig").split("\n")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                        "expected a UTF-8 text file") from None
    texts = [line.rstrip("\r") for line in lines if line.strip()]
    if not texts:
        raise DataError(f"{path}: no text; expected one example per non-empty line")
    return texts


MRPC_LM = CausalLM()
