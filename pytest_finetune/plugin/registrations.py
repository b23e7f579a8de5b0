"""The session's runners and tasks: the built-ins, the project's ini lines, its conftest hooks.

Three ways to register, all checked before any test runs (a bad one is a pytest usage
error of one line naming it, and nothing trains):

- ini ``finetune_runners`` / ``finetune_tasks``: lines ``name = module:attr``, imported and
  checked when the session starts (syrupy's dotted-path extensions are the model);
- the hooks ``pytest_finetune_runners`` / ``pytest_finetune_tasks`` in a conftest.py, each
  returning ``{name: object}``: collected once every conftest.py is loaded (end of
  collection);
- in a test, the object itself: ``finetune_run(runner=WeightedLossTrainer, task=TICKETS)``
  registers it under its own name on first use.
"""
from __future__ import annotations

import pytest

from pytest_finetune.errors import ConfigError
from pytest_finetune.plugin.stash import REGISTRY, settings_of

RUNNERS_INI, TASKS_INI = "finetune_runners", "finetune_tasks"
_HOOKS_DONE = pytest.StashKey[bool]()


def add_ini(parser: pytest.Parser) -> None:
    parser.addini(RUNNERS_INI, type="linelist", default=[],
                  help="your own runners, one per line: name = module:attr (a transformers.Trainer "
                       "subclass, a @trainer_factory or a training function fn(run))")
    parser.addini(TASKS_INI, type="linelist", default=[],
                  help="your own tasks, one per line: name = module:attr (e.g. a TextClassification)")


def configure_registry(config: pytest.Config) -> None:
    """A fresh registry with the ini's registrations, checked now."""
    from pytest_finetune.runs.runners import Registry

    registry = Registry()
    try:
        registry.add_specs(config.getini(RUNNERS_INI), "runner")
        registry.add_specs(config.getini(TASKS_INI), "task")
    except ConfigError as exc:
        raise pytest.UsageError(f"pytest-finetune: ini {RUNNERS_INI}/{TASKS_INI}: {exc}") from None
    config.stash[REGISTRY] = registry


def add_hook_registrations(config: pytest.Config) -> None:
    """What the conftest hooks return, added once per session (raises ConfigError)."""
    if config.stash.get(_HOOKS_DONE, False):
        return
    config.stash[_HOOKS_DONE] = True
    registry = config.stash[REGISTRY]
    for results, add, what in ((config.hook.pytest_finetune_runners(config=config), registry.add_runner, "runners"),
                               (config.hook.pytest_finetune_tasks(config=config), registry.add_task, "tasks")):
        for found in results:
            if not isinstance(found, dict):
                raise ConfigError(f"pytest_finetune_{what} must return a dict of name -> object, "
                                  f"got {type(found).__name__}")
            for name, obj in found.items():
                add(name, obj)


def check_registrations(config: pytest.Config) -> None:
    """At the end of collection: the hooks' registrations, or a usage error before any test runs."""
    try:
        add_hook_registrations(config)
        config.stash[REGISTRY].task(settings_of(config).task)  # --finetune-task names one that exists
    except ConfigError as exc:
        raise pytest.UsageError(f"pytest-finetune: {exc}") from None


def registry_of(config: pytest.Config):
    """The session's registry, with the conftest hooks' registrations in it."""
    add_hook_registrations(config)
    return config.stash[REGISTRY]
