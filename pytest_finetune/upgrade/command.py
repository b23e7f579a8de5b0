"""``pytest-finetune upgrade``: is moving from the old pins to the new ones safe?

Builds (or reuses) one environment per side, runs the guard suite in each, and prints one
verdict. Exit codes: 0 safe, 1 regression, 2 bad input (one line), 3 internal error (an
environment or suite that could not be built or run for another reason; the line names
the log).
"""
from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path
from typing import Callable

from pytest_finetune._io import atomic_write_text
from pytest_finetune.compat.known_issues import KNOWN_ISSUES
from pytest_finetune.config.options import OPTIONS_BY_DEST
from pytest_finetune.runs.config import PROFILES
from pytest_finetune.errors import FinetuneError
from pytest_finetune.upgrade.envs import EnvBuildError, EnvBuilder
from pytest_finetune.upgrade.progress import Progress
from pytest_finetune.upgrade.specs import DEFAULT_PACKAGES, UpgradeInputError, build_sides
from pytest_finetune.upgrade.suite import SuiteError, run_suite
from pytest_finetune.upgrade.verdict import Verdict, build_verdict

EXIT_INTERNAL = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's options (the CLI module owns the parser, this module its meaning)."""
    parser.add_argument("--old", nargs="+", metavar="SPEC", default=None,
                        help="pip requirement specs of the old side, e.g. transformers==4.57.6 "
                             f"(default: this environment's {', '.join(DEFAULT_PACKAGES)})")
    parser.add_argument("--new", nargs="+", metavar="SPEC", required=True,
                        help="pip requirement specs of the new side, e.g. transformers==5.24.0")
    parser.add_argument("--profile", choices=PROFILES, default="tiny",
                        help="guard suite profile to run on each side (default: %(default)s)")
    parser.add_argument("--json", dest="json_path", metavar="FILE", help="write the verdict as JSON")
    parser.add_argument("--markdown", metavar="FILE",
                        help="write the verdict as Markdown (a PR comment, $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--output", default="upgrade-output", metavar="DIR",
                        help="folder for each side's suite report and log (default: %(default)s)")
    parser.add_argument("--data", default=None, help=OPTIONS_BY_DEST["data"].help +
                        f" [env {OPTIONS_BY_DEST['data'].env}]")
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="where environments are kept (default: ~/.cache/pytest-finetune; "
                             "they live in its envs/ folder)")
    parser.add_argument("--installer", choices=("auto", "uv", "pip"), default="auto",
                        help="uv when installed (auto), else venv + pip (default: %(default)s)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild both environments")


def mrpc_example_text(data: str) -> Callable[[int], str]:
    """Validation example ``i`` of MRPC as a reader knows it (both sentences), for a
    tokenizer drift line. Loaded only when a drift needs it."""
    def render(index: int) -> str:
        from pytest_finetune.mrpc.data import load_mrpc

        row = load_mrpc(data)["validation"][index]
        return f"\"{row['sentence1']}\" / \"{row['sentence2']}\""

    return render


def _data_source(given: str | None) -> str:
    """The MRPC source both sides use (command line > environment > default), as an absolute
    path: the suites run in other folders."""
    from pytest_finetune.config.options import resolve
    from pytest_finetune.mrpc.sources import HUB_SOURCE

    source = str(resolve(OPTIONS_BY_DEST["data"], given, None))  # checks that a folder exists
    return source if source == HUB_SOURCE else str(Path(source).expanduser().resolve())


def upgrade(args: argparse.Namespace, out=None) -> int:
    """Run the whole upgrade check; returns the exit code."""
    from pytest_finetune.mrpc.data import default_cache_dir

    out = out or sys.stdout
    progress = Progress()
    sides = build_sides(args.old, args.new)
    data = _data_source(args.data)
    output = Path(args.output)
    builder = EnvBuilder(Path(args.cache_dir) if args.cache_dir else default_cache_dir(), progress, args.installer)
    progress.say(f"old: {' '.join(sides[0].requirements)}")
    progress.say(f"new: {' '.join(sides[1].requirements)}")
    envs = [builder.ensure(side, rebuild=args.rebuild) for side in sides]
    reports = [run_suite(env, args.profile, output, progress, data) for env in envs]
    verdict: Verdict = build_verdict(
        reports[0], reports[1], known_issues=KNOWN_ISSUES, example_text=mrpc_example_text(data),
        requirements={side.label: list(side.requirements) for side in sides})
    out.write("\n" + verdict.text())
    for path, text in ((args.json_path, verdict.to_json()), (args.markdown, verdict.markdown())):
        if path:
            atomic_write_text(Path(path), text)
            progress.say(f"wrote {path}")
    timing = ", ".join(f"{env.side.label} env {'reused' if env.reused else f'built in {env.build_s:.0f}s'}"
                       for env in envs)
    progress.say(f"exit {verdict.exit_code} ({'regression' if verdict.exit_code else 'safe'}); {timing}; "
                 f"total {progress.elapsed():.0f}s")
    return verdict.exit_code


def run_from_args(args: argparse.Namespace) -> int:
    """``upgrade`` with its exit-code contract: 2 for the user's input, 3 for the rest."""
    started = time.monotonic()
    try:
        return upgrade(args)
    except FinetuneError as exc:
        print(f"pytest-finetune upgrade: {exc}", file=sys.stderr)
        return 2
    except (EnvBuildError, SuiteError) as exc:
        print(f"pytest-finetune upgrade: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print(f"pytest-finetune upgrade: interrupted after {time.monotonic() - started:.0f}s", file=sys.stderr)
        return 130
    except Exception:  # noqa: BLE001 - the contract is exit 3 with the traceback, not a crash
        traceback.print_exc()
        print("pytest-finetune upgrade: internal error (traceback above)", file=sys.stderr)
        return EXIT_INTERNAL
