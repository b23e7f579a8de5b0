"""``pytest-finetune upgrade``: is moving from the old pins to the new ones safe?

Builds (or reuses) one environment per side, runs the guard suite (``pytest-finetune
check``) in each, compares the two sides' same-seed runs with each other and, where they
moved, trains seeds on both sides to tell a quality-neutral change from a regression
(``upgrade.seeds``, ``baselines.quality``); then prints one verdict (``upgrade.verdict``):
SAFE or CHANGED (exit 0; 4 for CHANGED under ``--fail-on-change``), REGRESSION or FAILING
(exit 1). Raises a FinetuneError for bad input (the CLI's exit 2) and ``UpgradeFailed``
when an environment, a suite or the seed runs could not be built or run for another
reason (exit 3, the line names the log). Every input, output path included, is checked
before anything is built.
"""
from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence, TextIO

from pytest_finetune._io import atomic_write_text
from pytest_finetune.cli.check import add_own_tests_arguments
from pytest_finetune.cli.preflight import check_inputs
from pytest_finetune.compat.known_issues import KNOWN_ISSUES
from pytest_finetune.config.options import (OPTIONS_BY_DEST, SESSION_OPTIONS, output_file_problem,
                                            output_folder_problem, resolve)
from pytest_finetune.errors import ConfigError
from pytest_finetune.runs.config import PROFILES
from pytest_finetune.baselines.quality import compare_quality, run_label
from pytest_finetune.upgrade.envs import Env, EnvBuilder, IndexSettings, UpgradeFailed, source_digest
from pytest_finetune.upgrade.seeds import DEFAULT_SEEDS, quality_configs, train_seeds
from pytest_finetune.upgrade.progress import Progress
from pytest_finetune.upgrade.specs import DEFAULT_PACKAGES, Side, build_sides
from pytest_finetune.upgrade.suite import run_suites
from pytest_finetune.upgrade.verdict import CHANGED_EXIT, Verdict, build_verdict

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
    parser.add_argument("--index-url", metavar="URL", default=None,
                        help="package index to install from instead of pip's configured one (a private index)")
    parser.add_argument("--extra-index-url", metavar="URL", action="append", default=[],
                        help="another package index to look in (repeatable)")
    parser.add_argument("--find-links", metavar="PATH_OR_URL", action="append", default=[],
                        help="a folder or page of wheels to install from (repeatable), e.g. your own builds")
    parser.add_argument("--seeds", type=_seed_count, default=None, metavar="N",
                        help="seeds per side when the same-seed runs moved and quality is judged from "
                             f"seeds, 2..{MAX_SEEDS} (default by profile: "
                             f"{', '.join(f'{k} {v}' for k, v in DEFAULT_SEEDS.items())})")
    add_own_tests_arguments(parser, "on both sides, after the guard suite; the verdict judges their "
                                    "outcomes and metrics as it judges the guard suite's")
    parser.add_argument("--fail-on-change", action="store_true",
                        help=f"exit {CHANGED_EXIT} when the numerics changed but quality did not get worse "
                             "(default: exit 0: CHANGED is not a regression)")


MAX_SEEDS = 20


def _seed_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number 2..{MAX_SEEDS}, got {text!r}") from None
    if not 2 <= value <= MAX_SEEDS:
        raise argparse.ArgumentTypeError(f"expected a whole number 2..{MAX_SEEDS} (a spread needs two), got {value}")
    return value


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


def pin_surprises(envs: Sequence[Env]) -> list[str]:
    """A line for each exact pin (``name==X``) that installed another version string: a local
    build (``X+cpu``, ``X+mybuild``) matches ``==X`` and installers prefer it, so a side can
    silently test another build than the user meant."""
    from packaging.requirements import Requirement

    lines = []
    for env in envs:
        for line in env.side.requirements:
            requirement = Requirement(line)
            pins = [spec.version for spec in requirement.specifier if spec.operator == "=="]
            installed = env.versions.get(requirement.name)
            if len(pins) == 1 and installed and installed != pins[0] and requirement.name != "torch":
                lines.append(f"{env.side.label}: {line} installed {requirement.name} {installed} (a local build "
                             f"matches the pin); ask for it with ==={pins[0]} to get exactly {pins[0]}")
    return lines


