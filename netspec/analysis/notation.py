"""A node written back in the paper notation of the .net language, for tables and messages.

A leaf's notation is its op file's (netspec/ops/); the composites' is here.
"""

from __future__ import annotations

from ..ir import NodeBase
from ..ops.registry import kind
from ..shapes import shape_text as shape_str

COMPOSITES = {
    "seq": lambda n: "block",
    "concat": lambda n: f"concat({len(n.branches)})",
    "residual": lambda n: "residual",
    "dense": lambda n: f"dense({len(n.layers)})",
    "gate": lambda n: "gate",
    "side": lambda n: f"side {n.output}",
    "fused_concat": lambda n: f"concat({len(n.branches)}, fused stem)",
    "buffered_dense": lambda n: f"dense({len(n.layers)}, one buffer)",
}


def describe(node: NodeBase) -> str:
    composite = COMPOSITES.get(node.kind)
    if composite is not None:
        return composite(node)
    return kind(node.kind).notation(node)


__all__ = ["describe", "shape_str"]
