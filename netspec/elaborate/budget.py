"""What one elaboration may spend (netspec.limits): layers, repeat counts, nesting, sizes, parameters
and activation memory, each checked before the work it bounds.

A repeat of N is refused before it unrolls when a lower bound of its size (counted on the syntax,
literal counts only) or its first pass, times N, would pass `max_layers`; so
`[[[conv3-8]x1000]x1000]x1000` is refused in microseconds, not after a billion layers.
"""

from __future__ import annotations

from .. import syntax
from ..analysis.counts import leaf_cost
from ..diagnostics import Span
from ..limits import Limits, current
from ..shapes import shape_text


class Budget:
    """The running totals of one elaboration against the limits in force when it started."""

    def __init__(self, limits: Limits | None = None):
        self.limits = limits or current()
        self.layers = 0
        self.depth = 0
        self.params = 0
        self.elements = 0
        self._bounds: dict[int, int] = {}  # id of a body's items -> lower_bound (the syntax does not change)

    def bound(self, items, blocks) -> int:
        """lower_bound of a body, capped just past max_layers, computed once per body."""
        key = id(items)
        if key not in self._bounds:
            self._bounds[key] = lower_bound(items, blocks, self.limits.max_layers + 1)
        return self._bounds[key]

    # ------------------------------------------------------------ nesting

    def enter(self, where: Span) -> None:
        """One level deeper (a group, a repeat's body, a block call); undone by `leave`."""
        self.depth += 1
        if self.depth > self.limits.max_depth:
            raise self.limits.refuse("max_depth", f"the network nests more than {self.limits.max_depth} levels "
                                                  "deep (through its blocks)", where)

    def leave(self) -> None:
        self.depth -= 1

    # ------------------------------------------------------------ counts

    def count(self, n: int, where: Span, what: str) -> None:
        """A repeat or dense count, before anything is unrolled."""
        if n > self.limits.max_repeat:
            raise self.limits.refuse("max_repeat", f"{what} {n:,} is more than a spec may repeat", where)

    def will_add(self, n: int, where: Span) -> None:
        """Refuse before adding `n` more layers if they would pass max_layers."""
        if self.layers + n > self.limits.max_layers:
            raise self.limits.refuse(
                "max_layers", f"the network expands to more than {self.limits.max_layers:,} layers", where)

    def repeat(self, times: int, lower_bound: int, where: Span) -> None:
        """Before unrolling a repeat whose body has at least `lower_bound` layers."""
        self.count(times, where, "a repeat count of")
        self.will_add(times * lower_bound, where)

    # ------------------------------------------------------------ what one layer adds

    def add(self, nodes, where: Span) -> None:
        """Leaf nodes just built: their count, shapes, parameters and activations."""
        self.will_add(len(nodes), where)
        self.layers += len(nodes)
        for node in nodes:
            self.shape(node.out_shape, where)
            cost = leaf_cost(node)
            self.params += cost.params
            self.elements += cost.elements or 0
        if self.params > self.limits.max_params:
            raise self.limits.refuse("max_params", f"the network has more than {self.limits.max_params:,} "
                                                   f"parameters ({self.params:,} up to here)", where)
        if self.elements * 4 > self.limits.max_activation_bytes:
            raise self.limits.refuse("max_activation_bytes", f"one sample's activations take more than "
                                     f"{self.limits.max_activation_bytes:,} bytes up to here", where)

    def shape(self, shape, where: Span) -> None:
        """A feature map's channels and sides, a vector's features, within the limits."""
        limits = self.limits
        channels = shape[0] if shape else 0
        if isinstance(channels, int) and channels > limits.max_channels:
            raise limits.refuse("max_channels", f"{shape_text(shape)} has more than {limits.max_channels:,} "
                                                f"{'channels' if len(shape) == 3 else 'features'}", where)
        if any(isinstance(d, int) and d > limits.max_spatial for d in shape[1:]):
            raise limits.refuse("max_spatial", f"{shape_text(shape)} is more than {limits.max_spatial:,} "
                                               "pixels high or wide", where)


def lower_bound(items, blocks, cap: int, depth: int = 64, memo: dict | None = None) -> int:
    """At least how many layers a body expands to, counting only what the syntax says for sure
    (literal repeat counts; a computed count as 1), stopping at `cap`. Blocks are followed
    `depth` levels down (deeper, or in a cycle, they count 0: the elaborator reports those)."""
    memo = {} if memo is None else memo
    total = 0
    for item in items:
        total += _element_bound(item, blocks, cap, depth, memo)
        if total >= cap:
            return cap
    return total


def _element_bound(item, blocks, cap: int, depth: int, memo: dict) -> int:
    if depth <= 0:
        return 0
    if isinstance(item, syntax.Labelled):
        item = item.element
    if isinstance(item, syntax.Layer):
        info = blocks.get(item.op)
        if info is None:
            return 1
        if item.op not in memo:
            memo[item.op] = 0  # while it is being counted: a block that uses itself adds nothing
            memo[item.op] = lower_bound(info.definition.body.items, blocks, cap, depth - 1, memo)
        return memo[item.op]
    if isinstance(item, syntax.Repeat):
        times = item.times.value if isinstance(item.times, syntax.Num) and isinstance(item.times.value, int) else 1
        return min(cap, times * lower_bound(item.body.items, blocks, cap, depth - 1, memo))
    bodies = _bodies(item)
    if isinstance(item, syntax.DenseBlock) and item.args and isinstance(item.args[0].value, syntax.Num):
        times = item.args[0].value.value
        bodies = bodies * (times if isinstance(times, int) and times <= cap else 1)
    return min(cap, sum(lower_bound(b.items, blocks, cap, depth - 1, memo) for b in bodies))


def _bodies(item) -> list:
    if isinstance(item, (syntax.Group, syntax.GateBlock, syntax.SideBlock)):
        return [item.body]
    if isinstance(item, syntax.ConcatBlock):
        return list(item.branches)
    if isinstance(item, syntax.ResidualBlock):
        return [item.body] + ([item.shortcut] if item.shortcut is not None else [])
    if isinstance(item, syntax.DenseBlock):
        return list(item.bodies)
    return []
