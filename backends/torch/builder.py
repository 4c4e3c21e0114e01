"""IR -> nn.Module: one module per leaf (from the lowering table), one Block per scope, run from the graph.

Module names are the nodes' scope paths relative to their enclosing scope, so
`model.get_submodule("stage3.bottleneck2.conv1")` is the node at that path. A path
component that torch cannot take as a module name (it holds a dot, or it is an
attribute of nn.Module such as `forward` or `training`) gets a trailing underscore;
`model.path_to_module` records every such renaming and `model.module_at(path)` follows it.

`forward` runs `lower()`'s graph (program.py), which also decides where activations and
residual sums may work in place.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass
import keyword

import torch
from torch import nn

from netspec import ir
from netspec.lower import Bounds, Graph, lower

from .lowering import has_module, is_leaf, module_call
from .modules import Block, LayerScale, Network
from .program import InPlace, Scope, block_program, check_supported, instructions


def relative_name(scope: str, path: str) -> str:
    """A node's module name inside its enclosing scope; "" when it adds no scope component."""
    if path == scope:
        return ""
    if scope and path.startswith(scope + "."):
        return path[len(scope) + 1:]
    return path


class Registrar:
    """Puts each leaf's module under its scope path, a Block per scope; records names and scopes."""

    def __init__(self, root: Network, in_place: frozenset[str], bounds: dict[str, Bounds]):
        self.root = root
        self.in_place = in_place  # paths of the activations that run in place
        self.bounds = bounds
        self.names: dict[str, str] = {}  # leaf path -> qualified module name
        self.blocks: list[tuple[Block, Scope, str]] = []  # every scope's Block, its Scope and qualified name

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

    def node(self, node: ir.NodeBase, block: Block, prefix: str, scope: Scope) -> None:
        if is_leaf(node):
            if has_module(node):  # a saved tensor is a graph value, not a module
                call = module_call(node)
                if node.path in self.in_place:
                    call = call.in_place()
                name = self.register(block, prefix, node, call.instantiate(), scope.path)
                self.names[node.path] = f"{prefix}.{name}" if prefix else name
            return
        if relative_name(scope.path, node.path) == "":
            self.children(node, block, prefix, scope)
            return
        child = Block()
        name = self.register(block, prefix, node, child, scope.path)
        qualified = f"{prefix}.{name}" if prefix else name
        inner = Scope(node.path, name, self.bounds[node.path])
        scope.children.append(inner)
        self.blocks.append((child, inner, qualified))
        self.children(node, child, qualified, inner)

    def children(self, node: ir.NodeBase, block: Block, prefix: str, scope: Scope) -> None:
        for sub in node.sub_nodes():
            self.node(sub, block, prefix, scope)


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


@dataclass
class Layout:
    """What `build_module` decided: the module tree (meta device) and the graph it runs."""

    root: Network
    graph: Graph
    bounds: dict[str, Bounds]  # IR path -> its values and steps
    inplace: InPlace
    names: dict[str, str]  # leaf path -> qualified module name
    blocks: list[tuple[Block, Scope, str]]  # every scope's Block, its Scope and qualified name
    in_place: frozenset[str]  # paths of the activations that run in place


def layout(network: ir.Network) -> Layout:
    """The module tree for `network`, parameters on the meta device (no memory, no init yet), and its graph."""
    check_supported(network)
    graph = lower(network)
    bounds = graph.bounds
    inplace = InPlace(graph)
    activations = frozenset(s.node.path for i, s in enumerate(graph.steps) if inplace.activation(i))
    with torch.device("meta"):
        root = Network(network, outputs_type(network))
        registrar = Registrar(root, activations, bounds)
        top = Scope(network.body.path, "", bounds[network.body.path])
        registrar.blocks.append((root, top, ""))
        registrar.children(network.body, root, "", top)
    root.sides = tuple(graph.sides[name] for name in network.side_outputs)
    instrs = {mode: instructions(graph, registrar.names, inplace, mode) for mode in (False, True)}
    for block, scope, prefix in registrar.blocks:
        block.entry, block.exit, block.values = scope.bounds.input, scope.bounds.output, len(graph.values)
        block.programs = {mode: block_program(scope, instrs[mode], registrar.names, prefix) for mode in (False, True)}
    return Layout(root, graph, bounds, inplace, registrar.names, registrar.blocks, activations)


def build_module(network: ir.Network) -> Network:
    """The module tree for `network`, parameters on the meta device (no memory, no init yet)."""
    return layout(network).root


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
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01, generator=generator)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, (nn.PReLU, LayerScale)):
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
