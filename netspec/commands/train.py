"""`netspec train SPEC`: train a network from its spec; checkpoints, curves and metrics in --out."""

from __future__ import annotations

import argparse
import sys

from .common import add_spec_options, whole_number


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train", help="train a network on local data (default: scikit-learn's digits)",
        description="Train a spec. Without --data it trains on scikit-learn's 8x8 digits resized to the "
                    "spec's input, so `netspec train lenet5` works offline. Settings come from the defaults, "
                    "then --config FILE (TOML), then the command line. Run it under torchrun for "
                    "several processes (DistributedDataParallel).",
        epilog="data sources: digits | idx:DIR (MNIST, Fashion-MNIST) | cifar10:DIR | cifar100:DIR | "
               "folder:DIR (DIR/<class>/*.jpg, streamed) | shards:DIR/{000000..000127}.tar (from `netspec shard`) | "
               "DIR (recognised by its files). Nothing is downloaded. Exit codes: 0 done, 1 the run diverged "
               "(NaN loss), 2 usage, 3 a missing or unusable resource.")
    p.add_argument("spec", metavar="SPEC", help="a .net file, or the name of a zoo spec (lenet5)")
    p.add_argument("--data", metavar="SOURCE", help="where the images come from (default: digits)")
    p.add_argument("--config", metavar="FILE", help="a TOML file of training settings (top level or [train])")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/<network name>)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    g = p.add_argument_group("optimisation")
    g.add_argument("--epochs", type=whole_number(1), metavar="N", help="passes over the training data (default 30)")
    g.add_argument("--batch-size", type=whole_number(1), metavar="N", help="global batch size (default 64)")
    g.add_argument("--optimizer", choices=("sgd", "adam", "adamw", "rmsprop"), help="default adam")
    g.add_argument("--lr", type=float, metavar="X",
                   help="learning rate (default: adam/adamw 3e-3, sgd 0.05, rmsprop 1e-3)")
    g.add_argument("--momentum", type=float, metavar="X", help="sgd/rmsprop momentum (default 0.9)")
    g.add_argument("--weight-decay", type=float, metavar="X", help="L2 penalty (default 0; adamw 0.01)")
    g.add_argument("--schedule", choices=("cosine", "step", "plateau", "none"),
                   help="learning-rate schedule (default cosine); step and plateau divide by 10")
    g.add_argument("--step-size", type=whole_number(1), metavar="N", help="step schedule: epochs between decays")
    g.add_argument("--label-smoothing", type=float, metavar="X", help="cross-entropy label smoothing (default 0)")
    g.add_argument("--augment", metavar="LIST",
                   help="auto (default: shift, plus flip for natural images), none, or e.g. shift=3,flip")
    g.add_argument("--seed", type=int, metavar="N", help="random seed (default 0): same seed, same metrics")
    g.add_argument("--device", metavar="cpu|cuda", help="default: cuda when available")
    g.add_argument("--workers", type=whole_number(0), metavar="N",
                   help="processes decoding image folders and shards (default: the CPU count, at most 8)")
    g.add_argument("--per-rank-shards", action="store_true", default=None,
                   help="each process reads only its own shards each epoch (sequential I/O, coarser shuffle)")
    sp = p.add_argument_group("speed and stability")
    sp.add_argument("--amp", choices=("bf16", "fp16"), help="mixed precision (fp16 adds loss scaling)")
    sp.add_argument("--channels-last", action="store_true", default=None, help="NHWC memory layout")
    sp.add_argument("--compile", action="store_true", default=None, help="torch.compile the model")
    sp.add_argument("--accumulate", type=whole_number(1), metavar="N",
                    help="add the gradients of N batches before each optimizer step (default 1)")
    sp.add_argument("--ema", type=float, metavar="DECAY",
                    help="keep an exponential moving average of the weights (e.g. 0.9998); it is what is evaluated and saved as best")
    sp.add_argument("--clip-grad", type=float, metavar="NORM", help="clip the gradient norm before each step")
    sp.add_argument("--sync-bn", action="store_true", default=None,
                    help="batch-norm statistics over all processes (CUDA, under torchrun)")
    sp.add_argument("--detect-anomaly", action="store_true", default=None,
                    help="find the operation that produces a NaN (slow: for debugging)")
    sp.add_argument("--tensorboard", action="store_true", default=None,
                    help="also log to OUT/tensorboard (needs the tensorboard package)")
    f = p.add_argument_group("fine-tuning")
    f.add_argument("--init", metavar="WEIGHTS",
                   help="start from these weights (a checkpoint, .safetensors, or a foreign state_dict)")
    f.add_argument("--freeze", metavar="LABEL|GLOBS",
                   help="freeze every layer up to this label, or the layers matching these globs (comma list)")
    f.add_argument("--num-classes", type=whole_number(1), metavar="N", help="a new head: same as --set num_classes=N")
    f.add_argument("--unfreeze-after", type=whole_number(0), metavar="EPOCHS", help="train the frozen layers too after this many epochs")
    s = p.add_argument_group("spec")
    add_spec_options(s, input_help="train at this input shape instead of the spec's")
    p.set_defaults(run=run)


SETTINGS = ("data", "epochs", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "schedule",
            "step_size", "label_smoothing", "augment", "seed", "device", "init", "freeze", "unfreeze_after",
            "workers", "per_rank_shards", "amp", "channels_last", "compile", "accumulate", "ema", "clip_grad", "sync_bn",
            "detect_anomaly", "tensorboard")


def run(args: argparse.Namespace) -> int:
    _calm_threads()
    import os

    from ..backends.torch.train import TrainError, make_config
    from ..backends.torch.train.config import PLACEMENT

    params = dict(args.params)
    if args.num_classes is not None:
        params["num_classes"] = args.num_classes
    try:
        cli = {k: getattr(args, k) for k in SETTINGS}
        config = make_config(args.config, **cli)
        if args.resume:
            given = [f"--{k.replace('_', '-')}" for k, v in cli.items() if v is not None and k not in PLACEMENT]
            if given or args.config:
                print(f"note: --resume continues with the run's saved settings; ignoring "
                      f"{', '.join(given + (['--config'] if args.config else []))}", file=sys.stderr)
        return _train(args, config, params, {k: cli[k] for k in PLACEMENT})
    except TrainError as exc:
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun every process stops; one says why
            print(exc.render(), file=sys.stderr)
        return exc.exit_code


def _train(args, config, params, placement) -> int:
    from pathlib import Path

    from ..backends.torch.train import train
    from ..backends.torch.train.loop import final_table

    result = train(args.spec, config=config, out=args.out, resume=args.resume, params=params, input=args.input,
                   log=say, placement=placement)
    if not result.history or result.out is None:
        return 0
    import os

    if int(os.environ.get("RANK", "0")) == 0:
        files = [result.out / n for n in ("metrics.csv", "curves.png", "spec.net", "last.pt", "best.pt",
                                          "best.safetensors")]
        say(final_table(result, [f for f in files if Path(f).exists()]))
    return 0


def say(line: str) -> None:
    """Print a progress line; a reader that stops early (`| head`) does not stop the training."""
    import os

    try:
        print(line, flush=True)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _calm_threads() -> None:
    """Idle OpenMP threads sleep instead of spinning (set before torch loads its OpenMP).

    Small networks run thousands of short parallel regions; when another busy process
    shares the cores, spinning threads wait a whole time slice at every region's end.
    Measured on 2 cores with two `netspec train lenet5` side by side: 283 s each with
    spinning, 35 s with PASSIVE; alone, 5.0 s and 4.6 s.
    """
    import os

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
