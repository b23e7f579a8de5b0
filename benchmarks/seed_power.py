"""Seeds per side -> the smallest worsening the upgrade verdict's quality test detects.

The verdict's CHANGED rests on "quality is not worse" from a few seeds per side
(``pytest_finetune.baselines.quality``: one-sided Welch t-test per signal, family-wise
alpha 0.05 split over the signals, power 0.8). How many seeds that needs is measured here:

1. **Spread.** Each signal's seed-to-seed standard deviation, from real runs: the tiny
   profile's quality runs (``upgrade.seeds.quality_configs``: tiny training, whole
   validation split) trained here for ``--seeds`` seeds per runner; the full profile's
   from the seed records stored in the packaged full baselines (3 seeds per runner, each
   its own full run) unless ``--full-runs`` trains more.
2. **Power curve.** The minimum detectable effect (MDE) for n = 2..10 seeds per side at
   that spread: ``(t(1 - a', 2n-2) + t(0.8, 2n-2)) * sd * sqrt(2/n)``.
3. **Checks of the test itself, by resampling the tiny seeds** (no new runs): two disjoint
   groups of n seeds from the same side (nothing changed), how often the verdict calls the
   second worse (the false-alarm rate; should be <= 0.05), and the same with the MDE added to
   the second group's signal (the power; should be about 0.8).

Runs are appended to a JSON-lines file (``--out``), one per line, and reused: a rerun only
trains what is missing. Prints the tables; ``--png`` draws the power curve.

    python benchmarks/seed_power.py --seeds 20 --out benchmarks/results/seed_power.jsonl --png power.png
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

from pytest_finetune.baselines.quality import ALPHA, POWER, SIGNALS, compare_quality, mde_for_seeds, signals_of

RUNNERS = ("trainer", "loop")


def _load(out: Path) -> list[dict]:
    if not out.is_file():
        return []
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def train_tiny(out: Path, seeds: int, runners: tuple[str, ...]) -> list[dict]:
    """Tiny quality runs for seeds 42.. of each runner, appended to ``out`` (reused if there)."""
    from pytest_finetune.config.settings import FinetuneSettings
    from pytest_finetune.runs.config import session_run_config
    from pytest_finetune.runs.execute import execute_run
    from pytest_finetune.upgrade.seeds import quality_configs

    rows = _load(out)
    have = {(r["runner"], r["profile"], r["seed"]) for r in rows}
    settings = FinetuneSettings.from_sources({}, {}, Path.cwd())
    for runner in runners:
        for config in quality_configs(session_run_config(settings, runner, "tiny"), seeds):
            if (runner, "tiny", config.seed) in have:
                continue
            started = time.monotonic()
            result = execute_run(config, cache_dir=settings.cache_dir).to_dict()
            row = {"runner": runner, "profile": "tiny", "seed": config.seed, "signals": signals_of(result),
                   "wall_s": round(time.monotonic() - started, 1), "versions": result["versions"],
                   "threads": result["hardware"]["torch_threads"]}
            rows.append(row)
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("a") as handle:
                handle.write(json.dumps(row) + "\n")
            print(f"{runner} tiny seed {config.seed}: {row['wall_s']}s {row['signals']}", flush=True)
    return rows


def full_from_baselines() -> list[dict]:
    """The full profile's per-seed signals from the packaged full baselines (their own runs)."""
    from pytest_finetune.baselines.store import PACKAGED_BASELINES, read_json_object

    rows = []
    for path in sorted(PACKAGED_BASELINES.glob("*-full-*.json")):
        record = read_json_object(path)
        runner = record["scenario"]["runner"]
        for seed, run in sorted(record.get("seed_runs", {}).items()):
            final = run["eval_history"][-1]
            rows.append({"runner": runner, "profile": "full", "seed": int(seed), "source": path.name,
                         "signals": {"eval_loss": final["eval_loss"], "accuracy": run["accuracy"],
                                     "f1": run["f1"]}})
    return rows


def spread(rows: list[dict], runner: str, profile: str) -> dict[str, tuple[int, float]]:
    """Per signal: (number of seeds, sample standard deviation)."""
    mine = [r["signals"] for r in rows if r["runner"] == runner and r["profile"] == profile]
    return {s.key: (len(mine), statistics.stdev(v[s.key] for v in mine)) for s in SIGNALS
            if len(mine) > 1 and all(s.key in v for v in mine)}


def power_table(rows: list[dict], sizes: range) -> list[str]:
    lines = ["| runner / profile | signal | seeds measured | seed sd | " +
             " | ".join(f"MDE n={n}" for n in sizes) + " |",
             "| --- | --- | --- | --- |" + " --- |" * len(sizes)]
    for profile in ("tiny", "full"):
        for runner in RUNNERS:
            for key, (count, sd) in spread(rows, runner, profile).items():
                share = ALPHA / len(SIGNALS)  # the verdict splits alpha over its 4 signals
                mdes = " | ".join(f"{mde_for_seeds(n, sd, share):.4f}" for n in sizes)
                lines.append(f"| {runner} / {profile} | {key} | {count} | {sd:.4f} | {mdes} |")
    return lines


