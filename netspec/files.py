"""Writing files so that a reader, or a crash, sees the old file or the new one, never half of one.

Every command that writes (fmt, lint --update, compile, export, train's checkpoints and plots)
goes through `atomic_path`: write beside the target, flush to disk, rename over it.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A temporary path beside `path`, renamed over it when the block succeeds and removed if it fails.

    `suffix` is for writers that look at the extension (ONNX, torch.export).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _flush(tmp)
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _flush_folder(path.parent)  # the rename reaches the disk when the folder's entry does (POSIX)


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Replace a file's contents at once with text (UTF-8) or bytes."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def _mode_for(path: Path) -> int:
    """Keep an existing file's permissions; a new file gets the usual 0666 less the umask."""
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _flush(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _flush_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_tree(folder: str | os.PathLike, files: dict[str, str | bytes]) -> None:
    """Write `{relative path: contents}` under `folder`, each file atomically.

    The folder is written beside its target and renamed into place when it is new, so a failed
    generation never leaves half a folder; files of an existing folder are replaced one by one.
    """
    folder = Path(folder)
    for name in files:
        rel = Path(name)
        if rel.is_absolute() or ".." in rel.parts:
            raise ValueError(f"refusing to write {name!r} outside {folder}")
    if folder.exists():
        for name, data in files.items():
            write_atomic(folder / name, data)
        return
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        for name, data in files.items():
            write_atomic(tmp / name, data)
        os.replace(tmp, folder)
    except BaseException:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
        raise
