"""From the lowered graph to kernels and a static memory plan (no torch, no triton: plain data).

Three decisions, in this order:

1. Fusion (`group`): each kernel is one producing step plus what its epilogue absorbs: the
   activation after it, a residual add (the operand computed earlier is read in the epilogue), the
   activation after the add; a 1x1 convolution also takes the batch norm + activation before it as a
   prologue. A step is absorbed only when the value it reads has no other reader; otherwise the
   kernel records why fusion stopped there.
2. Placement (`place`): every value gets a location (slot, channel offset, row stride). Concats are
   placed first, outermost first, so each operand's producer writes straight into its channel slice
   and no concat kernel runs; a dense block's buffer holds every layer's output; slices, flattens and
   dropouts are views of their input.
3. Allocation (`allocate`): slots live from their first write to their last read (in kernel order);
   a greedy first-fit by size packs them into one arena, reusing memory whose last reader has run.

Sizes are per sample: the arena for batch N is N times as large, every offset N times as far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from netspec import ir
from netspec.backends import BackendError
from netspec.lower import Graph, Step, Value, aliases_input, lower

EPILOGUE_FNS = frozenset({"relu", "relu6", "leaky_relu", "elu", "selu", "sigmoid", "tanh", "hardswish",
                          "hardsigmoid", "silu", "gelu", "identity"})
ALIGN = 16  # elements: every slot starts 64-byte aligned in float32


@dataclass
class Epilogue:
    bias: bool = False
    act: str = "identity"
    alpha: float | None = None
    residual: int | None = None  # value added after `act`
    post_act: str = "identity"
    post_alpha: float | None = None
    steps: list[Step] = field(default_factory=list)  # the absorbed steps, in order

    def describe(self) -> str:
        parts = ["bias"] if self.bias else []
        if self.act != "identity":
            parts.append(self.act)
        if self.residual is not None:
            parts.append("+ residual")
            if self.post_act != "identity":
                parts.append(self.post_act)
        return ", ".join(parts) or "-"


@dataclass
class Kernel:
    index: int
    template: str  # a file in templates/ less ".py.j2"
    step: Step  # the producing step
    inputs: list[int]  # values read: the main input first
    output: int  # the value it produces (after the epilogue)
    epilogue: Epilogue = field(default_factory=Epilogue)
    prologue: list[Step] = field(default_factory=list)  # batch norm (+ activation) applied while loading
    splits: list[tuple[int, int, int]] = field(default_factory=list)  # (value, lo, hi): a fused 1x1's branches
    stops: list[str] = field(default_factory=list)  # where fusion stopped, and why
    flatten_from: tuple | None = None  # a linear reading a flattened (C, H, W) map: weights go to HWC order

    @property
    def node(self) -> ir.NodeBase:
        return self.step.node

    @property
    def steps(self) -> list[Step]:
        return [*self.prologue, self.step, *self.epilogue.steps]

    @property
    def outputs(self) -> list[tuple[int, int, int]]:
        """(value, lo, hi): the channel ranges of the result and the values they are."""
        if self.splits:
            return self.splits
        return [(self.output, 0, channels(self.node.out_shape))]


@dataclass(frozen=True)
class Location:
    slot: int  # the root value whose memory this is
    offset: int  # channel offset inside a row of the slot
    row_stride: int  # channels per pixel of the slot


@dataclass
class Slot:
    value: int
    size: int  # elements per sample
    first: int  # kernel index of the first write (-1: the network input)
    last: int  # kernel index of the last read
    offset: int = 0  # elements per sample from the arena's start


@dataclass
class Plan:
    network: ir.Network
    graph: Graph
    kernels: list[Kernel]
    locations: dict[int, Location]
    slots: dict[int, Slot]
    arena: int  # elements per sample
    input: int
    output: int
    notes: list[str]  # plan-wide decisions worth reporting (copies that could not be avoided)

    def location(self, value: int) -> Location:
        return self.locations[value]

    def pixels(self, value: int) -> int:
        """Rows per sample: H*W for a feature map, 1 for a vector."""
        shape = self.graph.shape(value)
        return shape[1] * shape[2] if len(shape) == 3 else 1


def channels(shape: tuple) -> int:
    return shape[0] if len(shape) == 3 else int(math.prod(shape))


def is_pointwise_conv(node: ir.NodeBase) -> bool:
    return (isinstance(node, ir.Conv) and node.kernel == (1, 1) and node.stride == (1, 1)
            and node.padding == (0, 0, 0, 0) and node.groups == 1)


def is_depthwise(node: ir.NodeBase) -> bool:
    return isinstance(node, ir.Conv) and node.groups > 1 and node.groups == node.in_channels == node.out_channels


def conv_template(node: ir.NodeBase) -> str:
    if isinstance(node, ir.Linear) or is_pointwise_conv(node):
        return "gemm"
    return "depthwise" if is_depthwise(node) else "conv"


# layers that have no kernel yet: refused up front, by name, before any planning
UNSUPPORTED = ("layernorm", "layer_scale", "deconv", "shuffle", "channel_slice", "crop", "scale", "zeropad")


def check_supported(network: ir.Network) -> None:
    """A BackendError naming the first layer whose kind the Triton backend has no kernel for."""
    for node in ir.layers(network.body):
        if node.kind in UNSUPPORTED:
            raise BackendError(f"{node.path}: the triton backend does not support `{node.kind}` yet "
                               "(use the torch backend)")


LEAF_TEMPLATES = {"pool": "pool", "adaptive_pool": "adaptive_pool", "lrn": "lrn", "upsample": "upsample",
                  "channel_pad": "channel_pad", "batchnorm": "pointwise"}


class _Grouping:
    def __init__(self, graph: Graph, steps: list[Step]):
        self.graph = graph
        self.steps = steps
        self.readers = graph.readers(steps)
        self.producer = {s.output: i for i, s in enumerate(steps)}
        self.done: set[int] = set()
        self.kernels: list[Kernel] = []
        self.alias: dict[int, int] = {}  # value -> the value it is a view of (same memory)
        self.views: dict[int, tuple[int, int]] = {}  # value -> (value, channel offset): a slice
        self.flattened: dict[int, tuple] = {}  # value -> the (C, H, W) shape it is a flattened view of

    def only_reader(self, value: int) -> Step | None:
        readers = self.readers.get(value, [])
        if len(readers) != 1 or value == self.graph.output:
            return None
        i = readers[0]
        return None if i in self.done else self.steps[i]

    def take(self, step: Step) -> None:
        self.done.add(self.steps.index(step))

    def run(self) -> list[Kernel]:
        for i, step in enumerate(self.steps):
            if i in self.done:
                continue
            self.done.add(i)
            self.step(step)
        return self.kernels

    def kernel(self, template: str, step: Step, inputs: list[int]) -> Kernel:
        k = Kernel(len(self.kernels), template, step, inputs, step.output)
        self.kernels.append(k)
        return k

    def step(self, step: Step) -> None:  # noqa: C901 - one case per step op
        node, op = step.node, step.op
        if op in ("concat", "buffer"):
            return  # placement: the operands are written into their slices
        if op == "slice":
            self.views[step.output] = (step.inputs[0], step.channels[0])
            return
        if op == "copy":
            self.kernel("pointwise", step, list(step.inputs))
            return
        if op in ("add", "mul"):
            if len(step.inputs) != 2:
                raise NotImplementedError(f"{node.path}: a sum of {len(step.inputs)} tensors (the Triton backend "
                                          "adds two at a time)")
            k = self.kernel("pointwise", step, list(step.inputs))
            self.absorb_activation(k, post=False)
            if op == "mul":  # a gate: the residual add after it (SE-ResNet) comes along
                self.absorb_residual(k)
            return
        if aliases_input(node):
            self.alias[step.output] = step.inputs[0]
            if isinstance(node, ir.Flatten) and len(node.in_shape) == 3 and node.in_shape[1:] != (1, 1):
                self.flattened[step.output] = tuple(node.in_shape)
            return
        if isinstance(node, (ir.Conv, ir.Linear)):
            self.producer_kernel(step)
            return
        if isinstance(node, ir.BatchNorm) and self.prologue(step):
            return
        if isinstance(node, ir.Activation):
            template = "softmax" if node.fn == "softmax" else "pointwise"
            self.kernel(template, step, list(step.inputs))
            return
        template = LEAF_TEMPLATES.get(node.kind)
        if template is None:
            raise NotImplementedError(f"{node.path}: no Triton kernel for a {node.kind} layer")
        k = self.kernel(template, step, list(step.inputs))
        if template == "pointwise":  # a batch norm that follows no conv: its activation comes along
            self.absorb_activation(k, post=False)
        elif node.kind == "pool":
            k.stops.append("pooling runs on its own: a pooling window spans neighbouring rows of the "
                           "producer's output, which other programs of the GEMM tile compute")

    def source(self, value: int) -> int:
        while value in self.alias:
            value = self.alias[value]
        return value

    def producer_kernel(self, step: Step) -> None:
        node = step.node
        k = self.kernel(conv_template(node), step, list(step.inputs))
        k.epilogue.bias = bool(node.bias)
        flat = self.flattened.get(step.inputs[0])
        if isinstance(node, ir.Linear) and flat is not None:
            k.flatten_from = flat
        self.absorb_activation(k, post=False)
        self.absorb_residual(k)
        if isinstance(node, ir.FusedConv):
            self.split(k)

    def absorb_activation(self, k: Kernel, post: bool) -> None:
        nxt = self.only_reader(k.output)
        if nxt is None:
            return
        if not (nxt.op == "layer" and isinstance(nxt.node, ir.Activation)):
            return
        if nxt.node.fn not in EPILOGUE_FNS:
            k.stops.append(f"{nxt.node.fn} runs on its own: it needs more than one element "
                           f"({'a reduction over channels' if nxt.node.fn == 'softmax' else 'a learned slope'})")
            return
        self.take(nxt)
        if post:
            k.epilogue.post_act, k.epilogue.post_alpha = nxt.node.fn, nxt.node.alpha
        else:
            k.epilogue.act, k.epilogue.alpha = nxt.node.fn, nxt.node.alpha
        k.epilogue.steps.append(nxt)
        k.output = nxt.output

    def absorb_residual(self, k: Kernel) -> None:
        nxt = self.only_reader(k.output)
        if nxt is None or nxt.op != "add" or len(nxt.inputs) != 2:
            if nxt is not None and nxt.op == "mul":
                k.stops.append("the gate multiply runs on its own: its scale comes from a global pool of "
                               "this kernel's whole output")
            return
        other = nxt.inputs[1] if nxt.inputs[0] == k.output else nxt.inputs[0]
        made = self.producer.get(self.source(other))
        if made is not None and made >= self.steps.index(k.step):
            k.stops.append("the residual add runs later: its other operand is computed after this kernel")
            return
        if k.splits:
            return
        self.take(nxt)
        k.epilogue.residual = other
        k.inputs.append(other)
        k.epilogue.steps.append(nxt)
        k.output = nxt.output
        self.absorb_activation(k, post=True)

    def split(self, k: Kernel) -> None:
        """A fused 1x1 stem whose output is only read as branch slices: the epilogue writes each slice."""
        readers = [self.steps[i] for i in self.readers.get(k.output, [])]
        if not readers or any(r.op != "slice" for r in readers) or k.output == self.graph.output:
            return
        k.splits = [(r.output, r.channels[0], r.channels[1]) for r in readers]
        for r in readers:
            self.take(r)

    def prologue(self, step: Step) -> bool:
        """BN (+ activation) feeding only a 1x1 conv: applied to the conv's input tiles as they load."""
        chain = [step]
        nxt = self.only_reader(step.output)
        if nxt is not None and nxt.op == "layer" and isinstance(nxt.node, ir.Activation) \
                and nxt.node.fn in EPILOGUE_FNS and nxt.into is None:
            chain.append(nxt)
            nxt = self.only_reader(nxt.output)
        if nxt is None or nxt.op != "layer" or not is_pointwise_conv(nxt.node) or step.into is not None:
            return False
        for s in chain[1:] + [nxt]:
            self.take(s)
        k = self.kernel("gemm", nxt, [step.inputs[0]])
        k.prologue = chain
        k.epilogue.bias = bool(nxt.node.bias)
        self.absorb_activation(k, post=False)
        self.absorb_residual(k)
        return True


