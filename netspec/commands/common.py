"""Helpers shared by the subcommands: finding spec files, --set values and --input."""

from __future__ import annotations

import argparse
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
