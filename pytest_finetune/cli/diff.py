"""``pytest-finetune diff OLD NEW``: what moved between two reports, judged by the seed band.

Typical use: a ``--finetune-report`` before and after a ``transformers`` bump. Each scenario
in both reports is judged with ``baselines.compare`` (never a second comparison): the band
is centred on the OLD run and is as wide as the stored baseline's seed spread for that
scenario (``max(k*std, floor)``, from ``--baselines``), or the floors alone when there is no
stored baseline. ``--fail-on-regression`` turns a drop below that band into exit 1, and
``--markdown`` writes the table for a pull-request comment or ``$GITHUB_STEP_SUMMARY``.

A report is checked field by field before anything is compared: a missing key, a list
where an object belongs, an empty loss list or a metric given as text is one line naming
the file and field (exit 2), never a traceback or the "regression" code.
"""
from __future__ import annotations

import argparse
import dataclasses
import math
import re
import sys
from pathlib import Path
from typing import Any

from pytest_finetune.cli import exit_codes
from pytest_finetune.tasks.base import lower_is_better
from pytest_finetune.config.options import (OPTIONS_BY_DEST, finite_number, output_file_problem,
                                            output_folder_problem)
from pytest_finetune.errors import ConfigError, FinetuneError
from pytest_finetune.report.tables import format_table

HEADER = ("scenario", "what", "old", "new", "delta", "allowed", "verdict")


class ReportError(FinetuneError):
    """A report given to ``diff`` cannot be read or is not in the expected form."""


def add_diff_parser(commands: Any, common: dict[str, Any]) -> argparse.ArgumentParser:
    diff = commands.add_parser(
        "diff", help="compare two reports (--finetune-report or run JSON)",
        description="Compare two reports scenario by scenario: accuracy, F1 and the loss curve\n"
                    "of NEW against a band around OLD as wide as the stored seed band\n"
                    "(mean +/- max(k*std, floor), as the baseline check computes it).", **common)
    diff.add_argument("old", metavar="OLD", help="the earlier report: a --finetune-report JSON "
                      "or a result JSON written by `pytest-finetune run`")
    diff.add_argument("new", metavar="NEW", help="the later report, in either form")
    diff.add_argument("--fail-on-regression", action="store_true",
                      help="exit 1 when a metric or the loss curve of NEW fell below the band "
                           "around OLD (default: report only, exit 0)")
    diff.add_argument("--markdown", metavar="FILE", default=None,
                      help="also write the table as Markdown to FILE ('-': to stdout instead of "
                           "the plain table, e.g. >> \"$GITHUB_STEP_SUMMARY\")")
    diff.add_argument("--baselines", "--finetune-baselines", dest="baselines", default="baselines",
                      metavar="FOLDER", help="stored baselines whose seed spread sets each band's "
                                             "width (default: %(default)s)")
    diff.add_argument("--tolerance-k", "--finetune-tolerance-k", dest="tolerance_k", default=None,
                      metavar="K", help="band half-width in seed standard deviations (default: the "
                                        "stored baseline's k, else 3.0)")
    return diff


