"""The ``finetune_invariant`` fixture: a test's handle on ``invariants.check``.

It only translates: the session's settings and registered runners and tasks make the run
configuration, the session's run cache trains (so the reference and its noise probes are
shared by every invariant and test that needs them), and the outcome becomes a pass, a
one-paragraph failure, or, for a built-in runner failing as a known upstream issue says it
must, an xfail naming the issue.
"""
from __future__ import annotations

from typing import Any, Callable

import pytest

from pytest_finetune.config.settings import FinetuneSettings
from pytest_finetune.invariants.check import FACTOR, InvariantOutcome, check_invariant, pinned_config, split_options
from pytest_finetune.invariants.families import family as find_family
from pytest_finetune.plugin.failures import one_line_failure
from pytest_finetune.plugin.registrations import registry_of
from pytest_finetune.plugin.run_fixtures import _run_config, get_run
from pytest_finetune.runs.runners import BUILTIN_RUNNERS
from pytest_finetune.tasks.base import level_of


class InvariantChecker:
    def __init__(self, request: pytest.FixtureRequest, settings: FinetuneSettings) -> None:
        self.config, self.settings = request.config, settings

    def __call__(self, family: str, runner: Any = "trainer", task: Any = None, profile: str = "tiny",
                 factor: float = FACTOR, **settings: Any) -> InvariantOutcome:
        """Check that the ``family``'s two configurations of ``runner`` train the same; fail
        the test (with what moved first, by how much, which side and why) if they do not."""
        __tracebackhide__ = True
        with one_line_failure():
            chosen = find_family(family)
            options, overrides = split_options(chosen, settings)
            base = pinned_config(chosen, _run_config(self.config, self.settings, runner, profile, task, **overrides),
                                 overrides)
            registry = registry_of(self.config)
            level, kind = level_of(registry.task(base.task)), registry.runner(base.runner).kind
        outcome = check_invariant(chosen.name, base, lambda config: get_run(self.config, self.settings, config),
                                  options, factor, level, kind)
        if outcome.holds:
            return outcome
        if outcome.known and base.runner in BUILTIN_RUNNERS:
            issue = outcome.known[0]
            pytest.xfail(f"known upstream issue {issue.id} ({issue.url}): {outcome.headline()}")
        pytest.fail(outcome.message(), pytrace=False)


@pytest.fixture
def finetune_invariant(request: pytest.FixtureRequest, finetune_settings: FinetuneSettings) -> Callable[..., InvariantOutcome]:
    """``finetune_invariant(family, runner="trainer", task=None, profile="tiny", factor=10, **settings)``.

    ``family``: ``accumulation``, ``eval_batch``, ``checkpointing``, ``attention``,
    ``resume`` or ``distributed``; ``runner`` and ``task`` as ``finetune_run`` takes them
    (a registered name, a dotted path, or your Trainer subclass / training function / task
    itself); ``settings``: the family's own (``steps=2``, ``size=7``, ``at=``, ``processes=2``,
    ``implementation="sdpa"``) or any run setting. Returns the outcome (rows per signal)::

        def test_my_trainer_accumulates_like_a_large_batch(finetune_invariant):
            finetune_invariant("accumulation", runner="weighted")
    """
    return InvariantChecker(request, finetune_settings)
