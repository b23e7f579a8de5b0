"""A tiny pytest plugin: how many models did pytest-finetune train in this session?

Use from the repository root::

    python -m pytest -p benchmarks.count_runs -m "not full and not gpu" -q

It wraps ``pytest_finetune.plugin.run_fixtures.execute_run`` (the name ``get_run`` calls, so every
training the ``finetune_run`` fixture and the baseline fixtures start goes through it) and
prints ``pytest-finetune: trained N model(s)`` in the terminal summary. Trainings started by
in-process ``pytester`` sessions inside the tests are counted too (they call the same
module-level name), per session: each session has its own run cache, so the number to check
is how many were retrained within one session (0 when every config trains once); trainings
in subprocesses or xdist workers are not counted, so run without ``-n``.
The package itself is not modified: the original function is put back at unconfigure.
"""
from __future__ import annotations

import sys
from collections import Counter

import pytest

_calls: list = []  # (session id, RunConfig) of every training started, in order
_state: dict = {}  # "config": the pytest.Config that installed the wrapper, "original": the function


def pytest_configure(config: pytest.Config) -> None:
    if "original" in _state:
        return  # already wrapped by an outer session
    import pytest_finetune.plugin.run_fixtures as fixtures_runs

    original = fixtures_runs.execute_run

    def counting_execute_run(run_config, *args, **kwargs):
        # get_run(config, settings, run_config) is the caller; its pytest.Config tells the
        # outer session from in-process pytester sessions, each with its own run cache.
        # The object itself is kept (not its id, which a freed Config could pass on).
        session = sys._getframe(1).f_locals.get("config")
        _calls.append((session, run_config))  # counted when started: a failed run still trained
        return original(run_config, *args, **kwargs)

    _state.update(config=config, original=original)
    fixtures_runs.execute_run = counting_execute_run


def pytest_unconfigure(config: pytest.Config) -> None:
    if _state.get("config") is config:
        import pytest_finetune.plugin.run_fixtures as fixtures_runs

        fixtures_runs.execute_run = _state.pop("original")
        _state.pop("config")


def count_line() -> str:
    n = len(_calls)
    sessions = len({id(s) for s, _ in _calls})
    distinct = len({(id(s), c.key()) for s, c in _calls})
    kinds = Counter(f"{c.runner}/{c.profile}" for _, c in _calls)
    detail = ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
    line = f"pytest-finetune: trained {n} model(s)"
    if n:
        line += (f" ({distinct} distinct config(s) per session, in {sessions} session(s) counting "
                 f"in-process pytester ones; {n - distinct} retrained within a session; {detail})")
    return line


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if getattr(config, "workerinput", None) is not None or _state.get("config") is not config:
        return
    terminalreporter.write_line(count_line())