def _fail(path: str, where: str, expected: str, found: Any) -> ReportError:
    shown = type(found).__name__ if isinstance(found, (dict, list)) else repr(found)
    return ReportError(f"{path}: {where}: expected {expected}, found {shown[:80]}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_report(path: str) -> dict[str, Any]:
    """``{scenario: RunResult}`` from a --finetune-report file or one run's result JSON.

    A run's result file is named by the scenario its record describes (task, model by
    content, runner, profile, device, precision, sampler): the name a report and the stored
    baselines use. So two runs of different models never meet as one scenario, a run file
    finds its stored band, and a run file and a report of the same scenario are compared.
    """
    from pytest_finetune._io import read_json

    data = read_json(Path(path), ReportError, "expected a --finetune-report file or a run's result JSON")
    if isinstance(data, dict) and "results" in data:
        results = data["results"]
        if not isinstance(results, dict):
            raise _fail(path, "results", "an object of scenario -> result", results)
        return {name: result_from(path, f"results.{name}", entry) for name, entry in results.items()}
    if isinstance(data, dict) and "config" in data:
        result = result_from(path, "", data)
        return {run_scenario_name(result): result}
    raise ReportError(f"{path}: neither a --finetune-report file (key 'results') nor a run's "
                      "result JSON (key 'config')")


def run_scenario_name(result) -> str:
    """The scenario name of a stored run record, as ``baselines.scenario`` names a live run.

    The record names its model by content already (``model_source``: the label itself, or
    None for the embedded model); a GPU run's device label comes from the compute
    capability it recorded, not from this machine's GPU (it may have none).
    """
    from pytest_finetune.baselines.scenario import scenario_name, scenario_of

    scenario = scenario_of(result.config, "cpu" if result.device == "cuda" else result.device)
    if result.device == "cuda":
        capability = result.hardware.get("cuda_capability")
        scenario["device"] = f"cuda-sm{str(capability).replace('.', '')}" if capability else "cuda"
    return scenario_name(scenario)


def result_from(path: str, where: str, data: Any):
    """A RunResult from one report entry (at ``where``, e.g. ``results.<scenario>``; "" for
    a run's own result file), every field ``compare`` reads checked first."""
    from pytest_finetune.runs.config import RunConfig
    from pytest_finetune.runs.result import RunResult

    def at(key: str) -> str:
        return f"{where}.{key}" if where else key

    if not isinstance(data, dict):
        raise _fail(path, where, "an object (a run's result)", data)
    metrics = _metrics_of(path, where, data)
    losses = data.get("losses")
    if not isinstance(losses, list) or not losses or not all(_number(x) for x in losses):
        raise _fail(path, at("losses"), "a non-empty list of numbers (the training loss per step)",
                    losses)
    config = data.get("config")
    if not isinstance(config, dict):
        raise _fail(path, at("config"), "an object (the run's settings)", config)
    versions = data.get("versions", {})
    if not isinstance(versions, dict) or not all(isinstance(v, str) for v in versions.values()):
        raise _fail(path, at("versions"), "an object of version strings", versions)
    history = data.get("eval_history", [])
    if not isinstance(history, list) or not all(
            isinstance(e, dict) and all(_number(v) for v in e.values()) for e in history):
        raise _fail(path, at("eval_history"), "a list of objects of numbers", history)
    numbers = {key: data.get(key, 0.0) for key in ("param_delta", "wall_time_s", "train_time_s",
                                                    "examples_per_s", "train_examples")}
    for key, value in numbers.items():
        if not _number(value):
            raise _fail(path, at(key), "a number", value)
    counts = data.get("prediction_counts", [])
    if not isinstance(counts, list) or not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
        raise _fail(path, at("prediction_counts"), "a list of whole numbers", counts)
    known = {f.name for f in dataclasses.fields(RunConfig)}
    try:
        run_config = RunConfig.from_dict({k: v for k, v in config.items() if k in known})
    except FinetuneError as exc:
        raise ReportError(f"{path}: {at('config')}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise ReportError(f"{path}: {at('config')}: not a run's settings ({exc})") from None
    extra = {k: data[k] for k in ("learning_rates", "eval_logits") if isinstance(data.get(k), list)}
    fields = {f.name for f in dataclasses.fields(RunResult)}
    return RunResult(config=run_config, device=str(data.get("device", "cpu")), losses=[float(x) for x in losses],
                     learning_rates=extra.pop("learning_rates", []), eval_history=history,
                     metrics=metrics, prediction_counts=counts,
                     param_delta=float(numbers["param_delta"]), train_examples=int(numbers["train_examples"]),
                     wall_time_s=float(numbers["wall_time_s"]), train_time_s=float(numbers["train_time_s"]),
                     examples_per_s=float(numbers["examples_per_s"]), versions=versions,
                     hardware=data.get("hardware") if isinstance(data.get("hardware"), dict) else {},
                     data_source=str(config.get("data", "hub")),
                     **{k: v for k, v in extra.items() if k in fields})


def _metrics_of(path: str, where: str, data: dict[str, Any]) -> dict[str, float]:
    """The run's final metrics: ``metrics`` (an object of numbers in [0, 1]), or the
    ``accuracy`` and ``f1`` keys of results written before tasks had their own metrics."""
    from pytest_finetune.runs.result import metrics_of

    def at(*keys: str) -> str:
        return ".".join(k for k in (where, *keys) if k)

    if "metrics" in data:
        if not isinstance(data["metrics"], dict) or not data["metrics"]:
            raise _fail(path, at("metrics"), "a non-empty object of metric name -> number", data["metrics"])
        prefix = ("metrics",)
    else:
        for metric in ("accuracy", "f1"):
            if metric not in data:
                raise ReportError(f"{path}: {where or 'the run result'}: missing key 'metrics' (or, in results "
                                  f"written before tasks had their own metrics, {metric!r})")
        prefix = ()
    metrics = metrics_of(data)
    for metric, value in metrics.items():
        if lower_is_better(metric):  # perplexity: any number >= 0
            if not _number(value) or value < 0:
                raise _fail(path, at(*prefix, metric), "a number >= 0", value)
        elif not _number(value) or not 0 <= value <= 1:
            raise _fail(path, at(*prefix, metric), "a number in [0, 1]", value)
    return {metric: float(value) for metric, value in metrics.items()}


def band_around(old, name: str, folder: Path, k: float | None) -> tuple[dict[str, Any], float, str]:
    """A baseline record centred on ``old`` whose widths are the stored seed band's.

    Returns (record, k, where the width came from). The record has ``baselines.store``'s
    layout, so ``baselines.compare.compare`` judges NEW against it exactly as it judges a
    run against a stored baseline.
    """
    from pytest_finetune.baselines.store import build_baseline, read_baseline

    stored_path = Path(folder) / f"{name}.json"
    # Scenario names are file names ([A-Za-z0-9_.-]); anything else is not looked up as a path.
    named_file = re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", name) is not None
    stored = read_baseline(stored_path) if named_file and stored_path.exists() else None
    scenario = stored["scenario"] if stored else {"task": "mrpc", "name": name}
    k = k if k is not None else float(stored["tolerance"]["k"]) if stored else OPTIONS_BY_DEST["tolerance_k"].default
    record = build_baseline([old], scenario, k)
    if stored is None:
        return record, k, "the floors alone (no stored baseline " + str(stored_path) + ")"
    for metric in record["metrics"]:
        if metric in stored["metrics"]:
            record["metrics"][metric]["std"] = stored["metrics"][metric]["std"]
    record["tolerance"] = dict(stored["tolerance"])
    if stored["loss_curve"]["steps"] == record["loss_curve"]["steps"]:
        record["loss_curve"]["std"] = list(stored["loss_curve"]["std"])
    return record, k, f"{stored_path}'s seed spread ({len(stored['seeds'])} seed(s))"


def command_diff(args: argparse.Namespace) -> int:
    from pytest_finetune.baselines.compare import compare
    from pytest_finetune.runs.result import version_changes

    if args.markdown not in (None, "-"):
        problem = output_file_problem(args.markdown)
        if problem:
            raise ConfigError(f"--markdown: {args.markdown} {problem}; expected a file path in a writable folder")
    k = None if args.tolerance_k is None else finite_number("--tolerance-k", args.tolerance_k, minimum=0)
    problem = output_folder_problem(args.baselines, writable=False)  # a missing one: floors alone
    if problem:
        raise ConfigError(f"--baselines: {args.baselines} {problem}; expected the folder "
                          "of stored baselines whose seed spread sets the band")
    old_runs, new_runs = read_report(args.old), read_report(args.new)
    common = sorted(set(old_runs) & set(new_runs))
    if args.fail_on_regression and not common:
        raise ReportError(f"{args.old} and {args.new} share no scenario with a run result: nothing to "
                          f"judge (OLD has {', '.join(sorted(old_runs)) or 'none'}; NEW has "
                          f"{', '.join(sorted(new_runs)) or 'none'}: another model, runner, profile or device?)")
    rows: list[list[str]] = []
    failures: list[str] = []
    sources: list[str] = []
    for name in sorted(set(old_runs) | set(new_runs)):
        if name not in common:
            rows.append([name, "only in " + ("NEW" if name in new_runs else "OLD"), "", "", "", "", ""])
            continue
        a, b = old_runs[name], new_runs[name]
        record, k_used, source = band_around(a, name, Path(args.baselines), k)
        sources.append(f"{name}: band width from {source}, k={k_used:g}")
        comparison = compare(b, record, name, k=k_used)
        for row in comparison.rows:
            rows.append([name, row.metric, f"{row.baseline:.4f}", f"{row.now:.4f}", f"{row.delta:+.4f}",
                         row.allowed, row.verdict])
        la, lb = a.losses[-10:], b.losses[-10:]
        rows.append([name, "final loss (last 10 steps)", f"{sum(la) / len(la):.4f}", f"{sum(lb) / len(lb):.4f}",
                     f"{sum(lb) / len(lb) - sum(la) / len(la):+.4f}", "", ""])
        changed = version_changes(a.versions, b.versions)
        if changed:
            rows.append([name, "versions", ", ".join(f"{p} {o}->{n}" for p, (o, n) in changed.items()),
                         "", "", "", ""])
        failures += [f"{name}: {failure}" for failure in comparison.failures]
    regression = bool(failures)
    verdict = ("regression: " + str(len(failures)) + " check(s) below the band" if regression
               else "no regression beyond the seed band" if common else "no scenario in both reports")
    if args.markdown == "-":
        sys.stdout.write(markdown(rows, failures, sources, verdict))
    else:
        print("\n".join(format_table(HEADER, rows)))
        for line in failures + sources:
            print(line)
        print(verdict)
        if args.markdown:
            from pytest_finetune._io import atomic_write_text

            atomic_write_text(Path(args.markdown), markdown(rows, failures, sources, verdict))
    return exit_codes.REGRESSION if regression and args.fail_on_regression else exit_codes.OK


def markdown(rows: list[list[str]], failures: list[str], sources: list[str], verdict: str) -> str:
    """The diff as GitHub-flavoured Markdown: a heading, the verdict, the table, the reasons."""
    def cell(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    mark = {"FAIL": "❌ FAIL", "ok": "✅ ok", "gain": "⬆️ gain"}
    lines = ["### pytest-finetune diff", "", f"**{verdict}**", "",
             "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(cell(mark.get(x, x) if i == len(HEADER) - 1 else x)
                                for i, x in enumerate(row)) + " |" for row in rows]
    if failures or sources:
        lines.append("")
        lines += [f"- {cell(line)}" for line in failures + sources]
    return "\n".join(lines) + "\n"
