"""Fold each batch norm into the conv or fully connected layer right before it (inference only).

In eval mode a batch norm is a per-channel affine map, so conv -> bn is one conv with
rescaled weights and a bias. The pass only changes structure: the conv becomes a
ir.FoldedConv carrying the removed BatchNorm node, and the backend folds the numbers.
"""

from __future__ import annotations

from netspec import ir

from .rewrite import fields, rewrite_network


def fold_bn(network: ir.Network) -> ir.Network:
    return rewrite_network(network, _fold_seq, "fold_bn")


def _fold_seq(node: ir.NodeBase) -> ir.NodeBase:
    if not isinstance(node, ir.Seq):
        return node
    out: list = []
    for child in node.children:
        prev = out[-1] if out else None
        if isinstance(child, ir.BatchNorm) and _foldable(prev, child):
            base, folded_cls = (ir.Conv, ir.FoldedConv) if isinstance(prev, ir.Conv) else (ir.Linear, ir.FoldedLinear)
            out[-1] = folded_cls(**{**fields(prev, base), "bias": True}, folded=child)
        else:
            out.append(child)
    if len(out) == len(node.children):
        return node
    return node.model_copy(update={"children": tuple(out)})


def _foldable(prev: ir.NodeBase | None, bn: ir.BatchNorm) -> bool:
    if isinstance(prev, (ir.FoldedConv, ir.FoldedLinear, ir.FusedConv)):  # a second bn in a row, or a fused stem
        return False
    if isinstance(prev, ir.Conv):
        return prev.out_channels == bn.num_features and len(bn.in_shape) == 3
    if isinstance(prev, ir.Linear):
        return prev.out_features == bn.num_features and len(bn.in_shape) == 1
    return False
