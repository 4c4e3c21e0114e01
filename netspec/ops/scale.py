"""`scale(factor)`: every element multiplied by a fixed number, not learned.

Inception-ResNet scales each residual branch down before it is added to the shortcut (Szegedy et al.
2017, Section 3.3: factors between 0.1 and 0.3 keep very wide residual networks from dying early in
training), which reads `residual { concat { ... } conv1-{in} scale(0.17) }`. Unlike `layer_scale`, the
factor is a constant: no parameter, nothing to import."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import Cost, numel
from ..diagnostics import error
from ..ir import NodeBase
from .registry import Kind, Op, params, register_kind, register_op
from .text import number


class Scale(NodeBase):
    kind: Literal["scale"] = "scale"
    factor: float


def scale(args):
    if not args.given("factor"):  # a default factor would be a silent no-op
        raise error("scale needs its factor, e.g. `scale(0.17)`", args.where, code="value")
    return args.node(Scale, args.shape, factor=args.float("factor", "the factor")), args.shape


def cost(n) -> Cost:
    out = numel(n.out_shape)
    return Cost(ops=out, elements=out)  # one multiply per element, into a new tensor


register_op(Op("scale", scale, params(factor=1.0), positional=("factor",)))
register_kind(Kind(Scale, cost, lambda n: f"scale({n.factor:g})", lambda n: f"scale({number(n.factor)})",
                   fresh=True))
