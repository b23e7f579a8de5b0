"""``pytest-finetune``: run the main job (fine-tune MRPC, compare with baselines, report),
``check`` this environment with the packaged guard suite, ``diff`` two reports, and
``upgrade``: check a dependency upgrade in two environments.

Exit codes (``cli.exit_codes``): 0 ok, 1 regression, 2 bad input (one line on stderr),
3 internal error. Every input is checked before anything trains.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NoReturn, Sequence

from pytest_finetune import __version__
from pytest_finetune.cli import exit_codes
from pytest_finetune.cli.check import add_check_arguments, command_check
from pytest_finetune.cli.diff import add_diff_parser, command_diff
from pytest_finetune.cli.upgrade import add_bisect_parser, add_upgrade_parser, command_bisect, command_upgrade
from pytest_finetune.config.options import OPTIONS_BY_DEST, SESSION_OPTIONS, output_folder_problem
from pytest_finetune.errors import ConfigError
from pytest_finetune.report.tables import format_table
from pytest_finetune.runs.config import PROFILES, RUNNERS, SEED_MAX

CLI_OPTIONS = SESSION_OPTIONS


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (``pytest-finetune: ...``) and exit 2, like
    every other bad input; subcommand parsers inherit this class."""

    def error(self, message: str) -> NoReturn:
        self.exit(exit_codes.BAD_INPUT, f"{exit_codes.PROG}: {message} (see {self.prog} --help)\n")


