"""Equivalence invariants: two configurations of a runner that must train the same.

"Batch 4 x accumulation 2 trains like batch 8", "a run resumed from a checkpoint trains
like the uninterrupted run", "2 processes x batch 4 train like 1 process x batch 8": checks
that need no stored baseline and no seeds, and hold on any machine. Each family
(``families``) makes the two configurations from the run's; both train through the same
runner (built in or the user's) on the same task; ``compare`` judges them step by step
against the reference run's measured numerical noise; ``check`` runs it all and explains a
failure (first diverging step, ratio, which side, likely cause, known upstream issue).
README.md in this folder gives the design and the measurements behind the factor.

In a test: the ``finetune_invariant`` fixture (``plugin.invariant_fixtures``).
"""
from __future__ import annotations

from pytest_finetune.invariants.check import FACTOR, InvariantOutcome, check_invariant
from pytest_finetune.invariants.families import FAMILIES, Family

__all__ = ["FACTOR", "FAMILIES", "Family", "InvariantOutcome", "check_invariant"]
