"""The syntax tree under a position: the elements, labels, imports and block definitions that contain
it, innermost first. The walk is generic over netspec.syntax's dataclasses (every node with a `loc`),
so a new kind of element needs no change here, and iterative, so nesting depth costs no stack."""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from typing import Iterator

from .. import syntax
from .ranges import Point, contains, extent


def nodes(tree: syntax.SpecFile) -> Iterator[object]:
    """Every located node of the tree, outer before inner, in the order written."""
    todo: list = list(reversed(tree.statements))
    while todo:
        node = todo.pop()
        if getattr(node, "loc", None) is not None:
            yield node
        inner = []
        for f in fields(node):
            value = getattr(node, f.name)
            for item in value if isinstance(value, tuple) else (value,):
                if is_dataclass(item) and not isinstance(item, syntax.Loc):
                    inner.append(item)
        todo.extend(reversed(inner))


def under(tree: syntax.SpecFile, at: Point, kinds: tuple[type, ...]) -> list:
    """The nodes of the given classes that contain `at`, innermost first."""
    found = [n for n in nodes(tree) if isinstance(n, kinds) and contains(n.loc, at)]
    found.reverse()  # among equal extents, the one written inside comes later in the walk
    return sorted(found, key=lambda n: extent(n.loc))


# what a hover can describe: an element the analysis has a row for (a label stands for its element)
ELEMENTS = (syntax.Layer, syntax.ConcatBlock, syntax.ResidualBlock, syntax.DenseBlock, syntax.GateBlock,
            syntax.SideBlock, syntax.SaveRef, syntax.MergeRefs, syntax.Labelled)


def elements_at(tree: syntax.SpecFile, at: Point) -> list:
    """The elements containing `at`, innermost first, a label replaced by the element it names."""
    return [n.element if isinstance(n, syntax.Labelled) else n for n in under(tree, at, ELEMENTS)]


def name_loc(item, lines: list[str]) -> syntax.Loc:
    """Where the name of a layer word or a block definition stands (`lines`: the file's)."""
    if isinstance(item, syntax.BlockDef):  # `block NAME(...)`: the name is the first word after the keyword
        text = lines[item.loc.line - 1] if item.loc.line <= len(lines) else ""
        at = text.find(item.name, item.loc.column - 1 + len("block"))
        column = at + 1 if at >= 0 else item.loc.column
        return syntax.Loc(item.loc.line, column, item.loc.line, column + len(item.name))
    return syntax.Loc(item.loc.line, item.loc.column, item.loc.line, item.loc.column + len(item.op))


__all__ = ["ELEMENTS", "elements_at", "name_loc", "nodes", "under"]
