"""WebDataset-style tar shards: an image folder packed into a few large files, and read back.

A shard is a plain POSIX tar. Each sample is two members that share a key, the WebDataset
convention (`webdataset` and `tar tvf` read the shards as they are):

    train/00000042.jpg     the image file's bytes, unchanged (no re-encoding, so no loss)
    train/00000042.cls     its class index as ASCII digits

The key's folder is the split (`train/`, `val/`) when the source folder had one, and absent
otherwise; `classes.txt` beside the shards names the classes, one a line. Samples go in the
order `imagefolder.list_folder` lists them, so a shard set and its folder train alike.

Large sequential files suit network file systems and object stores, where opening 1.28 M small
files is the bottleneck. Training indexes each shard once (member offsets from the tar
headers) and reads a sample with one positioned read (`os.pread`), which is safe from any
number of worker processes at once. No torch here.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from .files import atomic_path, write_atomic
from .imagefolder import IMAGE_SUFFIXES, Listing

CLASSES_FILE = "classes.txt"
UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
         "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}
BLOCK = 512  # a tar header, and the unit member data is padded to
RECORD = 20 * BLOCK  # tarfile pads the whole archive to a multiple of this


class ShardError(Exception):
    """Shards that are missing or malformed; `help` says what would work."""

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


def parse_size(text: str) -> int:
    """'1GB' -> 10**9 bytes; decimal (KB, MB, GB, TB) and binary (KiB, MiB, GiB, TiB) units."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", text)
    if not m or m.group(2).lower() not in UNITS:
        raise ValueError(f"expected a size such as 1GB, 500MB or 2GiB, got {text!r}")
    return int(float(m.group(1)) * UNITS[m.group(2).lower()])


def expand_braces(pattern: str) -> list[str]:
    """Every name a brace pattern stands for: 'a/{000..002}.tar' -> a/000.tar, a/001.tar, a/002.tar.

    As in WebDataset and bash: `{M..N}` is a numeric range (zero-padded to the width of M),
    `{x,y}` a list; several groups give every combination, in order.
    """
    parts = re.split(r"(\{[^{}]*\})", pattern)
    choices = []
    for part in parts:
        if not (part.startswith("{") and part.endswith("}")):
            choices.append([part])
            continue
        body = part[1:-1]
        m = re.fullmatch(r"(\d+)\.\.(\d+)", body)
        if m:
            lo, hi = int(m.group(1)), int(m.group(2))
            if hi < lo:
                raise ValueError(f"{part}: the range runs backwards")
            choices.append([f"{i:0{len(m.group(1))}d}" for i in range(lo, hi + 1)])
        elif "," in body:
            choices.append(body.split(","))
        else:
            raise ValueError(f"{part}: expected a range {{000000..000127}} or a list {{a,b}}")
    return ["".join(c) for c in itertools.product(*choices)]


def shard_paths(source: str) -> list[Path]:
    """The shard files a --data shards:... value names: a brace pattern, one .tar, or a folder of them."""
    path = Path(source).expanduser()
    if path.is_dir():
        found = sorted(path.glob("*.tar"))
        if not found:
            raise ShardError(f"{path}: no .tar shards in this folder", help="write some with `netspec shard FOLDER -o DIR`")
        return found
    try:
        names = expand_braces(source)
    except ValueError as exc:
        raise ShardError(f"shards:{source}: {exc}") from None
    paths = [Path(n).expanduser() for n in names]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ShardError(f"shards:{source}: {missing[0]} does not exist{more}",
                         help="netspec never downloads data; check the pattern against the files "
                              "(`netspec shard` prints the one to use)")
    return paths


# ---------------------------------------------------------------- writing


