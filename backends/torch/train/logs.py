"""--tensorboard: each epoch's row of metrics.csv as TensorBoard scalars, in OUT/tensorboard/."""

from __future__ import annotations

from pathlib import Path

from .data import TrainError


class Board:
    """A SummaryWriter when asked for (and installed); otherwise it does nothing."""

    def __init__(self, out: Path, enabled: bool):
        self.writer = None
        if not enabled:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise TrainError("--tensorboard needs the tensorboard package, which is not installed",
                             help="pip install tensorboard, or leave out --tensorboard (metrics.csv has the same figures)") from None
        self.writer = SummaryWriter(log_dir=str(out / "tensorboard"))

    def add(self, row: dict) -> None:
        if self.writer is None:
            return
        for key, value in row.items():
            if key != "epoch":
                self.writer.add_scalar(key, value, row["epoch"])
        self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
