"""`drop_path(p)`: stochastic depth (Huang et al. 2016) on a residual branch, torchvision's
`StochasticDepth(p, "row")`: in training each sample's branch output is zeroed with probability p
and the survivors divided by 1-p; at inference it is the identity, so it costs nothing."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import ZERO
from ..ir import NodeBase
from .registry import Kind, Op, params, register_kind, register_op
from .text import number


class DropPath(NodeBase):
    kind: Literal["drop_path"] = "drop_path"
    p: float = 0.0


def drop_path(args):
    p = args.float("p", "the drop probability", low=0, high=1)
    return args.node(DropPath, args.shape, p=p), args.shape


register_op(Op("drop_path", drop_path, params(p=0.0), positional=("p",), aliases=("stochastic_depth",)))
register_kind(Kind(DropPath, lambda n: ZERO, lambda n: f"drop_path({n.p:g})", lambda n: f"drop_path({number(n.p)})",
                   alias=True))
