"""Detection power of the baseline check, and its false alarms.

Injects perturbations of known size into tiny runs of both runners (through
``RunConfig`` fields where one exists, else the test hooks of ``pytest_finetune.runs.perturb``),
judges each run with ``baselines.compare.compare`` against the repository's stored tiny
baselines -- exactly what the fast tier's ``finetune_baseline.check`` does -- and prints,
per kind and size, whether the check failed it (detected), how far the seed-42 loss curve
moved in units of the stored noise envelope, and the smallest detected size. The same
script runs the false-alarm cases: clean reruns, the other torch thread count, and (run
it under another environment with ``--only clean``) another library version.

    python benchmarks/power.py                           # everything (~70 tiny runs)
    python benchmarks/power.py --only clean --reruns 1   # false alarms only, e.g. under transformers 4.57
    python benchmarks/power.py --kinds lr_scale dropout --runners loop
    python benchmarks/power.py --profile full --steps 14 --out full.jsonl   # the -m full tier

``--profile full`` judges what ``-m full``'s paired check would see, without training 460
steps per case: each run is stopped after ``--steps`` optimizer steps (the 460-step schedule
unchanged: the stop is a progress callback that raises) and its complete curve points are
compared with the stored seed-42 record's first points and envelope, by the check's own rule
(a point more than 10x the envelope fails). On CPU the full run's first steps are the same
computation as the cut run's, so a case detected here is detected by ``-m full``; a case not
detected here was not detected *within those steps* (the full run may still catch it later,
in its later curve points or its eval loss, logits, accuracy and F1), so the full tier's
smallest detected size is an upper bound. Full-profile rows keep their losses, so
``--summarize`` judges them against ``--baselines`` even when they were run before the
full baselines were recorded.

Nothing is written into the repository; ``--out FILE`` appends every run's verdict as a JSON
line, and ``--summarize FILE...`` prints the tables from such files.
Requirement checked at the end: every run whose curve moved by more than the check's factor
(10) times the noise envelope at some point was detected.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pytest_finetune.baselines.compare import NOISE_FACTOR, compare  # noqa: E402
from pytest_finetune.baselines.scenario import scenario_name, scenario_of  # noqa: E402
from pytest_finetune.baselines.store import (PACKAGED_BASELINES, SEED_POINTS, baseline_path,  # noqa: E402
                                             downsample, read_baseline)
from pytest_finetune.runs import RunConfig, profile_config  # noqa: E402


def _hook(kind: str) -> Callable[[RunConfig, float], RunConfig]:
    return lambda config, size: config.replace(perturb=config.perturb + ((kind, size),))


def _override(name: str) -> Callable[[RunConfig, float], RunConfig]:
    return lambda config, size: config.replace(
        config_overrides=tuple(dict(config.config_overrides, **{name: size}).items()))


# kind: (area, what the size means, sizes (ascending), make(config, size))
KINDS: dict[str, tuple[str, str, tuple[float, ...], Callable[[RunConfig, float], RunConfig]]] = {
    "lr_scale": ("optimizer", "lr x (1 + s)", (1e-5, 1e-3), lambda c, s: c.replace(lr=c.lr * (1 + s))),
    "adam_beta1": ("optimizer", "beta1 0.9 - s", (1e-6, 1e-4), _hook("adam_beta1")),
    "adam_beta2": ("optimizer", "beta2 0.999 - s", (1e-6, 1e-4), _hook("adam_beta2")),
    "adam_eps": ("optimizer", "eps 1e-8 x s", (2.0, 100.0), _hook("adam_eps")),
    "weight_decay": ("optimizer", "weight decay 0 -> s", (1e-5, 1e-3), lambda c, s: c.replace(weight_decay=s)),
    "label_smoothing": ("loss", "label smoothing 0 -> s", (1e-6, 1e-4), _hook("label_smoothing")),
    "loss_scale": ("loss", "loss x (1 + s)", (1e-4, 1e-2), _hook("loss_scale")),
    "warmup": ("schedule", "warmup ratio 0 -> s (20 steps)", (0.05,), lambda c, s: c.replace(warmup_ratio=s)),
    "clip_norm": ("gradients", "max_grad_norm 1 -> 1 - s", (0.01, 0.3), lambda c, s: c.replace(max_grad_norm=1 - s)),
    "grad_scale": ("gradients", "gradients x (1 + s)", (1e-2,), _hook("grad_scale")),
    "grad_noise": ("gradients", "gradients + s rms N(0,1)", (1e-6, 1e-4), _hook("grad_noise")),
    "swap_pairs": ("data order", "s pairs of train examples swapped", (1.0,), _hook("swap_pairs")),
    "flip_labels": ("data", "s train labels flipped", (1.0,), _hook("flip_labels")),
    "max_length": ("tokenization", "max_length 32 -> 32 - s", (1.0,),
                   lambda c, s: c.replace(max_length=c.max_length - int(s))),
    "pad_left": ("collation", "pad on the left", (1.0,), _hook("pad_left")),
    "init_noise": ("model numerics", "init weights + s std N(0,1)", (1e-8, 1e-6, 1e-4), _hook("init_noise")),
    "layer_norm_eps": ("model numerics", "layer_norm_eps 1e-12 -> s", (1e-10, 1e-7, 1e-5), _override("layer_norm_eps")),
    "dropout": ("model numerics", "dropout 0.1 -> 0.1 + s", (1e-4, 1e-2), lambda c, s: c.replace(dropout=0.1 + s)),
}


# The full profile (460 steps, pairs at full length) needs other sizes or meanings for these.
LONGEST_TRAIN_PAIR = 103  # tokens of MRPC's longest train pair with the bert-base-uncased vocab
FULL_KINDS = {
    **KINDS,
    "warmup": ("schedule", "warmup ratio 0 -> s (460 steps)", (0.05,), lambda c, s: c.replace(warmup_ratio=s)),
    # decay acts by lr * wd per step on every weight: 14 steps of 1e-3 stay near the noise
    "weight_decay": ("optimizer", "weight decay 0 -> s", (1e-5, 1e-3, 1e-2), lambda c, s: c.replace(weight_decay=s)),
    "max_length": ("tokenization", f"max_length 512 -> {LONGEST_TRAIN_PAIR} - s (cuts the longest pair)", (1.0,),
                   lambda c, s: c.replace(max_length=LONGEST_TRAIN_PAIR - int(s))),
}


def kinds_of(profile: str) -> dict:
    return FULL_KINDS if profile == "full" else KINDS


# no size to extrapolate linearly: counts, on/off, one warmup step, dropout masks
DISCRETE = ("swap_pairs", "flip_labels", "max_length", "pad_left", "warmup", "dropout")


def _curve_ratio(result, record: dict[str, Any]) -> float:
    """Largest |loss - seed record| / envelope over the curve (inf: different schedule)."""
    steps, now = downsample(result.losses, SEED_POINTS)
    seed = record["seed_runs"][str(result.config.seed)]
    if steps != seed["loss_steps"]:
        return float("inf")
    return max(abs(a - b) / e for a, b, e in zip(now, seed["losses"], record["noise"]["loss_curve"]))


class _Enough(Exception):
    """Raised by the progress callback to stop a full run after its first steps."""


def _first_steps(config: RunConfig, steps: int) -> tuple[list[float], int]:
    """The first ``steps`` per-step losses of ``config``'s run, and its planned step count."""
    from pytest_finetune.runs.execute import execute_run

    losses: list[float] = []
    planned = [0]

    def watch(event) -> None:
        if event.kind == "start":
            planned[0] = event.total_steps
        elif event.kind == "step":
            losses.append(event.loss)
            if len(losses) >= steps:
                raise _Enough
    try:
        execute_run(config, progress=watch)
    except _Enough:
        pass
    return losses, planned[0]


