"""IR -> a flat dataflow graph: the one lowering every backend shares.

The IR is a tree that says how the spec was written (blocks, branches, bodies). A backend
wants the computation: which layer reads which tensor, and when a tensor is last read.
`lower(network)` walks the tree once and writes that down as a topologically ordered list of
`Step`s over numbered `Value`s (tensors, batch dimension left out of their shapes):

- a leaf layer is one `layer` step: its node, its input value, a new output value;
- residual sums, gate multiplies, concats (of branches, of a dense block's features, of a
  merge's saved tensors) are explicit `add` / `mul` / `concat` steps;
- a fused concat's branch that reads a slice of the shared stem's output is a `slice` step
  (a channel range of its input, a view);
- a buffered dense block is planned the way the `buffer_dense` pass decided: a `buffer` step
  allocates its output, the block's input is `copy`-ed into the first channels, and each
  layer's last step writes `into` its channel slice (each layer reads a prefix `slice`);
- a side output's steps are marked with its name: inference skips them;
- a `@name` save is no step at all: the merge that reads it names the value directly.

The torch backend runs and writes `forward` from this list; the Triton backend plans its
memory (liveness: `last_reads`) and its fusions over it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from . import ir
from .ops import registry

StepOp = Literal["layer", "add", "mul", "concat", "slice", "buffer", "copy"]


@dataclass(frozen=True, slots=True)
class Value:
    id: int
    shape: tuple  # without the batch dimension, as the IR gives it


@dataclass(frozen=True, slots=True)
class Step:
    op: StepOp
    node: ir.NodeBase  # the leaf it computes, or the composite whose join this is
    inputs: tuple[int, ...]  # value ids, in argument order
    output: int  # value id
    channels: tuple[int, int] | None = None  # `slice`: the channel range [start, stop) of its input it reads
    into: tuple[int, int] | None = None  # (buffer value, channel offset): the output is written there too
    side: str | None = None  # the side output this step computes (skipped at inference)


@dataclass(frozen=True, slots=True)
class Bounds:
    """Where one IR node landed in the graph: the value it read, the value it made, its steps."""

    input: int
    output: int
    start: int  # the node's steps are steps[start:stop]
    stop: int


@dataclass
class Graph:
    input: int
    output: int
    values: list[Value] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    sides: dict[str, int] = field(default_factory=dict)  # side output name -> value
    bounds: dict[str, Bounds] = field(default_factory=dict)  # node path -> its place (a backend's scopes)

    def shape(self, value: int) -> tuple:
        return self.values[value].shape

    def inference_steps(self) -> list[Step]:
        """The steps that compute the main output (side outputs are for training only)."""
        return [s for s in self.steps if s.side is None]

    def readers(self, steps: list[Step] | None = None) -> dict[int, list[int]]:
        """value -> indices (into `steps`) of the steps that read it, in order."""
        out: dict[int, list[int]] = {}
        for i, step in enumerate(self.steps if steps is None else steps):
            for v in step.inputs:
                out.setdefault(v, []).append(i)
        return out

    def last_reads(self, steps: list[Step] | None = None) -> dict[int, int]:
        """value -> index of the last step that reads it: after it, the value's memory is free."""
        return {v: idx[-1] for v, idx in self.readers(steps).items()}


