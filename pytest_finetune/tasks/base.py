"""What a run needs from a task: its data, how to tokenize it, its labels, model and metrics.

The runners, baselines, fingerprints and reports reach a task only through this protocol,
so a task the user defines (``tasks.text_classification``), the built-in MRPC
(``tasks.builtin``) and a token-level task (issue 19) are handled by one code path.

The contract, as the harness relies on it:

- ``name`` is the scenario's ``task`` (baseline and fingerprint file names): letters,
  digits, ``_ . -``. ``source`` is a short digest of the task's *definition* (columns,
  declared labels, file formats; not the data, which ``describe_source`` names), recorded
  in every scenario and record so a redefined task is not silently compared with a record
  of the old one; None for a built-in, whose definition is this package's code.
- ``load`` returns the validated raw splits ``train`` and ``validation`` (a ``DatasetDict``),
  raising a ``DataError`` of one line (file, row, column) on bad input before anything
  trains; ``check`` does the cheap part of that (files there, readable) for preflight.
- ``tokenize`` turns raw splits into model inputs: ``input_ids``, ``attention_mask``
  (``token_type_ids`` where the tokenizer makes them) and ``labels``, torch format, unpadded
  (the collator pads each batch; a causal LM's collator makes the labels from the inputs).
- ``limit`` picks the first ``count`` examples of a split for the tiny profile: a fixed,
  deterministic slice, the same in every session and on both sides of an upgrade.
- ``predictions`` turns a batch of logits into the predicted labels that the metric and
  ``RunResult.prediction_counts`` count; ``metric_names`` are the keys ``metric().load()``
  computes, in the order records list them.

Token-level tasks (``tasks.causal_lm``) add two members, which a classification task leaves
out (``level`` then reads ``"sequence"``):

- ``level = "token"``: the loss averages over tokens, not examples, so a batch's loss weighs
  by its token count (gradient accumulation, several processes, the eval loss);
- ``eval_statistics(logits, labels)``: per example, a row of numbers the metric sums (a
  causal LM: NLL sum, predicted tokens, correct tokens), kept during evaluation instead of
  the logits, which for a language model are far too large to gather; the metric receives
  them as ``predictions``, and the eval loss is their token-weighted mean
  (``token_eval_loss``), which does not depend on how the split is batched;
- ``fixed_outputs(logits, labels)``: what fingerprints and the fixed-batch check keep of a
  batch's outputs (a classifier: its logits).

Metrics whose name ends in ``loss`` or ``perplexity`` are better when lower
(``lower_is_better``); every other metric when higher.
"""
from __future__ import annotations

import re
from typing import Any, Protocol, runtime_checkable

from pytest_finetune.errors import ConfigError

NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


@runtime_checkable
class Task(Protocol):
    name: str
    source: str | None
    num_labels: int
    metric_names: tuple[str, ...]

    def data_source(self, data: str) -> str:
        """What ``RunConfig.data`` holds for this task, given the session's ``--finetune-data``."""

    def describe_source(self, data: str) -> str:
        """What the data is, without where it lies (``csv:sha256:…``): stored in records."""

    def check(self, data: str) -> None:
        """Raise a DataError now if ``load`` cannot work (missing files, unreadable headers)."""

    def load(self, data: str, cache_dir: str | None = None) -> Any:
        """The validated raw splits, ``train`` and ``validation``."""

    def tokenize(self, raw: Any, tokenizer: Any, max_length: int | None = None) -> Any:
        """Model inputs with ``labels``, torch format, unpadded."""

    def limit(self, split: Any, count: int) -> Any:
        """The tiny profile's fixed slice of ``split``."""

    def load_model(self, model: str | None, trust_remote_code: bool = False, **overrides: Any) -> Any:
        """A freshly initialised model for this task (call ``set_seed`` first)."""

    def collator(self, tokenizer: Any) -> Any:
        """How a list of tokenized examples becomes a padded batch."""

    def metric(self) -> Any:
        """A ``mrpc.metric.MetricChoice``: which metric ran (``source``) and a fresh instance."""

    def predictions(self, logits: Any) -> Any:
        """Predicted labels of a batch of logits."""

    def example_text(self, row: dict[str, Any]) -> str:
        """A raw example as one line of text, for drift messages."""



SEQUENCE, TOKEN = "sequence", "token"
_LOWER_IS_BETTER = ("loss", "perplexity")


def level_of(task: Any) -> str:
    """``"token"`` for a task whose loss averages over tokens, else ``"sequence"``."""
    return TOKEN if getattr(task, "level", SEQUENCE) == TOKEN else SEQUENCE


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is the better one (perplexity, a loss)."""
    return metric.endswith(_LOWER_IS_BETTER)


def fixed_outputs(task: Any, logits: Any, labels: Any) -> list[list[float]]:
    """What a task keeps of a batch's outputs for fingerprints and fixed-batch checks:
    ``task.fixed_outputs`` where it has one, else the logits (one row per example)."""
    keep = getattr(task, "fixed_outputs", None)
    rows = keep(logits, labels) if keep is not None else logits
    return [[float(x) for x in row] for row in rows.float().cpu()] if hasattr(rows, "float") else rows


def token_eval_loss(statistics: Any) -> float:
    """The eval loss of a token-level task from its ``eval_statistics`` rows (NLL sum, token
    count, ...): one mean over every predicted token, whatever the batches were."""
    tokens = float(statistics[:, 1].sum())
    return float(statistics[:, 0].sum()) / tokens if tokens else float("nan")


def check_name(name: Any, what: str = "task") -> str:
    """A name that can be part of a file name, else a ConfigError naming it."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"{what} name {name!r}: expected letters, digits, '_', '.' or '-' "
                          "(it becomes part of baseline file names)")
    return name


def classification_metric_names(num_labels: int) -> tuple[str, ...]:
    """What a classification run records: accuracy, and F1 of label 1 (two labels) or the
    macro-F1 over all labels (more)."""
    return ("accuracy", "f1") if num_labels == 2 else ("accuracy", "f1_macro")
