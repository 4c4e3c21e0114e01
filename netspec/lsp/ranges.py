"""Positions: netspec's spans (1-based lines and columns in characters, end exclusive, as Lark counts
them: lines end at "\n" only) and LSP's (0-based, columns in the client's code units, UTF-16 unless
the client chose otherwise). pygls' PositionCodec converts the columns."""

from __future__ import annotations

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec, ServerTextPosition

Point = tuple[int, int]  # (line, column), 1-based, in characters: netspec's way


def lines_of(text: str) -> list[str]:
    """The lines as the parser counts them (Lark breaks lines at "\\n" only, unlike str.splitlines)."""
    return text.split("\n")


def to_position(line: int, column: int, lines: list[str], codec: PositionCodec) -> types.Position:
    line = min(max(line, 1), len(lines))
    column = min(max(column, 1), len(lines[line - 1]) + 1)
    return codec.position_to_client_units(lines, ServerTextPosition(line - 1, column - 1))


def to_range(loc, lines: list[str], codec: PositionCodec) -> types.Range:
    """A netspec Span (or syntax Loc) as an LSP range in the client's units."""
    return types.Range(start=to_position(loc.line, loc.column, lines, codec),
                       end=to_position(loc.end_line, loc.end_column, lines, codec))


def to_point(position: types.Position, lines: list[str], codec: PositionCodec) -> Point:
    """An LSP position as netspec's (line, column)."""
    at = codec.position_from_client_units(lines, types.Position(position.line, position.character))
    return at.line + 1, at.character + 1


def contains(loc, at: Point) -> bool:
    """Is the point inside the span, its end included (a cursor just after a word is on it)?"""
    return (loc.line, loc.column) <= at <= (loc.end_line, loc.end_column)


def extent(loc) -> tuple[int, int]:
    """How big a span is, to pick the innermost of several that contain a point."""
    return loc.end_line - loc.line, (loc.end_column - loc.column) if loc.end_line == loc.line else loc.end_column


__all__ = ["Point", "contains", "extent", "lines_of", "to_point", "to_position", "to_range"]