def _judge_prefix(row: dict, record: dict[str, Any] | None) -> dict:
    """Judge a cut full run's complete curve points by the paired check's rule (in place)."""
    if record is None or record.get("noise") is None or "losses" not in row:
        return row
    seed = record["seed_runs"][str(row.get("seed", 42))]
    steps, now = downsample(row["losses"], SEED_POINTS, total=row["total_steps"])
    if row["total_steps"] != seed["loss_steps"][-1] or steps != seed["loss_steps"][:len(steps)]:
        row.update(ratio=float("inf"), detected=True, first="the schedule changed")
        return row
    envelope = record["noise"]["loss_curve"]
    ratios = [abs(a - b) / e for a, b, e in zip(now, seed["losses"], envelope)]
    first = next((i for i, r in enumerate(ratios) if r > NOISE_FACTOR), None)
    row.update(ratio=max(ratios, default=0.0), detected=first is not None, points=len(steps),
               first="" if first is None else
               f"curve left the envelope first at the bucket ending at step {steps[first]} "
               f"({now[first] - seed['losses'][first]:+.2e} = {ratios[first]:.0f}x)")
    return row


def _run_prefix(config: RunConfig, baselines: dict[str, dict], label: str, kind: str, size: float | None,
                steps: int) -> dict:
    import torch

    from pytest_finetune.runs.result import library_versions

    started = time.perf_counter()
    row = dict(runner=config.runner, case=label, kind=kind, size=size, profile="full", seed=config.seed,
               threads=_threads_of(config, torch.get_num_threads()),
               transformers=library_versions()["transformers"])
    try:
        losses, total = _first_steps(config, steps)
        row.update(losses=losses, total_steps=total, d_accuracy=None, detected=None, ratio=None, first="")
    except Exception as exc:  # a perturbation that breaks training is detected too
        row.update(detected=True, first=f"run failed: {type(exc).__name__}: {exc}"[:200], ratio=float("inf"))
    row["wall_s"] = round(time.perf_counter() - started, 1)
    _judge_prefix(row, baselines.get(config.runner))
    verdict = {True: "DETECTED", False: "passed", None: "pending"}[row["detected"]]
    ratio = "" if row["ratio"] is None else f"curve {row['ratio']:9.3g}x noise"
    print(f"  {config.runner:7s} {label:38s} {verdict:8s} {ratio}  {row['wall_s']:.0f}s", flush=True)
    return row


