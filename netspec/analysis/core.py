"""One pass over the IR that gathers every figure: a row per node, totals, the head's receptive field.

The walk is linear in the number of nodes and recursive only in the nesting of combinators,
so a 10,000-layer sequence costs 10,000 small steps and no deep recursion.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import Iterator

from ..ir import Network, NodeBase
from . import receptive
from .counts import ZERO, Cost, join_cost, leaf_cost, numel
from .notation import describe, shape_str
from .receptive import Field

DTYPE_BYTES = {"float32": 4, "float": 4, "fp32": 4, "float16": 2, "half": 2, "fp16": 2, "bfloat16": 2,
               "bf16": 2, "float64": 8, "double": 8, "fp64": 8, "int8": 1, "uint8": 1, "float8": 1}


@dataclass(frozen=True, slots=True)
class Row:
    """One node of the network, with the figures of everything under it."""

    path: str
    op: str  # the node in paper notation: conv3-64/2, maxpool3/2, residual, concat(4)
    kind: str  # the IR kind: conv, linear, seq, residual, ...
    depth: int  # 1 for the network's top-level layers
    leaf: bool
    in_shape: tuple
    out_shape: tuple
    cost: Cost  # this node and everything under it
    field: Field  # receptive field and effective stride at the output
    main: bool  # on the path to the network's output (not inside a side output or a gate's body)
    node: NodeBase = dataclass_field(repr=False, compare=False)

    @property
    def params(self) -> int:
        return self.cost.params

    @property
    def macs(self) -> int | None:
        return self.cost.macs

    def to_dict(self) -> dict:
        return {
            "path": self.path, "op": self.op, "kind": self.kind, "depth": self.depth,
            "output": shape_str(self.out_shape), "params": self.cost.params,
            "buffers": self.cost.buffers, "macs": self.cost.macs, "ops": self.cost.ops,
            "output_elements": numel(self.out_shape),
            "receptive_field": [receptive.to_json(s) for s in self.field.size],
            "stride": [receptive.to_json(j) for j in self.field.jump],
        }


@dataclass(frozen=True)
class Analysis:
    network: str
    input_shape: tuple
    output_shape: tuple
    dtype: str
    rows: tuple[Row, ...]  # every node under the root, preorder, definition order
    total: Cost  # the whole network; elements include the input tensor
    head_field: Field | None  # receptive field where the head collapses the map (flatten, fc, global pool)
    head_path: str | None  # the layer that collapses it
    output_field: Field
    constraints: tuple[str, ...] = ()  # what a symbolic input must satisfy ("H must be a multiple of 32")

    @property
    def trainable_params(self) -> int:
        return self.total.params

    @property
    def non_trainable_params(self) -> int:
        return self.total.buffers

    @property
    def params(self) -> int:
        """Trainable plus non-trainable, Keras' 'Total params'."""
        return self.total.params + self.total.buffers

    @property
    def macs(self) -> int | None:
        return self.total.macs

    @property
    def ops(self) -> int | None:
        return self.total.ops

    @property
    def activation_elements(self) -> int | None:
        return self.total.elements

    @property
    def bytes_per_element(self) -> int:
        return DTYPE_BYTES[self.dtype]

    @property
    def activation_bytes(self) -> int | None:
        e = self.total.elements
        return None if e is None else e * self.bytes_per_element

    @property
    def param_bytes(self) -> int:
        return self.params * self.bytes_per_element

    def leaves(self) -> Iterator[Row]:
        return (r for r in self.rows if r.leaf)

    def at_depth(self, depth: int | None = None) -> list[Row]:
        """Rows that partition the network: leaves, with blocks below `depth` collapsed into one row."""
        if depth is None:
            return [r for r in self.rows if r.leaf]
        return [r for r in self.rows if r.depth == depth or (r.leaf and r.depth < depth)]

    def to_dict(self, depth: int | None = None) -> dict:
        """The JSON document of `netspec summary --format json` (docs/ANALYSIS.md)."""
        head = self.head_field if self.head_field is not None else self.output_field
        return {
            "network": self.network,
            "input": shape_str(self.input_shape),
            "output": shape_str(self.output_shape),
            "constraints": list(self.constraints),  # empty unless the input is symbolic
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "macs": self.macs,
            "ops": self.ops,
            "dtype": self.dtype,
            "activation_elements": self.activation_elements,
            "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes,
            "receptive_field": [receptive.to_json(s) for s in head.size],
            "stride": [receptive.to_json(j) for j in head.jump],
            "receptive_field_at": self.head_path,  # the layer that reads it; null: the network's output
            "layers": [r.to_dict() for r in self.at_depth(depth)],
        }


