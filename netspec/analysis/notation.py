"""A node written back in the paper notation of the .net language, for tables and messages.

A leaf's notation is its op file's (netspec/ops/); the composites' is here.
"""

from __future__ import annotations

from ..ir import NodeBase
from ..ops.registry import kind
from ..shapes import shape_text as shape_str

COMPOSITES = {
    "seq": lambda n: "block",
    "concat": lambda n: f"{'split' if _is_split(n) else 'concat'}({len(n.branches)})",
    "residual": lambda n: "residual",
    "dense": lambda n: f"dense({len(n.layers)})",
    "gate": lambda n: "gate",
    "side": lambda n: f"side {n.output}",
    "fused_concat": lambda n: f"concat({len(n.branches)}, fused stem)",
    "buffered_dense": lambda n: f"dense({len(n.layers)}, one buffer)",
}


def _is_split(node) -> bool:
    """A `split` is a concat whose every branch opens on its own slice of the channels."""
    return all(b.children and b.children[0].kind == "channel_slice" for b in node.branches)


def describe(node: NodeBase) -> str:
    composite = COMPOSITES.get(node.kind)
    if composite is not None:
        return composite(node)
    return kind(node.kind).notation(node)


def arg_text(value) -> str:
    """A block argument as the spec would write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return str(value)


def block_call(node: NodeBase) -> str:
    """A node as a reader knows it: the block call it came from with its bound arguments, the first by
    position and the rest by name (`bottleneck(128, stride=2, width=64, groups=1)`; the IR keeps the
    values the block was built with, defaults included), else its paper notation."""
    if node.kind != "seq" or not node.block:
        return describe(node)
    args = list(node.block_args.items())
    if not args:
        return node.block
    words = [arg_text(args[0][1])] + [f"{k}={arg_text(v)}" for k, v in args[1:]]
    return f"{node.block}({', '.join(words)})"


__all__ = ["arg_text", "block_call", "describe", "shape_str"]
