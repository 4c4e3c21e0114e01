"""The library files a spec imports, transitively: for go to definition, the blocks in scope for
completion, findings in imported files, and which open documents to check again when one changes.

Files are read through the elaborator's own cache (netspec.elaborate.library.read_library): parsed
once per version (an open document's text, else the file's mtime), with the same import rules
(find_import: only the allowed folders) and the same depth limit as an elaboration."""

from __future__ import annotations

from dataclasses import dataclass

from .. import syntax
from ..diagnostics import SpecError
from ..elaborate.library import read_library
from ..expr import span_of
from ..limits import current
from ..sources import find_import


@dataclass(frozen=True)
class Library:
    path: str  # resolved, as the elaborator names it in spans
    text: str
    tree: syntax.SpecFile
    via: syntax.ImportDecl  # the import line of the root file that brings it in (directly or not)


def library_files(tree: syntax.SpecFile, filename: str) -> list[Library]:
    """Every file `tree` imports, breadth first, each once; an import that cannot be read is left
    out here (the check reports it)."""
    out: list[Library] = []
    seen = {filename}
    todo = [(tree, filename, 1, None)]
    limit = current().max_import_depth
    while todo:
        source, name, depth, via = todo.pop(0)
        for st in source.statements:
            if not isinstance(st, syntax.ImportDecl):
                continue
            try:
                path = find_import(st.path, name, span_of(st.loc, name))
                if str(path) in seen:
                    continue
                text, lib = read_library(path)
            except (SpecError, OSError):
                continue
            seen.add(str(path))
            out.append(Library(str(path), text, lib, via or st))
            if depth < limit:
                todo.append((lib, str(path), depth + 1, via or st))
    return out


def block_definitions(tree: syntax.SpecFile, filename: str, libraries: list[Library]) -> dict[str, tuple]:
    """Every block in scope: name -> (BlockDef, the file it is written in); the spec's own first."""
    found: dict[str, tuple] = {}
    for source, name in [(tree, filename), *((lib.tree, lib.path) for lib in libraries)]:
        for st in source.statements:
            if isinstance(st, syntax.BlockDef):
                found.setdefault(st.name, (st, name))
    return found


__all__ = ["Library", "block_definitions", "library_files"]
