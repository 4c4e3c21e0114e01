"""IR -> nn.Module: one module per leaf, one Block per scope, wired by an op tree.

Module names are the nodes' scope paths relative to their enclosing scope, so
`model.get_submodule("stage3.bottleneck2.conv1")` is the node at that path. A path
component that torch cannot take as a module name (it holds a dot, or it is an
attribute of nn.Module such as `forward` or `training`) gets a trailing underscore;
`model.path_to_module` records every such renaming and `model.module_at(path)` follows it.

In-place activations are used where the IR shows they are safe: the activation's input
is a fresh intermediate no other branch, shortcut, saved skip or autograd node still reads.
"""

from __future__ import annotations

from collections import namedtuple
import keyword

import torch
from torch import nn

from netspec import ir

from .modules import INPLACE_FNS, Block, Network, leaf

# Leaf kinds whose output is a new tensor that nothing else holds and autograd does not
# need: an in-place activation may overwrite it.
FRESH_KINDS = frozenset({"conv", "linear", "batchnorm", "pool", "adaptive_pool", "lrn", "upsample",
                         "channel_pad", "merge", "concat", "residual", "dense", "gate"})
PASS_THROUGH_KINDS = frozenset({"dropout", "flatten"})  # alias their input (eval dropout, views)


def relative_name(scope: str, path: str) -> str:
    """A node's module name inside its enclosing scope; "" when it adds no scope component."""
    if path == scope:
        return ""
    if scope and path.startswith(scope + "."):
        return path[len(scope) + 1:]
    return path if not scope else path


class Lowering:
    def __init__(self, root: Network):
        self.root = root

    def register(self, block: Block, prefix: str, node: ir.NodeBase, module: nn.Module, scope: str) -> str:
        """Add `module` under the node's relative path; returns the (possibly dotted) name within `block`.

        A relative path with several components (`stem.conv` directly under the root, when the
        spec has no `stem` scope node) gets empty holder modules for the missing scopes, so
        get_submodule(path) still finds it.
        """
        parts = [p for p in (relative_name(scope, node.path) or node.kind).split(".") if p] or [node.kind]
        holder = block
        names = []
        for part in parts[:-1]:
            part = _valid(holder, part, existing_ok=True)
            if part not in holder._modules:
                holder.add_module(part, Block())
            holder = holder._modules[part]
            names.append(part)
        names.append(_valid(holder, parts[-1]))
        holder.add_module(names[-1], module)
        name = ".".join(names)
        qualified = f"{prefix}.{name}" if prefix else name
        if qualified != node.path:
            self.root.path_to_module[node.path] = qualified
        return name

    def node(self, node: ir.NodeBase, block: Block, prefix: str, scope: str, fresh: bool) -> tuple[tuple, bool]:
        """The op for `node` inside `block`, and whether its output is fresh."""
        if node.kind in ir.LAYER_KINDS:
            return self.leaf(node, block, prefix, scope, fresh)
        if relative_name(scope, node.path) == "":
            return self.composite(node, block, prefix, scope, fresh)
        child = Block()
        name = self.register(block, prefix, node, child, scope)
        inner, out_fresh = self.composite(node, child, f"{prefix}.{name}" if prefix else name, node.path, fresh)
        child.op = inner
        return ("block", name), out_fresh

    def leaf(self, node, block, prefix, scope, fresh):
        if isinstance(node, ir.Save):
            return ("save", node.ref), False
        if isinstance(node, ir.Merge):
            return ("merge", self.register(block, prefix, node, leaf(node), scope), node.refs), True
        inplace = isinstance(node, ir.Activation) and node.fn in INPLACE_FNS and fresh
        name = self.register(block, prefix, node, leaf(node, inplace), scope)
        op: tuple = ("call", name)
        if isinstance(node, ir.Conv):
            t, b, l, r = node.padding
            if (t, l) != (b, r):  # 'same' with an even kernel: pad the extra row/column explicitly
                op = ("seq", (("pad", (l, r, t, b)), op))
        if node.kind in PASS_THROUGH_KINDS or (isinstance(node, ir.Activation) and node.fn == "identity"):
            return op, fresh
        return op, node.kind in FRESH_KINDS

    def seq(self, nodes, block, prefix, scope, fresh):
        ops = []
        for n in nodes:
            op, fresh = self.node(n, block, prefix, scope, fresh)
            ops.append(op)
        return ("seq", tuple(ops)), fresh

    def composite(self, node, block, prefix, scope, fresh):
        args = (block, prefix, scope)
        if isinstance(node, ir.Seq):
            return self.seq(node.children, *args, fresh)
        if isinstance(node, ir.Residual):
            body, body_fresh = self.node(node.body, *args, False)
            shortcut = None if node.shortcut is None else self.node(node.shortcut, *args, False)[0]
            return ("residual", body, shortcut, body_fresh), True
        if isinstance(node, ir.FusedConcat):
            stem, _ = self.node(node.stem, *args, False)
            branches = []
            for part, b in zip(node.parts, node.branches):
                # a branch on a slice of the stem's output must not write into it: other slices share it
                branches.append((part, self.node(b, *args, False)[0]))
            return ("fused_concat", stem, tuple(node.splits), tuple(branches)), True
        if isinstance(node, ir.Concat):
            return ("concat", tuple(self.node(b, *args, False)[0] for b in node.branches)), True
        if isinstance(node, ir.Dense):
            buffered = isinstance(node, ir.BufferedDense)
            layers = tuple(self.node(n, *args, not buffered)[0] for n in node.layers)
            return ("dense", layers, buffered, int(node.out_shape[0])), True
        if isinstance(node, ir.Gate):
            body, _ = self.node(node.body, *args, False)
            return ("gate", body, len(node.body.out_shape) == 1), True
        if isinstance(node, ir.Side):
            return ("side", node.output, self.node(node.body, *args, False)[0]), False
        raise TypeError(f"no torch lowering for IR node kind {node.kind!r} at {node.path!r}")