def group(graph: Graph) -> tuple[list[Kernel], _Grouping]:
    grouping = _Grouping(graph, graph.inference_steps())
    return grouping.run(), grouping


def place(graph: Graph, kernels: list[Kernel], g: _Grouping) -> tuple[dict[int, Location], list[str]]:
    """Where every value lives (see the module docstring)."""
    steps = g.steps
    written = {v for k in kernels for v, _, _ in k.outputs}
    parent: dict[int, tuple[int, int]] = {}  # value -> (container value, channel offset)
    notes: list[str] = []
    for step in steps:
        if step.op in ("buffer", "concat"):
            written.add(step.output)  # a dense block's buffer or an inner concat may itself sit in a concat
        if step.into is not None:
            parent[step.output] = step.into
    for step in reversed(steps):  # outer concats first: an inner concat's slot may be a slice of an outer one
        if step.op != "concat":
            continue
        offset = 0
        for v in step.inputs:
            if v in written and v not in parent and v != step.output:
                parent[v] = (step.output, offset)
            else:
                notes.append(f"{step.node.path}: an operand is copied into the concat (it is "
                             f"{'the network input or a view' if v not in written else 'in another concat too'})")
            offset += channels(graph.shape(v))
    locations: dict[int, Location] = {}

    def resolve(v: int) -> Location:
        if v in locations:
            return locations[v]
        if v in g.alias:
            loc = resolve(g.alias[v])
        elif v in g.views:
            base, off = g.views[v]
            b = resolve(base)
            loc = Location(b.slot, b.offset + off, b.row_stride)
        elif v in parent:
            container, off = parent[v]
            b = resolve(container)
            loc = Location(b.slot, b.offset + off, b.row_stride)
        else:
            loc = Location(v, 0, channels(graph.shape(v)))
        locations[v] = loc
        return loc

    for value in graph.values:
        resolve(value.id)
    return locations, notes


