"""Picture of an upgrade verdict: where the same-seed runs parted, and what the seeds say.

``upgrade`` prints its verdict as tables; this draws the two things a reader checks by eye
(issue 23): for each scenario whose same-seed runs moved, old's and new's seed-42 loss curves
over the optimizer steps, with the first step of each epoch marked (a change in the data
order of epoch 2 shows as two curves that agree until that line); and for each seed
comparison, every seed's value of each quality signal on both sides, so "not worse" can be
seen as two overlapping clouds::

    python benchmarks/upgrade_figure.py --output upgrade-output --verdict verdict.json --png verdict.png

``--output`` is the folder ``upgrade --output`` wrote the two suite reports to.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True, help="upgrade's --output folder (the two reports)")
    parser.add_argument("--verdict", type=Path, required=True, help="upgrade's --json verdict")
    parser.add_argument("--png", type=Path, required=True)
    args = parser.parse_args()
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    reports = {side: json.loads((args.output / f"{side}-report.json").read_text()) for side in ("old", "new")}
    verdict = json.loads(args.verdict.read_text())
    moved = [m for m in verdict["moves"] if m["failures"]]
    quality = verdict["quality"]
    columns = max(len(moved), len(quality), 1)
    figure, axes = plt.subplots(2, columns, figsize=(6.5 * columns, 8), squeeze=False)
    for axis, move in zip(axes[0], moved):
        for side, style in (("old", "-"), ("new", "--")):
            run = reports[side]["results"][move["scenario"]]
            losses = run["losses"]
            axis.plot(range(1, len(losses) + 1), losses, style, linewidth=0.8, alpha=0.8,
                      label=f"{side}: transformers {reports[side]['versions']['transformers']}")
        epochs = int(run["config"]["epochs"])
        for epoch in range(1, epochs):
            axis.axvline(len(losses) * epoch / epochs + 1, color="grey", linestyle=":", linewidth=1)
        axis.set_title(f"{move['runner']}/{move['profile']} on {move.get('task', 'mrpc')}, seed {move['seed']}: "
                       "training loss per step", fontsize=10)
        axis.set_xlabel("optimizer step (dotted: first step of the next epoch)")
        axis.legend(fontsize=8)
    for axis, comparison in zip(axes[1], quality):
        signals = comparison["signals"]
        for index, signal in enumerate(signals):
            # Signals differ in units (perplexity ~700, accuracy ~0.8): each is drawn as its
            # distance from old's mean in old's seed standard deviations.
            mean, sd = statistics.fmean(signal["old"]), statistics.stdev(signal["old"]) or 1.0
            for offset, side, marker, color in ((-0.12, "old", "o", "C0"), (0.12, "new", "s", "C1")):
                values = [(v - mean) / sd for v in signal[side]]
                axis.scatter([index + offset] * len(values), values, marker=marker, color=color,
                             label=side if index == 0 else None, alpha=0.8)
        axis.axhline(0, color="grey", linewidth=0.5)
        axis.set_xticks(range(len(signals)))
        axis.set_xticklabels([f"{s['label']}\np = {s['p']:.2f}, MDE {s['mde']:.3g}" for s in signals], fontsize=8)
        axis.set_ylabel("(seed value - old mean) / old seed sd")
        task = comparison.get("task", "mrpc")
        axis.set_title(f"{comparison['runner']}/{comparison['profile']} on {task}: quality from seeds "
                       f"{', '.join(map(str, comparison['seeds']))} per side", fontsize=10)
        axis.legend(fontsize=8)
    for row, used in zip(axes, (len(moved), len(quality))):
        for axis in row[used:]:
            axis.set_visible(False)
    figure.suptitle(f"pytest-finetune upgrade: {verdict['outcome'].upper()} "
                    f"(transformers {reports['old']['versions']['transformers']} -> "
                    f"{reports['new']['versions']['transformers']})", fontsize=12)
    figure.tight_layout()
    args.png.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(args.png, dpi=110)
    print(f"wrote {args.png}")


if __name__ == "__main__":
    main()
