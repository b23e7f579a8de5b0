"""``pytest-finetune upgrade``: the subcommand's parser and exit codes; the work is in
``pytest_finetune.upgrade``."""
from __future__ import annotations

import argparse
from typing import Any, Callable

from pytest_finetune.cli import exit_codes


def add_upgrade_parser(commands: Any, common: dict[str, Any],
                       add_session_options: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    from pytest_finetune.upgrade.command import add_upgrade_arguments

    parser = commands.add_parser(
        "upgrade", help="is moving from the --old pins to the --new ones safe? (one verdict)",
        description="Build (or reuse) one environment per side with the given pip requirement "
                    "specs, run the guard suite (pytest-finetune check) in each, compare the two "
                    "sides' same-seed runs step by step and, where they moved, train seeds on both "
                    "sides to judge quality; print one verdict: SAFE (nothing moved beyond the "
                    "measured noise), CHANGED (the numerics moved, every correctness check holds and "
                    "quality is not worse) or REGRESSION (a correctness check or known issue, or "
                    "worse quality), with checks whose outcome changed, fingerprint drift, the seed "
                    "comparison with its detectable effect, known upstream issues and the versions. "
                    "Exit 0 safe or changed (4 for changed with --fail-on-change), 1 regression or "
                    "checks failing on both sides. Environments live in --cache-dir's envs/ folder "
                    "and are reused between calls.", **common)
    add_upgrade_arguments(parser)
    add_session_options(parser)
    return parser


def command_upgrade(args: argparse.Namespace) -> int:
    from pytest_finetune.upgrade.command import upgrade
    from pytest_finetune.upgrade.envs import UpgradeFailed

    # An environment or suite that could not be built or run is neither the user's input
    # nor a bug to trace: one line naming the log, exit 3.
    return exit_codes.guarded(lambda: upgrade(args), internal=(UpgradeFailed,))


def add_bisect_parser(commands: Any, common: dict[str, Any],
                      add_session_options: Callable[[argparse.ArgumentParser], None]) -> argparse.ArgumentParser:
    from pytest_finetune.upgrade.bisect import add_bisect_arguments
    from pytest_finetune.upgrade.command import add_upgrade_arguments

    parser = commands.add_parser(
        "bisect", help="which release between the --old and --new pins broke or changed each check?",
        description="Run the upgrade check between two sets of exact pins, then, for each finding (a "
                    "correctness check that regressed, a same-seed run that moved, a fingerprint that "
                    "drifted), find the package responsible (moved alone to its new pin, or in pairs) and "
                    "its first release that shows it, halving the releases the package index lists "
                    "between the pins; each step runs only the checks concerned, judged with the "
                    "verdict's own statistics. Prints 'first bad: <package> <version> (last good ...)' "
                    "with release-note links. Exit 1 when a finding is a regression, 0 otherwise (4 for "
                    "changes under --fail-on-change).", **common)
    add_upgrade_arguments(parser)
    add_bisect_arguments(parser)
    add_session_options(parser)
    return parser


def command_bisect(args: argparse.Namespace) -> int:
    from pytest_finetune.upgrade.bisect import bisect
    from pytest_finetune.upgrade.envs import UpgradeFailed

    return exit_codes.guarded(lambda: bisect(args), internal=(UpgradeFailed,))
