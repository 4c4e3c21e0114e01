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

from typing import Annotated, Iterator, Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from .diagnostics import Span

Dim = Union[int, str]
Shape = tuple[Dim, ...]
Pair = tuple[int, int]


class Frozen(BaseModel):
    # The elaborator builds nodes with model_construct (its values are checked as it goes, and a
    # test validates every zoo network); validation schemas are built only when something asks
    # for them, e.g. model_validate_json, which keeps `netspec lint` from paying for them.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


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


# ---------------------------------------------------------------- layers


class Conv(NodeBase):
    kind: Literal["conv"] = "conv"
    in_channels: int
    out_channels: int
    kernel: Pair  # (kh, kw)
    stride: Pair = (1, 1)
    padding: tuple[int, int, int, int] = (0, 0, 0, 0)  # (top, bottom, left, right): 'same' with an even kernel is asymmetric
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True


class Linear(NodeBase):
    kind: Literal["linear"] = "linear"
    in_features: int
    out_features: int
    bias: bool = True


class Pool(NodeBase):
    kind: Literal["pool"] = "pool"
    mode: Literal["max", "avg"]
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)  # symmetric, as torch's pooling layers take it
    ceil_mode: bool = False
    count_include_pad: bool = True  # avg only: torch's default


class AdaptivePool(NodeBase):
    kind: Literal["adaptive_pool"] = "adaptive_pool"
    mode: Literal["max", "avg"]
    output_size: Pair  # (1, 1) is global pooling


class BatchNorm(NodeBase):
    kind: Literal["batchnorm"] = "batchnorm"
    num_features: int
    eps: float = 1e-5
    momentum: float = 0.1


class LRN(NodeBase):
    """Local response normalisation across channels (AlexNet, VGG A-LRN)."""

    kind: Literal["lrn"] = "lrn"
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0


ActivationFn = Literal[
    "relu", "relu6", "leaky_relu", "prelu", "elu", "selu", "sigmoid", "tanh",
    "hardswish", "hardsigmoid", "silu", "gelu", "softmax", "identity",
]


class Activation(NodeBase):
    kind: Literal["activation"] = "activation"
    fn: ActivationFn
    alpha: float | None = None  # leaky_relu's negative slope, elu's alpha, prelu's initial slope
    num_parameters: int = 1  # prelu only: 1 shared slope, or one per channel


class Dropout(NodeBase):
    kind: Literal["dropout"] = "dropout"
    p: float = 0.5


class Flatten(NodeBase):
    kind: Literal["flatten"] = "flatten"


class Upsample(NodeBase):
    kind: Literal["upsample"] = "upsample"
    scale: int = 2
    mode: Literal["nearest", "bilinear"] = "nearest"


class ChannelPad(NodeBase):
    """Zero channels added before and after the input's (ResNet option A shortcut)."""

    kind: Literal["channel_pad"] = "channel_pad"
    before: int
    after: int


# ---------------------------------------------------------------- composition


class RepeatSpan(Frozen):
    """Children [start, stop) of a Seq came from a `[...]xN` repeat: `count` iterations of equal length."""

    start: int
    stop: int
    count: int


BlockArg = Union[bool, int, float, str, tuple[int, ...]]


class Seq(NodeBase):
    kind: Literal["seq"] = "seq"
    children: tuple["Node", ...] = ()
    block: str | None = None  # the user block this sequence was expanded from, e.g. "bottleneck"
    block_args: dict[str, BlockArg] = {}  # that call's bound arguments, defaults included: {"c": 64, "stride": 2}
    repeats: tuple[RepeatSpan, ...] = ()  # which runs of children were written as repeats (nested ones too)

    def sub_nodes(self):
        return self.children

    def with_children(self, *nodes):
        return self.model_copy(update={"children": nodes})


class Concat(NodeBase):
    """Parallel branches on the same input, joined along channels (inception)."""

    kind: Literal["concat"] = "concat"
    branches: tuple[Seq, ...]

    def sub_nodes(self):
        return self.branches

    def with_children(self, *nodes):
        return self.model_copy(update={"branches": nodes})


ShortcutKind = Literal["identity", "project", "pad", "explicit"]


class Residual(NodeBase):
    """out = body(x) + shortcut(x); shortcut None is the identity."""

    kind: Literal["residual"] = "residual"
    body: Seq
    shortcut: Seq | None = None
    # how the shortcut came about: the identity, the front end's 1x1 conv + bn projection (option B),
    # its subsample + zero channels (option A), or a body the spec wrote after `|`
    shortcut_kind: ShortcutKind = "identity"

    def sub_nodes(self):
        return (self.body,) if self.shortcut is None else (self.body, self.shortcut)

    def with_children(self, body, shortcut=None):
        return self.model_copy(update={"body": body, "shortcut": shortcut})


class Dense(NodeBase):
    """DenseNet block: layer i sees the concat of the input and every earlier layer's output."""

    kind: Literal["dense"] = "dense"
    layers: tuple[Seq, ...]

    def sub_nodes(self):
        return self.layers

    def with_children(self, *nodes):
        return self.model_copy(update={"layers": nodes})


