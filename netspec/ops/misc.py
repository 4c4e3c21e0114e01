"""Layers that move or reshape data without weights: `dropout`, `flatten`, `upsample`, and the
zero channels of ResNet's option-A shortcut (`channel_pad`, made by the front end, no syntax)."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from ..analysis.counts import ZERO, Cost, mul, numel
from ..analysis.receptive import Field, whole
from ..diagnostics import error
from ..ir import NodeBase
from ..shapes import scale, shape_text
from .registry import Kind, Op, params, register_kind, register_op
from .text import number


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


def dropout(args):
    p = args.float("p", "the dropout probability", low=0, high=1)
    return args.node(Dropout, args.shape, p=p), args.shape


def flatten(args):
    shape = args.shape
    if len(shape) == 3 and not all(isinstance(d, int) for d in shape):
        raise error(f"flatten needs a fixed input size, but the feature map is {shape_text(shape)}", args.where,
                    code="shape", help="give the input size with --input")
    flat = shape[0] * shape[1] * shape[2] if len(shape) == 3 else shape[0]
    return args.node(Flatten, (flat,)), (flat,)


def upsample(args):
    args.feature_map()
    shape = args.shape
    factor = args.int("scale", "the upsampling scale")
    mode = args.word("mode", "mode", ("nearest", "bilinear"))
    try:
        out = (shape[0], scale(shape[1], factor), scale(shape[2], factor))
    except ValueError as exc:
        raise error(str(exc), args.where, code="shape") from None
    return args.node(Upsample, out, scale=factor, mode=mode), out


def upsample_cost(n) -> Cost:
    out = numel(n.out_shape)
    return Cost(ops=mul(out, 4) if n.mode == "bilinear" else 0, elements=out)


def upsample_field(n, f, spatial) -> Field:
    return Field(f.size, (Fraction(f.jump[0], n.scale), Fraction(f.jump[1], n.scale)))


register_op(Op("dropout", dropout, params(p=0.5), positional=("p",)))
register_op(Op("flatten", flatten))
register_op(Op("upsample", upsample, params(scale=2, mode="nearest"), positional=("scale",)))
register_kind(Kind(Dropout, lambda n: ZERO, lambda n: f"dropout({n.p:g})", lambda n: f"dropout({number(n.p)})",
                   alias=True))
register_kind(Kind(Flatten, lambda n: ZERO, lambda n: "flatten", lambda n: "flatten",
                   field=lambda n, f, spatial: whole(f, spatial), alias=True))
register_kind(Kind(Upsample, upsample_cost, lambda n: f"upsample({n.scale})",
                   lambda n: f"upsample({n.scale}, mode={n.mode})", field=upsample_field, fresh=True,
                   nonlinear=True))
register_kind(Kind(ChannelPad, lambda n: Cost(elements=numel(n.out_shape)),
                   lambda n: f"channel_pad(+{n.before + n.after})", fresh=True))
