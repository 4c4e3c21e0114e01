"""Where spec text comes from: the zoo folder, a spec named by path or by zoo name, and reading a file.

Its own module so that the elaborator (imports) and the front end both read files through it
without importing each other.
"""

from __future__ import annotations

from pathlib import Path

from .diagnostics import Span, error

MAX_SPEC_BYTES = 8 * 1024 * 1024  # a spec is a page of text; refuse to parse a stray binary or log file


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
