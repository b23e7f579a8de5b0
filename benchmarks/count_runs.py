"""A tiny pytest plugin: how many models did pytest-finetune train in this session?

Use from the repository root::

    python -m pytest -p benchmarks.count_runs -m "not full and not gpu and not slow" -q

It implements pytest-finetune's ``pytest_finetune_run_started`` hook (see
``pytest_finetune/plugin/hookspecs.py``), which the plugin calls just before the session
trains a configuration -- for the ``finetune_run`` fixture and the baseline fixtures' extra
seeds alike -- and prints ``pytest-finetune: trained N model(s)`` in the terminal summary.
A session keeps its runs, so every configuration should train once: the line says how many
were trained again (0 when the cache works). Only the session that loaded this plugin is
counted: in-process ``pytester`` sessions, subprocesses and xdist workers have their own
plugin managers (run without ``-n``). Nothing is patched.
"""
from __future__ import annotations

from collections import Counter

import pytest

_calls: list = []  # RunConfig of every training this session started, in order


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-finetune, not of pytest itself
def pytest_finetune_run_started(config: pytest.Config, run_config) -> None:
    _calls.append(run_config)  # counted when started: a failed run still trained


def count_line() -> str:
    n = len(_calls)
    distinct = len({c.key() for c in _calls})
    kinds = Counter(f"{c.runner}/{c.profile}" for c in _calls)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    line = f"pytest-finetune: trained {n} model(s)"
    if n:
        line += f" ({distinct} distinct config(s); {n - distinct} retrained; {detail})"
    return line


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is None:
        terminalreporter.write_line(count_line())
