"""Horizontal fusion: the 1x1 convs that open several branches of one concat become one conv.

Inception blocks start three of their four branches with a 1x1 conv on the block's
input. Stacked on the output-channel axis they are a single wider conv (one GEMM
instead of three); each branch then continues on its slice of the output. Activations
that every fused branch applies right after its conv (same function) move into the
shared stem too. Batch norms are not fused: run fold_bn first so they disappear.
"""

from __future__ import annotations

from netspec import ir

from .rewrite import fields, rewrite_network

FUSABLE_FNS = frozenset({"relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "hardswish",
                         "hardsigmoid", "silu", "gelu", "identity"})  # elementwise, no weights


def fuse_1x1(network: ir.Network) -> ir.Network:
    return rewrite_network(network, _fuse, "fuse_1x1")


def _pointwise(node: ir.NodeBase) -> bool:
    return (isinstance(node, ir.Conv) and not isinstance(node, ir.FusedConv) and node.kernel == (1, 1)
            and node.stride == (1, 1) and node.padding == (0, 0, 0, 0) and node.dilation == (1, 1)
            and node.groups == 1)


def _fuse(node: ir.NodeBase) -> ir.NodeBase:
    if not isinstance(node, ir.Concat) or isinstance(node, ir.FusedConcat):
        return node
    chosen = [i for i, b in enumerate(node.branches) if b.children and _pointwise(b.children[0])]
    if len({node.branches[i].children[0].bias for i in chosen}) > 1:  # one bias flag for the fused conv
        biased = [i for i in chosen if node.branches[i].children[0].bias]
        unbiased = [i for i in chosen if i not in biased]
        chosen = biased if len(biased) >= len(unbiased) else unbiased
    if len(chosen) < 2:
        return node
    convs = [node.branches[i].children[0] for i in chosen]
    tail = _shared_tail([node.branches[i].children[1:] for i in chosen])
    splits = tuple(c.out_channels for c in convs)
    h_w = tuple(convs[0].out_shape[1:])
    stem_path = f"{node.path}.fused" if node.path else "fused"
    out_shape = (sum(splits), *h_w)
    fused = ir.FusedConv(**{**fields(convs[0], ir.Conv), "path": f"{stem_path}.conv", "label": None,
                         "out_channels": sum(splits), "out_shape": out_shape}, parts=tuple(convs))
    stem_tail = tuple(t.model_copy(update={"path": f"{stem_path}.{t.name}", "label": None,
                                            "in_shape": out_shape, "out_shape": out_shape}) for t in tail)
    stem = ir.Seq(path=stem_path, in_shape=node.in_shape, out_shape=out_shape, children=(fused, *stem_tail))
    branches, parts = [], []
    for i, b in enumerate(node.branches):
        if i not in chosen:
            branches.append(b)
            parts.append(None)
            continue
        k = chosen.index(i)
        rest = b.children[1 + len(tail):]
        in_shape = (splits[k], *h_w)
        branches.append(b.model_copy(update={"children": rest, "in_shape": in_shape}))
        parts.append(k)
    return ir.FusedConcat(**{**fields(node, ir.Concat), "branches": tuple(branches)}, stem=stem, splits=splits, parts=tuple(parts))


def _shared_tail(rests: list[tuple]) -> list[ir.Activation]:
    """The activations that every fused branch applies, in the same order, right after its conv."""
    tail = []
    for layer in zip(*rests):
        first = layer[0]
        if not (isinstance(first, ir.Activation) and first.fn in FUSABLE_FNS):
            break
        if any(not isinstance(x, ir.Activation) or (x.fn, x.alpha) != (first.fn, first.alpha) for x in layer):
            break
        tail.append(first)
    return tail
