"""Text classification on the user's own files: the ``Task`` most fine-tuning teams run.

::

    TextClassification("tickets", train="data/train.csv", validation="data/dev.csv",
                       text="text", label="label")                    # labels inferred
    TextClassification("nli", train="train.jsonl", validation="dev.jsonl",
                       text=("premise", "hypothesis"), label="gold",
                       labels=["entailment", "neutral", "contradiction"])  # declared

One text column or a pair; a label column of integers or strings (mapped to ids in the
declared order, or sorted when inferred from the train split); CSV, TSV, JSON Lines or
parquet, each split in its own file. Everything is checked before anything trains, and each
problem is one line naming the file, the row (from 1, header not counted) and the column:
a missing column, an empty split, a value that is not text, a label outside the declared
set (or, inferred, one the train split never shows), labels that mix integers and strings.

The validated splits are cached as Arrow under the cache folder, keyed by the definition and
the files' bytes, and verified before reuse (``hf.cache``); tokenization is cached beside
them. Relative paths are read from the folder the session runs in: write
``Path(__file__).parent / "data" / "train.csv"`` in a conftest.py to be independent of it.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

from pytest_finetune.errors import ConfigError, DataError
from pytest_finetune.tasks.base import check_name, classification_metric_names
from pytest_finetune.tasks.files import as_label, data_format, read_table, shown, text_problem

DEFINITION_VERSION = 1  # raise when reading or label mapping changes: records then differ
TEXT, PAIR, LABEL = "text", "text_pair", "label"


def _texts(text: Any) -> tuple[str, ...]:
    columns = (text,) if isinstance(text, str) else tuple(text) if isinstance(text, (tuple, list)) else ()
    if not 1 <= len(columns) <= 2 or not all(isinstance(c, str) and c for c in columns):
        raise ConfigError(f"text: expected a column name or a pair of column names, got {text!r}")
    if len(set(columns)) != len(columns):
        raise ConfigError(f"text: the pair names column {columns[0]!r} twice")
    return columns


def _declared(labels: Any, num_labels: Any) -> tuple[tuple[int | str, ...] | None, int | None]:
    if num_labels is not None and (not isinstance(num_labels, int) or isinstance(num_labels, bool)
                                   or num_labels < 2):
        raise ConfigError(f"num_labels: expected a whole number >= 2, got {num_labels!r}")
    if labels is None:
        return None, num_labels
    if isinstance(labels, (str, bytes)) or not isinstance(labels, Sequence):
        raise ConfigError(f"labels: expected a list of label values in id order, got {labels!r}")
    values = tuple(labels)
    if len(values) < 2 or not all(isinstance(v, (int, str)) and not isinstance(v, bool) for v in values):
        raise ConfigError(f"labels: expected at least 2 label values (integers or strings), got {labels!r}")
    if len({str(v) for v in values}) != len(values):
        raise ConfigError(f"labels: {labels!r} names a label twice")
    if num_labels is not None and num_labels != len(values):
        raise ConfigError(f"num_labels: {num_labels} but labels lists {len(values)} values")
    return values, len(values)


class TextClassification:
    """A text-classification ``Task`` read from the user's train and validation files."""

    def __init__(self, name: str, train: str | Path, validation: str | Path, text: str | Sequence[str] = TEXT,
                 label: str = LABEL, labels: Sequence[int | str] | None = None,
                 num_labels: int | None = None) -> None:
        self.name = check_name(name)
        for what, path in (("train", train), ("validation", validation)):
            if not isinstance(path, (str, Path)) or not str(path):
                raise ConfigError(f"task {name}: {what}: expected a file path, got {path!r}")
        self.files = {"train": Path(train).expanduser(), "validation": Path(validation).expanduser()}
        for split, path in self.files.items():
            try:
                data_format(path)
            except DataError as exc:
                raise ConfigError(f"task {name}: {split}: {exc}") from None
        self.text_columns = _texts(text)
        if not isinstance(label, str) or not label:
            raise ConfigError(f"task {name}: label: expected a column name, got {label!r}")
        if label in self.text_columns:
            raise ConfigError(f"task {name}: label column {label!r} is also a text column")
        self.label_column = label
        self.declared_labels, self.declared_num_labels = _declared(labels, num_labels)
        definition = {"kind": "text-classification", "version": DEFINITION_VERSION,
                      "text": list(self.text_columns), "label": label,
                      "labels": None if self.declared_labels is None else list(self.declared_labels),
                      "num_labels": self.declared_num_labels,
                      "formats": [data_format(p) for p in self.files.values()]}
        self.source = hashlib.sha256(json.dumps(definition, sort_keys=True).encode()).hexdigest()[:8]
        self._read: tuple[tuple, dict[str, dict[str, list]], tuple[int | str, ...]] | None = None

    def __repr__(self) -> str:
        return (f"TextClassification({self.name!r}, train={str(self.files['train'])!r}, "
                f"validation={str(self.files['validation'])!r}, text={self.text_columns!r}, "
                f"label={self.label_column!r})")

    # -- reading -----------------------------------------------------------------------
    def _stamp(self) -> tuple:
        stamp = []
        for path in self.files.values():
            try:
                status = path.stat()
            except OSError:
                return ()
            stamp.append((str(path), status.st_size, status.st_mtime_ns))
        return tuple(stamp)

    def _rows(self) -> tuple[dict[str, dict[str, list]], tuple[int | str, ...]]:
        """Both splits validated (text columns, label values) and the labels in id order;
        read once per session unless a file changed."""
        stamp = self._stamp()
        if self._read is None or self._read[0] != stamp or not stamp:
            splits = {split: self._read_split(split, path) for split, path in self.files.items()}
            labels = self.declared_labels or self._inferred(splits["train"][LABEL])
            for split, columns in splits.items():
                self._check_labels(split, columns[LABEL], labels)
            self._read = (self._stamp(), splits, labels)
        return self._read[1], self._read[2]

    def _read_split(self, split: str, path: Path) -> dict[str, list]:
        fmt = data_format(path)
        table = read_table(path, [*self.text_columns, self.label_column], self.text_columns)
        out: dict[str, list] = {TEXT: [], PAIR: [], LABEL: []}
        kind = None
        for row, values in enumerate(zip(*table.values()), start=1):
            for column, key, value in zip(self.text_columns, (TEXT, PAIR), values):
                expected = text_problem(value)
                if expected:
                    raise DataError(f"{path}: row {row}: column {column}: expected {expected}, "
                                    f"found {shown(value)}")
                out[key].append(value)
            label = as_label(values[-1], fmt)
            if label is None:
                raise DataError(f"{path}: row {row}: column {self.label_column}: expected an integer or a "
                                f"string label, found {shown(values[-1])}")
            kind = kind or type(label)
            if type(label) is not kind:
                raise DataError(f"{path}: row {row}: column {self.label_column}: {shown(label)} among "
                                f"{kind.__name__} labels; expected one kind of label per column")
            out[LABEL].append(label)
        if len(self.text_columns) == 1:
            del out[PAIR]
        return out

    def _inferred(self, values: list[int | str]) -> tuple[int | str, ...]:
        labels = tuple(sorted(set(values)))
        if len(labels) < 2:
            raise DataError(f"{self.files['train']}: column {self.label_column} holds one label "
                            f"({shown(labels[0])}); a classifier needs at least 2")
        if self.declared_num_labels is not None:
            if not all(isinstance(v, int) for v in labels) or labels[0] < 0 \
                    or labels[-1] >= self.declared_num_labels:
                bad = next(v for v in values if not (isinstance(v, int) and 0 <= v < self.declared_num_labels))
                row = values.index(bad) + 1
                raise DataError(f"{self.files['train']}: row {row}: column {self.label_column}: "
                                f"{shown(bad)} is outside 0..{self.declared_num_labels - 1} "
                                f"(num_labels={self.declared_num_labels})")
            return tuple(range(self.declared_num_labels))
        return labels

    def _check_labels(self, split: str, values: list[int | str], labels: tuple[int | str, ...]) -> None:
        known = {str(v) for v in labels}
        for row, value in enumerate(values, start=1):
            if str(value) not in known:
                listed = ", ".join(map(str, labels))
                how = ("the declared labels" if self.declared_labels is not None
                       else f"0..{len(labels) - 1} (num_labels={len(labels)})" if self.declared_num_labels
                       else "the labels of the train split")
                hint = "" if self.declared_labels is not None else \
                    "; declare labels=[...] if the train split lacks one"
                raise DataError(f"{self.files[split]}: row {row}: column {self.label_column}: {shown(value)} "
                                f"is not one of {how} ({listed}){hint}")

    def _content_digest(self) -> str:
        digest = hashlib.sha256(f"text-classification-content-v1\0{self.source}".encode())
        for split, path in self.files.items():
            try:
                content = path.read_bytes()
            except IsADirectoryError:
                raise DataError(f"{path}: is a folder, not a file; expected the {split} data file") from None
            except OSError as exc:
                problem = "does not exist" if isinstance(exc, FileNotFoundError) else f"cannot be read ({exc.strerror})"
                raise DataError(f"{path}: {problem}; expected the {split} data file of task {self.name}") from None
            digest.update(f"\0{split}\0{len(content)}\0".encode())
            digest.update(content)
        return digest.hexdigest()

    # -- the Task protocol ---------------------------------------------------------------
    @property
    def labels(self) -> tuple[int | str, ...]:
        """The label values in id order (declared, or read from the train split)."""
        if self.declared_labels is not None:
            return self.declared_labels
        return self._rows()[1]

    @property
    def num_labels(self) -> int:
        return self.declared_num_labels or len(self.labels)

    @property
    def metric_names(self) -> tuple[str, ...]:
        return classification_metric_names(self.num_labels)

    def data_source(self, data: str) -> str:
        return self.describe_source(data)

    def describe_source(self, data: str = "") -> str:
        return f"{'+'.join(dict.fromkeys(data_format(p) for p in self.files.values()))}:sha256:" \
               f"{self._content_digest()[:16]}"

    def check(self, data: str = "") -> None:
        self._rows()

    def load(self, data: str = "", cache_dir: str | None = None) -> Any:
        from pytest_finetune.hf.cache import cache_root, cached_splits

        digest = self._content_digest()
        return cached_splits(cache_root(cache_dir, "tasks"), digest, self._datasets,
                             f"task {self.name}", ", ".join(map(str, self.files.values())))

    def _datasets(self) -> dict[str, Any]:
        from datasets import ClassLabel, Dataset, Features, Value

        splits, labels = self._rows()
        ids = {str(value): i for i, value in enumerate(labels)}
        features = {TEXT: Value("string")}
        if len(self.text_columns) == 2:
            features[PAIR] = Value("string")
        features[LABEL] = ClassLabel(names=[str(v) for v in labels])
        return {split: Dataset.from_dict({**{k: v for k, v in columns.items() if k != LABEL},
                                          LABEL: [ids[str(v)] for v in columns[LABEL]]},
                                         features=Features(features), split=split)
                for split, columns in splits.items()}

    def tokenize(self, raw: Any, tokenizer: Any, max_length: int | None = None) -> Any:
        from pytest_finetune.hf.tokenizers import tokenize_splits

        pair = len(self.text_columns) == 2

        def encode(batch: dict) -> dict:
            return tokenizer(batch[TEXT], batch[PAIR] if pair else None, truncation=True, max_length=max_length)

        ready = tokenize_splits(raw, tokenizer, encode, "tokenize-text-classification-v1", max_length, self.name,
                                splits=("train", "validation"), remove_columns=(TEXT, PAIR))
        ready = ready.rename_column(LABEL, "labels")
        ready.set_format("torch")
        return ready

    def limit(self, split: Any, count: int) -> Any:
        """The first ``count`` examples taking the labels in turn (file order within each):
        a file sorted by label still gives every label to a tiny run, the same rows every time."""
        by_label: dict[int, list[int]] = defaultdict(list)
        for index, label in enumerate(split.with_format(None)["labels"]):
            by_label[label].append(index)
        queues = [by_label[label] for label in sorted(by_label)]
        chosen: list[int] = []
        for depth in range(max(map(len, queues), default=0)):
            chosen += [queue[depth] for queue in queues if depth < len(queue)]
        return split.select(sorted(chosen[:count]))

    def load_model(self, model: str | None, trust_remote_code: bool = False, **overrides: Any) -> Any:
        from pytest_finetune.mrpc.modeling import load_model

        labels = [str(v) for v in self.labels]
        return load_model(model, num_labels=self.num_labels, trust_remote_code=trust_remote_code,
                          id2label=dict(enumerate(labels)), label2id={v: i for i, v in enumerate(labels)},
                          **overrides)

    def collator(self, tokenizer: Any) -> Any:
        from pytest_finetune.mrpc.preprocessing import make_collator

        return make_collator(tokenizer)

    def metric(self) -> Any:
        from pytest_finetune.tasks.metric import classification_metric

        return classification_metric(self.num_labels)

    def predictions(self, logits: Any) -> Any:
        return logits.argmax(-1)

    def example_text(self, row: dict[str, Any]) -> str:
        return " | ".join(str(row[key]) for key in (TEXT, PAIR) if key in row)
