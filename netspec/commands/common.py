"""Helpers shared by the subcommands: finding spec files, --set values and --input."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any, Iterable


def spec_files(paths: Iterable[str], *, zoo_names: bool = False) -> list[Path]:
    """The .net files named, folders searched recursively (hidden folders skipped), in a stable order.

    With `zoo_names`, a bare name such as `resnet50` is the zoo's spec. A folder without any
    spec raises FileNotFoundError, whose message is for the user; a missing file is returned
    as it is, for the reader to report.
    """
    from ..sources import resolve_spec_path

    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*.net") if not any(part.startswith(".") for part in f.parts))
            if not found:
                raise FileNotFoundError(f"no .net files under {raw}")
            out += found
        else:
            out.append(resolve_spec_path(raw) if zoo_names else p)
    return out


def parse_value(text: str) -> Any:
    """A --set value as the spec would read it: int, float, true/false, a list [3,3,9,3], else the text."""
    inner = text.strip()
    if inner.startswith("[") and inner.endswith("]"):
        items = inner[1:-1].strip()
        return [parse_value(item) for item in items.split(",")] if items else []
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
        return value
    return text


def assignment(text: str) -> tuple[str, Any]:
    """argparse type of --set: NAME=VALUE, so a malformed one is a usage error (exit 2)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE (e.g. num_classes=10), got {text!r}")
    return name.strip(), parse_value(value.strip())


def whole_number(minimum: int):
    """argparse type of a count that must be at least `minimum`."""

    def check(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            n = minimum - 1
        if n < minimum:
            raise argparse.ArgumentTypeError(f"expected a whole number of {minimum} or more, got {text!r}")
        return n

    return check


def add_spec_options(parser, input_help: str = "analyse for this input shape instead of the spec's") -> None:
    """--set and --input, which every command that elaborates a spec accepts; --set lands in args.params.
    With them the limits for untrusted specs (netspec.limits: --import-path, --max-layers, ...)."""
    from ..limits import add_options

    add_options(parser)
    parser.add_argument("--set", dest="params", metavar="NAME=VALUE", action="append", type=assignment,
                        default=[], help="override a network parameter (repeatable): --set num_classes=10")
    parser.add_argument("--input", metavar="CxHxW", default=None, help=f"{input_help} (e.g. 3x224x224)")
