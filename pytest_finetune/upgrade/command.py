"""``pytest-finetune upgrade``: is moving from the old pins to the new ones safe?

Builds (or reuses) one environment per side, runs the guard suite (``pytest-finetune
check``) in each, and prints one verdict. Returns 0 safe or 1 regression; raises a
FinetuneError for bad input (the CLI's exit 2) and ``UpgradeFailed`` when an environment or
a suite could not be built or run for another reason (exit 3, the line names the log).
Every input, output path included, is checked before anything is built.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable, TextIO

from pytest_finetune._io import atomic_write_text
from pytest_finetune.cli.preflight import check_inputs
from pytest_finetune.compat.known_issues import KNOWN_ISSUES
from pytest_finetune.config.options import (OPTIONS_BY_DEST, SESSION_OPTIONS, output_file_problem,
                                            output_folder_problem, resolve)
from pytest_finetune.errors import ConfigError
from pytest_finetune.runs.config import PROFILES
from pytest_finetune.upgrade.envs import EnvBuilder, UpgradeFailed, source_digest
from pytest_finetune.upgrade.progress import Progress
from pytest_finetune.upgrade.specs import DEFAULT_PACKAGES, build_sides
from pytest_finetune.upgrade.suite import run_suite
from pytest_finetune.upgrade.verdict import build_verdict

# Settings passed on to ``check`` in each environment; the cache folder is not: each
# environment keeps its own data cache inside it (see ``Env.subprocess_env``).
FORWARDED = tuple(dest for dest in SESSION_OPTIONS if dest != "cache_dir")


def add_upgrade_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's own options (the session settings are added by the CLI)."""
    parser.add_argument("--old", nargs="+", metavar="SPEC", default=None,
                        help="pip requirement specs of the old side, e.g. transformers==4.57.6 "
                             f"(default: this environment's {', '.join(DEFAULT_PACKAGES)})")
    parser.add_argument("--new", nargs="+", metavar="SPEC", required=True,
                        help="pip requirement specs of the new side, e.g. transformers==5.24.0 "
                             "accelerate==1.15.0")
    parser.add_argument("--profile", choices=PROFILES, default="tiny",
                        help="guard suite profile run on each side (default: %(default)s)")
    parser.add_argument("--json", dest="json_path", metavar="FILE", help="write the verdict as JSON")
    parser.add_argument("--markdown", metavar="FILE",
                        help="write the verdict as Markdown (a PR comment, $GITHUB_STEP_SUMMARY)")
    parser.add_argument("--output", default="upgrade-output", metavar="FOLDER",
                        help="folder for each side's suite report and log (default: %(default)s)")
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


def _forwarded_options(args: argparse.Namespace) -> dict[str, Any]:
    """The session settings given on the command line, for ``check`` in each environment
    (environment variables reach it anyway). Each is validated here, as the plugin would,
    so that a bad value stops the command before anything is built; paths become absolute."""
    options: dict[str, Any] = {}
    for dest in FORWARDED:
        resolve(OPTIONS_BY_DEST[dest], getattr(args, dest, None), None)  # raises a one-line ConfigError
        value = getattr(args, dest, None)
        if value in (None, False, ""):
            continue
        if dest in ("data", "baselines", "model") and Path(str(value)).expanduser().exists():
            value = str(Path(str(value)).expanduser().resolve())
        options[dest] = value
    return options


def _check_outputs(args: argparse.Namespace) -> None:
    problem = output_folder_problem(Path(args.output))
    if problem:
        raise ConfigError(f"--output: {args.output} {problem}; expected a writable folder")
    for option, path in (("--json", args.json_path), ("--markdown", args.markdown)):
        problem = path and output_file_problem(path)
        if problem:
            raise ConfigError(f"{option}: {path} {problem}; expected a writable file path")


def upgrade(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the whole upgrade check; 0 safe, 1 regression."""
    from pytest_finetune.mrpc.data import default_cache_dir

    out = out or sys.stdout
    progress = Progress()
    sides = build_sides(args.old, args.new)
    options = _forwarded_options(args)
    _check_outputs(args)
    check_inputs(vars(args))  # the model loads and the data reads, here, before anything is built
    cache = resolve(OPTIONS_BY_DEST["cache_dir"], getattr(args, "cache_dir", None), None)
    builder = EnvBuilder(Path(cache).expanduser() if cache else default_cache_dir(), progress, args.installer)
    for side in sides:
        progress.say(f"{side.label}: {' '.join(side.requirements)}")
    envs = [builder.ensure(side, rebuild=args.rebuild) for side in sides]
    source = source_digest()
    reports = [run_suite(env, args.profile, Path(args.output), progress, options) for env in envs]
    if source != source_digest():
        raise UpgradeFailed("pytest-finetune's source tree changed while the suites ran, so the two "
                            "sides ran different guard code; run the command again on a tree that "
                            f"stays put (reports kept in {args.output})")
    verdict = build_verdict(reports[0], reports[1], known_issues=KNOWN_ISSUES,
                            example_text=mrpc_example_text(str(resolve(OPTIONS_BY_DEST["data"], args.data, None))),
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
