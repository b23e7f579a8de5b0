"""Plain-text tables for the terminal: the pytest summary and the CLI print the same layout."""
from __future__ import annotations

from typing import Sequence


def format_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Left-aligned columns two spaces apart, a dashed rule under the header."""
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    return ["  ".join(f"{str(x):<{w}}" for x, w in zip(row, widths))
            for row in [header, ["-" * w for w in widths], *rows]]
