"""Training and evaluation of a spec: `netspec train` and `netspec eval` as functions.

    >>> from netspec.backends.torch.train import train
    >>> result = train("specs/lenet5.net")          # sklearn's digits, runs/lenet5/
    >>> result.final["val_acc"] > 0.975
    True

data.py reads the sources (stream.py decodes folders and shards in worker processes),
feed.py cuts them into batches, config.py holds the settings, step.py is one training step
(mixed precision, accumulation, clipping, EMA), loop.py trains, checkpoint.py saves and
resumes, finetune.py loads and freezes, plots.py and logs.py draw and log, distributed.py
joins torchrun's process group. See docs/TRAINING.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from .config import TrainConfig, make_config
from .data import DataError, TrainError, load_data

__all__ = ["TrainConfig", "TrainError", "DataError", "make_config", "train", "evaluate_checkpoint", "load_data"]


def _network(spec: Any, params: Mapping[str, Any] | None, input: Any):
    import netspec
    from netspec import ir

    if isinstance(spec, ir.Network):
        return spec
    return netspec.load(spec, params=dict(params or {}), input=input)


def spec_copy(network, overrides: Mapping[str, Any] | None = None) -> str:
    """The text to keep beside the checkpoints: the source file, with any --set overrides noted."""
    import netspec

    text = None
    if network.source and Path(network.source).is_file():
        text = Path(network.source).read_text(encoding="utf-8")
    if text is None:
        return netspec.format(network)
    note = ", ".join(f"{k}={v}" for k, v in (overrides or {}).items())
    return f"# trained with --set {note}\n{text}" if note else text


def check_head(network, num_classes: int) -> None:
    out = network.output_shape
    if len(out) != 1:
        raise TrainError(f"{network.name} ends in a {'x'.join(map(str, out))} map, not a vector of class scores",
                         help="end the spec with a classifier such as `gap fc-{num_classes}`")
    if out[0] < num_classes:
        has = "num_classes" in network.params
        raise TrainError(f"{network.name} has {out[0]} outputs but the data has {num_classes} classes",
                         help=f"--num-classes {num_classes}" if has else
                         "give the spec a num_classes parameter for its last fc, or edit the head")


def check_writable(out: Path) -> None:
    """Find an output folder that cannot be written before any set-up time is spent."""
    import tempfile

    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise TrainError(f"cannot write to the output folder {out} ({exc.strerror or exc})",
                         help="choose another --out, or make the folder writable") from None


def train(spec: Any, *, config: TrainConfig | None = None, out: str | Path | None = None, resume: bool = False,
          params: Mapping[str, Any] | None = None, input: Any = None, log: Callable[[str], None] = print,
          stop_after: int | None = None, placement: Mapping[str, Any] | None = None):
    """Train a spec (path, zoo name or ir.Network); returns loop.Result. See `netspec train --help`.

    With `resume`, the run's saved settings are used, except `placement` (device, workers),
    which says where to compute and does not change the result.
    """
    import netspec

    from . import checkpoint, finetune, loop

    import os

    cfg = config or TrainConfig()
    main = int(os.environ.get("RANK", "0")) == 0
    if not main:  # under torchrun only rank 0 speaks
        log = lambda line: None  # noqa: E731
    network = _network(spec, params, input)
    out = Path(out) if out is not None else Path("runs") / network.name
    if main:
        check_writable(out)
    normalize = None
    if resume:
        state = checkpoint.load(out / checkpoint.LAST, network.spec_hash) if (out / checkpoint.LAST).exists() else None
        if state is None:
            raise TrainError(f"--resume: {out} holds no {checkpoint.LAST} to continue from",
                             help="start the run without --resume (or give --out the run's folder)")
        saved = {k: v for k, v in state["config"].items() if k in TrainConfig.__dataclass_fields__}
        cfg = TrainConfig(**{**saved, **{k: v for k, v in (placement or {}).items() if v is not None}})
        normalize = (state["normalize"]["mean"], state["normalize"]["std"])
    data = load_data(cfg.data, network.input_shape, normalize=normalize, workers=cfg.workers)
    check_head(network, data.num_classes)
    model = netspec.build(network, seed=cfg.seed)
    if cfg.init and not resume:
        log(finetune.load_init(model, cfg.init))
    log(f"training {network.name} on {data.name}: {len(data.train):,} images, {len(data.val):,} held out, "
        f"{data.num_classes} classes; {cfg.optimizer} lr {cfg.learning_rate:g}, {cfg.schedule} schedule, "
        f"batch {cfg.batch_size}, {cfg.epochs} epochs -> {out}")
    return loop.fit(model, data, cfg, out, spec_hash=network.spec_hash, spec_name=network.name,
                    spec_text=spec_copy(network, params), resume=resume, log=log, stop_after=stop_after,
                    extra={"params": dict(network.params)})


def evaluate_checkpoint(spec: Any, weights: str | Path, *, data: str | None = None, params: Mapping[str, Any] | None = None,
                        input: Any = None, batch_size: int = 512, device: str = "auto"):
    """Accuracy, top-5 and the confusion matrix of saved weights on a source's held-out split.

    `weights` is a training checkpoint (.pt: its parameters, data source and normalisation
    are reused) or netspec's .safetensors (normalised with the training split's statistics).
    Returns (network, data, totals, confusion matrix as a tensor).
    """
    import torch

    import netspec

    from . import checkpoint, distributed, loop

    weights = Path(weights)
    state = None
    if weights.suffix != ".safetensors":
        state = checkpoint.load(weights)
        checkpoint.check_fields(state, weights)
        params = {**state.get("params", {}), **dict(params or {})}
        if input is None and state.get("input_shape"):
            input = "x".join(map(str, state["input_shape"]))  # a run trained with --input
    network = _network(spec, params, input)
    if state is not None and state.get("spec_hash") and state["spec_hash"] != network.spec_hash:
        raise TrainError(f"{weights} was trained from a different architecture than {network.name} "
                         f"(spec hash {state['spec_hash'][:12]} vs {network.spec_hash[:12]})",
                         help=f"evaluate with the spec it came from: {weights.parent / 'spec.net'}")
    source = data or (state["data"] if state is not None else None)
    normalize = (state["normalize"]["mean"], state["normalize"]["std"]) if state is not None else None
    ds = load_data(source, network.input_shape, normalize=normalize)
    check_head(network, ds.num_classes)
    model = netspec.build(network, init="skip")
    if state is not None:
        from netspec.backends.torch.weights import load_exact

        load_exact(model, checkpoint.deployed(state), str(weights))
    else:
        from netspec.backends.torch import WeightsError, load_weights

        try:
            load_weights(model, weights)
        except WeightsError as exc:
            raise TrainError(str(exc)) from None
    dev = distributed.pick_device(device)
    model.to(dev)
    from .feed import make_feed
    from .stream import default_workers

    feed = make_feed(ds, device=dev, batch_size=batch_size, seed=0, eval_batch=batch_size, workers=default_workers())
    totals, preds = loop.evaluate(model, feed.val(), predictions=True)
    n = ds.num_classes
    matrix = torch.zeros(n, n, dtype=torch.int64)
    inside = preds < n  # a head wider than the data's classes can predict a class that has no row
    matrix.index_put_((ds.val.labels[inside], preds[inside]), torch.ones_like(preds[inside]), accumulate=True)
    return network, ds, totals, matrix
