"""Training data from local sources: small sets in memory, image folders and shards streamed.

Sources (`--data`):

    digits                 scikit-learn's 8x8 handwritten digits (ships with scikit-learn; the default)
    idx:DIR  / mnist:DIR   MNIST or Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz], t10k-...)
    cifar10:DIR            CIFAR-10 binary batches (data_batch_1.bin ... test_batch.bin)
    cifar100:DIR           CIFAR-100 binary files (train.bin, test.bin), fine labels
    folder:DIR             an image-folder tree: DIR/<class>/*.png, or DIR/train/<class> + DIR/val/<class>
    shards:PATTERN         tar shards written by `netspec shard`: DIR/{000000..000127}.tar, or DIR
    DIR                    any of the above, recognised by the files inside

The in-memory sources (Data) are scaled to [0, 1], resized to the spec's input (bilinear,
antialiased when shrinking), given the spec's channel count (grey repeated, colour to
luminance) and standardised per channel with the training split's mean and std. Folders and
shards (StreamData) are only listed here; stream.py decodes them batch by batch, and their
statistics come from a fixed sample of the training images. Nothing is ever downloaded: a
missing or malformed source is a DataError that says what was expected.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

if TYPE_CHECKING:
    from . import stream

HELD_OUT = 0.2  # fraction of a source without its own test split kept for validation
SPLIT_SEED = 0  # the held-out split never moves with --seed: runs with different seeds compare on the same images


class TrainError(Exception):
    """Something a person must fix (a setting, a file, a source); `help` says what would work."""

    exit_code = 3  # a missing or unusable resource; step.Diverged (a run that blew up) is 1

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help

    def render(self) -> str:
        return f"error: {self}" + (f"\n  help: {self.help}" if self.help else "")


class DataError(TrainError):
    """A data source that is missing or malformed."""


@dataclass
class Split:
    images: torch.Tensor  # (N, C, H, W) float32, standardised
    labels: torch.Tensor  # (N,) int64

    def __len__(self) -> int:
        return len(self.labels)


@dataclass
class Data:
    """A source held in memory as float32 tensors (digits, MNIST, CIFAR): the fast path."""

    name: str  # "digits", "cifar10:/data/cifar-10-batches-bin", ...
    kind: str  # digits | idx | cifar10 | cifar100
    train: Split
    val: Split
    classes: list[str]
    mean: list[float] = field(default_factory=list)  # per channel, of the training split before standardising
    std: list[float] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train.images.shape[1:])


@dataclass
class StreamData:
    """An image folder or tar shards: files listed once, decoded batch by batch (stream.py)."""

    name: str  # "folder:/data/imagenet", "shards:/data/in1k/{000000..000127}.tar"
    kind: str  # folder | shards
    train: stream.Subset
    val: stream.Subset
    classes: list[str]
    input_shape: tuple[int, int, int]
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def images(self, split: str, view: "stream.View | None" = None, seed: int = 0) -> "stream.Images":
        from . import stream

        return stream.Images(self.train if split == "train" else self.val, self.input_shape,
                             view or stream.View(), seed)


STREAMED = ("folder", "shards")


def load_data(source: str | None, input_shape: tuple, *, normalize: tuple[list, list] | None = None,
              workers: int | None = None) -> Data | StreamData:
    """Read `source`, shape it for `input_shape` (C, H, W) and standardise it.

    `normalize` (mean, std) replaces the statistics of the training split: evaluation uses
    the ones saved with the checkpoint, so it sees the inputs the network was trained on.
    Image folders and shards are only listed here (StreamData); `workers` decode the
    sample that estimates their statistics.
    """
    kind, path = parse_source(source)
    shape = _concrete(input_shape)
    if kind in STREAMED:
        return _stream(kind, path, source, shape, normalize, workers)
    if kind == "digits":
        train, val, classes = _digits()
    elif kind == "idx":
        train, val, classes = _idx(path)
    else:
        train, val, classes = _cifar(path, kind)
    train = (_shape(train[0], shape), train[1])
    val = (_shape(val[0], shape), val[1])
    if normalize is None:
        mean = train[0].mean(dim=(0, 2, 3))
        std = train[0].std(dim=(0, 2, 3)).clamp_min(1e-6)
    else:
        mean, std = torch.tensor(normalize[0]), torch.tensor(normalize[1])
    m, s = mean.view(1, -1, 1, 1), std.view(1, -1, 1, 1)
    name = kind if kind == "digits" else f"{kind}:{path}"
    return Data(name, kind, Split((train[0] - m) / s, train[1]), Split((val[0] - m) / s, val[1]), classes,
                mean.tolist(), std.tolist())


def parse_source(source: str | None) -> tuple[str, Path | None]:
    """(kind, path) for a --data value; a bare folder is recognised by its contents."""
    if source is not None and not isinstance(source, str):
        source = str(source)
    if source in (None, "", "digits", "sklearn-digits"):
        return "digits", None
    prefix, sep, rest = source.partition(":")
    if sep and prefix.lower() in ("shards", "tar", "webdataset"):
        return "shards", Path(rest)  # a brace pattern: checked file by file when listed
    aliases = {"idx": "idx", "mnist": "idx", "fashion-mnist": "idx", "fashion_mnist": "idx",
               "cifar10": "cifar10", "cifar-10": "cifar10", "cifar100": "cifar100", "cifar-100": "cifar100",
               "folder": "folder", "imagefolder": "folder"}
    if sep and prefix.lower() in aliases:
        path = Path(rest).expanduser()
        _must_exist(path, source)
        return aliases[prefix.lower()], path
    path = Path(source).expanduser()
    _must_exist(path, source)
    kind = detect(path)
    if kind is None:
        raise DataError(f"cannot tell what kind of data {path} holds",
                        help="name the format: idx:DIR, cifar10:DIR, cifar100:DIR or folder:DIR")
    return kind, path


def detect(path: Path) -> str | None:
    if not path.is_dir():
        return None
    names = {p.name for p in path.iterdir()}
    if any(re.match(r"(train|t10k)-images.idx3", n) for n in names):
        return "idx"
    if any(n.startswith("data_batch_") for n in names) or "test_batch.bin" in names:
        return "cifar10"
    if {"train.bin", "test.bin"} & names:
        return "cifar100"
    if any(p.is_dir() for p in path.iterdir()):
        return "folder"
    if any(n.endswith(".tar") for n in names):
        return "shards"
    return None


def _stream(kind: str, path: Path, source: str, shape: tuple, normalize, workers: int | None) -> StreamData:
    """List a folder's files or index shards, split off the held-out part, and find the statistics."""
    from netspec import imagefolder, shards

    from . import stream

    try:
        if kind == "folder":
            listing = imagefolder.list_folder(path)
            table = stream.FileTable([(p, y) for p, y, _ in listing.files])
            splits, classes = [s for _, _, s in listing.files], listing.classes
        else:
            paths = shards.shard_paths(str(path))
            members = shards.index(paths)
            if not members:
                raise DataError(f"{source}: the shards hold no images")
            table = stream.ShardTable(paths, members)
            splits = [m.split for m in members]
            classes = shards.read_classes(paths, int(table.labels.max()) + 1)
    except (imagefolder.FolderError, shards.ShardError) as exc:
        raise DataError(str(exc), help=exc.help) from None
    if shape[0] not in (1, 3):
        raise DataError(f"image folders and shards are decoded as grey (1 channel) or RGB (3); "
                        f"the spec takes {shape[0]}")
    if "val" in splits:
        flags = torch.tensor([s == "val" for s in splits])
        train, held = (~flags).nonzero().flatten(), flags.nonzero().flatten()
    else:
        train, held = _stratified(table.labels, HELD_OUT)
    name = f"{kind}:{path}"
    data = StreamData(name, kind, stream.Subset(table, train), stream.Subset(table, held), classes, shape)
    if normalize is None:
        import os

        local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))  # torchrun's processes on this machine share its cores
        workers = stream.default_workers(local) if workers is None else workers
        data.mean, data.std = stream.channel_stats(data.images("train"), len(train), workers)
    else:
        data.mean, data.std = list(normalize[0]), list(normalize[1])
    return data