def insert_copies(graph: Graph, kernels: list[Kernel], g: _Grouping,
                  locations: dict[int, Location]) -> list[Kernel]:
    """A concat operand that could not be written in place gets a copy kernel right before its concat."""
    out: list[Kernel] = []
    position = {s.output: i for i, s in enumerate(g.steps)}
    pending: dict[int, list[Kernel]] = {}
    for step in g.steps:
        if step.op != "concat":
            continue
        offset = 0
        for v in step.inputs:
            loc, target = locations[v], locations[step.output]
            if (loc.slot, loc.offset) != (target.slot, target.offset + offset):
                copy_value = len(graph.values)
                graph.values.append(Value(copy_value, graph.shape(v)))
                locations[copy_value] = Location(target.slot, target.offset + offset, target.row_stride)
                k = Kernel(-1, "pointwise", Step("copy", step.node, (v,), copy_value), [v], copy_value)
                pending.setdefault(position[step.output], []).append(k)
            offset += channels(graph.shape(v))
    step_of_kernel = {id(k): g.steps.index(k.step) for k in kernels}
    queue = sorted(pending.items())
    for k in kernels:
        while queue and queue[0][0] < step_of_kernel[id(k)]:
            out.extend(queue.pop(0)[1])
        out.append(k)
    for _, ks in queue:
        out.extend(ks)
    for i, k in enumerate(out):
        k.index = i
    return out