class _Walk:
    def __init__(self) -> None:
        self.rows: list[Row | None] = []
        self.saved: dict[str, Field] = {}  # `@name` tensors' fields, for merges
        self.head: tuple[Field, str] | None = None

    def node(self, node: NodeBase, depth: int, f: Field, main: bool) -> tuple[Cost, Field]:
        if node.kind == "seq" and len(node.children) == 1:  # a one-layer block adds no level to the table
            return self.node(node.children[0], depth, f, main)
        visit = self._COMPOSITES.get(node.kind)
        if visit is not None:
            cost, out = self._block(node, depth, f, main, visit)
            if node.kind == "side":
                # an auxiliary head holds weights (they are in the state_dict) but does not run at
                # inference, which is what torchvision's published GFLOPS measure (inception_v3: 5.71)
                cost = Cost(params=cost.params, buffers=cost.buffers)
            return cost, out
        if node.sub_nodes():
            raise TypeError(f"the analysis has no rule for the composite kind {node.kind!r} at {node.path!r}")
        cost = leaf_cost(node)
        out = receptive.step(node, f)
        if node.kind == "save":
            self.saved[node.ref] = f
        elif node.kind == "merge":
            out = receptive.widest([f, *(self.saved.get(r, f) for r in node.refs)])
        if main and self.head is None and _collapses(node):
            # a conv or pool that shrinks the map to 1x1 is still a layer of windows: the head reads
            # its units; a flatten, fc or global pool reads the units of the map it is given
            self.head = (out if receptive.is_window(node) else f, node.path)
        self.rows.append(Row(node.path, describe(node), node.kind, depth, True, node.in_shape,
                             node.out_shape, cost, out, main, node))
        return cost, out

    def _block(self, node, depth, f, main, visit) -> tuple[Cost, Field]:
        index = len(self.rows)
        self.rows.append(None)  # the block's row goes before its children's
        cost, out = visit(self, node, depth + 1, f, main)
        cost = cost + join_cost(node)
        self.rows[index] = Row(node.path, describe(node), node.kind, depth, False, node.in_shape,
                               node.out_shape, cost, out, main, node)
        return cost, out

    def _seq(self, seq, depth, f, main) -> tuple[Cost, Field]:
        total = ZERO
        for child in seq.children:
            cost, f = self.node(child, depth, f, main)
            total = total + cost
        return total, f

    def _residual(self, node, depth, f, main):
        body_cost, body_f = self._seq(node.body, depth, f, main)
        if node.shortcut is None:
            return body_cost, receptive.widest([body_f, f])
        short_cost, short_f = self._seq(node.shortcut, depth, f, main)
        return body_cost + short_cost, receptive.widest([body_f, short_f])

    def _concat(self, node, depth, f, main):
        total, outs = ZERO, []
        for branch in node.branches:
            cost, out = self.node(branch, depth, f, main)
            total, outs = total + cost, outs + [out]
        return total, receptive.widest(outs)

    def _dense(self, node, depth, f, main):
        total, seen = ZERO, [f]
        for i, layer in enumerate(node.layers):
            if i:  # torchvision's DenseNet concatenates the inputs of every layer after the first
                total = total + Cost(elements=numel(layer.in_shape))
            cost, out = self.node(layer, depth, receptive.widest(seen), main)
            total, seen = total + cost, seen + [out]
        return total, receptive.widest(seen)

    def _fused_concat(self, node, depth, f, main):
        # the stem runs first; a branch that read a slice of it continues from the stem's field
        total, stem_f = self.node(node.stem, depth, f, main)
        outs = []
        for part, branch in zip(node.parts, node.branches):
            cost, out = self.node(branch, depth, f if part is None else stem_f, main)
            total, outs = total + cost, outs + [out]
        return total, receptive.widest(outs)

    def _off_path(self, node, depth, f, main):
        """A gate's body or a side output: its cost counts, but the main path's field passes through."""
        cost, _ = self._seq(node.body, depth, f, False)
        return cost, f

    _COMPOSITES = {
        "seq": _seq, "residual": _residual, "concat": _concat, "fused_concat": _fused_concat,
        "dense": _dense, "buffered_dense": _dense, "gate": _off_path, "side": _off_path,
    }


def _spatial(shape) -> bool:
    return len(shape) == 3 and not (shape[1] == 1 and shape[2] == 1)


def _collapses(node: NodeBase) -> bool:
    """Does this layer turn a feature map into a vector or a 1x1 map (a classifier head)?"""
    return _spatial(node.in_shape) and not _spatial(node.out_shape) and node.kind != "save"


def analyze(network: Network, dtype: str = "float32") -> Analysis:
    """Every figure of `network` for one sample: see Analysis and docs/ANALYSIS.md."""
    if dtype not in DTYPE_BYTES:
        raise ValueError(f"unknown dtype {dtype!r}; known: {', '.join(sorted(DTYPE_BYTES))}")
    walk = _Walk()
    cost, out = walk._seq(network.body, 1, receptive.INPUT, True)
    total = cost + Cost(elements=numel(network.input_shape))
    head_field, head_path = walk.head if walk.head else (None, None)
    return Analysis(network.name, tuple(network.input_shape), tuple(network.output_shape), dtype,
                    tuple(walk.rows), total, head_field, head_path, out, tuple(network.constraints))
