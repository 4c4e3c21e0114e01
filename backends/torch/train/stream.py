"""Streaming image data: files listed once, decoded and augmented in DataLoader worker processes.

An image folder or a set of tar shards is a list of (where, label) pairs; nothing is decoded
until a batch asks for it, so memory stays flat however large the data set is. A sample is
decoded with PIL, cropped and resized in one resampling step (`Image.resize(box=...)`), maybe
mirrored, and handed over as uint8; the main process turns a whole batch into standardised
floats on the device (`to_float`), so a pinned host batch and its copy to the GPU are a
quarter of the float32 size.

Views, as ImageNet training uses them (Szegedy et al. 2015; He et al. 2016):
- training: a random crop of 8%-100% of the image's area (`crop=MIN`) with an aspect ratio
  between 3/4 and 4/3, resized to the spec's input, mirrored half the time (`flip`);
- evaluation (and training with `--augment none`): the shorter side resized to
  input / 0.875, then the centre cut out.

Every random choice of a sample comes from its own generator, seeded with (seed, epoch, index),
so what a sample looks like does not depend on the worker that decodes it, on the number of
workers or processes, or on where a run was resumed.
"""

from __future__ import annotations

import io
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from netspec.machine import usable_cpus

CROP_FRACTION = 0.875  # evaluation: the centre 87.5% of the resized image (224 of 256)
ASPECT = (3 / 4, 4 / 3)  # the random crop's aspect-ratio range
STATS_SAMPLE = 512  # training images whose pixels give the per-channel mean and std


@dataclass(frozen=True)
class View:
    """How a sample is cut to the spec's input: `crop` is the smallest area fraction of a random
    crop (0: the evaluation view), `flip` mirrors half the samples."""

    crop: float = 0.0
    flip: bool = False


def sample_seed(seed: int, epoch: int, index: int) -> int:
    return ((seed * 1_000_003 + epoch) * 10_000_019 + index) & (2**63 - 1)


def eval_box(w: int, h: int, tw: int, th: int) -> tuple[float, float, float, float]:
    """The region of a w x h image that the evaluation view resizes to tw x th."""
    scale = min(tw, th) / CROP_FRACTION / min(w, h)  # output pixels per input pixel
    cw, ch = min(w, tw / scale), min(h, th / scale)
    return ((w - cw) / 2, (h - ch) / 2, (w + cw) / 2, (h + ch) / 2)


def random_box(w: int, h: int, tw: int, th: int, min_area: float, rng: random.Random) -> tuple[float, ...]:
    """A random crop of `min_area`..1 of the image's area, its aspect ratio within ASPECT of the target's."""
    area = w * h
    lo, hi = math.log(ASPECT[0] * tw / th), math.log(ASPECT[1] * tw / th)
    for _ in range(10):
        target = area * rng.uniform(min_area, 1.0)
        ratio = math.exp(rng.uniform(lo, hi))
        cw, ch = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
        if 0 < cw <= w and 0 < ch <= h:
            x, y = rng.randint(0, w - cw), rng.randint(0, h - ch)
            return (x, y, x + cw, y + ch)
    return eval_box(w, h, tw, th)  # a very long or thin image: fall back to the centre


class FileTable:
    """Image files and their labels, packed: one bytes blob of paths plus offsets.

    A Python list of a million Path objects would be copied page by page into every worker
    as reference counts are touched (PyTorch's "copy-on-read" problem); numpy arrays are not.
    """

    def __init__(self, files: Sequence[tuple[Path, int]]):
        import numpy as np

        encoded = [os.fsencode(p) for p, _ in files]
        self.blob = np.frombuffer(b"".join(encoded), dtype=np.uint8) if encoded else np.zeros(0, np.uint8)
        self.ends = np.cumsum([len(e) for e in encoded], dtype=np.int64)
        self.labels = torch.tensor([y for _, y in files], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.labels)

    def name(self, i: int) -> str:
        start = int(self.ends[i - 1]) if i else 0
        return os.fsdecode(self.blob[start:int(self.ends[i])].tobytes())

    def open(self, i: int):
        return self.name(i)


