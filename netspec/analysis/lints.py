"""Design lints: advice from the seeds and the papers, as warnings with stable ids.

Each lint is a function from (network, analysis) to warnings, registered under an id that
`lint off ID` in a spec and `netspec lint --disable ID` switch off. tests/specs/lints/ holds,
for every id, a spec that triggers it (ID.bad.net) and one that does not (ID.ok.net).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from ..diagnostics import Diagnostic, Label
from ..ir import LAYER_KINDS, Network, NodeBase, children, walk
from ..ops.registry import kind
from .core import Analysis
from .notation import describe, shape_str


@dataclass(frozen=True)
class Lint:
    id: str
    summary: str
    check: Callable[[Network, Analysis], Iterable[Diagnostic]]


LINTS: dict[str, Lint] = {}


def lint(id: str, summary: str):
    def register(fn):
        LINTS[id] = Lint(id, summary, fn)
        return fn
    return register


def warn(code: str, message: str, node: NodeBase | None, help: str | None = None,
         labels: Iterable[Label] = (), notes: Iterable[str] = ()) -> Diagnostic:
    return Diagnostic(message, node.span if node is not None else None, level="warning", code=code,
                      help=help, labels=tuple(labels), notes=tuple(notes))


def run_lints(network: Network, analysis: Analysis, disable: Iterable[str] = ()) -> list[Diagnostic]:
    off = set(disable) | {item.id for item in network.lint_off}
    out = [Diagnostic(f"`lint off {item.id}`: no lint has this id", item.span, level="warning",
                      code="unknown-lint", help=_suggest(item.id)) for item in network.lint_off if item.id not in LINTS]
    seen = set()
    for item in LINTS.values():
        if item.id in off:
            continue
        for d in item.check(network, analysis):
            key = (d.code, d.span, d.message)  # a block called twice repeats its warnings: say it once
            if key not in seen:
                seen.add(key)
                out.append(d)
    return out


def _suggest(name: str) -> str:
    from ..diagnostics import did_you_mean

    return did_you_mean(name, LINTS) or f"known ids: {', '.join(LINTS)}"


# ---------------------------------------------------------------- helpers


def _chains(root: NodeBase) -> list[list[NodeBase]]:
    """Runs of leaf layers that feed each other directly, nested blocks flattened into their sequence.

    A join (residual, concat, ...) ends a run; each of its bodies starts runs of its own.
    """
    runs: list[list[NodeBase]] = []
    todo = [root]
    while todo:
        node = todo.pop()
        if node.kind != "seq":
            todo.extend(children(node))
            continue
        run: list[NodeBase] = []

        def flatten(seq):
            for child in seq.children:
                if child.kind == "seq":
                    flatten(child)
                elif child.kind in LAYER_KINDS:
                    run.append(child)
                else:
                    if run:
                        runs.append(run[:])
                        run.clear()
                    todo.extend(children(child))

        flatten(node)
        if run:
            runs.append(run)
    return runs


def _pairs(root: NodeBase) -> Iterator[tuple[NodeBase, NodeBase]]:
    for run in _chains(root):
        yield from zip(run, run[1:])


def _concrete(shape) -> bool:
    return all(type(d) is int for d in shape)


# ---------------------------------------------------------------- the lints


@lint("stride-tiling", "the windows of a strided layer leave the last rows or columns of its input unread")
def stride_tiling(network, analysis):
    for row in analysis.leaves():
        n = row.node
        if n.kind not in ("conv", "pool") or len(n.in_shape) != 3 or not _concrete(n.in_shape + n.out_shape):
            continue
        before = (n.padding[0], n.padding[2]) if n.kind == "conv" else n.padding
        dilation = n.dilation if n.kind == "conv" else (1, 1)
        for axis, word in ((0, "row"), (1, "column")):
            size, out, stride = n.in_shape[1 + axis], n.out_shape[1 + axis], n.stride[axis]
            reach = dilation[axis] * (n.kernel[axis] - 1) + 1
            if reach < stride:  # windows with gaps between them (a 1x1/2 conv) skip by design
                continue
            last = (out - 1) * stride + reach - 1 - before[axis]  # last input index any window reads
            dropped = size - 1 - last
            if dropped > 0:
                total = size + 2 * before[axis] - reach
                yield warn("stride-tiling",
                           f"`{row.op}` on a {shape_str(n.in_shape[1:])} input never reads the last {dropped} "
                           f"{word}{'s' if dropped > 1 else ''}: (n + 2p - k) = {total} is not a multiple of "
                           f"the stride {stride}", n,
                           help="pad the input, or choose a kernel, padding and stride with "
                                "(n + 2p - k) divisible by the stride")
                break


@lint("bias-before-bn", "a conv or fc with a bias directly followed by batch norm, which subtracts it again")
def bias_before_bn(network, analysis):
    for a, b in _pairs(network.body):
        if a.kind in ("conv", "linear") and a.bias and b.kind == "batchnorm":
            count = a.out_channels if a.kind == "conv" else a.out_features
            yield warn("bias-before-bn",
                       f"`{describe(a)}` has a bias that the batch norm right after it cancels "
                       f"({count:,} redundant parameters)", a,
                       labels=[Label(b.span, "this batch norm subtracts the mean again")] if b.span else [],
                       help="write `bias=false` (or leave `bias` out: netspec drops it before a bn by default)")


@lint("dropout-before-bn", "dropout feeding batch norm in the same block (variance shift)")
def dropout_before_bn(network, analysis):
    # the main path and each side output's body are separate flows: an auxiliary head's
    # dropout never reaches the main path's batch norms
    flows = [[r.node for r in analysis.leaves() if r.main]]
    flows += [[n for n in walk(r.node.body) if n.kind in LAYER_KINDS] for r in analysis.rows if r.kind == "side"]
    for flow in flows:
        pending = None
        for node in flow:
            if node.kind == "dropout":
                pending = node
            elif node.kind == "batchnorm" and pending is not None:
                yield warn("dropout-before-bn",
                           f"`{describe(pending)}` feeds a batch norm: at test time dropout stops scaling the "
                           f"activations and the statistics batch norm learned no longer fit (variance shift)",
                           pending, labels=[Label(node.span, "this batch norm")] if node.span else [],
                           notes=["Li et al., 'Understanding the Disharmony between Dropout and Batch "
                                  "Normalization by Variance Shift', CVPR 2019"],
                           help="move the dropout after the last batch norm (before the classifier), or drop it")
                pending = None


_EARLY = 8  # "early": before the effective stride reaches 8 (the stem and the first stage)
_SQUEEZE = 8  # a 1x1 conv that divides the channels by this much or more is an extreme squeeze


@lint("early-bottleneck", "an early layer shrinks the representation (Inception v3, principle 1)")
def early_bottleneck(network, analysis):
    # the encoder: the main path up to the first upsampling (a decoder grows the map back on purpose)
    main = [r for r in analysis.leaves() if r.main]
    cut = next((i for i, r in enumerate(main) if r.kind == "upsample"), len(main))
    encoder = main[:cut]
    # widest channel count reached at each effective stride
    widest: dict = {1: network.input_shape[0]}
    for row in encoder:
        if len(row.out_shape) == 3:
            j = row.field.jump[0]
            widest[j] = max(widest.get(j, 0), row.out_shape[0])
    # inside a residual body the identity path carries the full representation past a squeeze (ResNet)
    bypassed = {id(n) for r in analysis.rows if r.kind == "residual" for n in walk(r.node.body)}
    # the network's last conv or fc is its classifier (per-pixel in a segmentation net), not a squeeze
    head = next((r.node for r in reversed(main) if r.kind in ("conv", "linear")), None)
    bypassed.add(id(head))
    for row in encoder:
        n = row.node
        if n.kind not in ("conv", "pool") or len(n.in_shape) != 3:
            continue
        jump_out = row.field.jump[0]
        jump_in = jump_out / n.stride[0]
        if jump_in >= _EARLY:
            continue
        if n.stride[0] > 1 and widest.get(jump_out, 0) <= widest.get(jump_in, 0):
            yield warn("early-bottleneck",
                       f"`{row.op}` reduces {shape_str(n.in_shape)} to {shape_str(n.out_shape)}, and no layer at "
                       f"the new resolution has more than {widest.get(jump_out, 0)} channels (the stage before "
                       f"had {widest.get(jump_in, 0)}): the representation shrinks early", n,
                       notes=["Szegedy et al., Rethinking the Inception Architecture, principle 1: "
                              "avoid representational bottlenecks, especially early in the network"],
                       help="grow the channels where the resolution drops (e.g. double them when halving)")
        elif (n.kind == "conv" and n.kernel == (1, 1) and n.groups == 1 and id(n) not in bypassed
              and n.in_channels >= _SQUEEZE * n.out_channels):
            yield warn("early-bottleneck",
                       f"`{row.op}` squeezes {n.in_channels} channels to {n.out_channels} at "
                       f"{shape_str(n.in_shape[1:])}, early in the network", n,
                       notes=["Szegedy et al., Rethinking the Inception Architecture, principle 1"],
                       help=f"squeeze less (to at least {n.in_channels // _SQUEEZE + 1} channels), "
                            "or later, once the map is smaller")


_LARGE_FC_SHARE = 0.5
_LARGE_FC_MIN = 1_000_000


@lint("large-fc", "one fully connected layer holds most of the parameters (VGG's fc6)")
def large_fc(network, analysis):
    total = analysis.trainable_params
    for row in analysis.leaves():
        if row.kind == "linear" and row.params >= _LARGE_FC_MIN and row.params > _LARGE_FC_SHARE * total:
            n = row.node
            yield warn("large-fc",
                       f"`{row.op}` holds {row.params:,} of the network's {total:,} parameters "
                       f"({row.params / total:.0%})", n,
                       notes=[f"its input has {n.in_features:,} features"
                              + (f" ({shape_str(n.in_shape)})" if len(n.in_shape) == 3 else "")],
                       help="pool before the classifier (`gap`, as in NiN, GoogLeNet and ResNet), "
                            "or use a smaller fc")


@lint("receptive-field", "the units the head reads see less than the whole input")
def receptive_field(network, analysis):
    field = analysis.head_field
    if field is None or len(network.input_shape) != 3:
        return
    size_in = network.input_shape[1:]
    for axis in (0, 1):
        s, n = field.size[axis], size_in[axis]
        if s is not None and type(n) is int and s < n:
            head = next((r.node for r in analysis.rows if r.path == analysis.head_path and r.leaf), None)
            rf = "x".join(str(int(v)) for v in field.size)
            yield warn("receptive-field",
                       f"each unit the head reads sees only {rf} pixels of the {shape_str(size_in)} input",
                       head, help="add layers or downsampling before the head, or dilate the last convolutions")
            return


@lint("asymmetric-padding", "an even kernel with 'same' padding pads one side more than the other")
def asymmetric_padding(network, analysis):
    for row in analysis.leaves():
        n = row.node
        if n.kind == "conv" and (n.padding[0] != n.padding[1] or n.padding[2] != n.padding[3]):
            t, b, l, r = n.padding
            yield warn("asymmetric-padding",
                       f"`{row.op}` pads top/bottom {t}/{b} and left/right {l}/{r}: the output is shifted "
                       "by half a pixel against its input", n,
                       help="use an odd kernel for 'same' padding, or give `pad` explicitly")


@lint("double-activation", "the same activation twice in a row (often an `after=` default plus an explicit one)")
def double_activation(network, analysis):
    for a, b in _pairs(network.body):
        if a.kind == b.kind == "activation" and a.fn == b.fn and a.fn != "identity":
            yield warn("double-activation", f"`{describe(b)}` directly after `{describe(a)}` does nothing", b,
                       help="remove one: a `default ...(after=[...])` may already add it, "
                            "or write `after=none` on the layer")


@lint("head-activation", "the network's output passes through relu, so its logits cannot be negative")
def head_activation(network, analysis):
    if len(network.output_shape) != 1:
        return
    for row in reversed([r for r in analysis.leaves() if r.main]):
        if row.kind in ("dropout", "flatten") or (row.kind == "activation" and row.node.fn == "identity"):
            continue
        if row.kind == "activation" and row.node.fn in ("relu", "relu6"):
            yield warn("head-activation",
                       f"the network ends in `{row.op}`: its outputs can never be negative, which clips "
                       "a classifier's logits", row.node,
                       help="end with the fc (the loss applies softmax), or with `softmax` as the paper tables it")
        return


@lint("missing-activation", "two weighted layers with no nonlinearity between them collapse into one linear map")
def missing_activation(network, analysis):
    """Decided on the dataflow (netspec.lower): what feeds each conv or fc through layers that are linear
    (batch norm, dropout, flatten, identity), across block and group boundaries alike. A join (a residual
    add, a gate's multiply, a concat) or a nonlinearity ends the search."""
    from ..lower import lower

    graph = lower(network)
    producer = {step.output: step for step in graph.steps}
    for step in graph.steps:
        node = step.node
        if step.op != "layer" or node.kind not in ("conv", "linear"):
            continue
        source = _linear_source(step, producer)
        if source is not None and not _deliberately_linear(source, node):
            yield warn("missing-activation",
                       f"`{describe(source)}` feeds `{describe(node)}` with no activation or pooling "
                       "between them: together they are one linear layer", node,
                       help="add an activation (`after=[relu]`), or remove the layer")


def _linear_source(step, producer) -> NodeBase | None:
    """The conv or fc whose output reaches `step` through linear layers only, or None."""
    value = step.inputs[0]
    while True:
        before = producer.get(value)
        if before is None or before.op != "layer":  # the network's input, or a join
            return None
        node = before.node
        if node.kind in ("conv", "linear"):
            return node
        if kind(node.kind).nonlinear and not (node.kind == "activation" and node.fn == "identity"):
            return None
        value = before.inputs[0]


def _deliberately_linear(first: NodeBase, second: NodeBase) -> bool:
    """Linear pairs the papers build on purpose: a depthwise conv and its pointwise conv (a separable
    conv); a channel-narrowing projection (MobileNetV2's linear bottleneck); and a bottleneck that is
    expanded again (a projection that keeps the width, then an expansion: MobileNetV3, MNASNet and
    EfficientNet blocks whose expansion ratio is 1, followed by the next block's expansion); and a conv
    into a depthwise conv (the factorisation the other way round: ConvNeXt's 2x2/2 downsampling conv
    into its next block's 7x7 depthwise conv)."""
    if first.kind != "conv":
        return False
    if second.kind == "conv" and second.groups == second.in_channels > 1:
        return True
    depthwise = first.groups == first.in_channels > 1
    narrowing = first.out_channels < first.in_channels
    expanded_again = (second.kind == "conv" and first.out_channels <= first.in_channels
                      and second.out_channels > second.in_channels)
    return depthwise or narrowing or expanded_again