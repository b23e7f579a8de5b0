"""The pytest plugin (``pytest11`` entry point ``pytest_finetune.plugin``).

Hooks live in ``hooks``, fixtures in one module per family; they are re-exported here
because pytest collects hooks and fixtures from the entry-point module itself.
"""
from pytest_finetune.plugin.baseline_fixtures import finetune_baseline, finetune_drift  # noqa: F401
from pytest_finetune.plugin.data_fixtures import (data_collator, eval_dataloader,  # noqa: F401
                                                  finetune_config, finetune_model_inputs, finetune_raw,
                                                  finetune_settings, finetune_task, finetune_tokenized,
                                                  mrpc_model_inputs, mrpc_raw, mrpc_tokenized, tokenizer,
                                                  train_dataloader)
from pytest_finetune.plugin.hooks import (pytest_addhooks, pytest_addoption,  # noqa: F401
                                          pytest_collection_finish, pytest_collection_modifyitems,
                                          pytest_configure,
                                          pytest_report_header, pytest_runtest_setup,
                                          pytest_terminal_summary)
from pytest_finetune.plugin.run_fixtures import finetune_run  # noqa: F401
from pytest_finetune.plugin.invariant_fixtures import finetune_invariant  # noqa: F401
