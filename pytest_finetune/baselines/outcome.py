"""The outcomes of a guard: what a changed number means for the user.

One vocabulary for a single run against its record (``Comparison.outcome``), for
``pytest-finetune check``'s summary and for ``pytest-finetune upgrade``'s verdict:

- ``SAFE``: nothing moved beyond the measured numerical noise;
- ``CHANGED``: the same-seed numerics moved (a new kernel, a reordered reduction, other
  random draws), but every correctness check holds and quality is not worse: a change to
  look at and re-record, not a regression;
- ``REGRESSION``: a correctness check fails (shapes, padding, loss decrease, invariants,
  known issues) or quality is worse;
- ``FAILING``: checks fail on both sides of an upgrade: not caused by it, but nothing can be
  called safe while they fail (an upgrade verdict only).
"""
from __future__ import annotations

from enum import Enum


class Outcome(str, Enum):
    SAFE = "safe"
    CHANGED = "changed"
    REGRESSION = "regression"
    FAILING = "failing"

    def __str__(self) -> str:
        return self.value
