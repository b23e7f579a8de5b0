"""Fixtures for the data side: settings, the session's task, raw and tokenized data,
tokenizer, collator, loaders.

Session-scoped because each object is immutable once built and the expensive ones
(tokenizing 4k pairs) should happen once per session, not once per test.

Neutral names follow the session's task (``--finetune-task``, default ``mrpc``):
``finetune_task``, ``finetune_raw``, ``finetune_tokenized``, ``finetune_model_inputs``. The
``mrpc_*`` names keep meaning MRPC whatever the session's task (the packaged guard suite
checks MRPC with them); in a session whose task is MRPC they are the same objects.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import pytest

from pytest_finetune.plugin.availability import require_data
from pytest_finetune.errors import FinetuneError
from pytest_finetune.config.settings import FinetuneSettings
from pytest_finetune.plugin.failures import one_line_failure
from pytest_finetune.plugin.registrations import registry_of
from pytest_finetune.plugin.stash import settings_of
from pytest_finetune.tasks.base import Task

_RAW = pytest.StashKey[dict]()

if TYPE_CHECKING:  # the libraries themselves are imported when a fixture is first used
    from datasets import DatasetDict
    from torch.utils.data import DataLoader
    from transformers import DataCollatorWithPadding, PreTrainedTokenizerBase


@pytest.fixture(scope="session")
def finetune_settings(pytestconfig: pytest.Config) -> FinetuneSettings:
    """The resolved pytest-finetune settings (command line > environment > ini > default)."""
    return settings_of(pytestconfig)


@pytest.fixture(scope="session")
def finetune_config(finetune_settings: FinetuneSettings) -> FinetuneSettings:
    """Deprecated alias of ``finetune_settings`` (the name said "config" but held settings)."""
    warnings.warn("the finetune_config fixture is deprecated; use finetune_settings",
                  DeprecationWarning, stacklevel=2)
    return finetune_settings


@pytest.fixture(scope="session")
def finetune_task(pytestconfig: pytest.Config, finetune_settings: FinetuneSettings) -> Task:
    """The session's task (``--finetune-task``; default the built-in MRPC)."""
    with one_line_failure():
        return registry_of(pytestconfig).task(finetune_settings.task)


def load_task_data(config: pytest.Config, settings: FinetuneSettings, task: Task) -> DatasetDict:
    """A task's validated raw splits, loaded once per session and task."""
    loaded = config.stash.setdefault(_RAW, {})
    if task.name not in loaded:
        with one_line_failure():
            source = require_data(task.data_source(settings.data), settings.ci_require_data)
            loaded[task.name] = task.load(source, settings.cache_dir)
    return loaded[task.name]


@pytest.fixture(scope="session")
def finetune_raw(pytestconfig: pytest.Config, finetune_settings: FinetuneSettings, finetune_task: Task) -> DatasetDict:
    """The session task's validated raw splits (train, validation); MRPC skips without data."""
    return load_task_data(pytestconfig, finetune_settings, finetune_task)


@pytest.fixture(scope="session")
def finetune_tokenized(finetune_raw: DatasetDict, finetune_task: Task, tokenizer: PreTrainedTokenizerBase) -> DatasetDict:
    """The session task's model inputs (tokenized, ``labels``, torch format, unpadded)."""
    return finetune_task.tokenize(finetune_raw, tokenizer)


@pytest.fixture(scope="session")
def mrpc_raw(pytestconfig: pytest.Config, finetune_settings: FinetuneSettings) -> DatasetDict:
    """MRPC with the Hub's columns (sentence1, sentence2, label, idx); skips without data."""
    from pytest_finetune.tasks.builtin import MRPC

    return load_task_data(pytestconfig, finetune_settings, MRPC)


@pytest.fixture(scope="session")
def tokenizer(finetune_settings: FinetuneSettings) -> PreTrainedTokenizerBase:
    """The fast tokenizer of --finetune-model (default: the embedded all-MiniLM-L6-v2)."""
    from pytest_finetune.mrpc.modeling import load_tokenizer

    try:
        return load_tokenizer(finetune_settings.model,
                              trust_remote_code=finetune_settings.trust_remote_code)
    except FinetuneError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def mrpc_tokenized(mrpc_raw: DatasetDict, tokenizer: PreTrainedTokenizerBase) -> DatasetDict:
    """MRPC tokenized by ``Dataset.map(batched=True)``, unpadded, cached across sessions."""
    from pytest_finetune.mrpc.preprocessing import tokenize_mrpc

    return tokenize_mrpc(mrpc_raw, tokenizer)


@pytest.fixture(scope="session")
def data_collator(tokenizer: PreTrainedTokenizerBase) -> DataCollatorWithPadding:
    """``DataCollatorWithPadding``: pads each batch to its longest example."""
    from pytest_finetune.mrpc.preprocessing import make_collator

    return make_collator(tokenizer)


@pytest.fixture(scope="session")
def mrpc_model_inputs(mrpc_tokenized: DatasetDict) -> DatasetDict:
    """The course's clean-up: text columns removed, ``labels``, torch format."""
    from pytest_finetune.mrpc.preprocessing import model_inputs

    return model_inputs(mrpc_tokenized)


@pytest.fixture(scope="session")
def finetune_model_inputs(finetune_tokenized: DatasetDict) -> DatasetDict:
    """The session task's model inputs (the name ``mrpc_model_inputs`` has for MRPC)."""
    return finetune_tokenized


@pytest.fixture
def train_dataloader(mrpc_model_inputs: DatasetDict, data_collator) -> DataLoader:
    """Train split, batch 8, shuffled by a generator seeded 42 (fresh per test)."""
    from pytest_finetune.mrpc.preprocessing import train_dataloader as make_train_dataloader

    return make_train_dataloader(mrpc_model_inputs["train"], data_collator, batch_size=8, seed=42)


@pytest.fixture
def eval_dataloader(mrpc_model_inputs: DatasetDict, data_collator) -> DataLoader:
    """Validation split, batch 8, in order."""
    from pytest_finetune.mrpc.preprocessing import eval_dataloader as make_eval_dataloader

    return make_eval_dataloader(mrpc_model_inputs["validation"], data_collator, batch_size=8)
