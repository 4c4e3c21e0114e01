"""Inlay hints: after the last element of each line, the shape that line outputs (of each instance,
when a block body's line runs at several sizes). A library file gets its hints from the open specs
that import it."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from .index import SpanIndex, shapes_text
from .ranges import to_position


def inlay_hints(file: str, lines: list[str], indexes: list[SpanIndex], codec: PositionCodec,
                first: int, last: int) -> list[types.InlayHint]:
    """Hints for lines first..last (1-based, inclusive) of `file`."""
    per_line: dict[int, tuple[int, list]] = {}
    for index in indexes:
        for line, (column, rows) in index.line_outputs(file).items():
            if first <= line <= last:
                before = per_line.get(line)
                per_line[line] = (column, rows) if before is None else (before[0], before[1] + rows)
    return [types.InlayHint(position=to_position(line, column, lines, codec), label=shapes_text(rows),
                            kind=types.InlayHintKind.Type, padding_left=True)
            for line, (column, rows) in sorted(per_line.items())]


__all__ = ["inlay_hints"]
