"""The exit codes of every ``pytest-finetune`` subcommand, and how an outcome maps to one.

One home for the policy, so ``run``, ``diff``, ``check`` and ``upgrade`` agree and CI
scripts can tell a regression (1) from a mistake in how they were called (2): a script
that retries on 1 or opens an issue on it must never do so because a path was wrong.
Subcommands return these constants and let :func:`guarded` turn exceptions into codes.
"""
from __future__ import annotations

import sys
import traceback
from typing import Callable

from pytest_finetune.errors import FinetuneError

OK = 0  # everything checked and in its band
REGRESSION = 1  # a metric, the loss curve or a guard check moved beyond what is allowed, or nothing judged a run
BAD_INPUT = 2  # a path, option, baseline or report the user gave cannot be used (one line)
INTERNAL_ERROR = 3  # a bug in pytest-finetune or a library under it (traceback on stderr)
CHANGED = 4  # upgrade --fail-on-change: the numerics changed, quality did not get worse
INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

EPILOG = """exit codes:
  0  ok: everything checked is within its baseline band
  1  regression: a metric, the loss curve or a guard check moved beyond its band (run: or no baseline)
  2  bad input: a path, option, baseline or report cannot be used (one line on stderr)
  3  internal error: a bug in pytest-finetune or a library under it (traceback on stderr)
  4  upgrade --fail-on-change only: the numerics changed, quality did not get worse
  130 interrupted (Ctrl-C)"""

PROG = "pytest-finetune"


def bad_input(message: str, prog: str = PROG) -> int:
    """Print ``<prog>: <message>`` (one line) on stderr; the code for bad input."""
    print(f"{prog}: {message}", file=sys.stderr)
    return BAD_INPUT


def guarded(command: Callable[[], int], prog: str = PROG,
            internal: tuple[type[BaseException], ...] = ()) -> int:
    """Run ``command`` and map what escapes it to the documented exit codes.

    A FinetuneError is the user's to fix: its one line, exit 2. ``internal`` are errors of
    ours that already say what failed in one line (e.g. an environment that would not
    build; the line names the log): that line, exit 3. Anything else is a bug: the
    traceback (a bug report needs it), then exit 3, never 1 (which means "regression").
    ``prog`` prefixes every line (``pytest-finetune upgrade`` for a subcommand's own voice).
    """
    try:
        return command()
    except FinetuneError as exc:
        return bad_input(str(exc) or type(exc).__name__, prog)
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return INTERRUPTED
    except internal as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return INTERNAL_ERROR
    except Exception:  # noqa: BLE001 - the documented "internal error" code
        traceback.print_exc()
        print(f"{prog}: internal error (a bug: please report it with the traceback above)", file=sys.stderr)
        return INTERNAL_ERROR
