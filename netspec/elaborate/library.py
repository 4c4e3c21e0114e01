"""Imports: `import "lib/resnet_blocks.net"` resolved beside the spec or in the zoo (or a folder named
with --import-path), never outside them (netspec.sources.find_import), each file parsed once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

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
        text, tree = _parse_library(str(path), path.stat().st_mtime_ns, limits)
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


@lru_cache(maxsize=64)
def _parse_library(path: str, mtime_ns: int, limits) -> tuple[str, syntax.SpecFile]:
    """An imported file's text and tree, parsed once per process (`lint specs/` imports lib/ often);
    `limits` is part of the key because the parse checks them."""
    from ..parser import parse_tree

    text = read_spec_text(Path(path))
    return text, parse_tree(text, path)


def _imported_from(where) -> Diagnostic:
    return Diagnostic("in the file imported here", where, level="error", code="import")
