"""One training step: mixed precision, gradient accumulation and clipping, weight EMA, a NaN watch.

`Stepper` is called once per batch. It runs the forward pass under autocast (`--amp bf16`
or `fp16`; fp16 scales the loss with a GradScaler so small gradients survive), backpropagates
1/k of the loss, and after every k-th batch (`--accumulate k`) clips the gradient norm
(`--clip-grad`), steps the optimizer and updates the exponential moving average of the
weights (`--ema`, torch's AveragedModel). The gradient of k batches of B is then the gradient
of one batch of kB (exactly so without batch norm, whose statistics stay per batch).

A loss that is not finite stops the run (`Diverged`, exit code 1) before its weights are
saved. The check reads a flag kept on the device, every batch on a CPU and every 16th on a
GPU, where reading it waits for the device.
"""

from __future__ import annotations

import contextlib
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .data import TrainError

AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


class Diverged(TrainError):
    """The loss became NaN or infinite: the settings, not the files, need changing (exit code 1)."""

    exit_code = 1


def ema_model(model: nn.Module, decay: float) -> torch.optim.swa_utils.AveragedModel:
    """An exponential moving average of `model`'s parameters and buffers: after each optimizer
    step, ema = decay * ema + (1 - decay) * weights (the first update copies the weights)."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)


class Stepper:
    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, *, criterion: Callable = F.cross_entropy,
                 amp: str | None = None, accumulate: int = 1, clip_grad: float | None = None,
                 ema: torch.optim.swa_utils.AveragedModel | None = None, base: nn.Module | None = None,
                 check_every: int = 1, all_max: Callable[[torch.Tensor], torch.Tensor] = lambda t: t):
        self.model, self.optimizer, self.criterion = model, optimizer, criterion
        self.base = base if base is not None else model  # the unwrapped model, for EMA and clipping
        self.device_type = next(self.base.parameters()).device.type
        self.dtype = AMP_DTYPES.get(amp or "")
        self.scaler = torch.amp.GradScaler(self.device_type) if amp == "fp16" else None
        self.accumulate, self.clip_grad, self.ema = accumulate, clip_grad, ema
        self.check_every, self.all_max = check_every, all_max
        self.start_epoch(0, 1)

    def start_epoch(self, epoch: int, batches: int) -> None:
        """Before an epoch of `batches` batches: a last group shorter than `accumulate` is still one step."""
        self.epoch, self.batches, self.batch = epoch, batches, 0
        self.first_bad = None

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Forward and backward for one batch, and the optimizer step when its group is complete."""
        i, k = self.batch, self.accumulate
        start = i // k * k
        group = min(k, self.batches - start)  # batches in this batch's group
        last = i - start >= group - 1
        no_sync = getattr(self.model, "no_sync", None)
        with (no_sync() if no_sync is not None and not last else contextlib.nullcontext()):
            with self.autocast():
                logits = self.model(x)
                loss = self.criterion(logits, y)
            scaled = loss / group if group > 1 else loss
            (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
        self._watch(loss)
        if last:
            self._step()
        self.batch += 1
        if self.batch % self.check_every == 0 or self.batch == self.batches:
            self.check()
        return loss, logits

    def _step(self) -> None:
        if self.clip_grad:
            if self.scaler is not None:
                self.scaler.unscale_(self.optimizer)
            nn.utils.clip_grad_norm_(self.base.parameters(), self.clip_grad)
        if self.scaler is not None:
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.ema is not None:
            self.ema.update_parameters(self.base)

    def _watch(self, loss: torch.Tensor) -> None:
        """Remember the first batch whose loss is not finite, without waiting for the device."""
        bad = ~torch.isfinite(loss.detach().float())
        here = torch.full((), self.batch, dtype=torch.int64, device=loss.device)
        if self.first_bad is None:
            self.first_bad = torch.full((), -1, dtype=torch.int64, device=loss.device)
        self.first_bad = torch.where(bad & (self.first_bad < 0), here, self.first_bad)

    def check(self) -> None:
        if self.first_bad is None:
            return
        bad = int(self.all_max(self.first_bad.clone()))
        if bad >= 0:
            lr = self.optimizer.param_groups[0]["lr"]
            raise Diverged(f"the training loss became NaN or infinite at epoch {self.epoch + 1}, batch {bad + 1} "
                           f"of {self.batches} (learning rate {lr:g}); stopped before saving this epoch's weights",
                           help=f"lower --lr (try {lr / 10:g}), add --clip-grad 1.0, or find the operation "
                                f"that produced it with --detect-anomaly")

    def state_dict(self) -> dict:
        return {"scaler": self.scaler.state_dict() if self.scaler is not None else None}

    def load_state_dict(self, state: dict) -> None:
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
