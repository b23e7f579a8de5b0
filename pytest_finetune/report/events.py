"""What a test tells the session report, as typed events.

Events travel in each test report's ``user_properties`` (as ``(PROPERTY, dict)``), because
that is what pytest-xdist carries from workers to the controller; the session report turns
them back into these types. One home for the vocabulary, so the fixture that emits and the
report that reads cannot drift apart.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Union

PROPERTY = "finetune"


@dataclass
class ResultEvent:
    """A run a test checked: the whole RunResult, as a dict."""

    scenario: str
    file: str
    result: dict[str, Any]
    kind: str = field(default="result", init=False)


@dataclass
class ComparisonEvent:
    """A run judged against a stored baseline: the table rows and the record compared with."""

    scenario: str
    file: str
    passed: bool
    rows: list[dict[str, Any]]
    baseline: dict[str, Any]
    outcome: str = "safe"  # baselines.outcome.Outcome: safe, changed (same-seed moved, bands hold), regression
    nodeid: str = ""  # the test that judged it: an upgrade verdict tells record checks from correctness checks
    kind: str = field(default="comparison", init=False)


@dataclass
class UpdatedEvent:
    """A baseline (scenario) or fingerprint key written by this session."""

    file: str
    scenario: str | None = None
    change: dict[str, list[float | None]] | None = None
    seeds: list[int] | None = None
    fingerprint: str | None = None
    kind: str = field(default="updated", init=False)


@dataclass
class FingerprintEvent:
    """A drift fingerprint judged against the stored one. The value itself travels too, so
    two environments' reports can be compared with each other (``pytest-finetune upgrade``)."""

    name: str
    file: str
    value: Any
    atol: float
    drifted: bool
    detail: str | None = None
    nodeid: str = ""  # the test that judged it
    kind: str = field(default="fingerprint", init=False)


@dataclass
class UsedEvent:
    """A stored file a test read (for the "unused baselines" line)."""

    file: str
    kind: str = field(default="used", init=False)


@dataclass
class KnownIssueEvent:
    """A test that an entry of the known-issues table explains: the entry (``to_dict()``),
    the installed version of its package, and whether that version is inside its range."""

    issue: dict[str, Any]
    nodeid: str
    installed: str | None
    applies: bool
    kind: str = field(default="known_issue", init=False)


@dataclass
class ProgressLineEvent:
    """A run's end line, trained on an xdist worker, for the controller to print
    (``plugin.progress``): a worker's own terminal output is never shown."""

    line: str
    kind: str = field(default="progress_line", init=False)


Event = Union[ResultEvent, ComparisonEvent, UpdatedEvent, FingerprintEvent, UsedEvent, KnownIssueEvent,
              ProgressLineEvent]
_TYPES = {cls.kind: cls for cls in (ResultEvent, ComparisonEvent, UpdatedEvent, FingerprintEvent, UsedEvent,  # type: ignore[attr-defined]
                                    KnownIssueEvent, ProgressLineEvent)}


def as_property(event: Event) -> tuple[str, dict[str, Any]]:
    """The ``user_properties`` entry for ``event`` (plain data: xdist serializes it)."""
    return PROPERTY, asdict(event)


def events_in(user_properties: list[tuple[str, Any]]) -> list[Event]:
    """The events among a test report's ``user_properties``; other plugins' entries are ignored."""
    found: list[Event] = []
    for key, payload in user_properties:
        if key != PROPERTY or not isinstance(payload, dict) or payload.get("kind") not in _TYPES:
            continue
        data = {k: v for k, v in payload.items() if k != "kind"}
        found.append(_TYPES[payload["kind"]](**data))
    return found
