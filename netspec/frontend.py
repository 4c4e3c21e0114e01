"""The front end's public entry points: text -> syntax tree -> IR, and back to text."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .diagnostics import SpecError
from .ir import Network
from .limits import Limits, using
from .sources import read_spec_text, resolve_spec_path, zoo_dir


def parse(text: str, filename: str = "<string>", *, params: Mapping[str, Any] | None = None,
          input: str | tuple | None = None, limits: Limits | None = None) -> Network:
    """Parse and elaborate .net text into the validated IR.

    `params` overrides the network's parameters (`num_classes=10`); `input` overrides
    the input shape (`"3x32x32"`); `limits` raises or lowers the bounds of netspec.limits.
    Raises SpecError with located diagnostics.
    """
    from .elaborate import elaborate
    from .parser import parse_tree

    with using(limits):
        tree = parse_tree(text, filename)
        return elaborate(tree, filename=filename, source=text, params=params or {}, input=input)


def load(path: str | Path, *, params: Mapping[str, Any] | None = None,
         input: str | tuple | None = None, limits: Limits | None = None) -> Network:
    """Read a .net file (a path, or the name of a zoo spec such as `resnet50`) and elaborate it."""
    path = resolve_spec_path(path)
    with using(limits):
        return parse(read_spec_text(path), str(path), params=params, input=input)


def format(spec: Network | str) -> str:
    """Canonical .net text: for text, its layout normalised; for an IR, the network written out flat."""
    from .formatter import format_network, format_text

    return format_network(spec) if isinstance(spec, Network) else format_text(spec)


def check(text: str, filename: str = "<string>") -> None:
    """Everything `parse` checks; a file of blocks only is checked as a library."""
    from .elaborate import check_library, elaborate, is_library
    from .parser import parse_tree

    tree = parse_tree(text, filename)
    if is_library(tree):
        check_library(tree, filename=filename, source=text)
    else:
        elaborate(tree, filename=filename, source=text, params={}, input=None)


__all__ = ["Limits", "SpecError", "check", "format", "load", "parse", "resolve_spec_path", "read_spec_text", "zoo_dir"]
