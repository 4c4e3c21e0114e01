"""Helpers shared by the subcommands: finding spec files, --set values, atomic writes."""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable


def spec_files(paths: Iterable[str]) -> list[Path]:
    """The .net files named, with folders searched recursively, in a stable order."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(p.rglob("*.net")))
        else:
            out.append(p)
    return out


def parse_value(text: str) -> Any:
    """A --set value as the spec would read it: int, float, true/false, else the text."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def set_pairs(items: list[str] | None) -> dict[str, Any]:
    out = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"--set takes name=value, got {item!r}")
        out[name.strip()] = parse_value(value)
    return out


def add_spec_options(parser: argparse.ArgumentParser) -> None:
    """--set and --input, which every command that elaborates a spec accepts."""
    parser.add_argument("--set", metavar="NAME=VALUE", action="append", default=[],
                        help="override a network parameter, e.g. --set num_classes=10 (repeatable)")
    parser.add_argument("--input", metavar="CxHxW", default=None,
                        help="analyse for this input shape instead of the spec's `input` line")


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write a file so that readers see the old or the new content, never half of it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
