"""An image folder as a list of files: one sub-folder per class, listed once, never decoded here.

Two layouts, as torchvision's ImageFolder and the ImageNet release use them:

    DIR/<class>/*.jpg                       training data; `netspec train` holds out 20% of each class
    DIR/train/<class>/  DIR/val/<class>/    an explicit held-out split (val/, valid/, validation/ or test/)

The order is fixed (splits, then classes, then files, each sorted), so `netspec shard` writes
the samples in the order training lists them, and shards and folder train alike. No torch here:
the shard command runs without it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".ppm", ".pgm", ".tif", ".tiff"}
HELD_OUT_NAMES = ("val", "valid", "validation", "test")


class FolderError(Exception):
    """A folder that is not laid out as an image folder; `help` says what would work."""

    def __init__(self, message: str, help: str | None = None):
        super().__init__(message)
        self.help = help


@dataclass(frozen=True)
class Listing:
    classes: list[str]  # sorted sub-folder names; a label is an index into this list
    files: list[tuple[Path, int, str]]  # (path, label, split): split is "train", "val" or "" (not split yet)

    def split(self, name: str) -> list[tuple[Path, int]]:
        return [(p, y) for p, y, s in self.files if s == name]


def class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def list_folder(root: str | Path) -> Listing:
    """Every image under `root` with its class index and split, in a fixed order."""
    root = Path(root)
    if not root.is_dir():
        raise FolderError(f"{root} is not a folder", help="an image folder holds one sub-folder of images per class")
    sub = {p.name.lower(): p for p in class_dirs(root)}
    held = next((sub[n] for n in HELD_OUT_NAMES if n in sub), None)
    if "train" in sub and held is not None:
        parts = [("train", sub["train"]), ("val", held)]
        classes = sorted({p.name for _, d in parts for p in class_dirs(d)})
    else:
        parts = [("", root)]
        classes = [p.name for p in class_dirs(root)]
        if len(classes) < 2:
            raise FolderError(f"{root}: an image folder needs a sub-folder per class (found {len(classes)})",
                              help="lay it out as DIR/<class>/*.png, or DIR/train/<class>/ and DIR/val/<class>/")
    files = []
    for split, folder in parts:
        found = [(f, classes.index(d.name), split) for d in class_dirs(folder) for f in image_files(d)]
        if not found:
            where = f"{folder.name}/<class>/" if split else "its class folders"
            raise FolderError(f"{root}: no images in {where}",
                              help=f"image files end in {', '.join(sorted(IMAGE_SUFFIXES))}")
        files += found
    return Listing(classes, files)