def member_bytes(size: int) -> int:
    """What one member takes in a tar: its header plus its data padded to whole blocks."""
    return BLOCK + -(-size // BLOCK) * BLOCK


def sample_key(serial: int, split: str) -> str:
    return f"{split}/{serial:08d}" if split else f"{serial:08d}"


def write_shards(listing: Listing, out: str | Path, max_bytes: int,
                 log: Callable[[str], None] = lambda s: None) -> list[Path]:
    """Pack the listed images into out/000000.tar, 000001.tar, ... of at most `max_bytes` each.

    A shard holds at least one sample, so one image larger than `max_bytes` gets a shard of its
    own. Each shard is written beside its final name and renamed when complete (files.py), so an
    interrupted run never leaves a truncated shard under a shard's name.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    groups: list[list[int]] = [[]]
    used = 2 * BLOCK  # the end-of-archive marker
    for i, (path, _, _) in enumerate(listing.files):
        need = member_bytes(path.stat().st_size) + member_bytes(len(str(listing.files[i][1])))
        if groups[-1] and -(-(used + need) // RECORD) * RECORD > max_bytes:
            groups.append([])
            used = 2 * BLOCK
        groups[-1].append(i)
        used += need
    width = max(6, len(str(len(groups) - 1)))
    written = []
    for n, group in enumerate(groups):
        target = out / f"{n:0{width}d}.tar"
        with atomic_path(target) as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
            for i in group:
                path, label, split = listing.files[i]
                key = sample_key(i, split)
                with open(path, "rb") as fh:
                    _add(tar, f"{key}{path.suffix.lower()}", fh, path.stat().st_size)
                cls = str(label).encode()
                _add(tar, f"{key}.cls", io.BytesIO(cls), len(cls))
        written.append(target)
        log(f"{target}: {len(group):,} images, {target.stat().st_size / 1e6:,.1f} MB")
    write_atomic(out / CLASSES_FILE, "".join(f"{c}\n" for c in listing.classes))
    return written


def _add(tar: tarfile.TarFile, name: str, fh, size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0  # the same bytes on every run: shards diff and cache well
    tar.addfile(info, fh)


def pattern_for(paths: list[Path]) -> str:
    """The brace pattern for shards written by write_shards: DIR/{000000..000127}.tar."""
    first, last = paths[0], paths[-1]
    if len(paths) == 1:
        return str(first)
    return str(first.parent / f"{{{first.stem}..{last.stem}}}.tar")


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Member:
    shard: int  # index into the shard list
    offset: int  # where the image's bytes start in the shard file
    size: int
    label: int
    split: str  # "train", "val" or "" (a fraction is held out by the trainer)
    name: str  # the member's name, for error messages


def index(paths: Iterable[Path]) -> list[Member]:
    """Every sample in the shards, in shard order, from the tar headers (image bytes are not read)."""
    out = []
    for n, path in enumerate(paths):
        images: dict[str, tarfile.TarInfo] = {}
        labels: dict[str, int] = {}
        try:
            with tarfile.open(path, "r:") as tar, open(path, "rb") as raw:
                for m in tar:
                    if not m.isfile():
                        continue
                    key, ext = _split_key(m.name)
                    if ext == "cls":
                        text = os.pread(raw.fileno(), m.size, m.offset_data).decode("ascii", "replace").strip()
                        if not text.isdigit():
                            raise ShardError(f"{path}: {m.name} holds {text[:20]!r}, not a class index")
                        labels[key] = int(text)
                    elif "." + ext.lower() in IMAGE_SUFFIXES:
                        images[key] = m
        except (tarfile.TarError, OSError) as exc:
            raise ShardError(f"{path}: not a readable tar shard ({exc})",
                             help="rewrite it with `netspec shard`") from None
        for key, m in images.items():
            if key not in labels:
                raise ShardError(f"{path}: {m.name} has no {key}.cls beside it",
                                 help="every image needs its class index in a .cls member with the same key")
            split = key.split("/", 1)[0] if "/" in key else ""
            out.append(Member(n, m.offset_data, m.size, labels[key], split if split in ("train", "val") else "", m.name))
    return out


def _split_key(name: str) -> tuple[str, str]:
    """(key, extension) by WebDataset's rule: the key runs to the first dot of the last path component."""
    folder, slash, base = name.rpartition("/")
    stem, _, ext = base.partition(".")
    return folder + slash + stem, ext


def read_classes(paths: list[Path], count: int) -> list[str]:
    """Class names from classes.txt beside the shards, else the indices as text."""
    names_file = paths[0].parent / CLASSES_FILE
    if names_file.is_file():
        names = [s for s in names_file.read_text(encoding="utf-8", errors="replace").splitlines() if s.strip()]
        if len(names) >= count:
            return names
    return [str(i) for i in range(count)]
