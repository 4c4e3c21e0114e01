"""Bottom-up rewriting of the IR tree, shared by the passes."""

from __future__ import annotations

from typing import Callable

from netspec import ir


def rewrite(node: ir.NodeBase, fn: Callable[[ir.NodeBase], ir.NodeBase]) -> ir.NodeBase:
    """Rebuild `node` with every sub-node rewritten first, then apply `fn` to the result.

    `model_copy(update=...)` keeps the node's class, so nodes that earlier passes
    produced (FoldedConv, FusedConcat, ...) survive later passes.
    """
    if isinstance(node, ir.Seq):
        node = node.model_copy(update={"children": tuple(rewrite(c, fn) for c in node.children)})
    elif isinstance(node, ir.Concat):
        update = {"branches": tuple(rewrite(b, fn) for b in node.branches)}
        if hasattr(node, "stem"):
            update["stem"] = rewrite(node.stem, fn)
        node = node.model_copy(update=update)
    elif isinstance(node, ir.Residual):
        node = node.model_copy(update={"body": rewrite(node.body, fn),
                                       "shortcut": None if node.shortcut is None else rewrite(node.shortcut, fn)})
    elif isinstance(node, ir.Dense):
        node = node.model_copy(update={"layers": tuple(rewrite(layer, fn) for layer in node.layers)})
    elif isinstance(node, (ir.Gate, ir.Side)):
        node = node.model_copy(update={"body": rewrite(node.body, fn)})
    return fn(node)


def rewrite_network(network: ir.Network, fn: Callable[[ir.NodeBase], ir.NodeBase], tag: str) -> ir.Network:
    """The network with `fn` applied bottom-up; the spec hash is tagged, since the weights' layout changes."""
    body = rewrite(network.body, fn)
    return network.model_copy(update={"body": body, "spec_hash": f"{network.spec_hash}+{tag}"})


def fields(node: ir.NodeBase, cls: type | None = None) -> dict:
    """The values of `cls`'s fields (default: the node's own class) on `node`, to build a related node."""
    return {name: getattr(node, name) for name in (cls or type(node)).model_fields}
