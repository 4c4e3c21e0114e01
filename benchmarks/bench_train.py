"""One epoch of `netspec train`'s loop against a minimal hand-written PyTorch loop.

Both train the same LeNet-5 (built from specs/lenet5.net, same initial weights) on the
same tensors (scikit-learn's digits at 32x32, the default data) in the same order with
Adam, batch 64, no augmentation. The hand loop is the four lines everyone writes; the
library's `train_epoch` also keeps loss and accuracy totals and can drive a progress
bar. Epochs alternate between the two so that machine noise hits both alike, and the
median of many epochs is compared. Goal: overhead <= 5% of wall time.

Also reported, for context only: a whole `fit` epoch (evaluation on the held-out split,
checkpoint written and fsynced, metrics.csv) per epoch of hand loop.

    python benchmarks/bench_train.py [--rounds 30] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import netspec  # noqa: E402
from netspec.backends.torch.train import TrainConfig, load_data  # noqa: E402
from netspec.backends.torch.train import loop  # noqa: E402


def hand_epoch(model, optimizer, images, labels, order, batch_size):
    model.train()
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        loss = F.cross_entropy(model(images[idx]), labels[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


class NullBar:
    """What tqdm costs without a terminal to draw on: its bookkeeping, not the drawing."""

    def __init__(self):
        from tqdm import tqdm

        self.bar = tqdm(total=10**9, file=open("/dev/null", "w"), mininterval=0.1)

    def __getattr__(self, name):
        return getattr(self.bar, name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=30, help="epochs timed for each loop (default 30)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--batch-size", type=int, default=64)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    network = netspec.load(ROOT / "specs" / "lenet5.net")
    data = load_data("digits", network.input_shape)
    images, labels = data.train.images, data.train.labels
    n = len(labels)
    init = netspec.build(network, seed=0)

    models = {k: copy.deepcopy(init) for k in ("hand", "netspec", "netspec+bar")}
    opts = {k: torch.optim.Adam(m.parameters(), lr=1e-3) for k, m in models.items()}
    bar = NullBar()

    def run(kind, order):
        m, o = models[kind], opts[kind]
        t0 = time.perf_counter()
        if kind == "hand":
            hand_epoch(m, o, images, labels, order, args.batch_size)
        else:
            loop.train_epoch(m, o, images, labels, batch_size=args.batch_size, order=order,
                             progress=bar if kind == "netspec+bar" else None)
        return time.perf_counter() - t0

    # Same start, same order, same data: the two loops must end at the same weights.
    order0 = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    for kind in models:
        run(kind, order0)
    same = all(torch.equal(a, b) for a, b in zip(models["hand"].parameters(), models["netspec"].parameters()))

    times = {k: [] for k in models}
    kinds = list(models)
    for r in range(args.rounds):
        order = torch.randperm(n, generator=torch.Generator().manual_seed(r + 1))
        for kind in kinds[r % 3:] + kinds[:r % 3]:  # rotate who goes first
            times[kind].append(run(kind, order))

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"LeNet-5 (specs/lenet5.net), {n:,} digits images at 32x32, batch {args.batch_size}, "
          f"{torch.get_num_threads()} threads, median of {args.rounds} epochs each (torch {torch.__version__})")
    print(f"same weights after one epoch from the same start: {'yes' if same else 'NO'}")
    print(f"{'loop':<34}{'epoch':>10}{'images/s':>12}{'vs hand':>10}")
    for kind, label in (("hand", "hand-written PyTorch loop"), ("netspec", "netspec train_epoch"),
                        ("netspec+bar", "netspec train_epoch + progress bar")):
        ratio = med[kind] / med["hand"]
        print(f"{label:<34}{1000 * med[kind]:>8.1f}ms{n / med[kind]:>12,.0f}{ratio:>9.3f}x")
    overhead = med["netspec"] / med["hand"] - 1
    print(f"overhead of netspec's loop: {100 * overhead:+.1f}% of wall time (goal <= 5%): "
          f"{'PASS' if overhead <= 0.05 else 'FAIL'}")

    # Context: a whole epoch of fit(), with evaluation, checkpoint and metrics file.
    epochs = max(3, args.rounds // 3)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = TrainConfig(epochs=epochs, augment="none", lr=1e-3, schedule="none")
        result = loop.fit(copy.deepcopy(init), data, cfg, tmp, spec_name="lenet5", log=lambda s: None)
    fit_epoch = statistics.median(h["seconds"] for h in result.history)
    whole = result.seconds / epochs
    print(f"context: fit() {epochs} epochs: training part {1000 * fit_epoch:.1f} ms/epoch, everything "
          f"(held-out evaluation, checkpoint + fsync, metrics.csv) {1000 * whole:.1f} ms/epoch = "
          f"{whole / med['hand']:.2f}x a bare hand-written epoch")
    return 0 if overhead <= 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
