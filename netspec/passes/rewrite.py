"""Bottom-up rewriting of the IR tree, shared by the passes."""

from __future__ import annotations

from typing import Callable

from netspec import ir


def rewrite(node: ir.NodeBase, fn: Callable[[ir.NodeBase], ir.NodeBase]) -> ir.NodeBase:
    """Rebuild `node` with every sub-node rewritten first, then apply `fn` to the result."""
    subs = node.sub_nodes()
    if subs:
        new = tuple(rewrite(s, fn) for s in subs)
        if any(a is not b for a, b in zip(new, subs)):
            node = node.with_children(*new)
    return fn(node)


def rewrite_network(network: ir.Network, fn: Callable[[ir.NodeBase], ir.NodeBase], tag: str) -> ir.Network:
    """The network with `fn` applied bottom-up; the spec hash is tagged, since the weights' layout changes."""
    body = rewrite(network.body, fn)
    return network.model_copy(update={"body": body, "rewritten_hash": f"{network.spec_hash}+{tag}"})


def fields(node: ir.NodeBase, cls: type | None = None) -> dict:
    """The values of `cls`'s fields (default: the node's own class) on `node`, less its kind: to build
    a node of a related class from it."""
    return {name: getattr(node, name) for name in (cls or type(node)).model_fields if name != "kind"}