def allocate(graph: Graph, kernels: list[Kernel], locations: dict[int, Location]) -> tuple[dict[int, Slot], int]:
    """Live ranges of the slots, then greedy first-fit by size (largest first)."""
    ranges: dict[int, list[int]] = {}

    def touch(v: int, i: int) -> None:
        r = ranges.setdefault(locations[v].slot, [i, i])
        r[0], r[1] = min(r[0], i), max(r[1], i)

    touch(graph.input, -1)
    for k in kernels:
        for v in k.inputs:
            touch(v, k.index)
        for v, _, _ in k.outputs:
            touch(v, k.index)
    touch(graph.output, len(kernels))
    slots = {}
    for root, (first, last) in ranges.items():
        shape = graph.shape(root)
        size = -(-int(math.prod(shape)) // ALIGN) * ALIGN
        slots[root] = Slot(root, size, first, last)
    placed: list[Slot] = []
    for s in sorted(slots.values(), key=lambda s: (-s.size, s.first)):
        busy = sorted((p.offset, p.offset + p.size) for p in placed if p.first <= s.last and s.first <= p.last)
        offset = 0
        for start, stop in busy:
            if offset + s.size <= start:
                break
            offset = max(offset, stop)
        s.offset = offset
        placed.append(s)
    arena = max((s.offset + s.size for s in slots.values()), default=0)
    return slots, arena


def make_plan(network: ir.Network) -> Plan:
    """Kernels, locations and the arena for an (optimised) network."""
    check_supported(network)
    graph = lower(network)
    kernels, g = group(graph)
    locations, notes = place(graph, kernels, g)
    kernels = insert_copies(graph, kernels, g, locations)
    slots, arena = allocate(graph, kernels, locations)
    return Plan(network, graph, kernels, locations, slots, arena, graph.input, graph.output, notes)
