"""Go to definition: from a block call to its `block` line (in the spec or in a library it imports),
from an `import` line to the file it reads."""

from __future__ import annotations

from lsprotocol import types
from pygls import uris
from pygls.workspace.position_codec import PositionCodec

from .. import syntax
from .documents import Snapshot
from .imports import block_definitions
from .ranges import Point, lines_of, to_range
from .syntax_at import name_loc, under

_START = types.Range(start=types.Position(0, 0), end=types.Position(0, 0))


def definition(snapshot: Snapshot, at: Point, codec: PositionCodec) -> types.Location | None:
    tree = snapshot.checked.tree
    if tree is None:
        return None
    for item in under(tree, at, (syntax.Layer, syntax.ImportDecl)):
        if isinstance(item, syntax.ImportDecl):
            lib = next((lib for lib in snapshot.libraries if lib.via is item), None)
            if lib is not None:
                return types.Location(uri=uris.from_fs_path(lib.path) or lib.path, range=_START)
            return None
        found = block_definitions(tree, snapshot.filename, snapshot.libraries).get(item.op)
        if found is not None:
            block, file = found
            lines = snapshot.lines if file == snapshot.filename else lines_of(snapshot.library(file).text)
            uri = snapshot.uri if file == snapshot.filename else (uris.from_fs_path(file) or file)
            return types.Location(uri=uri, range=to_range(name_loc(block, lines), lines, codec))
        return None
    return None


__all__ = ["definition"]