class Gate(NodeBase):
    """out = x * body(x), body(x) broadcast over H and W (squeeze-excitation)."""

    kind: Literal["gate"] = "gate"
    body: Seq

    def sub_nodes(self):
        return (self.body,)

    def with_children(self, body):
        return self.model_copy(update={"body": body})


class Side(NodeBase):
    """A named side output (GoogLeNet's auxiliary classifiers); the main path passes through."""

    kind: Literal["side"] = "side"
    output: str
    body: Seq

    def sub_nodes(self):
        return (self.body,)

    def with_children(self, body):
        return self.model_copy(update={"body": body})


class Save(NodeBase):
    """Names the current tensor so a later Merge can refer to it (U-Net skips)."""

    kind: Literal["save"] = "save"
    ref: str


class Merge(NodeBase):
    """Joins the current tensor with saved ones: channel concat or elementwise add."""

    kind: Literal["merge"] = "merge"
    mode: Literal["concat", "add"]
    refs: tuple[str, ...]
    ref_shapes: tuple[Shape, ...]  # shapes of the saved tensors, in refs order


# ---------------------------------------------------------------- what the inference passes produce
# Kinds of their own, in the union below: JSON round-trips an optimised IR and every walker sees
# their extra sub-nodes. Each subclasses the node it replaces (a backend builds a FoldedConv's
# module as a Conv's) and records what a backend must compute from the original weights.


class FoldedConv(Conv):
    """A conv that absorbed the batch norm right after it: w' = w*g/s, b' = (b-mean)*g/s + beta."""

    kind: Literal["folded_conv"] = "folded_conv"
    folded: BatchNorm  # the removed batch norm; its path names the statistics to fold in


class FoldedLinear(Linear):
    """A fully connected layer that absorbed the 1-d batch norm right after it."""

    kind: Literal["folded_linear"] = "folded_linear"
    folded: BatchNorm


class FusedConv(Conv):
    """Several 1x1 convs on the same input stacked into one: weights concatenated on out-channels."""

    kind: Literal["fused_conv"] = "fused_conv"
    # the original convs, in output-channel order
    parts: tuple[Annotated[Union[Conv, FoldedConv], Field(discriminator="kind")], ...]


class FusedConcat(Concat):
    """A concat whose branches that opened with a 1x1 conv now read slices of one shared stem."""

    kind: Literal["fused_concat"] = "fused_concat"
    stem: Seq  # the FusedConv, then the elementwise layers every fused branch applied after it
    splits: tuple[int, ...]  # channels of each slice of the stem's output
    parts: tuple[int | None, ...]  # per branch: the slice it reads, or None for the concat's input

    def sub_nodes(self):
        return (self.stem, *self.branches)  # the stem runs first

    def with_children(self, stem, *branches):
        return self.model_copy(update={"stem": stem, "branches": branches})


class BufferedDense(Dense):
    """A dense block written into one preallocated output instead of re-concatenating per layer."""

    kind: Literal["buffered_dense"] = "buffered_dense"


Node = Annotated[
    Union[
        Conv, Linear, Pool, AdaptivePool, BatchNorm, LRN, Activation, Dropout, Flatten,
        Upsample, ChannelPad, Seq, Concat, Residual, Dense, Gate, Side, Save, Merge,
        FoldedConv, FoldedLinear, FusedConv, FusedConcat, BufferedDense,
    ],
    Field(discriminator="kind"),
]

LAYER_KINDS = frozenset(
    {"conv", "linear", "pool", "adaptive_pool", "batchnorm", "lrn", "activation", "dropout",
     "flatten", "upsample", "channel_pad", "save", "merge", "folded_conv", "folded_linear", "fused_conv"}
)


# ---------------------------------------------------------------- the network


class Expect(Frozen):
    """An `expect` line: a figure that lint checks against the analysis."""

    what: Literal["params", "macs", "output"]
    value: str  # as written: "138357544", "15.47G", "1000", "512x7x7"
    span: Span | None = None


class Network(Frozen):
    name: str
    source: str | None = None  # file the spec was read from
    params: dict[str, Union[int, float, bool, str]] = {}  # network parameters after overrides
    meta: dict[str, str] = {}  # `meta key "value"` lines: title, paper, description
    input_shape: Shape
    constraints: tuple[str, ...] = ()  # what a symbolic input must satisfy, e.g. "H must be a multiple of 32"
    body: Seq
    expects: tuple[Expect, ...] = ()
    lint_off: tuple[str, ...] = ()  # lint ids switched off in the spec
    spec_hash: str = ""  # sha256 of the canonical IR without spans: identifies the architecture

    @property
    def output_shape(self) -> Shape:
        return self.body.out_shape

    @property
    def side_outputs(self) -> tuple[str, ...]:
        return tuple(n.output for n in walk(self.body) if isinstance(n, Side))



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