def seed_value(text: str) -> int:
    """A training seed: a whole number 0..2**32-1 (what ``transformers.set_seed`` accepts)."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number 0..{SEED_MAX}, got {text!r}") from None
    if not 0 <= seed <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected a whole number 0..{SEED_MAX}, got {seed}")
    return seed


def add_session_options(parser: argparse.ArgumentParser, dests: Sequence[str] = CLI_OPTIONS) -> None:
    """``--data`` / ``--finetune-data`` and the other settings, read as the plugin reads them."""
    for dest in dests:
        option = OPTIONS_BY_DEST[dest]
        env = f" [env {option.env}]" if option.env else ""
        default = "" if option.flag or option.default is None else f" (default: {option.default})"
        kind = {"action": "store_true"} if option.flag else {"metavar": dest.upper()}
        parser.add_argument(f"--{dest.replace('_', '-')}", option.cli, dest=dest, default=None,
                            help=f"{option.help}{env}{default}", **kind)


def _parser() -> argparse.ArgumentParser:
    common = dict(epilog=exit_codes.EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser = _Parser(prog=exit_codes.PROG, description="Fine-tune GLUE MRPC and compare with stored "
                     "baselines (run), check this environment with the packaged guard suite "
                     "(check), compare two reports (diff), or check an upgrade of the stack in two "
                     "environments (upgrade).", **common)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}",
                        help="print pytest-finetune's version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="fine-tune (MRPC or your task), compare with baselines, write a report",
                              description="Fine-tune MRPC (or --task) with one or both runners (or --runner), compare each run "
                                          "with its stored baseline and write JSON results and a "
                                          "loss-curve PNG. Every path and option is checked before "
                                          "training starts.", **common)
    run.add_argument("--profile", choices=PROFILES, default="tiny",
                     help="tiny: 32 pairs, seconds; full: all of MRPC, minutes; gpu: the course "
                          "recipe on CUDA (default: %(default)s)")
    run.add_argument("--runner", default="both", metavar="RUNNER",
                     help="trainer (transformers.Trainer), loop (the hand-written accelerate loop), both, "
                          "or your own as a dotted path module:attr (a Trainer subclass, a "
                          "@trainer_factory or a training function fn(run)) (default: %(default)s)")
    run.add_argument("--task", default=None, metavar="TASK",
                     help="mrpc (built in), or your own as a dotted path module:attr, e.g. a "
                          "TextClassification of your files (default: mrpc, or $PYTEST_FINETUNE_TASK)")
    run.add_argument("--output", default="finetune-output", metavar="FOLDER",
                     help="folder for the runs' JSON and the loss-curve PNG, created if missing "
                          "(default: %(default)s)")
    run.add_argument("--seed", type=seed_value, default=None, metavar="N",
                     help=f"training seed, 0..{SEED_MAX} (default: the profile's, 42)")
    run.add_argument("-v", "--verbose", action="store_true",
                     help="also show what transformers and datasets print while a run loads and "
                          "trains (model load reports, warnings, their progress bars)")
    add_session_options(run)
    check = commands.add_parser(
        "check", help="run the guard suite that ships with pytest-finetune on this environment",
        usage="pytest-finetune check [--profile tiny|full|gpu] [--report FILE] [options] [-- pytest args]",
        description="Run the packaged guard checks (collated shapes, padding properties on the real "
                    "tokenizer, runner parity incl. gradient accumulation, tiny runs, drift "
                    "fingerprints; the full and gpu runs by profile) against the stored baselines: "
                    "the --baselines folder first, the packaged defaults second. The project's "
                    "pytest ini and conftest.py are not read. Arguments after -- go to pytest.",
        **common)
    add_check_arguments(check)
    add_session_options(check)
    add_diff_parser(commands, common)
    add_upgrade_parser(commands, common, add_session_options)
    add_bisect_parser(commands, common, add_session_options)
    return parser


def _summary_row(result, verdict: str) -> list[str]:
    tail = result.losses[-max(1, len(result.losses) // 10):]
    return [result.config.runner, *(f"{value:.4f}" for value in result.metrics.values()),
            f"{sum(tail) / len(tail):.4f}", f"{result.wall_time_s:.1f}", f"{result.examples_per_s:.1f}", verdict]


class _BarProgress:
    """The CLI's ``Progress``: one tqdm bar per run over its optimizer steps (on stderr, gone
    when the run ends) and one line per evaluated epoch and at the end (on stdout)."""

    def __init__(self) -> None:
        self.bar: Any = None

    def __call__(self, event: Any) -> None:
        from tqdm.auto import tqdm

        from pytest_finetune.runs.progress import END, EPOCH, START, STEP

        if event.kind == START:
            self.bar = tqdm(total=event.total_steps, desc=event.runner, unit="step", leave=False)
        elif event.kind == STEP and self.bar is not None:
            self.bar.set_postfix_str(f"loss {event.loss:.4f}", refresh=False)
            self.bar.update(1)
        elif event.kind == EPOCH and self.bar is not None:
            self.bar.write(event.line(), file=sys.stdout)
        elif event.kind == END:
            if self.bar is not None:
                self.bar.close()
            print(event.line(), flush=True)


def _preflight(settings, configs, registry) -> list[tuple[Any, str, dict[str, Any] | None]]:
    """Everything a run needs, checked before the first one trains (seconds, not a lost run):
    the device, the task's data (MRPC's folder files; a user task's files, read and
    validated row by row), the model and its tokenizer, and each scenario's stored baseline
    (readable and valid if present). Returns (config, device, baseline)."""
    from pytest_finetune.baselines.check import stored_baseline
    from pytest_finetune.baselines.scenario import scenario_of
    from pytest_finetune.mrpc.modeling import load_tokenizer, pick_device

    checked = []
    for config in configs:
        device = pick_device(config.device)
        registry.task(config.task).check(config.data)
        load_tokenizer(config.model, trust_remote_code=config.trust_remote_code)
        record = stored_baseline(settings.baselines, scenario_of(config, device))[2]
        checked.append((config, device, record))
    return checked


def _record_hint(args: argparse.Namespace, settings, config) -> str:
    """How to record the missing baseline of a ``run`` on purpose: the guard suite's baseline
    checks of this profile, in update mode, with this run's model and data; for your own
    runner or task, your own test of it."""
    if config.task != "mrpc" or config.runner not in RUNNERS:
        return (f"your test of runner {config.runner} on task {config.task}: pytest -k <that test> "
                f"--finetune-update-baselines --finetune-baselines {settings.baselines}")
    given = " ".join(f"--{dest.replace('_', '-')} {getattr(args, dest)}" for dest in ("model", "data")
                     if getattr(args, dest, None))
    return (f"pytest-finetune check --profile {args.profile} {given + ' ' if given else ''}--baselines "
            f"{settings.baselines} -- -k matches_baseline --finetune-update-baselines")


def _write_picture(output: Path, curves: dict[str, Any], title: str, record: Any, k: float) -> Path | None:
    """The loss-curve PNG, after the verdict and the JSON: a picture that cannot be written
    (a full disk) is a warning, never the reason a computed verdict goes unseen."""
    from pytest_finetune.report.plots import plot_loss_curves

    try:
        return plot_loss_curves(output / "loss_curves.png", curves, title, record, k)
    except OSError as exc:
        print(f"{exit_codes.PROG}: warning: cannot write {output / 'loss_curves.png'} "
              f"({exc.strerror or exc}); the verdict above stands", file=sys.stderr)
        return None


def command_run(args: argparse.Namespace) -> int:
    """Train each runner, judge each result against its stored baseline, report.

    Exit 1 when a result is below its baseline or has none (nothing judged it, so it does
    not pass: record one on purpose), 2 when a result could not be written, else 0.
    """
    from pytest_finetune.baselines.check import check_run
    from pytest_finetune.baselines.scenario import scenario_name, scenario_of
    from pytest_finetune.config.settings import FinetuneSettings
    from pytest_finetune.runs import execute_run
    from pytest_finetune.runs.config import session_run_config
    from pytest_finetune.runs.runners import Registry, bind

    settings = FinetuneSettings.from_sources(vars(args), {}, Path.cwd())
    output = Path(args.output)
    problem = output_folder_problem(output)
    if problem:
        raise ConfigError(f"--output: {output} {problem}; expected a writable folder for the results")
    runners = RUNNERS if args.runner == "both" else (args.runner,)
    overrides: dict[str, Any] = {} if args.seed is None else {"seed": args.seed}
    registry = Registry()
    configs = []
    for runner in runners:
        bound = bind(registry, runner, args.task or settings.task, settings.data)
        configs.append(session_run_config(settings, bound.pop("runner"), args.profile, **bound, **overrides))
    for config, device, record in _preflight(settings, configs, registry):
        if record is None:
            print(f"note: no stored baseline for {scenario_name(scenario_of(config, device))}: this run "
                  "is reported but cannot pass", flush=True)
    rows, failed, unwritten, curves, baseline_record, metrics = [], False, [], {}, None, set()
    for config in configs:
        print(f"== {config.runner}: profile {args.profile}, {config.epochs} epoch(s), batch "
              f"{config.batch_size}, lr {config.lr:g}, seed {config.seed}", flush=True)
        result = execute_run(config, cache_dir=settings.cache_dir, progress=_BarProgress(), verbose=args.verbose,
                             registry=registry)
        metrics.add(result.metric_source)
        name = scenario_name(scenario_of(config, result.device))
        try:
            result.save(output / f"{name}.json")
        except OSError as exc:
            unwritten.append(f"{output / f'{name}.json'} ({exc.strerror or exc})")
        curves[f"{config.runner} (seed {config.seed})"] = result.losses
        outcome = check_run(result, settings.baselines, settings.tolerance_k)
        verdict = {"passed": "ok", "failed": "BELOW BASELINE", "missing": "NO BASELINE"}[outcome.status]
        baseline_record = outcome.record or baseline_record
        if outcome.status == "failed":
            print(outcome.message, file=sys.stderr)
        elif outcome.status == "missing":
            print(f"{outcome.message}; nothing judged this run, so it does not pass: record one on "
                  f"purpose with {_record_hint(args, settings, config)}", file=sys.stderr)
        failed = failed or outcome.status != "passed"
        for text in outcome.notes:
            print(f"note: {text}")
        rows.append(_summary_row(result, verdict))
    task = registry.task(configs[0].task)
    print()
    print("\n".join(format_table(["runner", *task.metric_names, "final loss", "time s", "ex/s", "baseline"], rows)))
    print(f"metric: {', '.join(sorted(metrics))}")
    title = f"{'MRPC' if task.name == 'mrpc' else f'task {task.name}'} {args.profile} profile"
    png = _write_picture(output, curves, title, baseline_record if len(runners) == 1 else None,
                         settings.tolerance_k)
    print(f"\nwrote {output}/*.json" + (f" and {png}" if png else ""))
    for text in unwritten:
        print(f"{exit_codes.PROG}: --output: cannot write {text}; the verdict above stands", file=sys.stderr)
    if failed:
        return exit_codes.REGRESSION
    return exit_codes.BAD_INPUT if unwritten else exit_codes.OK


COMMANDS = {"run": command_run, "diff": command_diff, "check": command_check, "upgrade": command_upgrade,
            "bisect": command_bisect}


def main(argv: Sequence[str] | None = None) -> int:
    """The console script; returns the exit code (``cli.exit_codes``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    extra: list[str] = []
    if argv[:1] == ["check"] and "--" in argv:  # pytest's own arguments, passed on as given
        argv, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    args = _parser().parse_args(argv)
    args.pytest_args = extra
    return exit_codes.guarded(lambda: COMMANDS[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
