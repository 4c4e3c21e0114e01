"""`netspec eval SPEC WEIGHTS`: accuracy, top-5 and the confusion matrix on held-out data."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import add_spec_options

MAX_TEXT_CLASSES = 20  # wider matrices go to the PNG; the text lists the most confused pairs instead


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="evaluate trained weights: accuracy, top-5, confusion matrix (text and PNG)",
        description="Evaluate a checkpoint written by `netspec train` (or netspec .safetensors weights) on "
                    "the held-out split of a data source: the test files of MNIST/CIFAR, else the 20% "
                    "that training held out. A checkpoint brings its data source, normalisation and "
                    "parameters; --data and --set override them.")
    p.add_argument("spec", metavar="SPEC", help="the .net file the weights were trained from")
    p.add_argument("weights", metavar="CHECKPOINT", help="best.pt / last.pt from a run, or a .safetensors file")
    p.add_argument("--data", metavar="SOURCE", help="data source (default: the one the checkpoint was trained on)")
    p.add_argument("--batch-size", type=int, default=512, metavar="N")
    p.add_argument("--device", default="auto", metavar="cpu|cuda")
    p.add_argument("--confusion", metavar="PNG",
                   help="where to draw the confusion matrix (default: confusion.png beside the checkpoint)")
    add_spec_options(p, input_help="evaluate at this input shape")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from .train import _calm_threads

    _calm_threads()
    from ..backends.torch.train import TrainError, evaluate_checkpoint

    params = dict(args.params)
    try:
        network, data, totals, matrix = evaluate_checkpoint(
            args.spec, args.weights, data=args.data, params=params, input=args.input,
            batch_size=args.batch_size, device=args.device)
    except TrainError as exc:
        print(exc.render(), file=sys.stderr)
        return exc.exit_code
    lines = [f"{network.name} on {data.name}: {totals.count:,} held-out images",
             f"accuracy  {100 * totals.accuracy:.2f}%  ({totals.correct:,} / {totals.count:,})"]
    if data.num_classes > 5:
        lines.append(f"top-5     {100 * totals.top5 / max(totals.count, 1):.2f}%")
    lines += [f"loss      {totals.mean_loss:.4f}", "", confusion_text(matrix, data.classes)]
    png = Path(args.confusion) if args.confusion else Path(args.weights).with_name("confusion.png")
    from ..backends.torch.train import plots

    plots.confusion(matrix, data.classes, png, title=f"{network.name} on {data.name}: {100 * totals.accuracy:.2f}%")
    lines += ["", f"wrote {png}"]
    print("\n".join(lines))
    return 0


def confusion_text(matrix, classes: list[str]) -> str:
    """Rows are true classes, columns predictions; past MAX_TEXT_CLASSES, the largest off-diagonal cells."""
    m = matrix.tolist()
    n = len(classes)
    if n > MAX_TEXT_CLASSES:
        pairs = sorted(((m[i][j], classes[i], classes[j]) for i in range(n) for j in range(n) if i != j and m[i][j]),
                       reverse=True)[:15]
        lines = [f"{n} classes: the matrix is in the PNG; most confused (true -> predicted):"]
        lines += [f"  {a} -> {b}: {c}" for c, a, b in pairs] or ["  none"]
        return "\n".join(lines)
    names = [c[:8] for c in classes]
    width = max(5, max(len(c) for c in names), len(str(max(max(r) for r in m))))
    head = "true\\pred".rjust(width + 2)
    lines = ["confusion matrix (rows: true class, columns: predicted class)",
             head + "".join(f"{c:>{width + 1}}" for c in names) + f"{'recall':>8}"]
    for i, row in enumerate(m):
        total = sum(row)
        recall = f"{100 * row[i] / total:.1f}%" if total else "-"
        lines.append(f"{names[i]:>{width + 2}}" + "".join(f"{v:>{width + 1}}" for v in row) + f"{recall:>8}")
    return "\n".join(lines)