class ShardTable:
    """Samples inside tar shards: (shard, offset, size) per sample, read with one positioned read
    (`os.pread`, no shared file offset, so any number of workers can read one descriptor)."""

    def __init__(self, paths: Sequence[Path], members: Sequence[Any]):
        self.paths = [str(p) for p in paths]
        self.where = torch.tensor([(m.shard, m.offset, m.size) for m in members], dtype=torch.int64).view(-1, 3)
        self.labels = torch.tensor([m.label for m in members], dtype=torch.int64)
        self.names = [m.name for m in members] if len(members) < 100_000 else None
        self.fds: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def name(self, i: int) -> str:
        shard = self.paths[int(self.where[i, 0])]
        return f"{shard} ({self.names[i]})" if self.names else f"{shard} (sample {i})"

    def open(self, i: int) -> io.BytesIO:
        shard, offset, size = self.where[i].tolist()
        fd = self.fds.get(shard)
        if fd is None:
            fd = self.fds[shard] = os.open(self.paths[shard], os.O_RDONLY)
        data = os.pread(fd, size, offset)
        if len(data) != size:
            raise OSError(f"the shard ends {size - len(data):,} bytes early")
        return io.BytesIO(data)

    def __getstate__(self):  # a worker opens its own descriptors
        return {**self.__dict__, "fds": {}}


class Subset:
    """Some rows of a table (a split), by index."""

    def __init__(self, table, rows: torch.Tensor):
        self.table, self.rows = table, rows
        self.labels = table.labels[rows]

    def __len__(self) -> int:
        return len(self.rows)

    def name(self, i: int) -> str:
        return self.table.name(int(self.rows[i]))

    def open(self, i: int):
        return self.table.open(int(self.rows[i]))


class Images(Dataset):
    """Samples addressed as (epoch, index): epoch < 0 asks for the evaluation view.

    A sample is uint8 in PIL's own layout, height x width x channels, so that collating a batch
    is one contiguous copy; `to_float` views the batch as N x C x H x W (channels-last strides).
    """

    def __init__(self, table, shape: tuple[int, int, int], view: View = View(), seed: int = 0):
        self.table, self.view, self.seed = table, view, seed
        self.channels, self.height, self.width = shape
        self.mode = "L" if self.channels == 1 else "RGB"

    def __len__(self) -> int:
        return len(self.table)

    def __getitem__(self, key: tuple[int, int]) -> tuple[torch.Tensor, int]:
        from PIL import Image, UnidentifiedImageError

        epoch, i = key
        try:
            with Image.open(self.table.open(i)) as im:
                im = im.convert(self.mode)
                w, h, tw, th = im.width, im.height, self.width, self.height
                if epoch < 0 or not (self.view.crop or self.view.flip):
                    im = im.resize((tw, th), Image.BILINEAR, box=eval_box(w, h, tw, th))
                else:
                    rng = random.Random(sample_seed(self.seed, epoch, i))
                    box = random_box(w, h, tw, th, self.view.crop, rng) if self.view.crop else eval_box(w, h, tw, th)
                    im = im.resize((tw, th), Image.BILINEAR, box=box)
                    if self.view.flip and rng.random() < 0.5:
                        im = im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
                pixels = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8)
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            from .data import DataError

            raise DataError(f"{self.table.name(i)}: not a readable image ({exc})") from None
        return pixels.view(th, tw, self.channels), int(self.table.labels[i])


class GlobalBatches(Sampler):
    """One epoch's batches for this process, cut as the in-memory loop cuts them.

    The epoch's order is a permutation seeded with (seed, epoch); it is cut into global
    batches, and process `rank` takes every world_size-th sample of each. So the samples of a
    step, over all processes, are the same for any world size, and a run can resume on
    another number of processes. A last batch smaller than the number of processes is dropped
    (every process must take part in every step).
    """

    def __init__(self, n: int, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1):
        self.n, self.batch_size, self.seed, self.rank, self.world_size = n, batch_size, seed, rank, world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        from .feed import epoch_generator

        order = torch.randperm(self.n, generator=epoch_generator(self.seed, self.epoch)).tolist()
        for start in range(0, self.n, self.batch_size):
            chunk = order[start:start + self.batch_size]
            if len(chunk) < self.world_size:
                return
            yield [(self.epoch, i) for i in chunk[self.rank::self.world_size]]

    def __len__(self) -> int:
        full, rest = divmod(self.n, self.batch_size)
        return full + (rest >= self.world_size)


