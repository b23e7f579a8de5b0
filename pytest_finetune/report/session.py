"""What the session learned about its runs: terminal table, JSON report, PNG per scenario.

Fed from test reports' ``user_properties`` so it sees workers' results under xdist.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_finetune._io import atomic_write_text
from pytest_finetune.plugin.baseline_fixtures import PROPERTY
from pytest_finetune.report.tables import format_table


class SessionReport:
    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}  # scenario -> RunResult dict
        self.comparisons: dict[str, dict[str, Any]] = {}
        self.updated: list[dict[str, Any]] = []
        self.used_files: set[str] = set()

    def pytest_runtest_logreport(self, report) -> None:
        """A pytest hook: this object is registered as a plugin for the session."""
        if report.when == "call":
            self.add(report.user_properties)

    def add(self, user_properties) -> None:
        for key, payload in user_properties:
            if key != PROPERTY:
                continue
            kind = payload["kind"]
            if kind == "result":
                self.results[payload["scenario"]] = payload["result"]
                self.used_files.add(payload["file"])
            elif kind == "comparison":
                self.comparisons[payload["scenario"]] = payload
                self.used_files.add(payload["file"])
            elif kind == "updated":
                self.updated.append(payload)
            elif kind == "used":
                self.used_files.add(payload["file"])

    def table_lines(self) -> list[str]:
        rows = [row for comp in self.comparisons.values() for row in comp["rows"]]
        if not rows:
            return []
        header = ("scenario", "metric", "baseline", "now", "delta", "verdict")
        body = [(r["scenario"], r["metric"], f"{r['baseline']:.4f}", f"{r['now']:.4f}",
                 f"{r['now'] - r['baseline']:+.4f}", r["verdict"]) for r in rows]
        return format_table(header, body)

    def update_lines(self) -> list[str]:
        lines = []
        for item in self.updated:
            if "fingerprint" in item:
                lines.append(f"wrote {item['file']}: fingerprint {item['fingerprint']}")
                continue
            change = ", ".join(
                f"{m} {'new' if old is None else f'{old:.4f}'} -> {new:.4f}" for m, (old, new) in item["change"].items())
            seeds = ", ".join(str(seed) for seed in item["seeds"])
            lines.append(f"wrote {item['file']} (seeds {seeds}): {change}")
        return lines

    def unused_files(self, folder: Path) -> list[str]:
        if not self.used_files or not folder.is_dir():
            return []
        stored = {p.name for p in folder.glob("*.json") if not p.name.endswith(".obtained.json")}
        return sorted(stored - self.used_files)

    def write(self, path: Path, k: float) -> list[Path]:
        """The JSON report, and a loss-curve PNG per scenario beside it."""
        from pytest_finetune.report.plots import plot_loss_curves

        payload = {"results": self.results, "comparisons": {
            name: {key: value for key, value in comp.items() if key != "baseline"}
            for name, comp in self.comparisons.items()}}
        written = [atomic_write_text(path, json.dumps(payload, indent=1, sort_keys=True) + "\n")]
        for scenario, result in self.results.items():
            baseline = self.comparisons.get(scenario, {}).get("baseline")
            png = path.with_name(f"{path.stem}-{scenario}.png")
            written.append(plot_loss_curves(png, {f"now (seed {result['config']['seed']})": result["losses"]},
                                            scenario, baseline, k))
        return written