def _threads_of(config: RunConfig, default: int) -> int:
    return int(dict(config.perturb).get("threads", default))


def _run(config: RunConfig, baselines: dict[str, dict], label: str, kind: str, size: float | None,
         out: str | None = None, steps: int | None = None) -> dict:
    row = (_run_prefix(config, baselines, label, kind, size, steps) if steps
           else _judge(config, baselines, label, kind, size))
    if out:  # one JSON line per run as it finishes: a long benchmark cut short keeps its rows
        with open(out, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, default=str) + "\n")
    return row


def _judge(config: RunConfig, baselines: dict[str, dict], label: str, kind: str, size: float | None) -> dict:
    from pytest_finetune.runs.execute import execute_run

    started = time.perf_counter()
    try:
        result = execute_run(config)
    except Exception as exc:  # a perturbation that breaks training is detected too
        return dict(runner=config.runner, case=label, kind=kind, size=size, detected=True,
                    first=f"run failed: {type(exc).__name__}: {exc}"[:200], ratio=float("inf"),
                    d_accuracy=None, wall_s=time.perf_counter() - started)
    record = baselines[config.runner]
    name = scenario_name(scenario_of(result.config, result.device))
    comparison = compare(result, record, name)
    stored = record["seed_runs"][str(config.seed)]
    row = dict(runner=config.runner, case=label, kind=kind, size=size, detected=not comparison.passed,
               first=(comparison.failures[0] if comparison.failures else "")[:240],
               ratio=_curve_ratio(result, record), d_accuracy=result.accuracy - stored["accuracy"],
               d_eval_loss=result.eval_history[-1]["eval_loss"] - stored["eval_history"][-1]["eval_loss"],
               paired=comparison.paired, wall_s=round(time.perf_counter() - started, 1),
               threads=result.hardware.get("torch_threads"), transformers=result.versions.get("transformers"))
    verdict = "DETECTED" if row["detected"] else "passed"
    print(f"  {config.runner:7s} {label:38s} {verdict:8s} curve {row['ratio']:9.3g}x noise  "
          f"d_acc {row['d_accuracy']:+.4f}  {row['wall_s']:.0f}s", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.environ.get("PYTEST_FINETUNE_MRPC_DIR", str(ROOT.parent / "shared/data/mrpc")))
    parser.add_argument("--baselines", default=str(PACKAGED_BASELINES))
    parser.add_argument("--runners", nargs="+", default=["trainer", "loop"])
    parser.add_argument("--kinds", nargs="+", default=list(KINDS), choices=list(KINDS))
    parser.add_argument("--profile", choices=["tiny", "full"], default="tiny",
                        help="tiny: the fast tier (whole runs); full: the -m full tier (runs cut after --steps)")
    parser.add_argument("--steps", type=int, default=14,
                        help="full profile: optimizer steps run per case (of 460; default 14 = 3 curve points)")
    parser.add_argument("--only", choices=["clean", "power"], help="run only the false-alarm or the power part")
    parser.add_argument("--reruns", type=int, default=5, help="clean reruns per runner (false alarms)")
    parser.add_argument("--out", help="append every run's verdict here, one JSON line per run")
    parser.add_argument("--summarize", nargs="+", metavar="JSONL",
                        help="print the tables from earlier --out files instead of running")
    args = parser.parse_args(argv)
    kinds = kinds_of(args.profile)
    if args.summarize:
        rows = [json.loads(line) for path in args.summarize for line in Path(path).read_text().splitlines() if line]
        seen: set = set()  # a case run twice (overlapping --kinds) counts once
        rows = [r for r in rows if (r["runner"], r["case"], r.get("transformers"), r.get("threads")) not in seen
                and not seen.add((r["runner"], r["case"], r.get("transformers"), r.get("threads")))]
        profiles = {r.get("profile", "tiny") for r in rows}  # the rows say what they ran, not --profile
        if len(profiles) > 1:
            print(f"--summarize: the files mix profiles ({', '.join(sorted(profiles))}); summarize one at a time",
                  file=sys.stderr)
            return 2
        kinds = kinds_of(profiles.pop() if profiles else args.profile)
        if any(r.get("profile") == "full" for r in rows):
            baselines = _load("full", sorted({r["runner"] for r in rows}), args)
            for row in rows:
                _judge_prefix(row, baselines.get(row["runner"]))
            pending = [r for r in rows if r["detected"] is None]
            if pending:
                print(f"{len(pending)} full-profile row(s) cannot be judged: {args.baselines} has no full "
                      "baseline with a noise envelope", file=sys.stderr)
                return 2
        _summary(rows, [k for k in kinds if any(r["kind"] == k for r in rows)], kinds)
        return 0

    import torch
    from pytest_finetune.runs.result import library_versions

    threads = torch.get_num_threads()
    print(f"load average at start: {os.getloadavg()}; torch threads {threads}; "
          f"transformers {library_versions()['transformers']}", flush=True)
    baselines = _load(args.profile, args.runners, args)
    if args.profile == "tiny" and len(baselines) < len(args.runners):
        return 2  # the tiny profile judges as it goes; the full profile's rows can wait (--summarize)
    steps = args.steps if args.profile == "full" else None
    if steps and len(baselines) < len(args.runners) and not args.out:
        print("no full baseline with a noise envelope yet: pass --out to judge the rows later", file=sys.stderr)
        return 2

    rows = []
    if args.only != "power":
        print("false alarms (all should pass):", flush=True)
        other = 1 if threads > 1 else 2
        for runner in args.runners:
            base = profile_config(args.profile, runner=runner, data=args.data)
            for i in range(args.reruns):
                rows.append(_run(base, baselines, f"clean rerun {i + 1}", "clean", None, args.out, steps))
            if args.only != "clean":
                rows.append(_run(base.replace(perturb=(("threads", other),)), baselines,
                                 f"threads {threads} -> {other}", "threads", float(other), args.out, steps))
    if args.only != "clean":
        print("perturbations (sizes ascending):", flush=True)
        for kind in args.kinds:
            area, meaning, sizes, make = kinds[kind]
            for runner in args.runners:
                base = profile_config(args.profile, runner=runner, data=args.data)
                for size in sizes:
                    rows.append(_run(make(base, size), baselines, f"{kind} s={size:g}", kind, size, args.out,
                                     steps))
    print(f"load average at end: {os.getloadavg()}", flush=True)
    if any(r["detected"] is None for r in rows):
        print(f"rows not judged yet (no full baseline): judge them with --summarize {args.out}")
        return 0
    _summary(rows, args.kinds if args.only != "clean" else [], kinds)
    return 0


