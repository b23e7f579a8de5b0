"""Loss curves as PNG: a table says a run failed, a picture says how."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from pytest_finetune._io import atomic_write_bytes
from pytest_finetune.baselines.compare import half_width


def plot_loss_curves(path: Path, curves: dict[str, Sequence[float]], title: str,
                     baseline: dict[str, Any] | None = None, k: float = 3.0) -> Path:
    """One line per run; with ``baseline``, its mean curve and the allowed band shaded."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5), dpi=100)
    if baseline is not None:
        curve, tol = baseline["loss_curve"], baseline["tolerance"]
        width = [half_width(s, k, tol["loss_floor"]) for s in curve["std"]]
        low = [m - w for m, w in zip(curve["mean"], width)]
        high = [m + w for m, w in zip(curve["mean"], width)]
        ax.fill_between(curve["steps"], low, high, color="tab:gray", alpha=0.25, label="baseline band")
        ax.plot(curve["steps"], curve["mean"], color="black", lw=1.5, ls="--", label="baseline mean")
    for label, losses in curves.items():
        ax.plot(range(1, len(losses) + 1), losses, lw=0.8, alpha=0.85, label=label)
    ax.set(xlabel="optimizer step", ylabel="training loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return atomic_write_bytes(Path(path), buffer.getvalue())
