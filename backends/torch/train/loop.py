"""The training loop: epochs over batches from a feed, metrics, checkpoints, curves.

`train_epoch` and `evaluate` are the inner loops (the benchmark times `train_epoch`
against a hand-written loop); `fit` runs a whole job: seeding, freezing, the optimizer
and schedule, the step's options (step.py), resume, one epoch after another, and the
files in the output folder.

Reproducibility: the data order and augmentation of epoch e come from generators seeded
with (seed, e) (for folders and shards, with (seed, e, sample)), and the global RNG
(dropout) is saved with every checkpoint, so a run resumed from a checkpoint computes
exactly what the uninterrupted run did.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from . import checkpoint, distributed, finetune, logs, step
from .config import TrainConfig, parse_augment
from ..weights import load_exact
from .data import Data, StreamData
from .feed import epoch_generator, make_feed  # noqa: F401  (epoch_generator: part of this module's API)
from .step import Stepper
from .stream import View, default_workers

Log = Callable[[str], None]


# ---------------------------------------------------------------- pieces


def augment_batch(x: torch.Tensor, shift: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random translation by up to `shift` pixels (zero fill) and optional horizontal flip."""
    n, _, h, w = x.shape
    if flip:
        mirror = torch.rand(n, generator=generator) < 0.5
        x = torch.where(mirror.view(n, 1, 1, 1).to(x.device), x.flip(3), x)
    if shift:
        padded = F.pad(x, (shift, shift, shift, shift))
        dy = torch.randint(0, 2 * shift + 1, (n,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * shift + 1, (n,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]
        batch = torch.arange(n, device=x.device)[:, None, None]
        # advanced indexing on dims 0, 2, 3 puts them first: (n, h, w, c) -> (n, c, h, w)
        x = padded[batch, :, rows, cols].permute(0, 3, 1, 2).contiguous()
    return x


@dataclass
class Totals:
    """Sums over the samples of an epoch; `all_sum` turns per-process totals into global ones."""

    loss: float = 0.0
    correct: int = 0
    top5: int = 0
    count: int = 0

    @property
    def mean_loss(self) -> float:
        return self.loss / max(self.count, 1)

    @property
    def accuracy(self) -> float:
        return self.correct / max(self.count, 1)

    def reduced(self, ctx: distributed.Context) -> "Totals":
        t = distributed.all_sum(torch.tensor([self.loss, self.correct, self.top5, self.count], dtype=torch.float64), ctx)
        return Totals(float(t[0]), int(t[1]), int(t[2]), int(t[3]))


def train_epoch(stepper: Stepper, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *,
                frozen_norms: list[nn.Module] = (), world_size: int = 1, progress: Any = None) -> tuple[Totals, float]:
    """One pass over `batches` through `stepper`; returns this process's totals and the seconds it
    spent waiting for the next batch (the data-wait half of the epoch's time)."""
    stepper.model.train()
    for m in frozen_norms:
        m.eval()
    loss_sum = correct = None
    count, wait, it = 0, 0.0, iter(batches)
    while True:
        t0 = time.perf_counter()
        try:
            x, y = next(it)
        except StopIteration:
            break
        wait += time.perf_counter() - t0
        loss, logits = stepper(x, y)
        with torch.no_grad():
            batch_loss, batch_correct = loss.detach().double() * len(y), (logits.argmax(1) == y).sum()
            loss_sum = batch_loss if loss_sum is None else loss_sum + batch_loss
            correct = batch_correct if correct is None else correct + batch_correct
        count += len(y)
        if progress is not None:
            progress.update(len(y) * world_size)
            if stepper.batch % 16 == 1:  # .item() waits for the device: not every step
                progress.set_postfix_str(f"loss {loss_sum.item() / count:.4f} acc {100 * correct.item() / count:.1f}%",
                                         refresh=False)
    return Totals(float(loss_sum or 0), int(correct or 0), 0, count), wait


@torch.no_grad()
def evaluate(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], *, predictions: bool = False,
             autocast: Callable = contextlib.nullcontext) -> tuple[Totals, torch.Tensor | None]:
    """Loss, top-1 and top-5 hits over this process's share; with `predictions`, the argmax per sample."""
    model.eval()
    totals = Totals()
    preds = []
    for x, y in batches:
        with autocast():
            logits = model(x)
        logits = logits.float()
        totals.loss += float(F.cross_entropy(logits, y, reduction="sum"))
        top = logits.topk(min(5, logits.shape[1]), dim=1).indices
        totals.correct += int((top[:, 0] == y).sum())
        totals.top5 += int((top == y[:, None]).any(1).sum())
        totals.count += len(y)
        if predictions:
            preds.append(top[:, 0].cpu())
    return totals, (torch.cat(preds) if predictions and preds else None)


def make_optimizer(params, cfg: TrainConfig) -> torch.optim.Optimizer:
    lr, wd = cfg.learning_rate, cfg.weight_decay
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=cfg.momentum, weight_decay=wd)
    if cfg.optimizer == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=0.9, momentum=0.0, weight_decay=wd)  # the seeds' 0.9 average
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=wd or 0.01)
    return torch.optim.Adam(params, lr=lr, weight_decay=wd)


