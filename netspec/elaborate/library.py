"""Imports: `import "lib/resnet_blocks.net"` resolved beside the spec or in the zoo (or a folder named
with --import-path), never outside them (netspec.sources.find_import), each file parsed once.

An editor's unsaved text of an imported file (the language server's open documents) stands in for
the file on disk inside `reading_open_files`; it is parsed once per version of its text."""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Mapping

from .. import syntax
from ..diagnostics import Diagnostic, Label, SpecError, error
from ..expr import span_of
from ..limits import current
from ..sources import find_import, read_spec_text
from .blocks import define_block


def import_file(el, st: syntax.ImportDecl, filename: str, depth: int = 1) -> None:
    where = span_of(st.loc, filename)
    limits = current()
    if depth > limits.max_import_depth:
        raise limits.refuse("max_import_depth", f"imports are chained more than {limits.max_import_depth} deep",
                            where, code="import")
    path = find_import(st.path, filename, where)
    if path in el.imported:
        return
    el.imported.add(path)
    try:
        text, tree = read_library(path)
    except SpecError as exc:
        raise SpecError(exc.diagnostics + (_imported_from(where),), {**exc.sources, **el.sources}) from None
    el.sources[str(path)] = text
    for inner in tree.statements:
        if isinstance(inner, syntax.ImportDecl):
            import_file(el, inner, str(path), depth + 1)
        elif isinstance(inner, syntax.BlockDef):
            define_block(el, inner, str(path))
        else:
            raise error("an imported file may only define blocks and import others",
                        span_of(inner.loc, str(path)), code="import",
                        labels=[Label(where, "imported here")])


_open_files: ContextVar[Mapping[str, str]] = ContextVar("netspec_open_files", default={})


@contextmanager
def reading_open_files(texts: Mapping[str, str]) -> Iterator[None]:
    """Imports read these texts (by resolved path) instead of the files on disk, inside the block."""
    token = _open_files.set(texts)
    try:
        yield
    finally:
        _open_files.reset(token)


def read_library(path: Path) -> tuple[str, syntax.SpecFile]:
    """The text and syntax tree of the file an import resolved to (`path`, resolved), parsed once
    per version: an open document's text, else the file as it is on disk now (its mtime is the key)."""
    limits = current()
    text = _open_files.get().get(str(path))
    if text is not None:
        return _parse_open(str(path), text, limits)
    return _parse_library(str(path), path.stat().st_mtime_ns, limits)


@lru_cache(maxsize=64)
def _parse_open(path: str, text: str, limits) -> tuple[str, syntax.SpecFile]:
    from ..parser import parse_tree

    return text, parse_tree(text, path)


@lru_cache(maxsize=64)
def _parse_library(path: str, mtime_ns: int, limits) -> tuple[str, syntax.SpecFile]:
    """An imported file's text and tree, parsed once per process (`lint specs/` imports lib/ often);
    `limits` is part of the key because the parse checks them."""
    from ..parser import parse_tree

    text = read_spec_text(Path(path))
    return text, parse_tree(text, path)


def _imported_from(where) -> Diagnostic:
    return Diagnostic("in the file imported here", where, level="error", code="import")
