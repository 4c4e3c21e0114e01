"""`netspec train` against hand-written PyTorch: the loop's overhead, the data pipeline, a ResNet step.

Part `loop` (the default job's loop):

Both train the same LeNet-5 (built from specs/lenet5.net, same initial weights) on the
same tensors (scikit-learn's digits at 32x32, the default data) in the same order with
Adam, batch 64, no augmentation. The hand loop is the four lines everyone writes; the
library's `train_epoch` also keeps loss and accuracy totals and can drive a progress
bar. Epochs alternate between the two so that machine noise hits both alike, and the
median of many epochs is compared. Goal: overhead <= 5% of wall time.

Also reported, for context only: a whole `fit` epoch (evaluation on the held-out split,
checkpoint written and fsynced, metrics.csv) per epoch of hand loop.

Part `data` (streaming): a generated folder of 320x240 JPEGs read through the training DataLoader
(decode, random-resized crop, flip, uint8 batches) with 0, 1, 2 ... workers: images/s and
images/s per worker. Then peak RSS of a whole `netspec train` on the folder and on one 4x
larger, to show that memory does not grow with the data set; for comparison, what the old
in-memory path would have held as float32.

Part `resnet` (a convolutional network's training step): `Stepper` + `train_epoch` with
--amp bf16 --channels-last [--compile] against a hand-written loop with the same features
(autocast, NHWC, SGD with momentum), same model and batches, alternating rounds; goal >= 0.97x
the hand loop's images/s. ResNet-50 at 224x224 needs a GPU to be quick; on 2 CPU cores the
default is ResNet-18 at 112x112 (--spec resnet50 --input 3x224x224 for the real thing).

    python benchmarks/bench_train.py [--part loop|data|resnet|all] [--rounds 30] [--threads N]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as `netspec train` sets it: idle threads sleep

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import netspec  # noqa: E402
from netspec.backends.torch.train import TrainConfig, load_data  # noqa: E402
from netspec.backends.torch.train import loop, step  # noqa: E402
from netspec.backends.torch.train.feed import LoaderFeed  # noqa: E402


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


def batches_of(images, labels, order, batch_size):
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        yield images[idx], labels[idx]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("loop", "data", "resnet", "all"), default="all")
    ap.add_argument("--rounds", type=int, default=30, help="epochs timed for each loop (default 30)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--images", type=int, default=1500, help="data: images in the small folder (default 1500)")
    ap.add_argument("--scales", default="1,4", help="data: folder sizes for peak RSS, in multiples of --images")
    ap.add_argument("--spec", default="resnet18", help="resnet: the network (default resnet18)")
    ap.add_argument("--input", default="3x112x112", help="resnet: input size (default 3x112x112)")
    ap.add_argument("--resnet-batch", type=int, default=16)
    ap.add_argument("--resnet-rounds", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="resnet: also torch.compile both models")
    ap.add_argument("--amp", choices=("bf16", "fp16", "none"), default="bf16", help="resnet: precision (default bf16)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ok = True
    if args.part in ("loop", "all"):
        ok &= bench_loop(args)
    if args.part in ("data", "all"):
        bench_data(args)
    if args.part in ("resnet", "all"):
        ok &= bench_resnet(args)
    return 0 if ok else 1


def bench_loop(args) -> bool:

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
            stepper = step.Stepper(m, o)
            stepper.start_epoch(0, -(-n // args.batch_size))
            loop.train_epoch(stepper, batches_of(images, labels, order, args.batch_size),
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
    return overhead <= 0.05


# ---------------------------------------------------------------- streaming data


def write_jpegs(root: Path, count: int, size=(320, 240)) -> None:
    """`count` photos-like JPEGs (noise plus a shape) in 10 class folders."""
    import random

    from PIL import Image, ImageDraw, ImageFilter

    rng = random.Random(0)
    noise = Image.effect_noise(size, 60).convert("RGB").filter(ImageFilter.GaussianBlur(1))
    for i in range(count):
        c = i % 10
        (root / f"c{c}").mkdir(parents=True, exist_ok=True)
        im = Image.blend(noise, Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3))), 0.6)
        ImageDraw.Draw(im).ellipse([rng.randrange(0, 160), rng.randrange(0, 120), 160 + 16 * c, 120 + 12 * c],
                                   outline=(255, 255, 255), width=5)
        im.save(root / f"c{c}" / f"{i:06d}.jpg", quality=90)


TINY = "network tiny(num_classes=10)\ninput 3x128x128\nconv3-16(stride=4) bn relu conv3-32(stride=2) bn relu gap fc-{num_classes}\n"

PEAK_RSS = """
import resource, sys
from netspec.backends.torch.train import TrainConfig, train
cfg = TrainConfig(data="folder:" + sys.argv[2], epochs=1, batch_size=64, workers=2)
train(sys.argv[1], config=cfg, out=sys.argv[3], log=lambda s: None)
me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(me, kids)
"""


def peak_rss(spec: Path, folder: Path, out: Path) -> tuple[float, float]:
    """Peak RSS in MB of a whole one-epoch `train` on `folder`: the trainer, and its largest worker."""
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, str(spec), str(folder), str(out)], capture_output=True,
                          text=True, check=True, env={**os.environ, "CI": "true"})
    me, kids = proc.stdout.split()[-2:]
    return int(me) / 1024, int(kids) / 1024


def bench_data(args) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        scales = [int(k) for k in args.scales.split(",")]
        folders = {k: tmp / f"x{k}" for k in scales}
        t0 = time.perf_counter()
        for k, folder in folders.items():
            write_jpegs(folder, k * args.images)
        print(f"\nstreaming data: {', '.join(f'{k * args.images:,}' for k in scales)} JPEGs of 320x240 "
              f"(written in {time.perf_counter() - t0:.0f} s), decoded to 3x128x128 with crop + flip, batch 64")
        data = load_data(f"folder:{folders[scales[0]]}", (3, 128, 128), normalize=([0.5] * 3, [0.25] * 3))
        from netspec.backends.torch.train.stream import default_workers

        print(f"{'workers':>8}{'images/s':>12}{'per worker':>12}")

        for workers in range(0, default_workers() + 1):
            feed = LoaderFeed(data, device=torch.device("cpu"), batch_size=64, seed=0, workers=workers,
                              view=loop.View(crop=0.08, flip=True))
            rates = []
            for _ in range(3):  # the first pass starts the workers and fills the page cache; best of the others
                t0 = time.perf_counter()
                n = sum(len(y) for _, y in feed.train_loader)
                rates.append(n / (time.perf_counter() - t0))
            rate = max(rates[1:])
            print(f"{workers:>8}{rate:>12,.0f}{rate / max(workers, 1):>12,.0f}")
            del feed
        spec = tmp / "tiny.net"
        spec.write_text(TINY)
        floats = lambda n: n * 0.8 * 3 * 128 * 128 * 4 / 2**20  # noqa: E731  (the old path: the training split as float32)
        print("peak RSS of a whole `netspec train` epoch (tiny net, 2 workers); the old in-memory path's float32 tensors")
        print(f"{'images':>8}{'trainer':>10}{'worker':>10}{'in-memory':>11}")
        first = None
        for k, folder in folders.items():
            me, worker = peak_rss(spec, folder, tmp / f"run{k}")
            first = first or me
            print(f"{k * args.images:>8,}{me:>8.0f}MB{worker:>8.0f}MB{floats(k * args.images):>9.0f}MB"
                  f"   trainer x{me / first:.2f}")


# ---------------------------------------------------------------- a ResNet training step


def hand_step(model, optimizer, x, y, dtype, scaler):
    """The step as PyTorch's AMP recipe writes it."""
    with torch.autocast(x.device.type, dtype=dtype, enabled=dtype is not None):
        loss = F.cross_entropy(model(x), y)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
    optimizer.zero_grad(set_to_none=True)


