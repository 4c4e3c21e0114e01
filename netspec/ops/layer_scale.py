"""`layer_scale(init)`: a learned per-channel multiplier (CaiT, ConvNeXt), every factor starting at `init`."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import Cost, numel
from ..ir import NodeBase
from .registry import Kind, Op, params, register_kind, register_op
from .text import number


class LayerScale(NodeBase):
    kind: Literal["layer_scale"] = "layer_scale"
    channels: int
    init: float = 1e-6


def layer_scale(args):
    shape = args.shape
    return args.node(LayerScale, shape, channels=shape[0], init=args.float("init", "the initial scale")), shape


def cost(n) -> Cost:
    out = numel(n.out_shape)
    return Cost(params=n.channels, ops=out, elements=out)  # one multiply per element, into a new tensor


register_op(Op("layer_scale", layer_scale, params(init=1e-6), positional=("init",)))
register_kind(Kind(LayerScale, cost, lambda n: f"layer_scale({n.init:g})",
                   lambda n: f"layer_scale({number(n.init)})", fresh=True, weighted=True))