def _valid(holder: nn.Module, name: str, existing_ok: bool = False) -> str:
    """`name`, with underscores appended while it clashes with an nn.Module attribute or a sibling."""
    while (hasattr(holder, name) and name not in holder._modules) or (name in holder._modules and not existing_ok):
        name += "_"
    return name


def outputs_type(network: ir.Network) -> type | None:
    sides = network.side_outputs
    if not sides:
        return None
    fields = ["main", *sides]
    ok = all(f.isidentifier() and not keyword.iskeyword(f) and not f.startswith("_") for f in fields)
    ok = ok and len(set(fields)) == len(fields)
    name = network.name if network.name.isidentifier() and not keyword.iskeyword(network.name) else "Network"
    return namedtuple(f"{name}Outputs", fields, rename=not ok)


def build_module(network: ir.Network) -> Network:
    """The module tree for `network`, parameters on the meta device (no memory, no init yet)."""
    with torch.device("meta"):
        root = Network(network, ("seq", ()), outputs_type(network))
        root.op = _lower_root(root, network)
    return root


def _lower_root(root: Network, network: ir.Network) -> tuple:
    low = Lowering(root)
    return low.composite(network.body, root, "", network.body.path, False)[0]


def init_weights(model: nn.Module, generator: torch.Generator | None = None, skip: bool = False,
                 zero_init_residual: bool = False) -> None:
    """torchvision's ResNet scheme: Kaiming-normal conv (fan_out, relu), BN 1/0, linear N(0, 0.01).

    Modules are visited in definition order, so a seeded generator gives the same weights
    for the same spec. With `skip`, parameters keep whatever memory they were given and only
    the batch-norm buffers are reset (they are often missing from foreign checkpoints).
    """
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.reset_running_stats()
                if not skip:
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
            if skip:
                continue
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01, generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.PReLU):
                nn.init.constant_(m.weight, m.init)
        if zero_init_residual and not skip and isinstance(model, Network):
            # Goyal et al. 2017: each residual block starts as the identity.
            for path in last_bn_of_residuals(model.network):
                nn.init.zeros_(model.module_at(path).weight)


def last_bn_of_residuals(network: ir.Network) -> list[str]:
    found = []
    for n in ir.walk(network.body):
        if isinstance(n, ir.Residual):
            bns = [x for x in ir.layers(n.body) if isinstance(x, ir.BatchNorm)]
            if bns:
                found.append(bns[-1].path)
    return found
