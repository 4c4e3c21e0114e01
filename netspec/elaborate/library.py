"""Imports: `import "lib/resnet_blocks.net"` resolved beside the spec or in the zoo, each file parsed once."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .. import syntax
from ..diagnostics import Diagnostic, Label, SpecError, error
from ..expr import span_of
from ..sources import read_spec_text, zoo_dir
from .blocks import define_block


def import_file(el, st: syntax.ImportDecl, filename: str) -> None:
    where = span_of(st.loc, filename)
    base = Path(filename).parent if not filename.startswith("<") else Path.cwd()
    candidates = [base / st.path, zoo_dir() / st.path]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise error(f"cannot find the imported file \"{st.path}\"", where, code="import",
                    help=f"looked in {base} and in the zoo ({zoo_dir()})")
    path = path.resolve()
    if path in el.imported:
        return
    el.imported.add(path)
    try:
        text, tree = _parse_library(str(path), path.stat().st_mtime_ns)
    except SpecError as exc:
        raise SpecError(exc.diagnostics + (_imported_from(where),), {**exc.sources, **el.sources}) from None
    el.sources[str(path)] = text
    for inner in tree.statements:
        if isinstance(inner, syntax.ImportDecl):
            import_file(el, inner, str(path))
        elif isinstance(inner, syntax.BlockDef):
            define_block(el, inner, str(path))
        else:
            raise error("an imported file may only define blocks and import others",
                        span_of(inner.loc, str(path)), code="import",
                        labels=[Label(where, "imported here")])


@lru_cache(maxsize=64)
def _parse_library(path: str, mtime_ns: int) -> tuple[str, syntax.SpecFile]:
    """An imported file's text and tree, parsed once per process (`lint specs/` imports lib/ often)."""
    from ..parser import parse_tree

    text = read_spec_text(Path(path))
    return text, parse_tree(text, path)


def _imported_from(where) -> Diagnostic:
    return Diagnostic("in the file imported here", where, level="error", code="import")
