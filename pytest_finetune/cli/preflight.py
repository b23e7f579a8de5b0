"""Refuse input no check could measure: once, up front, before anything is built or trained.

A model that does not load, or MRPC that does not read (a ``dev.tsv`` with a label 7), makes
every guard check fail or error the same way: ``check`` then says "9 failed, 6 errors"
(exit 1, as if the stack had regressed), and ``upgrade`` builds two environments to watch
both suites fail identically, which compares nothing. Loading the model and reading the data
here, in the calling process, turns either into the one line that names the file and what
was expected (exit 2), in seconds. ``check`` calls it before pytest starts; ``upgrade``
before any environment is built (each environment's ``check`` then loads with its own
libraries, so a model that only the new side cannot load still reaches the verdict).
"""
from __future__ import annotations

from typing import Any, Mapping

from pytest_finetune.config.options import OPTIONS_BY_DEST, resolve
from pytest_finetune.errors import ConfigError


def check_inputs(values: Mapping[str, Any]) -> None:
    """Read the data and load the model (tokenizer and weights) that ``values`` name.

    ``values``: a command's arguments by name (``vars(args)`` will do): ``model``, ``data``,
    ``cache_dir``, ``trust_remote_code`` and ``profile`` are read, anything else is ignored,
    and each is resolved as the plugin resolves it (command line > environment > default).
    Raises a FinetuneError (one line: the CLI's exit 2) when either cannot be used.
    """
    from pytest_finetune.mrpc.data import load_mrpc
    from pytest_finetune.mrpc.modeling import load_model, load_tokenizer
    from pytest_finetune.plugin.availability import data_unavailable_reason
    from pytest_finetune.runs.config import GPU_DEFAULT_MODEL
    from pytest_finetune.runs.progress import quiet_libraries

    setting = {dest: resolve(OPTIONS_BY_DEST[dest], values.get(dest), None)
               for dest in ("model", "data", "cache_dir", "trust_remote_code")}
    reason = data_unavailable_reason(str(setting["data"]))
    if reason:
        raise ConfigError(reason)
    model = setting["model"] or (GPU_DEFAULT_MODEL if values.get("profile") == "gpu" else None)
    trust = setting["trust_remote_code"]
    with quiet_libraries():
        load_mrpc(setting["data"], setting["cache_dir"])
        load_tokenizer(model, trust_remote_code=trust)
        load_model(model, num_labels=2, trust_remote_code=trust)