def _as_result(signals: dict, seed: int, shift: dict | None = None) -> dict:
    """A minimal RunResult dict carrying ``signals`` (what compare_quality reads)."""
    values = {k: v + (shift or {}).get(k, 0.0) for k, v in signals.items()}
    return {"config": {"seed": seed, "epochs": 1}, "losses": [values["train_loss"]],
            "eval_history": [{"eval_loss": values["eval_loss"]}], "accuracy": values["accuracy"],
            "f1": values["f1"]}


def resampled_rates(rows: list[dict], runner: str, n: int, draws: int, rng: random.Random) -> tuple[float, float]:
    """(false-alarm rate, power at the MDE) of the verdict's test, from disjoint groups of n
    of the measured tiny seeds: nothing changed, then eval loss worsened by its MDE."""
    mine = [r for r in rows if r["runner"] == runner and r["profile"] == "tiny"]
    if len(mine) < 2 * n:
        return float("nan"), float("nan")
    sds = spread(rows, runner, "tiny")
    share = ALPHA / len(SIGNALS)
    shift = {s.key: mde_for_seeds(n, sds[s.key][1], share) for s in SIGNALS if s.higher_is_worse}
    alarms = detections = 0
    for _ in range(draws):
        picked = rng.sample(mine, 2 * n)
        old = [_as_result(r["signals"], i) for i, r in enumerate(picked[:n])]
        same = [_as_result(r["signals"], i) for i, r in enumerate(picked[n:])]
        alarms += bool(compare_quality(runner, "tiny", old, same).worse)
        # Power per signal, as the MDE is defined: eval loss alone worsened by its MDE.
        one = {"eval_loss": shift["eval_loss"]}
        detections += any(s.key == "eval_loss" for s in compare_quality(
            runner, "tiny", old, [_as_result(r["signals"], i, one) for i, r in enumerate(picked[n:])]).worse)
    return alarms / draws, detections / draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=20, help="tiny seeds per runner to train (default 20)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/seed_power.jsonl"))
    parser.add_argument("--runners", nargs="+", default=list(RUNNERS), choices=RUNNERS)
    parser.add_argument("--draws", type=int, default=2000, help="resampling draws per size")
    parser.add_argument("--png", type=Path, default=None, help="draw the power curve here")
    parser.add_argument("--no-train", action="store_true", help="only summarize what --out holds")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    rows = _load(args.out) if args.no_train else train_tiny(args.out, args.seeds, tuple(args.runners))
    rows = rows + full_from_baselines()
    sizes = range(2, 11)
    print("\n".join(power_table(rows, sizes)))
    rng = random.Random(0)
    print("\n| runner | n per side | false alarms (nothing changed) | power at the eval-loss MDE |")
    print("| --- | --- | --- | --- |")
    for runner in args.runners:
        for n in (3, 5, 7, 10):
            alarm, power = resampled_rates(rows, runner, n, args.draws, rng)
            print(f"| {runner} | {n} | {alarm:.3f} | {power:.3f} |")
    walls = [r["wall_s"] for r in rows if "wall_s" in r]
    if walls:
        print(f"\ntiny quality run: {statistics.fmean(walls):.1f} s mean wall time ({len(walls)} runs, "
              f"{rows[0].get('threads')} torch thread(s))")
    if args.png:
        _plot(rows, sizes, args.png)
        print(f"wrote {args.png}")


def _plot(rows: list[dict], sizes: range, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    share = ALPHA / len(SIGNALS)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, key, label in ((axes[0], "eval_loss", "eval loss (rise)"), (axes[1], "accuracy", "accuracy (drop)")):
        for profile, style in (("tiny", "-"), ("full", "--")):
            for runner, color in zip(RUNNERS, ("tab:blue", "tab:orange")):
                sd = spread(rows, runner, profile).get(key)
                if sd:
                    ax.plot(list(sizes), [mde_for_seeds(n, sd[1], share) for n in sizes], style, color=color,
                            marker="o", label=f"{runner} / {profile} (sd {sd[1]:.4f}, {sd[0]} seeds)")
        ax.set_xlabel("seeds per side")
        ax.set_ylabel("smallest detectable worsening")
        ax.set_title(label, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"Upgrade quality test: one-sided Welch t-test, α = {share:g} per signal "
                 f"(0.05 over {len(SIGNALS)} signals), power {POWER:g}; solid: tiny, dashed: full", fontsize=10)
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
