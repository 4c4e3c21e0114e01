"""The syntax tree of a .net file: what was written, before blocks are expanded.

The parser builds it, the formatter prints it back, the elaborator turns it into the IR.
Every node keeps its source location (`Loc`) for error messages and for the formatter,
which keeps comments and the author's grouping of layers on lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union


@dataclass(frozen=True)
class Loc:
    line: int
    column: int
    end_line: int
    end_column: int


# ---------------------------------------------------------------- expressions


@dataclass(frozen=True)
class Num:
    value: int | float
    text: str  # as written, so `1e-4` prints back as `1e-4`
    loc: Loc


@dataclass(frozen=True)
class Str:
    value: str
    loc: Loc


@dataclass(frozen=True)
class Name:
    id: str
    loc: Loc


@dataclass(frozen=True)
class ShapeLit:
    dims: tuple[int | str, ...]  # `3x224x224`, `3xHxW`
    loc: Loc


@dataclass(frozen=True)
class BinOp:
    op: str  # + - * / // % **, the comparisons == != < <= > >=, and / or
    left: "Expr"
    right: "Expr"
    loc: Loc


@dataclass(frozen=True)
class Neg:
    """`-x`, or `not c` (op "not")."""

    operand: "Expr"
    loc: Loc
    op: str = "-"


@dataclass(frozen=True)
class Call:
    fn: str
    args: tuple["Expr", ...]
    loc: Loc


@dataclass(frozen=True)
class IfExpr:
    """`a if cond else b`: only the chosen side is evaluated."""

    then: "Expr"
    cond: "Expr"
    orelse: "Expr"
    loc: Loc


@dataclass(frozen=True)
class Index:
    target: "Expr"
    index: "Expr"
    loc: Loc


@dataclass(frozen=True)
class Slice:
    """`xs[a:b]`, `xs[:b]`, `xs[a:]`: the items from a up to b (Python's bounds; None where left out)."""
    target: "Expr"
    start: "Expr | None"
    stop: "Expr | None"
    loc: Loc


@dataclass(frozen=True)
class ListLit:
    items: tuple["Expr", ...]
    loc: Loc


Expr = Union[Num, Str, Name, ShapeLit, BinOp, Neg, Call, IfExpr, Index, Slice, ListLit]


# ---------------------------------------------------------------- body items


@dataclass(frozen=True)
class Arg:
    name: str | None  # None for a positional argument
    value: Union[Expr, "Body"]  # a Body for sequence values: after=[bn relu]
    loc: Loc


@dataclass(frozen=True)
class Layer:
    """A built-in layer or a block call: `conv3-64/2(bias=false)`, `bottleneck(64)`."""

    op: str  # the name as written, kernel digits included: conv3, conv1x7, maxpool3, FC
    dash: Expr | None  # after '-': filters, features, output size
    slash: Expr | None  # after '/': stride
    args: tuple[Arg, ...] | None  # None when no parentheses were written
    loc: Loc
    kernel: Expr | None = None  # `dwconv{k}`: a kernel size computed (then `op` is the bare name)


@dataclass(frozen=True)
class Repeat:
    body: "Body"
    times: Expr
    loc: Loc


@dataclass(frozen=True)
class Group:
    body: "Body"
    loc: Loc


@dataclass(frozen=True)
class Labelled:
    label: str
    element: "Element"
    loc: Loc


@dataclass(frozen=True)
class ConcatBlock:
    branches: tuple["Body", ...]
    loc: Loc
    split: bool = False  # `split { ... }`: each branch reads its equal share of the channels


@dataclass(frozen=True)
class ResidualBlock:
    args: tuple[Arg, ...] | None
    body: "Body"
    shortcut: "Body | None"
    loc: Loc


@dataclass(frozen=True)
class DenseBlock:
    """`dense(6) { layer }` repeats one layer body; `dense { l1 | l2 }` writes each layer out."""

    args: tuple[Arg, ...] | None
    bodies: tuple["Body", ...]
    loc: Loc


@dataclass(frozen=True)
class GateBlock:
    body: "Body"
    loc: Loc


@dataclass(frozen=True)
class SideBlock:
    name: str
    body: "Body"
    loc: Loc


@dataclass(frozen=True)
class SaveRef:
    name: str  # without the '@'
    loc: Loc


@dataclass(frozen=True)
class MergeRefs:
    mode: str  # "concat" or "add"
    refs: tuple[str, ...]
    loc: Loc


@dataclass(frozen=True)
class IfElement:
    """`if cond { ... } else { ... }`: the layers of the taken branch stand in its place."""

    cond: Expr
    body: "Body"
    orelse: "Body | IfElement | None"  # an `else if` is an IfElement
    loc: Loc


@dataclass(frozen=True)
class ForElement:
    """`for i in range(n) { ... }`: the body once per value, with `var` bound to it."""

    var: str
    iterable: Expr
    body: "Body"
    loc: Loc


@dataclass(frozen=True)
class Default:
    op: str
    args: tuple[Arg, ...]
    loc: Loc


Element = Union[Layer, Repeat, Group, Labelled, ConcatBlock, ResidualBlock, DenseBlock, GateBlock,
                SideBlock, SaveRef, MergeRefs, IfElement, ForElement]
BodyItem = Union[Element, Default]


@dataclass(frozen=True)
class Body:
    items: tuple[BodyItem, ...]
    loc: Loc | None  # None for an empty body


# ---------------------------------------------------------------- statements


@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    loc: Loc


@dataclass(frozen=True)
class NetworkDecl:
    name: str
    params: tuple[Param, ...]
    loc: Loc


@dataclass(frozen=True)
class InputDecl:
    shape: ShapeLit
    loc: Loc


@dataclass(frozen=True)
class MetaDecl:
    key: str
    value: str
    loc: Loc


@dataclass(frozen=True)
class ImportDecl:
    path: str
    loc: Loc


@dataclass(frozen=True)
class ExpectDecl:
    what: str
    value: str
    loc: Loc


@dataclass(frozen=True)
class LintOff:
    ids: tuple[str, ...]
    loc: Loc
    id_locs: tuple[Loc, ...] = ()  # where each id stands, for an unknown one's warning


@dataclass(frozen=True)
class BlockDef:
    name: str
    params: tuple[Param, ...]
    body: Body
    loc: Loc


Statement = Union[NetworkDecl, InputDecl, MetaDecl, ImportDecl, ExpectDecl, LintOff, BlockDef, BodyItem]


@dataclass(frozen=True)
class Comment:
    text: str  # with the leading '#'
    line: int
    column: int


@dataclass(frozen=True)
class SpecFile:
    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...]
    filename: str