def make_scheduler(optimizer: torch.optim.Optimizer, cfg: TrainConfig):
    if cfg.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.epochs)
    if cfg.schedule == "step":
        step = cfg.step_size or max(1, cfg.epochs // 3)
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=step, gamma=cfg.gamma)
    if cfg.schedule == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=cfg.gamma, patience=cfg.patience)
    return None


def progress_enabled() -> bool:
    """Bars only for a person watching: not in CI, not into a file or pipe."""
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true", "yes")


# ---------------------------------------------------------------- a whole run


@dataclass
class Result:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_acc: float = -1.0
    out: Path | None = None
    resumed_from: int = 0  # epochs already done when this process started
    seconds: float = 0.0

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


METRIC_COLUMNS = ("epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc", "val_top5", "images_per_s",
                  "seconds", "data_seconds")


def fit(model: nn.Module, data: Data | StreamData, cfg: TrainConfig, out: str | Path, *, spec_hash: str = "",
        spec_name: str = "model", spec_text: str | None = None, resume: bool = False,
        log: Log = print, stop_after: int | None = None, extra: dict | None = None) -> Result:
    """Train `model` on `data` as `cfg` says, writing metrics, curves and checkpoints under `out`.

    `stop_after` ends the process's work after that many epochs of this call (tests use it to
    simulate an interruption without killing anything); `extra` goes into every checkpoint.
    """
    ctx = distributed.setup(cfg.device)
    quiet = not ctx.main
    say = (lambda s: None) if quiet else log
    out = Path(out)
    t_start = time.perf_counter()

    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    if cfg.deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        if ctx.device.type == "cuda":
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.backends.cudnn.benchmark = False

    memory_format = torch.channels_last if cfg.channels_last else torch.contiguous_format
    base = model.to(ctx.device, memory_format=memory_format)
    base = distributed.sync_batch_norm(base, ctx, say) if cfg.sync_bn else base
    frozen: list[str] = finetune.frozen_paths(base, cfg.freeze) if cfg.freeze else []
    if frozen:
        n = finetune.set_frozen(base, frozen, True)
        say(f"frozen: {len(frozen)} layers, {n:,} parameters ({frozen[0]} ... {frozen[-1]})")
    norms = finetune.frozen_norms(base, frozen)
    # Every parameter is handed to the optimizer; frozen ones get no gradient, which
    # torch's optimizers skip, so unfreezing later needs no second optimizer.
    optimizer = make_optimizer(base.parameters(), cfg)
    scheduler = make_scheduler(optimizer, cfg)
    ema = step.ema_model(base, cfg.ema) if cfg.ema else None
    stepper = step.Stepper(base, optimizer, criterion=_criterion(cfg), amp=cfg.amp, accumulate=cfg.accumulate,
                           clip_grad=cfg.clip_grad, ema=ema, base=base,
                           check_every=1 if ctx.device.type == "cpu" and not ctx.enabled else 16,
                           all_max=lambda t: distributed.all_max(t, ctx))

    result = Result(out=out)
    start_epoch = 0
    if ctx.main and out.is_dir():
        for tmp in out.glob(".*.tmp"):  # what a kill -9 in the middle of a write leaves behind
            tmp.unlink(missing_ok=True)
    if resume:
        state = checkpoint.load(out / checkpoint.LAST, spec_hash or None)
        checkpoint.check_fields(state, out / checkpoint.LAST)
        load_exact(base, state["model"], str(out / checkpoint.LAST))
        optimizer.load_state_dict(state["optimizer"])
        if scheduler is not None and state.get("scheduler") is not None:
            scheduler.load_state_dict(state["scheduler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        stepper.load_state_dict(state.get("step") or {})
        checkpoint.set_rng_state(state["rng"])
        start_epoch = int(state["epoch"])
        result.history = list(state["history"])
        result.best_epoch, result.best_val_acc = int(state["best_epoch"]), float(state["best_val_acc"])
        result.resumed_from = start_epoch
        say(f"resuming {out / checkpoint.LAST} after epoch {start_epoch}/{cfg.epochs}")
    elif ctx.main:
        out.mkdir(parents=True, exist_ok=True)
        for stale in (checkpoint.LAST, checkpoint.BEST, "best.safetensors", "metrics.csv", "curves.png"):
            (out / stale).unlink(missing_ok=True)
        if spec_text is not None:
            from netspec.files import write_atomic

            write_atomic(out / "spec.net", spec_text)

    aug = parse_augment(cfg.augment, data.input_shape, data.kind)
    feed = make_feed(data, device=ctx.device, batch_size=cfg.batch_size, seed=cfg.seed, rank=ctx.rank,
                     world_size=ctx.world_size, memory_format=memory_format,
                     augment=(lambda x, g: augment_batch(x, aug["shift"], bool(aug["flip"]), g))
                     if aug["shift"] or aug["flip"] else None,
                     view=View(crop=float(aug["crop"]), flip=bool(aug["flip"])),
                     workers=cfg.workers if cfg.workers is not None else default_workers(ctx.local_world_size),
                     per_rank_shards=cfg.per_rank_shards)
    bars = progress_enabled() and not quiet
    if bars:
        from tqdm import tqdm
    board = logs.Board(out, cfg.tensorboard) if ctx.main else None

    def wrap() -> nn.Module:
        wrapped = distributed.wrap(base, ctx)
        return torch.compile(wrapped) if cfg.compile else wrapped

    stepper.model = wrap()
    currently_frozen = bool(frozen)
    end = cfg.epochs if stop_after is None else min(cfg.epochs, start_epoch + stop_after)
    with _say_what_is_kept(out, result), _anomaly_mode(cfg.detect_anomaly):
        for epoch in range(start_epoch, end):
            if currently_frozen and cfg.unfreeze_after is not None and epoch >= cfg.unfreeze_after:
                finetune.set_frozen(base, frozen, False)
                norms, currently_frozen = [], False
                stepper.model = wrap()  # DDP fixes its parameter set when it is built
                say(f"epoch {epoch + 1}: unfreezing {len(frozen)} layers")
            lr = optimizer.param_groups[0]["lr"]
            stepper.start_epoch(epoch, feed.steps())
            bar = tqdm(total=len(data.train), desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="img", unit_scale=True,
                       leave=False, file=sys.stderr, dynamic_ncols=True) if bars else None
            t0 = time.perf_counter()
            tr, wait = train_epoch(stepper, feed.train(epoch), frozen_norms=norms, world_size=ctx.world_size,
                                   progress=bar)
            tr = tr.reduced(ctx)
            if ctx.device.type == "cuda":
                torch.cuda.synchronize(ctx.device)  # the epoch's time includes the work still queued
            seconds = time.perf_counter() - t0
            if bar is not None:
                bar.close()
            judged = ema.module if ema is not None else base  # with --ema, the averaged weights are the model
            va, _ = evaluate(judged, feed.val(), autocast=stepper.autocast)
            va = va.reduced(ctx)
            if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
                scheduler.step(va.mean_loss)
            elif scheduler is not None:
                scheduler.step()
            row = {"epoch": epoch + 1, "lr": lr, "train_loss": tr.mean_loss, "train_acc": tr.accuracy,
                   "val_loss": va.mean_loss, "val_acc": va.accuracy, "val_top5": va.top5 / max(va.count, 1),
                   "images_per_s": tr.count / max(seconds, 1e-9), "seconds": seconds, "data_seconds": wait}
            weights = {"model": base.state_dict(), **({"ema": ema.state_dict()} if ema is not None else {})}
            _refuse_non_finite(weights, epoch, lr)
            result.history.append(row)
            improved = va.accuracy > result.best_val_acc
            if improved:
                result.best_epoch, result.best_val_acc = epoch + 1, va.accuracy
            say(summary_line(row, cfg.epochs, improved))
            if ctx.main:
                state = {"spec_hash": spec_hash, "spec_name": spec_name, "epoch": epoch + 1, **weights,
                         "optimizer": optimizer.state_dict(), "step": stepper.state_dict(),
                         "scheduler": scheduler.state_dict() if scheduler is not None else None,
                         "rng": checkpoint.rng_state(), "history": result.history,
                         "best_epoch": result.best_epoch, "best_val_acc": result.best_val_acc,
                         "config": cfg.to_dict(), "classes": data.classes,
                         "normalize": {"mean": data.mean, "std": data.std},
                         "input_shape": list(data.input_shape), "data": data.name, **(extra or {})}
                # best first: a kill between the two writes leaves last.pt one epoch behind, which
                # resume simply recomputes, never a best.pt older than the last.pt that claims it
                if improved:
                    checkpoint.save(state, out / checkpoint.BEST)
                    _save_weights(judged, out / "best.safetensors")
                checkpoint.save(state, out / checkpoint.LAST)
                write_metrics(result.history, out / "metrics.csv")
                board.add(row)
            distributed.barrier(ctx)

    if ctx.enabled:
        say(f"{ctx.world_size} processes agree: largest parameter difference from rank 0 is "
            f"{distributed.divergence(base, ctx):.3g}")
    result.seconds = time.perf_counter() - t_start
    if ctx.main and result.history and end == cfg.epochs:
        from . import plots

        plots.curves(result.history, out / "curves.png", title=f"{spec_name} on {data.name}")
    if board is not None:
        board.close()
    distributed.barrier(ctx)  # a process that leaves the group while another still works aborts it
    stepper.model = None  # DDP's reducer holds gloo work objects: release them before the group goes
    distributed.teardown(ctx)
    return result


@contextlib.contextmanager
def _anomaly_mode(on: bool):
    """--detect-anomaly: autograd checks every backward op for NaN and names the forward op behind it."""
    if not on:
        yield
        return
    try:
        with torch.autograd.detect_anomaly(check_nan=True):
            yield
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise step.Diverged(f"--detect-anomaly: {first}",
                            help="the warning above shows the forward call that produced it") from None


@contextlib.contextmanager
def _say_what_is_kept(out: Path, result: Result):
    """A diverged run ends with its last good checkpoint in place: say which one."""
    try:
        yield
    except step.Diverged as exc:
        kept = (f"{out / checkpoint.LAST} and {checkpoint.BEST} keep epoch {result.history[-1]['epoch']} "
                f"(best: epoch {result.best_epoch})" if result.history else "no checkpoint was written")
        raise step.Diverged(f"{exc}; {kept}", help=exc.help) from None


def _refuse_non_finite(weights: dict, epoch: int, lr: float) -> None:
    """Never write NaN or infinite weights: a finite loss does not prove finite parameters and statistics."""
    for part, tensors in weights.items():
        for name, t in tensors.items():
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise step.Diverged(f"{'the EMA of ' if part == 'ema' else ''}{name} holds NaN or infinite values "
                                    f"after epoch {epoch + 1} (learning rate {lr:g}); stopped before saving them",
                                    help=f"lower --lr (try {lr / 10:g}), or add --clip-grad 1.0")


def _criterion(cfg: TrainConfig) -> Callable:
    if cfg.label_smoothing:
        return lambda logits, y: F.cross_entropy(logits, y, label_smoothing=cfg.label_smoothing)
    return F.cross_entropy


def _save_weights(model: nn.Module, path: Path) -> None:
    """netspec's weights file (safetensors + spec hash) beside the checkpoint, for build(weights=...)."""
    if getattr(model, "network", None) is None:
        return
    from netspec.backends.torch import save_weights

    save_weights(model, path)


def summary_line(row: dict, epochs: int, best: bool = False) -> str:
    """One line per epoch; the epoch's time is split into waiting for data and the rest (compute),
    and a run that waited longer than it computed is called data-bound."""
    width = len(str(epochs))
    wait = row.get("data_seconds", 0.0)
    compute = max(row["seconds"] - wait, 0.0)
    return (f"epoch {row['epoch']:>{width}}/{epochs}  train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:6.2f}%"
            f"  val loss {row['val_loss']:.4f} acc {100 * row['val_acc']:6.2f}%  lr {row['lr']:.2e}"
            f"  {row['images_per_s']:,.0f} img/s  {row['seconds']:.1f}s (data {wait:.1f}s, compute {compute:.1f}s)"
            + ("  data-bound" if wait > compute else "") + ("  *" if best else ""))


def write_metrics(history: list[dict], path: Path) -> None:
    from netspec.files import write_atomic

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=METRIC_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in METRIC_COLUMNS})
    write_atomic(path, buf.getvalue())


