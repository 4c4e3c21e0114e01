"""Layer normalisation (`layernorm`): over the channels of each pixel on a feature map (ConvNeXt's
LayerNorm2d), over the features of a vector. eps defaults to 1e-6, torchvision's ConvNeXt value."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import Cost, mul, numel
from ..ir import NodeBase
from .registry import Kind, Op, params, register_kind, register_op
from .text import number


class LayerNorm(NodeBase):
    kind: Literal["layernorm"] = "layernorm"
    num_features: int  # the normalised axis: channels of a feature map, features of a vector
    eps: float = 1e-6


def layernorm(args):
    shape = args.shape
    return args.node(LayerNorm, shape, num_features=shape[0], eps=args.float("eps", "eps", low=0)), shape


def cost(n) -> Cost:
    # per element: subtract the mean, square for the variance, divide, scale, shift (the two
    # reductions are counted with the subtraction and the square)
    out = numel(n.out_shape)
    return Cost(params=2 * n.num_features, ops=mul(out, 5), elements=out)


register_op(Op("layernorm", layernorm, params(eps=1e-6), aliases=("ln",)))
# nonlinear, as LRN: dividing by each pixel's own standard deviation is no affine map (a batch norm
# at inference is one), so two convs with a layer norm between are not one linear layer
register_kind(Kind(LayerNorm, cost, lambda n: "layernorm", lambda n: f"layernorm(eps={number(n.eps)})",
                   fresh=True, weighted=True, nonlinear=True))
