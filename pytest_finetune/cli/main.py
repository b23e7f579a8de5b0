"""``pytest-finetune``: run the main job (fine-tune MRPC, compare with baselines, report)
and ``diff`` two reports.

Exit codes: 0 all good, 1 a metric fell below its baseline, 2 bad input (one-line error).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from pytest_finetune.errors import FinetuneError
from pytest_finetune.config.options import OPTIONS_BY_DEST
from pytest_finetune.runs.config import PROFILES, RUNNERS
from pytest_finetune.report.tables import format_table

CLI_OPTIONS = ("model", "data", "device", "baselines", "tolerance_k", "cache_dir", "trust_remote_code")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pytest-finetune", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="fine-tune MRPC, compare with baselines, write a report")
    run.add_argument("--profile", choices=PROFILES, default="tiny")
    run.add_argument("--runner", choices=(*RUNNERS, "both"), default="both")
    run.add_argument("--output", default="finetune-output", help="folder for JSON and PNG (default: %(default)s)")
    run.add_argument("--seed", type=int, default=None)
    for dest in CLI_OPTIONS:
        option = OPTIONS_BY_DEST[dest]
        env = f" [env {option.env}]" if option.env else ""
        kind = {"action": "store_true"} if option.flag else {}
        run.add_argument(f"--{dest.replace('_', '-')}", option.cli, dest=dest, default=None,
                         help=f"{option.help}{env}", **kind)
    diff = commands.add_parser("diff", help="compare two reports (--finetune-report or run JSON)")
    diff.add_argument("old")
    diff.add_argument("new")
    return parser


def _summary_row(result, verdict: str) -> list[str]:
    tail = result.losses[-max(1, len(result.losses) // 10):]
    return [result.config.runner, f"{result.accuracy:.4f}", f"{result.f1:.4f}",
            f"{sum(tail) / len(tail):.4f}", f"{result.wall_time_s:.1f}", f"{result.examples_per_s:.1f}", verdict]


def _print_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    print("\n".join(format_table(header, rows)))


def command_run(args: argparse.Namespace) -> int:
    from pytest_finetune.baselines.check import check_run
    from pytest_finetune.report.plots import plot_loss_curves
    from pytest_finetune.runs import execute_run
    from pytest_finetune.runs.config import session_run_config
    from pytest_finetune.baselines.scenario import scenario_name, scenario_of
    from pytest_finetune.config.settings import FinetuneSettings

    settings = FinetuneSettings.from_sources(vars(args), {}, Path.cwd())
    runners = RUNNERS if args.runner == "both" else (args.runner,)
    output = Path(args.output)
    rows, failed, curves, baseline_record = [], False, {}, None
    for runner in runners:
        overrides: dict[str, Any] = {} if args.seed is None else {"seed": args.seed}
        config = session_run_config(settings, runner, args.profile, **overrides)
        print(f"== {runner}: profile {args.profile}, {config.epochs} epoch(s), batch {config.batch_size}, "
              f"lr {config.lr:g}, seed {config.seed}", flush=True)
        result = execute_run(config, cache_dir=settings.cache_dir, progress=True)
        scenario = scenario_of(config, result.device)
        name = scenario_name(scenario)
        result.save(output / f"{name}.json")
        curves[f"{runner} (seed {config.seed})"] = result.losses
        outcome = check_run(result, settings.baselines, settings.tolerance_k)
        verdict = {"passed": "ok", "failed": "BELOW BASELINE", "missing": "no baseline"}[outcome.status]
        baseline_record = outcome.record or baseline_record
        if outcome.status == "failed":
            failed = True
            print(outcome.message, file=sys.stderr)
        for text in outcome.notes:
            print(f"note: {text}")
        rows.append(_summary_row(result, verdict))
    png = plot_loss_curves(output / "loss_curves.png", curves, f"MRPC {args.profile} profile",
                           baseline_record if len(runners) == 1 else None, settings.tolerance_k)
    print()
    _print_table(["runner", "accuracy", "f1", "final loss", "time s", "ex/s", "baseline"], rows)
    print(f"\nwrote {output}/*.json and {png}")
    return 1 if failed else 0


def _load_results(path: str) -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise FinetuneError(f"{path}: cannot read ({exc.strerror})") from None
    except json.JSONDecodeError as exc:
        raise FinetuneError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from None
    if isinstance(data, dict) and "results" in data:
        return data["results"]
    if isinstance(data, dict) and "config" in data:
        return {f"{data['config']['runner']}-{data['config']['profile']}": data}
    raise FinetuneError(f"{path}: neither a --finetune-report file nor a RunResult JSON")


def command_diff(args: argparse.Namespace) -> int:
    from pytest_finetune.runs.result import version_changes

    old, new = _load_results(args.old), _load_results(args.new)
    rows = []
    for name in sorted(set(old) | set(new)):
        if name not in old or name not in new:
            rows.append([name, "only in " + ("new" if name in new else "old"), "", "", ""])
            continue
        a, b = old[name], new[name]
        for metric in ("accuracy", "f1"):
            rows.append([name, metric, f"{a[metric]:.4f}", f"{b[metric]:.4f}", f"{b[metric] - a[metric]:+.4f}"])
        la, lb = a["losses"][-10:], b["losses"][-10:]
        rows.append([name, "final loss", f"{sum(la) / len(la):.4f}", f"{sum(lb) / len(lb):.4f}",
                     f"{sum(lb) / len(lb) - sum(la) / len(la):+.4f}"])
        changed = version_changes(a["versions"], b["versions"])
        if changed:
            rows.append([name, "versions", ", ".join(f"{k} {o}->{n}" for k, (o, n) in changed.items()), "", ""])
    _print_table(["scenario", "what", "old", "new", "delta"], rows)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return command_run(args) if args.command == "run" else command_diff(args)
    except FinetuneError as exc:
        print(f"pytest-finetune: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pytest-finetune: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