def read_metrics(path: str | Path) -> list[dict]:
    with open(path, newline="") as fh:
        return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items()} for row in csv.DictReader(fh)]


def final_table(result: Result, files: list[Path]) -> str:
    """The end-of-run table: final and best figures, time, and what was written."""
    f = result.final
    rows = [("epochs", f"{f.get('epoch', 0)}" + (f" (resumed after {result.resumed_from})" if result.resumed_from else "")),
            ("train loss / accuracy", f"{f['train_loss']:.4f} / {100 * f['train_acc']:.2f}%"),
            ("held-out loss / accuracy", f"{f['val_loss']:.4f} / {100 * f['val_acc']:.2f}%"),
            ("held-out top-5", f"{100 * f['val_top5']:.2f}%"),
            ("best held-out accuracy", f"{100 * result.best_val_acc:.2f}% (epoch {result.best_epoch})"),
            ("training throughput", f"{sum(h['images_per_s'] * h['seconds'] for h in result.history) / max(sum(h['seconds'] for h in result.history), 1e-9):,.0f} images/s"),
            ("wall time", f"{result.seconds:.1f} s")]
    rows += [("wrote", str(p)) for p in files]
    width = max(len(k) for k, _ in rows)
    line = "-" * (width + 2 + max(len(v) for _, v in rows))
    return "\n".join([line] + [f"{k:<{width}}  {v}" for k, v in rows] + [line])