class RankShardBatches(Sampler):
    """--per-rank-shards: each process reads only its own shards in an epoch.

    The shard list is shuffled with (seed, epoch) and dealt round-robin to the processes; a
    process takes its shards in that order, each shard's samples shuffled within it, and cuts
    batches of batch_size / world_size. Every process runs as many steps as the one with the
    fewest samples allows. The I/O is then one shard at a time per worker, as object stores
    and network file systems like it; the price is a coarser shuffle than the global one, so
    the metrics depend on the number of processes (a resumed run's next epoch is dealt anew).
    """

    def __init__(self, shard_of: torch.Tensor, batch_size: int, *, seed: int, rank: int = 0, world_size: int = 1):
        if batch_size % world_size:
            from .data import TrainError

            raise TrainError(f"--per-rank-shards splits each batch evenly: --batch-size {batch_size} is not a "
                             f"multiple of the {world_size} processes")
        self.shard_of, self.per_rank = shard_of, batch_size // world_size
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.shards = sorted(set(shard_of.tolist()))
        if len(self.shards) < world_size:
            from .data import TrainError

            raise TrainError(f"--per-rank-shards: {len(self.shards)} shards for {world_size} processes",
                             help="write smaller shards (netspec shard --size), or leave out --per-rank-shards")
        self.epoch, self.cached = 0, (None, None)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _orders(self) -> list[list[int]]:
        from .feed import epoch_generator

        if self.cached[0] == self.epoch:
            return self.cached[1]
        g = epoch_generator(self.seed, self.epoch)
        dealt = [self.shards[i] for i in torch.randperm(len(self.shards), generator=g).tolist()]
        orders = []
        for r in range(self.world_size):
            mine = []
            for shard in dealt[r::self.world_size]:
                rows = (self.shard_of == shard).nonzero().flatten()
                mine += rows[torch.randperm(len(rows), generator=g)].tolist()
            orders.append(mine)
        self.cached = (self.epoch, orders)
        return orders

    def __iter__(self):
        mine = self._orders()[self.rank]
        for s in range(len(self)):
            yield [(self.epoch, i) for i in mine[s * self.per_rank:(s + 1) * self.per_rank]]

    def __len__(self) -> int:
        """Steps this epoch: a short last batch only for a lone process (the others could not match it)."""
        orders = self._orders()
        if self.world_size == 1:
            return -(-len(orders[0]) // self.per_rank)
        return min(len(o) // self.per_rank for o in orders)


def eval_batches(n: int, batch_size: int, rank: int = 0, world_size: int = 1) -> list[list[tuple[int, int]]]:
    """Every world_size-th sample from `rank` on, in batches, all in the evaluation view."""
    mine = list(range(rank, n, world_size))
    return [[(-1, i) for i in mine[s:s + batch_size]] for s in range(0, len(mine), batch_size)]


def default_workers(local_world_size: int = 1) -> int:
    """Decoding processes per training process: the cores this process may use, shared, at most 8."""
    return max(1, min(8, usable_cpus() // max(1, local_world_size)))


def loader(dataset: Images, batches, *, workers: int, pin: bool = False, persistent: bool = True) -> DataLoader:
    """A DataLoader over given batches: workers that stay for the next epoch and prefetch, pinned
    memory for CUDA."""
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers, pin_memory=pin,
                      persistent_workers=persistent and workers > 0, prefetch_factor=4 if workers > 0 else None)


def plain_errors(batches):
    """A DataError raised in a worker arrives wrapped in the worker's traceback: unwrap it."""
    from .data import DataError

    it = iter(batches)
    while True:
        try:
            batch = next(it)
        except StopIteration:
            return
        except DataError as exc:
            last = [line for line in str(exc).splitlines() if line.strip()][-1]
            raise DataError(last.split("DataError: ", 1)[-1]) from None
        yield batch


def to_float(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """A uint8 batch (N, H, W, C) -> float32 (N, C, H, W) standardised per channel: (x / 255 - mean) / std."""
    x = x.permute(0, 3, 1, 2)
    return (x.float() - mean.view(1, -1, 1, 1) * 255) / (std.view(1, -1, 1, 1) * 255)


def channel_stats(dataset: Images, n: int, workers: int) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of pixel values in [0, 1], over STATS_SAMPLE training images
    (a fixed choice, the same for every seed) in the evaluation view."""
    from .data import SPLIT_SEED

    g = torch.Generator().manual_seed(SPLIT_SEED)
    chosen = torch.randperm(n, generator=g)[:STATS_SAMPLE].sort().values.tolist()
    total = torch.zeros(dataset.channels, dtype=torch.float64)
    squares = torch.zeros_like(total)
    count = 0
    batches = [[(-1, i) for i in chosen[s:s + 64]] for s in range(0, len(chosen), 64)]
    for x, _ in plain_errors(loader(dataset, batches, workers=min(workers, len(batches)), persistent=False)):
        x = x.double() / 255  # N x H x W x C
        total += x.sum(dim=(0, 1, 2))
        squares += (x * x).sum(dim=(0, 1, 2))
        count += x.numel() // dataset.channels
    mean = total / count
    std = (squares / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-6)
    return mean.tolist(), std.tolist()