def bench_resnet(args) -> bool:
    device = torch.device(args.device)
    network = netspec.load(args.spec, input=args.input)
    init = netspec.build(network, seed=0).to(device, memory_format=torch.channels_last)
    shape = tuple(network.input_shape)
    g = torch.Generator().manual_seed(0)
    steps = 4
    xs = [torch.randn(args.resnet_batch, *shape, generator=g).to(device).contiguous(memory_format=torch.channels_last)
          for _ in range(steps)]
    ys = [torch.randint(0, network.output_shape[0], (args.resnet_batch,), generator=g).to(device) for _ in range(steps)]
    models = {k: copy.deepcopy(init) for k in ("hand", "netspec")}
    opts = {k: torch.optim.SGD(m.parameters(), lr=0.01, momentum=0.9) for k, m in models.items()}
    runs = {k: (torch.compile(m) if args.compile else m) for k, m in models.items()}
    amp = None if args.amp == "none" else args.amp
    dtype = step.AMP_DTYPES.get(amp or "")
    stepper = step.Stepper(runs["netspec"], opts["netspec"], amp=amp, base=models["netspec"])
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" else None
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def run(kind):
        sync()
        t0 = time.perf_counter()
        if kind == "hand":
            runs["hand"].train()
            for x, y in zip(xs, ys):
                hand_step(runs["hand"], opts["hand"], x, y, dtype, scaler)
        else:
            stepper.start_epoch(0, steps)
            loop.train_epoch(stepper, zip(xs, ys))
        sync()
        return time.perf_counter() - t0

    for kind in ("hand", "netspec"):  # warm-up (and compilation)
        run(kind)
    times = {"hand": [], "netspec": []}
    for r in range(args.resnet_rounds):
        for kind in (("hand", "netspec") if r % 2 == 0 else ("netspec", "hand")):
            times[kind].append(run(kind))
    med = {k: statistics.median(v) for k, v in times.items()}
    rate = {k: steps * args.resnet_batch / med[k] for k in med}
    ratio = rate["netspec"] / rate["hand"]
    print(f"\n{args.spec} at {args.input}, batch {args.resnet_batch}, --amp {args.amp} --channels-last"
          f"{' --compile' if args.compile else ''}, SGD momentum, {device}, {torch.get_num_threads()} threads, "
          f"median of {args.resnet_rounds} rounds of {steps} steps")
    print(f"hand-written loop   {rate['hand']:8.1f} images/s")
    print(f"netspec train step  {rate['netspec']:8.1f} images/s   ratio {ratio:.3f} (goal >= 0.97): "
          f"{'PASS' if ratio >= 0.97 else 'FAIL'}")
    return ratio >= 0.97


if __name__ == "__main__":
    sys.exit(main())