class _Lowering:
    def __init__(self) -> None:
        self.graph = Graph(input=-1, output=-1)
        self.saved: dict[str, int] = {}
        self.side: str | None = None

    def value(self, shape) -> int:
        v = Value(len(self.graph.values), tuple(shape))
        self.graph.values.append(v)
        return v.id

    def emit(self, op: StepOp, node: ir.NodeBase, inputs: tuple[int, ...], shape=None, **extra) -> int:
        out = self.value(node.out_shape if shape is None else shape)
        self.graph.steps.append(Step(op, node, inputs, out, side=self.side, **extra))
        return out

    def node(self, node: ir.NodeBase, x: int) -> int:
        return self._bounded(self._node, node, x)

    def seq(self, node: ir.Seq, x: int) -> int:  # bodies, branches and dense layers come through here
        return self._bounded(self._seq, node, x)

    def _bounded(self, lower_fn, node: ir.NodeBase, x: int) -> int:
        start = len(self.graph.steps)
        out = lower_fn(node, x)
        self.graph.bounds[node.path] = Bounds(x, out, start, len(self.graph.steps))
        return out

    def _node(self, node: ir.NodeBase, x: int) -> int:
        handler = _COMPOSITES.get(node.kind)
        if handler is not None:
            return handler(self, node, x)
        if node.sub_nodes():
            raise TypeError(f"lower() has no rule for the composite kind {node.kind!r} at {node.path!r}")
        if isinstance(node, ir.Save):
            self.saved[node.ref] = x
            return x
        if isinstance(node, ir.Merge):
            refs = tuple(self.saved[r] for r in node.refs)
            return self.emit("concat" if node.mode == "concat" else "add", node, (x, *refs))
        return self.emit("layer", node, (x,))

    def _seq(self, node: ir.Seq, x: int) -> int:
        for child in node.children:
            x = self.node(child, x)
        return x

    def residual(self, node: ir.Residual, x: int) -> int:
        body = self.seq(node.body, x)
        shortcut = x if node.shortcut is None else self.seq(node.shortcut, x)
        return self.emit("add", node, (body, shortcut))

    def concat(self, node: ir.Concat, x: int) -> int:
        return self.emit("concat", node, tuple(self.seq(b, x) for b in node.branches))

    def fused_concat(self, node: ir.FusedConcat, x: int) -> int:
        stem = self.seq(node.stem, x)
        offsets = [0]
        for width in node.splits:
            offsets.append(offsets[-1] + width)
        outs = []
        for part, branch in zip(node.parts, node.branches):
            src = x
            if part is not None:
                src = self.emit("slice", node, (stem,), shape=branch.in_shape,
                                channels=(offsets[part], offsets[part + 1]))
            outs.append(self.seq(branch, src))
        return self.emit("concat", node, tuple(outs))

    def dense(self, node: ir.Dense, x: int) -> int:
        features = [x]
        for layer in node.layers:
            src = features[0] if len(features) == 1 else self.emit("concat", node, tuple(features),
                                                                   shape=layer.in_shape)
            features.append(self.seq(layer, src))
        return self.emit("concat", node, tuple(features))

    def buffered_dense(self, node: ir.BufferedDense, x: int) -> int:
        buf = self.emit("buffer", node, ())
        self.emit("copy", node, (x,), shape=node.in_shape, into=(buf, 0))
        offset = node.in_shape[0]
        for layer in node.layers:
            src = self.emit("slice", node, (buf,), shape=layer.in_shape, channels=(0, offset))
            out = self.seq(layer, src)
            if out == src or self.graph.steps[-1].output != out:
                out = self.emit("copy", node, (out,), shape=layer.out_shape)  # an empty or pass-through body
            last = self.graph.steps[-1]
            self.graph.steps[-1] = Step(last.op, last.node, last.inputs, last.output, last.channels,
                                        (buf, offset), last.side)
            offset += layer.out_shape[0]
        return buf

    def gate(self, node: ir.Gate, x: int) -> int:
        return self.emit("mul", node, (x, self.seq(node.body, x)))

    def side_output(self, node: ir.Side, x: int) -> int:
        outer, self.side = self.side, node.output
        try:
            self.graph.sides[node.output] = self.seq(node.body, x)
        finally:
            self.side = outer
        return x


_COMPOSITES = {
    "seq": _Lowering._seq, "residual": _Lowering.residual, "concat": _Lowering.concat,
    "fused_concat": _Lowering.fused_concat, "dense": _Lowering.dense, "buffered_dense": _Lowering.buffered_dense,
    "gate": _Lowering.gate, "side": _Lowering.side_output,
}


def lower(root: ir.Network | ir.NodeBase) -> Graph:
    """The dataflow graph of a network (or of one node, e.g. a block's Seq, read on its own input)."""
    node = root.body if isinstance(root, ir.Network) else root
    low = _Lowering()
    x = low.value(node.in_shape)
    low.graph.input = x
    low.graph.output = low.node(node, x)
    return low.graph


def aliases_input(node: ir.NodeBase) -> bool:
    """Does this leaf return its input, or a view of it, rather than a new tensor? (A backend must not
    write into such a value in place while its input is still read elsewhere.)"""
    if node.kind == "activation":
        return node.fn == "identity"
    info = registry.KINDS.get(node.kind)
    return info is not None and info.alias


__all__ = ["Bounds", "Graph", "Step", "Value", "aliases_input", "lower"]