def _must_exist(path: Path, source: str) -> None:
    if not path.exists():
        raise DataError(f"data source {source!r}: {path} does not exist",
                        help="netspec never downloads data; point --data at local files, or leave it out "
                             "to train on scikit-learn's digits")


def _concrete(shape: tuple) -> tuple[int, int, int]:
    if len(shape) != 3 or not all(isinstance(d, int) for d in shape):
        raise DataError(f"training needs an image input of concrete size CxHxW, and the spec's is "
                        f"{'x'.join(map(str, shape))}", help="give one with --input, e.g. --input 3x32x32")
    return shape


def _shape(x: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """(N, c, h, w) in [0, 1] -> (N, C, H, W): resized and given the spec's channel count."""
    c_want, h, w = shape
    c = x.shape[1]
    if c != c_want:
        if c == 1:
            x = x.expand(-1, c_want, -1, -1)
        elif c == 3 and c_want == 1:
            x = (x * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)  # ITU-R 601 luma
        else:
            raise DataError(f"the data has {c} channels and the spec takes {c_want}; only 1 <-> 3 is converted")
    if tuple(x.shape[2:]) != (h, w):
        shrink = h < x.shape[2] or w < x.shape[3]
        out = []
        for chunk in x.split(4096):  # bounded temporary memory on large sets
            out.append(F.interpolate(chunk, size=(h, w), mode="bilinear", align_corners=False, antialias=shrink))
        x = torch.cat(out)
    return x.contiguous().float()


def _stratified(labels: torch.Tensor, fraction: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(train, held-out) indices: `fraction` of every class held out, the same on every machine."""
    g = torch.Generator().manual_seed(SPLIT_SEED)
    train, held = [], []
    for c in labels.unique(sorted=True):
        idx = (labels == c).nonzero().flatten()
        idx = idx[torch.randperm(len(idx), generator=g)]
        k = max(1, round(len(idx) * fraction)) if len(idx) > 1 else 0
        held.append(idx[:k])
        train.append(idx[k:])
    return torch.cat(train).sort().values, torch.cat(held).sort().values


# ---------------------------------------------------------------- sources


def _digits():
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError("the default data set is scikit-learn's digits, and scikit-learn is not installed",
                        help="pip install 'netspec[train]', or give --data") from None
    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0  # pixel values are 0..16
    y = torch.tensor(d.target, dtype=torch.int64)
    tr, te = _stratified(y, HELD_OUT)
    return (x[tr], y[tr]), (x[te], y[te]), [str(i) for i in range(10)]


def read_idx(path: Path) -> torch.Tensor:
    """An IDX file (LeCun's MNIST format), gzip-compressed or not, as a uint8 tensor."""
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: damaged gzip file ({exc})") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise DataError(f"{path} is not an IDX file (it must start with two zero bytes)",
                        help="MNIST's files are train-images-idx3-ubyte.gz etc., from yann.lecun.com or a mirror")
    if data[2] != 0x08:
        raise DataError(f"{path}: IDX element type 0x{data[2]:02x}; netspec reads unsigned bytes (0x08)")
    ndim = data[3]
    if len(data) < 4 + 4 * ndim:
        raise DataError(f"{path}: truncated IDX header")
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = 1
    for d in dims:
        count *= d
    body = data[4 + 4 * ndim:]
    if len(body) != count:
        raise DataError(f"{path}: the header promises {'x'.join(map(str, dims))} = {count:,} bytes "
                        f"but the file holds {len(body):,}", help="the file is truncated or damaged")
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(dims)


def _idx_file(folder: Path, split: str, what: str) -> Path:
    prefixes = ("train",) if split == "train" else ("t10k", "test")
    ndim = 3 if what == "images" else 1
    for p in sorted(folder.iterdir()):
        if re.match(rf"({'|'.join(prefixes)})-{what}[-.]idx{ndim}-ubyte(\.gz)?$", p.name):
            return p
    raise DataError(f"{folder}: no {split} {what} file ({prefixes[0]}-{what}-idx{ndim}-ubyte[.gz])",
                    help="an IDX folder holds train-images, train-labels, t10k-images and t10k-labels")


def _idx(folder: Path):
    out = []
    for split in ("train", "test"):
        images = read_idx(_idx_file(folder, split, "images"))
        labels = read_idx(_idx_file(folder, split, "labels"))
        if images.dim() != 3 or labels.dim() != 1:
            raise DataError(f"{folder}: {split} images must be N x H x W and labels N "
                            f"(got {tuple(images.shape)} and {tuple(labels.shape)})")
        if len(images) != len(labels):
            raise DataError(f"{folder}: {len(images):,} {split} images but {len(labels):,} labels")
        out.append((images.unsqueeze(1).float() / 255.0, labels.long()))
    n = int(max(out[0][1].max(), out[1][1].max())) + 1
    return out[0], out[1], [str(i) for i in range(n)]


def _cifar(folder: Path, kind: str):
    if kind == "cifar10":
        train_files = sorted(folder.glob("data_batch_*.bin"))
        test_files = [folder / "test_batch.bin"]
        label_byte, record, meta = 0, 3073, "batches.meta.txt"
    else:
        train_files, test_files = [folder / "train.bin"], [folder / "test.bin"]
        label_byte, record, meta = 1, 3074, "fine_label_names.txt"  # byte 0 is the coarse label
    if not train_files or not all(f.is_file() for f in train_files + test_files):
        want = "data_batch_1.bin ... data_batch_5.bin and test_batch.bin" if kind == "cifar10" else "train.bin and test.bin"
        raise DataError(f"{folder}: {kind} binary files not found (expected {want})",
                        help="use the 'binary version' of CIFAR (cifar-10-batches-bin / cifar-100-binary)")
    splits = []
    for files in (train_files, test_files):
        xs, ys = [], []
        for f in files:
            raw = f.read_bytes()
            if len(raw) == 0 or len(raw) % record:
                raise DataError(f"{f}: {len(raw):,} bytes is not a whole number of {record}-byte {kind} records")
            arr = torch.frombuffer(bytearray(raw), dtype=torch.uint8).view(-1, record)
            ys.append(arr[:, label_byte].long())
            xs.append(arr[:, record - 3072:].reshape(-1, 3, 32, 32).float() / 255.0)
        splits.append((torch.cat(xs), torch.cat(ys)))
    n = 10 if kind == "cifar10" else 100
    classes = [str(i) for i in range(n)]
    if (folder / meta).is_file():
        names = [s for s in (folder / meta).read_text(errors="replace").splitlines() if s.strip()]
        if len(names) == n:
            classes = names
    top = int(max(splits[0][1].max(), splits[1][1].max()))
    if top >= n:
        raise DataError(f"{folder}: label {top} in a {kind} file; labels run 0..{n - 1}")
    return splits[0], splits[1], classes
