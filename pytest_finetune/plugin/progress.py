"""Runs seen as they train: lines through pytest's terminal reporter, visible without ``-s``.

A run writes one line when it starts, one per evaluated epoch and one at the end (runner,
profile, seed, steps, elapsed time, last loss, accuracy/F1), as pytest-benchmark writes its
lines: through the ``terminalreporter`` plugin (``write_line``, which ensures a new line
first) with capture suspended for the write, so they are not captured and do not tear pytest's own progress dots apart, and
flushed at once, so that a CI log (a pipe, block-buffered) shows them while the run trains.
Per-step events are ignored: pytest's own output stays the only thing that moves per test.

Under pytest-xdist a worker's terminal goes nowhere, so workers write nothing live: each run's
end line travels to the controller in the report of the test that ran it (an event in
``user_properties``, like every other result) and the controller prints it with the worker's
id, when that test's report arrives. Start and epoch lines are not shown under xdist.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Any

import pytest

from pytest_finetune.report.events import ProgressLineEvent, as_property, events_in
from pytest_finetune.runs.progress import END, STEP, ProgressEvent

PREFIX = "finetune: "


class TerminalProgress:
    """The ``Progress`` callback of a pytest session, and the hooks it needs (registered as a
    plugin so that it sees the running test and, on an xdist controller, workers' reports)."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.worker = getattr(config, "workerinput", None) is not None
        self.item: pytest.Item | None = None

    def _write(self, line: str, after_dot: bool = False) -> None:
        reporter: Any = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:  # -p no:terminal
            return
        if after_dot:  # xdist's progress dots do not tell ensure_newline that a line is open
            reporter.write("\n")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        # A run trains inside a test, while pytest captures the fds: the line would land in
        # the test's captured output. Out of capture for the write, as pytest-benchmark does.
        with capture.global_and_fixture_disabled() if capture is not None else nullcontext():
            reporter.write_line(PREFIX + line)  # after ensure_newline: the dots go on below it
            flush = getattr(reporter, "flush", None)  # not in every pytest 8 release
            if flush is not None:
                flush()

    def __call__(self, event: ProgressEvent) -> None:
        if event.kind == STEP:
            return
        if not self.worker:
            self._write(event.line())
        elif event.kind == END and self.item is not None:
            self.item.user_properties.append(as_property(ProgressLineEvent(event.line())))

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> None:
        self.item = item

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """On an xdist controller: the end lines of runs a worker trained for this test."""
        if self.worker or report.when != "call":
            return
        node = getattr(report, "node", None)  # set by xdist on reports that came from a worker
        if node is None:
            return
        where = getattr(getattr(node, "gateway", None), "id", "worker")
        for event in events_in(report.user_properties):
            if isinstance(event, ProgressLineEvent):
                self._write(f"{event.line} [{where}]", after_dot=True)
