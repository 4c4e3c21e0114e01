"""The front end's public entry points: text -> syntax tree -> IR, and back to text."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from .diagnostics import SpecError, error
from .ir import Network

MAX_SPEC_BYTES = 8 * 1024 * 1024  # a spec is a page of text; refuse to parse a stray binary or log file


def parse(text: str, filename: str = "<string>", *, params: Mapping[str, Any] | None = None,
          input: str | tuple | None = None) -> Network:
    """Parse and elaborate .net text into the validated IR.

    `params` overrides the network's parameters (`num_classes=10`); `input` overrides
    the input shape (`"3x32x32"`). Raises SpecError with located diagnostics.
    """
    from .elaborate import elaborate
    from .parser import parse_tree

    tree = parse_tree(text, filename)
    return elaborate(tree, filename=filename, source=text, params=params or {}, input=input)


def load(path: str | Path, *, params: Mapping[str, Any] | None = None,
         input: str | tuple | None = None) -> Network:
    """Read a .net file (a path, or the name of a zoo spec such as `resnet50`) and elaborate it."""
    path = resolve_spec_path(path)
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


def zoo_dir() -> Path:
    """The folder of the bundled zoo specs (specs/ in a checkout, netspec/specs when installed)."""
    from . import specs

    return Path(specs.__file__).parent


def resolve_spec_path(path: str | Path) -> Path:
    p = Path(path)
    if p.exists() or p.suffix == ".net" or len(p.parts) > 1:
        return p
    zoo = zoo_dir() / f"{p.name}.net"
    return zoo if zoo.exists() else p


def read_spec_text(path: Path) -> str:
    """The text of a spec file, or a located SpecError for one that is missing, binary or huge."""
    from .diagnostics import Span

    where = Span(file=str(path), line=1, column=1, end_line=1, end_column=1)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"no such spec file: {path}", code="io",
                    help="give a path to a .net file, or the name of a zoo spec such as `resnet50`") from None
    except IsADirectoryError:
        raise error(f"{path} is a folder, not a spec file", code="io") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}", code="io") from None
    if len(data) > MAX_SPEC_BYTES:
        raise error(f"{path} is {len(data):,} bytes; a spec is at most {MAX_SPEC_BYTES:,}", where, code="io")
    if b"\x00" in data:
        raise error(f"{path} is a binary file, not .net text", where, code="io")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{path} is not UTF-8 text (bad byte at offset {exc.start})", where, code="io") from None


__all__ = ["SpecError", "check", "format", "load", "parse", "resolve_spec_path", "read_spec_text", "zoo_dir"]
