"""Turns the known-issues table (``pytest_finetune.compat.known_issues``) into test outcomes.

At collection, each test that an entry explains (by node id, or by the
``finetune_known_issue`` marker on a user's own test) becomes a strict xfail when the
installed package is inside the entry's range, and stays an ordinary test outside it. Either
way the test carries a record of the entry in its ``user_properties``, so the session report
sees it under xdist too (workers collect; the controller only reads reports).
"""
from __future__ import annotations

import pytest

from pytest_finetune.compat.known_issues import KnownIssue, issues_explaining, known_issue
from pytest_finetune.compat.versions import installed_version
from pytest_finetune.errors import ConfigError
from pytest_finetune.report.events import KnownIssueEvent, as_property

MARKER = "finetune_known_issue"
MARKER_HELP = ("this check fails because of the upstream bug <id> in pytest-finetune's "
               "known-issues table: strict xfail inside the bug's version range, an ordinary "
               "test outside it")


def apply_known_issues(items: list[pytest.Item]) -> None:
    """Mark every explained item: xfail(strict) inside the range, a record either way."""
    for item in items:
        for issue in _issues_of(item):
            version = installed_version(issue.package)
            applies = issue.applies(version)
            if applies:
                item.add_marker(pytest.mark.xfail(strict=True, raises=issue.raises,
                                                  reason=issue.reason(version)))
            item.user_properties.append(as_property(KnownIssueEvent(issue.to_dict(), item.nodeid,
                                                                    version, applies)))


def _issues_of(item: pytest.Item) -> list[KnownIssue]:
    found = issues_explaining(item.nodeid)
    for mark in item.iter_markers(MARKER):
        if len(mark.args) != 1 or not isinstance(mark.args[0], str):
            raise pytest.UsageError(f"pytest-finetune: {item.nodeid}: @pytest.mark.{MARKER} takes "
                                    f"one known-issue id, e.g. {MARKER}(\"transformers-47688\")")
        try:
            issue = known_issue(mark.args[0])
        except ConfigError as exc:
            raise pytest.UsageError(f"pytest-finetune: {item.nodeid}: {exc}") from None
        if issue not in found:
            found.append(issue)
    return found