def package_sources(args: argparse.Namespace) -> IndexSettings:
    """The user's package sources: a local folder must exist (a typo is bad input, not a
    silent fall-back to the public index); paths become absolute (the installer runs elsewhere)."""
    links = []
    for link in getattr(args, "find_links", None) or []:
        if "://" not in link:
            path = Path(link).expanduser()
            if not path.exists():
                raise ConfigError(f"--find-links: {link} does not exist; expected a folder of wheels or a URL")
            link = str(path.resolve())
        links.append(link)
    return IndexSettings(index_url=getattr(args, "index_url", None),
                         extra_index_urls=list(getattr(args, "extra_index_url", None) or []), find_links=links)


def own_tests(args: argparse.Namespace) -> list[str]:
    """``--tests`` as absolute paths (node ids kept), each checked to exist: the suites run in
    the environments' own processes, from this folder."""
    if not getattr(args, "guard", True) and not getattr(args, "tests", None):
        raise ConfigError("--no-guard: nothing left to run on either side; name your own tests with --tests PATH")
    found = []
    for test in getattr(args, "tests", None) or ():
        path, sep, rest = str(test).partition("::")
        where = Path(path).expanduser()
        if not where.exists():
            raise ConfigError(f"--tests: {test} does not exist (from {Path.cwd()}); expected your test files or "
                              "folders (pytest's paths or node ids)")
        found.append(str(where.resolve()) + sep + rest)
    return found


def _check_outputs(args: argparse.Namespace) -> None:
    problem = output_folder_problem(Path(args.output))
    if problem:
        raise ConfigError(f"--output: {args.output} {problem}; expected a writable folder")
    for option, path in (("--json", args.json_path), ("--markdown", args.markdown)):
        problem = path and output_file_problem(path)
        if problem:
            raise ConfigError(f"{option}: {path} {problem}; expected a writable file path")


@dataclass
class Plan:
    """What an upgrade (or a bisection) compares, checked before anything is built."""

    sides: tuple[Side, Side]
    options: dict[str, Any]  # the session settings forwarded to ``check`` on each side
    builder: EnvBuilder


@dataclass
class Measured:
    """Both sides built, their suites run, the verdict with its seeds."""

    envs: list[Env]
    reports: list[dict[str, Any]]
    verdict: Verdict
    code: str  # pytest-finetune's code identity (seed runs are cached under it)


def plan(args: argparse.Namespace, progress: Progress) -> Plan:
    """Every input checked, nothing built: specs, package sources, forwarded settings,
    output paths, the model and the data (bad input is one line, exit 2, in seconds)."""
    from pytest_finetune.mrpc.data import default_cache_dir

    sides = build_sides(args.old, args.new)
    sources = package_sources(args)
    options = _forwarded_options(args)
    _check_outputs(args)
    args.tests = own_tests(args)
    if getattr(args, "guard", True):
        check_inputs(vars(args))  # the model loads and the data reads, here, before anything is built
    cache = resolve(OPTIONS_BY_DEST["cache_dir"], getattr(args, "cache_dir", None), None)
    builder = EnvBuilder(Path(cache).expanduser() if cache else default_cache_dir(), progress, args.installer,
                         sources)
    return Plan(sides, options, builder)


def measure(args: argparse.Namespace, the_plan: Plan, progress: Progress) -> Measured:
    """Build (or reuse) both environments, run the suite in each, build the verdict and,
    where the same-seed runs moved, judge quality from seeds on both sides."""
    sides, options, builder = the_plan.sides, the_plan.options, the_plan.builder
    for side in sides:
        progress.say(f"{side.label}: {' '.join(side.requirements)}")
    envs = [builder.ensure(side, rebuild=args.rebuild) for side in sides]
    surprises = pin_surprises(envs)
    for line in surprises:
        progress.say(line)
    source = source_digest()
    suites_started = progress.elapsed()
    reports = run_suites(envs, args.profile, Path(args.output), progress, options, together=sides_together(envs),
                         tests=getattr(args, "tests", ()) or (), guard=getattr(args, "guard", True))
    if source != source_digest():
        raise UpgradeFailed("pytest-finetune's source tree changed while the suites ran, so the two "
                            "sides ran different guard code; run the command again on a tree that "
                            f"stays put (reports kept in {args.output})")
    verdict = build_verdict(reports[0], reports[1], known_issues=KNOWN_ISSUES,
                            example_text=mrpc_example_text(str(resolve(OPTIONS_BY_DEST["data"], args.data, None))),
                            requirements={side.label: list(side.requirements) for side in sides})
    verdict.timing["suites_s"] = round(progress.elapsed() - suites_started, 1)
    verdict.notes.extend(surprises)
    code = source or f"{builder.own.origin}@{builder.own.version}"
    if verdict.escalations():
        judge_quality(verdict, envs, reports, args, options, progress, code)
    verdict.rerecord = (f"pytest-finetune check --profile {args.profile} --baselines "
                        f"{options.get('baselines', 'baselines')} -- --finetune-update-baselines "
                        "--finetune-seeds 3 (in the new environment)")
    return Measured(envs, reports, verdict, code)


