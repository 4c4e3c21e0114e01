"""Hover: what the analysis says about the layer, block call or label under the cursor: output shape,
parameters, MACs and receptive field/stride (the figures of `netspec summary`); for a block call its
subtotals and the rows one level down; for a line of a block body, each instance (call, repeat); on a
block's own line, each call of the block."""

from __future__ import annotations

import re

from .. import syntax
from ..analysis import Row
from ..analysis.notation import arg_text, shape_str
from ..analysis.report import field_text, human
from ..ops.registry import lookup
from .index import SpanIndex
from .ranges import Point
from .syntax_at import elements_at, under

MAX_ROWS = 12  # instances or children listed; the rest are counted


def find(tree, file: str, at: Point, indexes: list[SpanIndex]) -> tuple[object, list[Row], SpanIndex] | None:
    """The innermost element under `at` that the analysis has rows for, and those rows. `indexes`:
    the document's own, then those of open specs that import it (a library has no network of its own)."""
    for item in elements_at(tree, at):
        for index in indexes:
            rows = index.at(file, item.loc)
            if rows:
                return item, _principal(item, rows), index
    for block in under(tree, at, (syntax.BlockDef,)):  # elsewhere in a block: each call of it
        for index in indexes:
            rows = [r for r in index.rows if r.node.kind == "seq" and getattr(r.node, "block", None) == block.name]
            if rows:
                return block, rows, index
    return None


def _principal(item, rows: list[Row]) -> list[Row]:
    """The layer a word names, without what comes with it under the same span: the flatten put before
    an fc, the `after=[bn relu]` layers. The elaborator names it by its op (`fc1`) or by its label."""
    if not isinstance(item, syntax.Layer):
        return rows
    found = lookup(item.op)
    word = found[0].name if found is not None else item.op
    named = re.compile(rf"{re.escape(word)}\d+")
    own = [r for r in rows if r.node.label is not None or named.fullmatch(r.node.name)]
    return own or rows


def _macs(n: int | None) -> str:
    return "?" if n is None else f"{n:,}" + (f" ({human(n)})" if n >= 1000 else "")


def _title(row: Row) -> str:
    node = row.node
    if getattr(node, "block", None):
        args = ", ".join(f"{k}={arg_text(v)}" for k, v in (node.block_args or {}).items())
        return f"{node.block}({args})"
    return row.op


def _figures(row: Row) -> list[str]:
    return [f"output `{shape_str(row.out_shape)}` (input `{shape_str(row.in_shape)}`)",
            f"params {row.params:,}" + (f" (+{row.cost.buffers:,} non-trainable)" if row.cost.buffers else ""),
            f"MACs {_macs(row.macs)}",
            f"receptive field/stride {field_text(row)}"]


def _table(rows: list[Row], first: str) -> list[str]:
    out = [f"| {first} | output | params | MACs | RF/stride |", "|---|---|--:|--:|---|"]
    for r in rows[:MAX_ROWS]:
        name = r.path.rsplit(".", 1)[-1] if first == "layer" else r.path
        figures = f"{shape_str(r.out_shape)} | {r.params:,} | {human(r.macs)} | {field_text(r)}"
        out.append(f"| `{name}` {_title(r)} | {figures} |")
    if len(rows) > MAX_ROWS:
        out.append(f"| ... {len(rows) - MAX_ROWS} more | | | | |")
    return out


def hover_text(rows: list[Row], index: SpanIndex) -> str:
    """Markdown for the rows of one element."""
    row = rows[0]
    if len(rows) > 1:  # a line of a block body, or a repeat: one row per instance
        return "\n".join([f"**{_title(row)}**: {len(rows)} instances", "", *_table(rows, "path")])
    lines = [f"**{_title(row)}** `{row.path}`", "", *(f"- {f}" for f in _figures(row))]
    if not row.leaf:
        kids = index.children(row)
        if kids:
            lines += ["", "subtotal of:", "", *_table(kids, "layer")]
    return "\n".join(lines)


__all__ = ["find", "hover_text"]
