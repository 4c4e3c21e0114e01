"""Fully connected layers: `fc` (fc-4096, `linear`), and the kind fold_bn makes of one with its batch norm."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import Cost
from ..analysis.receptive import whole
from ..diagnostics import error
from ..ir import NodeBase
from ..shapes import shape_text
from .misc import Flatten
from .norm import BatchNorm
from .registry import Kind, Op, params, register_kind, register_op
from .text import flag


class Linear(NodeBase):
    kind: Literal["linear"] = "linear"
    in_features: int
    out_features: int
    bias: bool = True


class FoldedLinear(Linear):
    """A fully connected layer that absorbed the 1-d batch norm right after it."""

    kind: Literal["folded_linear"] = "folded_linear"
    folded: BatchNorm


def fc(args):
    features = args.dash_int("the number of features")
    shape = args.shape
    nodes = []
    if len(shape) == 3:  # the seeds' fc on a feature map: flatten it first
        if not all(isinstance(d, int) for d in shape):
            raise error(f"a fully connected layer needs a fixed input size, but the feature map is "
                        f"{shape_text(shape)}", args.where, code="shape",
                        help="pool to a fixed size first (gap or adaptive_avgpool-7x7), or give the input "
                             "size with --input")
        flat = shape[0] * shape[1] * shape[2]
        nodes.append(args.node(Flatten, (flat,)))
        shape = (flat,)
    out = (features,)
    nodes.append(args.node(Linear, out, in_shape=shape, in_features=shape[0], out_features=features,
                           bias=args.bool("bias", "bias")))
    return nodes, out


def cost(n) -> Cost:
    return Cost(params=n.in_features * n.out_features + (n.out_features if n.bias else 0),
                macs=n.in_features * n.out_features, ops=n.out_features if n.bias else 0,
                elements=n.out_features)


def field(n, f, spatial):
    return whole(f, spatial)


register_op(Op("fc", fc, params(bias=True, after=None), aliases=("linear",), dash="features", example="fc-4096",
               weighted=True))
_RULES = dict(cost=cost, field=field, weighted=True, fresh=True)
register_kind(Kind(Linear, notation=lambda n: f"fc-{n.out_features}",
                   flat=lambda n: f"fc-{n.out_features}(bias={flag(n.bias)})", **_RULES))
register_kind(Kind(FoldedLinear, notation=lambda n: f"fc-{n.out_features}+bn", **_RULES))
