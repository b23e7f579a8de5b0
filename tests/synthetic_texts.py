"""Synthetic labelled texts for the user-task tests, tutorial and benchmark (not MRPC).

Support tickets of three kinds, made from templates with a seeded RNG: the same rows every
time, with a class signal a small model learns in a tiny run (billing words, crash words,
wish words), and enough variety that it is not a lookup.
"""
from __future__ import annotations

import csv
import random
from pathlib import Path

LABELS = ("billing", "bug", "feature")
_SUBJECTS = ["the app", "my account", "the dashboard", "the mobile client", "the export page", "the editor",
             "the search box", "the settings screen", "the API", "the calendar view"]
_TEMPLATES = {
    "billing": ["I was charged twice for {s} this month", "please refund the invoice for {s}",
                "my credit card was billed but {s} still says unpaid", "why did the price of {s} go up",
                "the receipt for {s} shows the wrong amount", "cancel my subscription to {s} and refund me"],
    "bug": ["{s} crashes when I click save", "{s} shows an error and freezes", "after the update {s} is broken",
            "{s} loses my data when I reload", "I get a blank screen in {s}", "{s} throws an exception on login"],
    "feature": ["it would be great if {s} had a dark mode", "please add keyboard shortcuts to {s}",
                "could {s} support exporting to pdf", "I would love an option to share {s} with my team",
                "can you add a filter by date to {s}", "I wish {s} could sync with my calendar"],
}
_TAILS = ["", " thanks", " asap", " please help", " today", " again", " for the third time"]


def ticket_rows(count: int, seed: int) -> list[tuple[str, str]]:
    """``count`` (text, label) rows, labels in turn, from a generator seeded with ``seed``."""
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        label = LABELS[i % len(LABELS)]
        text = rng.choice(_TEMPLATES[label]).format(s=rng.choice(_SUBJECTS)) + rng.choice(_TAILS)
        rows.append((text, label))
    rng.shuffle(rows)
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label"),
              delimiter: str = ",") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_ticket_files(folder: Path, train: int = 96, validation: int = 48) -> tuple[Path, Path]:
    """``train.csv`` and ``dev.csv`` of tickets in ``folder`` (text,label; labels as words)."""
    return (write_csv(Path(folder) / "train.csv", ticket_rows(train, seed=1)),
            write_csv(Path(folder) / "dev.csv", ticket_rows(validation, seed=2)))
