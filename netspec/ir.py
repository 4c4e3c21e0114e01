"""The netspec IR: an immutable, validated tree of layers with every shape resolved.

`netspec.parse` / `netspec.load` return a `Network`. By the time a node exists here,
blocks are expanded, repeats unrolled, expressions evaluated, channels inferred and
the input/output shape of every node computed: analysis and backends read shapes
from the IR and never derive them again.

Shapes are tuples without the batch dimension: (C, H, W) for feature maps, (F,) for
vectors. A spatial dimension is an int, or a string such as "H/32" when the spec's
input is symbolic (`input 3xHxW`); numeric analyses need concrete sizes.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, ClassVar, Iterator, Literal, Union

from pydantic import SerializeAsAny, WrapValidator

from .diagnostics import Span
from .frozen import Frozen

Dim = Union[int, str]
Shape = tuple[Dim, ...]
Pair = tuple[int, int]


class NodeBase(Frozen):
    path: str  # scope path from the network root, e.g. "stage3.bottleneck2.conv1"
    label: str | None = None  # the name the user gave it (`conv1: conv7-64/2`), if any
    span: Span | None = None  # the source text this node was elaborated from
    in_shape: Shape  # input shape, batch dimension left out
    out_shape: Shape  # output shape, batch dimension left out

    @property
    def name(self) -> str:
        """Last component of the scope path."""
        return self.path.rsplit(".", 1)[-1]

    def sub_nodes(self) -> tuple["NodeBase", ...]:
        """Direct sub-nodes, in the order they run (a residual's body before its shortcut)."""
        return ()

    def with_children(self, *nodes: "NodeBase") -> "NodeBase":
        """This node with its sub-nodes replaced by `nodes`, given in `sub_nodes()` order.

        The one way every rewriter rebuilds a composite: `sub_nodes` and `with_children` are
        the whole traversal contract, so a new composite kind needs nothing else to be walked.
        """
        if nodes:
            raise ValueError(f"a {self.kind} node has no sub-nodes")
        return self


# ---------------------------------------------------------------- composition


def _by_kind(value, handler):
    """A child read from JSON (or a dict) is validated as the class its `kind` names in the registry."""
    if isinstance(value, NodeBase):
        return value
    from .ops.registry import node_class

    cls = node_class(value.get("kind")) if isinstance(value, dict) else None
    if cls is None:
        raise ValueError(f"not an IR node: unknown kind {value.get('kind') if isinstance(value, dict) else value!r}")
    return cls.model_validate(value)


# A child of a composite: any registered kind, leaf or composite, validated and dumped as its own class
# (SerializeAsAny: a child's fields are its class's, not NodeBase's). An op file's new kind needs no edit here.
Node = Annotated[NodeBase, WrapValidator(_by_kind), SerializeAsAny()]


class RepeatSpan(Frozen):
    """Children [start, stop) of a Seq came from a `[...]xN` repeat: `count` iterations of equal length."""

    start: int
    stop: int
    count: int


class Composite(NodeBase):
    """A node with sub-nodes. SUB_FIELDS names the fields that hold them, in the order they run: a
    tuple field holds any number (in with_children it takes the rest), another one node or None."""

    SUB_FIELDS: ClassVar[tuple[str, ...]] = ()

    def sub_nodes(self):
        out: list[NodeBase] = []
        for name in self.SUB_FIELDS:
            value = getattr(self, name)
            if isinstance(value, tuple):
                out.extend(value)
            elif value is not None:
                out.append(value)
        return tuple(out)

    def with_children(self, *nodes):
        update, rest = {}, list(nodes)
        for name in self.SUB_FIELDS:
            if isinstance(getattr(self, name), tuple):
                update[name], rest = tuple(rest), []
            else:
                update[name] = rest.pop(0) if rest else None
        if rest:
            raise ValueError(f"a {self.kind} node takes {len(nodes) - len(rest)} sub-nodes, got {len(nodes)}")
        return self.model_copy(update=update)


Scalar = Union[bool, int, float, str]
BlockArg = Union[bool, int, float, str, tuple[int, ...], list[Scalar]]  # a list: `depths=[3, 3, 9, 3]`


class Seq(Composite):
    SUB_FIELDS = ("children",)

    kind: Literal["seq"] = "seq"
    children: tuple[Node, ...] = ()
    block: str | None = None  # the user block this sequence was expanded from, e.g. "bottleneck"
    block_args: dict[str, BlockArg] = {}  # that call's bound arguments, defaults included: {"c": 64, "stride": 2}
    repeats: tuple[RepeatSpan, ...] = ()  # which runs of children were written as repeats (nested ones too)


class Concat(Composite):
    """Parallel branches on the same input, joined along channels (inception)."""

    SUB_FIELDS = ("branches",)

    kind: Literal["concat"] = "concat"
    branches: tuple[Seq, ...]


ShortcutKind = Literal["identity", "project", "pad", "explicit"]


class Residual(Composite):
    """out = body(x) + shortcut(x); shortcut None is the identity."""

    SUB_FIELDS = ("body", "shortcut")

    kind: Literal["residual"] = "residual"
    body: Seq
    shortcut: Seq | None = None
    # how the shortcut came about: the identity, the front end's 1x1 conv + bn projection (option B),
    # its subsample + zero channels (option A), or a body the spec wrote after `|`
    shortcut_kind: ShortcutKind = "identity"


class Dense(Composite):
    """DenseNet block: layer i sees the concat of the input and every earlier layer's output."""

    SUB_FIELDS = ("layers",)

    kind: Literal["dense"] = "dense"
    layers: tuple[Seq, ...]


class Gate(Composite):
    """out = x * body(x), body(x) broadcast over H and W (squeeze-excitation)."""

    SUB_FIELDS = ("body",)

    kind: Literal["gate"] = "gate"
    body: Seq


class Side(Composite):
    """A named side output (GoogLeNet's auxiliary classifiers); the main path passes through."""

    SUB_FIELDS = ("body",)

    kind: Literal["side"] = "side"
    output: str
    body: Seq


# ---------------------------------------------------------------- what the inference passes produce
# Composite kinds of their own: JSON round-trips an optimised IR and every walker sees their extra
# sub-nodes. Each subclasses the node it replaces and records what a backend must compute from the
# original weights. (The leaf kinds the passes make live beside their layers: ops/conv.py, ops/linear.py.)


class FusedConcat(Concat):
    """A concat whose branches that opened with a 1x1 conv now read slices of one shared stem."""

    SUB_FIELDS = ("stem", "branches")  # the stem runs first

    kind: Literal["fused_concat"] = "fused_concat"
    stem: Seq  # the FusedConv, then the elementwise layers every fused branch applied after it
    splits: tuple[int, ...]  # channels of each slice of the stem's output
    parts: tuple[int | None, ...]  # per branch: the slice it reads, or None for the concat's input


class BufferedDense(Dense):
    """A dense block written into one preallocated output instead of re-concatenating per layer."""

    kind: Literal["buffered_dense"] = "buffered_dense"


# ---------------------------------------------------------------- the network


class Expect(Frozen):
    """An `expect` line: a figure that lint checks against the analysis."""

    what: Literal["params", "macs", "output"]
    value: str  # as written: "138357544", "15.47G", "1000", "512x7x7"
    span: Span | None = None


class LintOff(Frozen):
    """A lint id a `lint off` line switches off, and where it is written (an unknown id is warned about there)."""

    id: str
    span: Span | None = None


class Network(Frozen):
    name: str
    source: str | None = None  # file the spec was read from
    params: dict[str, Union[int, float, bool, str, list[Scalar]]] = {}  # network parameters after overrides
    meta: dict[str, str] = {}  # `meta key "value"` lines: title, paper, description
    input_shape: Shape
    constraints: tuple[str, ...] = ()  # what a symbolic input must satisfy, e.g. "H must be a multiple of 32"
    body: Seq
    expects: tuple[Expect, ...] = ()
    lint_off: tuple[LintOff, ...] = ()  # lint ids switched off in the spec
    # set by a pass (passes/rewrite.py): the spec hash of the network it rewrote, tagged with the pass
    rewritten_hash: str | None = None

    @property
    def spec_hash(self) -> str:
        """Identifies the architecture: what weights depend on (checkpoints and weight files carry it).
        Derived when asked, not stored: `netspec lint` and `summary` never ask."""
        return self.rewritten_hash or architecture_hash(self.body)

    @property
    def output_shape(self) -> Shape:
        return self.body.out_shape

    @property
    def side_outputs(self) -> tuple[str, ...]:
        return tuple(n.output for n in walk(self.body) if isinstance(n, Side))


def architecture_hash(body: NodeBase) -> str:
    """sha256 over every node's kind, path, shapes and hyper-parameters (spans, labels and how the source
    was written left out): equal for two specs that build the same network."""
    h = hashlib.sha256()
    # what only says how the source was written, and the sub-nodes (walked themselves)
    skip = {"span", "label", "block", "block_args", "repeats", "shortcut_kind", "children", "branches", "body",
            "shortcut", "layers"}
    for node in walk(body):
        fields = sorted((name, _plain(getattr(node, name))) for name in type(node).model_fields if name not in skip)
        h.update(repr(fields).encode())
    return h.hexdigest()


def _plain(value):
    """What `model_dump` gives for a field's value, without building pydantic's serializers."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is tuple or kind is list:
        return value if all(type(v) in _SCALARS for v in value) else kind(_plain(v) for v in value)
    if isinstance(value, Frozen):
        return {name: _plain(getattr(value, name)) for name in kind.model_fields}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


_SCALARS = frozenset({int, float, str, bool, type(None)})


def children(node: NodeBase) -> tuple[NodeBase, ...]:
    """Direct sub-nodes of a composite, in definition order (body before shortcut)."""
    return node.sub_nodes()


def walk(node: NodeBase) -> Iterator[NodeBase]:
    """Every node under `node` (itself included), preorder, in definition order."""
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))


def layers(node: NodeBase) -> Iterator[NodeBase]:
    """The leaf layers under `node`, in definition order."""
    return (n for n in walk(node) if n.kind in LAYER_KINDS)


# ---------------------------------------------------------------- the layers, from their op files
# Every leaf kind is defined in netspec/ops/<op>.py beside its shape rule, cost and text forms;
# they are re-exported here so that `ir.Conv` and friends name them for backends and tests.

from .ops import registry as _registry  # noqa: E402
from .ops.activation import Activation, ActivationFn  # noqa: E402
from .ops.channels import ChannelSlice  # noqa: E402
from .ops.crop import Crop  # noqa: E402
from .ops.conv import Conv, FoldedConv, FusedConv  # noqa: E402
from .ops.deconv import Deconv  # noqa: E402
from .ops.drop_path import DropPath  # noqa: E402
from .ops.layer_scale import LayerScale  # noqa: E402
from .ops.layernorm import LayerNorm  # noqa: E402
from .ops.shuffle import ChannelShuffle  # noqa: E402
from .ops.linear import FoldedLinear, Linear  # noqa: E402
from .ops.misc import ChannelPad, Dropout, Flatten, Upsample  # noqa: E402
from .ops.norm import LRN, BatchNorm  # noqa: E402
from .ops.pool import AdaptivePool, Pool  # noqa: E402
from .ops.scale import Scale  # noqa: E402
from .ops.skip import Merge, Save  # noqa: E402
from .ops.zeropad import ZeroPad  # noqa: E402

for _cls in (Seq, Concat, Residual, Dense, Gate, Side, FusedConcat, BufferedDense):
    _registry.register_node(_cls)

LAYER_KINDS = _registry.LEAF_KINDS  # the kinds an op file registers: leaf layers (grows with the registry)
