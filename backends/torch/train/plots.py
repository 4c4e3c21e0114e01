"""PNG figures: training vs validation curves (the seeds' overfitting watch) and confusion matrices."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Sequence

from netspec.files import write_atomic


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, no GUI toolkit
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    write_atomic(path, buf.getvalue())
    return path


def curves(history: Sequence[dict], path: str | Path, title: str = "") -> Path:
    """Loss and accuracy per epoch, training and validation side by side."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    ax_loss.plot(epochs, [h["train_loss"] for h in history], "o-", ms=3, label="training")
    ax_loss.plot(epochs, [h["val_loss"] for h in history], "s-", ms=3, label="validation")
    ax_loss.set(xlabel="epoch", ylabel="loss (cross-entropy)", title="loss")
    ax_acc.plot(epochs, [100 * h["train_acc"] for h in history], "o-", ms=3, label="training")
    ax_acc.plot(epochs, [100 * h["val_acc"] for h in history], "s-", ms=3, label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)


def confusion(matrix, classes: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Rows: true class; columns: predicted class; each cell's count written in it when it fits."""
    plt = _pyplot()
    n = len(classes)
    size = min(4 + 0.45 * n, 20)
    fig, ax = plt.subplots(figsize=(size, size * 0.85))
    m = matrix.tolist() if hasattr(matrix, "tolist") else matrix
    im = ax.imshow(m, cmap="Blues")
    fig.colorbar(im, ax=ax, fraction=0.046)
    if n <= 30:
        ax.set_xticks(range(n), classes, rotation=90 if max(map(len, classes)) > 3 else 0)
        ax.set_yticks(range(n), classes)
        top = max(max(r) for r in m) or 1
        for i in range(n):
            for j in range(n):
                if m[i][j]:
                    ax.text(j, i, str(m[i][j]), ha="center", va="center", fontsize=8,
                            color="white" if m[i][j] > top / 2 else "black")
    ax.set(xlabel="predicted", ylabel="true", title=title or "confusion matrix")
    fig.tight_layout()
    try:
        return _save(fig, Path(path))
    finally:
        plt.close(fig)
