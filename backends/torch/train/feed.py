"""Batches for the loop: from tensors already in memory, or from DataLoader workers over files.

Both feeds give the loop the same thing, (images, labels) on the device, standardised float32
(channels-last when asked), and both cut an epoch alike: a permutation seeded with (seed,
epoch), global batches of --batch-size, every world_size-th sample of each to this process.
"""

from __future__ import annotations

from typing import Iterator

import torch

from .data import Data, DataError, StreamData


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A generator for one epoch's shuffling (stream 0) or augmentation (stream 1 + rank)."""
    return torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 1009 + stream)


class TensorFeed:
    """The fast path for small sources: the whole split on the device, batches by indexing."""

    def __init__(self, data: Data, *, device: torch.device, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1, augment=None, memory_format=torch.contiguous_format, eval_batch: int = 512):
        self.images, self.labels = data.train.images.to(device), data.train.labels.to(device)
        self.val_images, self.val_labels = data.val.images.to(device), data.val.labels.to(device)
        self.device, self.batch_size, self.seed = device, batch_size, seed
        self.rank, self.world_size, self.augment = rank, world_size, augment  # augment(x, generator) or None
        self.memory_format, self.eval_batch = memory_format, eval_batch

    def steps(self) -> int:
        full, rest = divmod(len(self.labels), self.batch_size)
        return full + (rest >= self.world_size)

    def train(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = torch.randperm(len(self.labels), generator=epoch_generator(self.seed, epoch)).to(self.device)
        gen = epoch_generator(self.seed, epoch, 1 + self.rank)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            if len(idx) < self.world_size:  # every process must take part in every step, or DDP waits forever
                return
            if self.world_size > 1:
                idx = idx[self.rank::self.world_size]
            x, y = self.images[idx], self.labels[idx]
            if self.augment is not None:
                x = self.augment(x, gen)
            yield x.contiguous(memory_format=self.memory_format), y

    def val(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        idx_all = torch.arange(self.rank, len(self.val_labels), self.world_size, device=self.device)
        for start in range(0, len(idx_all), self.eval_batch):
            idx = idx_all[start:start + self.eval_batch]
            yield self.val_images[idx].contiguous(memory_format=self.memory_format), self.val_labels[idx]


class LoaderFeed:
    """Image folders and shards: uint8 batches from worker processes, made float on the device."""

    def __init__(self, data: StreamData, *, device: torch.device, batch_size: int, seed: int, rank: int = 0,
                 world_size: int = 1, view=None, workers: int = 0, memory_format=torch.contiguous_format,
                 eval_batch: int = 256, per_rank_shards: bool = False):
        from . import stream

        self.device, self.memory_format = device, memory_format
        self.mean = torch.tensor(data.mean, dtype=torch.float32, device=device)
        self.std = torch.tensor(data.std, dtype=torch.float32, device=device)
        pin = device.type == "cuda"
        if per_rank_shards:
            if data.kind != "shards":
                raise DataError(f"--per-rank-shards deals shards to processes, and {data.name} is not sharded",
                                help="write shards with `netspec shard FOLDER -o DIR`, or leave out --per-rank-shards")
            shard_of = data.train.table.where[data.train.rows, 0]
            self.sampler = stream.RankShardBatches(shard_of, batch_size, seed=seed, rank=rank, world_size=world_size)
        else:
            self.sampler = stream.GlobalBatches(len(data.train), batch_size, seed=seed, rank=rank,
                                                world_size=world_size)
        self.train_loader = stream.loader(data.images("train", view, seed), self.sampler, workers=workers, pin=pin)
        val_batches = stream.eval_batches(len(data.val), eval_batch, rank, world_size)
        self.val_loader = stream.loader(data.images("val"), val_batches, workers=min(workers, len(val_batches)),
                                        pin=pin)

    def steps(self) -> int:
        return len(self.sampler)

    def _to_device(self, batches) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        from . import stream

        for x, y in stream.plain_errors(batches):
            x = x.to(self.device, non_blocking=True)
            x = stream.to_float(x, self.mean, self.std).contiguous(memory_format=self.memory_format)
            yield x, y.to(self.device, non_blocking=True)

    def train(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.sampler.set_epoch(epoch)
        return self._to_device(self.train_loader)

    def val(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self._to_device(self.val_loader)


def make_feed(data: Data | StreamData, **kwargs) -> TensorFeed | LoaderFeed:
    if isinstance(data, StreamData):
        kwargs.pop("augment", None)
        return LoaderFeed(data, **kwargs)
    kwargs.pop("view", None)
    kwargs.pop("workers", None)
    if kwargs.pop("per_rank_shards", False):
        raise DataError(f"--per-rank-shards deals shards to processes, and {data.name} is held in memory")
    return TensorFeed(data, **kwargs)