TOGETHER_MIN_CORES = 4  # below this, two sides at once only share the same cores


def sides_together(envs: Sequence[Env]) -> bool:
    """Run both sides at once when the machine has the cores: each side's processes then get
    half of them (set here, so both sides train with the same thread count and their
    same-seed runs stay comparable)."""
    cores = os.cpu_count() or 1
    if cores < TOGETHER_MIN_CORES or len(envs) < 2:
        return False
    for env in envs:
        env.threads = cores // len(envs)
    return True


def write_outputs(args: argparse.Namespace, texts: Mapping[str, str], progress: Progress) -> None:
    """``--json`` and ``--markdown``, when asked (their paths were checked up front)."""
    for path, text in ((args.json_path, texts["json"]), (args.markdown, texts["markdown"])):
        if path:
            atomic_write_text(Path(path), text)
            progress.say(f"wrote {path}")


def upgrade(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """Run the whole upgrade check; the verdict's exit code (0 safe or changed, 1 regression
    or failing on both sides, 4 changed under ``--fail-on-change``)."""
    out = out or sys.stdout
    progress = Progress()
    done = measure(args, plan(args, progress), progress)
    verdict = done.verdict
    out.write("\n" + verdict.text())
    write_outputs(args, {"json": verdict.to_json(), "markdown": verdict.markdown()}, progress)
    timing = ", ".join(f"{env.side.label} env {'reused' if env.reused else f'built in {env.build_s:.0f}s'}"
                       for env in done.envs)
    code = verdict.exit_code(args.fail_on_change)
    seeds = f", seeds {verdict.timing['seeds_s']:.0f}s" if "seeds_s" in verdict.timing else ""
    progress.say(f"exit {code} ({verdict.outcome.value}); {timing}; suites {verdict.timing['suites_s']:.0f}s"
                 f"{seeds}; total {progress.elapsed():.0f}s")
    return code


def judge_quality(verdict: Verdict, envs: Sequence[Env], reports: Sequence[Mapping[str, Any]],
                  args: argparse.Namespace, options: Mapping[str, Any], progress: Progress, code: str) -> None:
    """Train the seeds of every runner whose same-seed runs moved, on both sides, and add
    their quality comparison to ``verdict`` (``Verdict.escalations``)."""
    from pytest_finetune.config.settings import FinetuneSettings
    from pytest_finetune.runs.config import session_run_config
    from pytest_finetune.runs.runners import Registry, bind

    started = progress.elapsed()
    settings = FinetuneSettings.from_sources(options, {}, Path.cwd())
    registry = Registry()
    plan = []
    for runner, profile, task in verdict.escalations():
        count = args.seeds or DEFAULT_SEEDS.get(profile, 3)
        # The config the suite's fixture builds for this runner and task (the task's own model
        # and settings included), so its seed-42 run is reused rather than trained again.
        bound = bind(registry, runner, task, settings.data)
        base = session_run_config(settings, bound.pop("runner"), profile, **bound)
        plan.append(((runner, profile, task), quality_configs(base, count)))
    progress.say("same-seed runs moved: judging quality from seeds on both sides: " + "; ".join(
        f"{run_label(*key)} seeds {configs[0].seed}-{configs[-1].seed}" for key, configs in plan))
    configs = [config for _, group in plan for config in group]
    # Each side's own data cache (the environment sets it), as for its suite: never the caller's.
    runs = train_seeds(envs, configs, reports, code, Path(args.output).resolve(), progress,
                       together=sides_together(envs))
    at = 0
    for (runner, profile, task), group in plan:
        old, new = (side[at:at + len(group)] for side in runs)
        at += len(group)
        verdict.quality.append(compare_quality(runner, profile, old, new, task=task))
        progress.say(verdict.quality[-1].summary())
    verdict.timing["seeds_s"] = round(progress.elapsed() - started, 1)