def _load(profile: str, runners: list[str], args) -> dict[str, dict]:
    """The stored baselines (with per-seed records and an envelope) of ``profile``, by runner."""
    baselines = {}
    for runner in runners:
        config = profile_config(profile, runner=runner, data=args.data)
        path = baseline_path(Path(args.baselines), scenario_of(config, "cpu"))
        record = read_baseline(path) if path.exists() else None
        noise = record.get("noise") if record else None
        if noise is None or "42" not in record.get("seed_runs", {}):
            print(f"{path}: no per-seed record or noise envelope (format 1?): re-record it first", file=sys.stderr)
            continue
        baselines[runner] = record
        print(f"{runner} {profile} envelope ({', '.join(noise['probes'])}): measured max |delta| curve "
              f"{noise['measured_max']['loss_curve']:.2g}, eval loss {noise['measured_max']['eval_loss']:.2g}, "
              f"logits {noise['measured_max']['eval_logits']:.2g}; stored envelope (ulp-floored) "
              f"{min(noise['loss_curve']):.2g}..{max(noise['loss_curve']):.2g}", flush=True)
    return baselines


def _summary(rows: list[dict], kinds: list[str], table: dict | None = None) -> None:
    table = table or KINDS
    clean = [r for r in rows if r["kind"] in ("clean", "threads")]
    if clean:
        alarms = [r for r in clean if r["detected"]]
        print(f"\nfalse alarms: {len(alarms)} of {len(clean)} clean/thread runs failed the check"
              + "".join(f"\n  {r['runner']} {r['case']}: {r['first']}" for r in alarms))
    if not kinds:
        return
    factor = NOISE_FACTOR
    cut = sorted({len(r["losses"]) for r in rows if r.get("profile") == "full" and "losses" in r})
    if cut:
        print(f"\n-m full tier: every case ran its first {'/'.join(map(str, cut))} of "
              f"{rows[0].get('total_steps', 460)} optimizer steps; 'yes' is what -m full detects too, "
              "'no' means not within those steps (an upper bound on the full tier's smallest size)")
    print("\n| kind | area | size means | runner | sizes tried: detected? (curve move / noise envelope) | "
          "smallest detected | linear MDE estimate (change at 10x the envelope) |")
    print("|---|---|---|---|---|---|---|")
    for kind in kinds:
        area, meaning, _, _ = table[kind]
        for runner in sorted({r["runner"] for r in rows}):
            mine = [r for r in rows if r["kind"] == kind and r["runner"] == runner]
            if not mine:
                continue
            cells = ", ".join(f"{r['size']:g}: {'yes' if r['detected'] else 'no'} ({r['ratio']:.3g}x)" for r in mine)
            hit = [r for r in mine if r["detected"]]
            smallest = f"{hit[0]['size']:g}" if hit else "not at these sizes"
            finite = [r for r in mine if r["ratio"] not in (0.0, float("inf")) and r["detected"]]
            # the change itself: s for additive kinds, s - 1 for adam_eps (a factor)
            change = (finite[0]["size"] - (1.0 if kind == "adam_eps" else 0.0)) if finite else 0.0
            estimate = f"~{change * factor / finite[0]['ratio']:.2g}" if finite and kind not in DISCRETE else "-"
            print(f"| {kind} | {area} | {meaning} | {runner} | {cells} | {smallest} | {estimate} |")
    missed = [r for r in rows if r["kind"] not in ("clean", "threads") and r["ratio"] > factor and not r["detected"]]
    print(f"\nrequirement (every run moving the curve > {factor:g}x the envelope is detected): "
          + ("met" if not missed else "NOT met: " + ", ".join(f"{r['runner']} {r['case']}" for r in missed)))


if __name__ == "__main__":
    sys.exit(main())
