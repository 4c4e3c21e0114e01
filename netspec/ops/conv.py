"""Convolutions: `conv` (conv3-64, conv1x7-192/2) and `dwconv` (depthwise), and the conv kinds the
inference passes produce (a conv with its batch norm folded in, several 1x1 convs fused into one)."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field as Discriminated

from ..analysis.counts import Cost, mul, numel
from ..analysis.receptive import window
from ..diagnostics import error
from ..expr import Symbol
from ..ir import NodeBase, Pair
from ..shapes import same_padding
from .norm import BatchNorm
from .registry import Kind, Op, params, register_kind, register_op
from .text import flag, pair, stride


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


# What the inference passes produce: kinds of their own, so JSON round-trips an optimised IR. Each
# subclasses Conv (a backend builds its module as a Conv's) and records what a backend must compute
# from the original weights.


class FoldedConv(Conv):
    """A conv that absorbed the batch norm right after it: w' = w*g/s, b' = (b-mean)*g/s + beta."""

    kind: Literal["folded_conv"] = "folded_conv"
    folded: BatchNorm  # the removed batch norm; its path names the statistics to fold in


class FusedConv(Conv):
    """Several 1x1 convs on the same input stacked into one: weights concatenated on out-channels."""

    kind: Literal["fused_conv"] = "fused_conv"
    # the original convs, in output-channel order
    parts: tuple[Annotated[Union[Conv, FoldedConv], Discriminated(discriminator="kind")], ...]


# ---------------------------------------------------------------- shape rule


def conv(args):
    args.feature_map()
    c_in, h, w = args.shape
    kernel = args.kernel
    if args.op.name == "dwconv":
        out_c, groups = c_in * args.int("multiplier", "the depth multiplier"), c_in
        if args.given("groups"):
            raise error("a depthwise conv has one group per channel; groups cannot be set", args.span("groups"),
                        code="arguments")
    else:
        out_c = args.dash_int("the number of filters")
        groups = args.int("groups", "groups")
    check_groups(args, c_in, out_c, groups)
    strides = args.pair("stride", "the stride")
    dilation = args.pair("dilation", "the dilation")
    padding = _padding(args, kernel, dilation)
    bias = bias_of(args)
    oh = args.window(h, kernel[0], strides[0], padding[0], padding[1], dilation[0], False, "this conv")
    ow = args.window(w, kernel[1], strides[1], padding[2], padding[3], dilation[1], False, "this conv")
    out = (out_c, oh, ow)
    return args.node(Conv, out, in_channels=c_in, out_channels=out_c, kernel=kernel, stride=strides,
                     padding=padding, dilation=dilation, groups=groups, bias=bias), out


def check_groups(args, c_in: int, out_c: int, groups: int) -> None:
    if c_in % groups or out_c % groups:
        raise error(f"groups={groups} must divide both the input channels ({c_in}) and the filters ({out_c})",
                    args.span("groups"), code="value")


def bias_of(args) -> bool:
    """`bias` as written, else on unless a batch norm follows (its shift does the same job)."""
    bias = args.get("bias")
    return args.bool("bias", "bias", value=not args.followed_by_bn if bias is None else bias)


def _padding(args, kernel, dilation) -> tuple[int, int, int, int]:
    value = args.get("pad")
    word = value.word if isinstance(value, Symbol) else None
    if word == "same":
        (t, b), (l, r) = same_padding(kernel[0], dilation[0]), same_padding(kernel[1], dilation[1])
        return (t, b, l, r)
    if word == "valid":
        return (0, 0, 0, 0)
    if word is not None:
        args.word("pad", "padding", ("same", "valid"))
    ph, pw = args.pair("pad", "the padding", minimum=0)
    return (ph, ph, pw, pw)


# ---------------------------------------------------------------- what the rest of netspec reads


def cost(n) -> Cost:
    kh, kw = n.kernel
    fan_in = n.in_channels // n.groups * kh * kw
    out = numel(n.out_shape)
    return Cost(params=n.out_channels * fan_in + (n.out_channels if n.bias else 0),
                macs=mul(out, fan_in), ops=out if n.bias else 0, elements=out)


def notation(n) -> str:
    if n.groups == n.in_channels and n.groups > 1:
        mult = n.out_channels // n.in_channels
        return f"dwconv{pair(n.kernel)}{stride(n.stride)}" + (f"(multiplier={mult})" if mult != 1 else "")
    extra = []
    if n.groups != 1:
        extra.append(f"groups={n.groups}")
    if n.dilation != (1, 1):
        extra.append(f"dilation={pair(n.dilation)}")
    return f"conv{pair(n.kernel)}-{n.out_channels}{stride(n.stride)}" + (f"({', '.join(extra)})" if extra else "")


def flat(n) -> str:
    t, b, l, r = n.padding
    kh, kw = n.kernel
    if (t, b, l, r) == (0, 0, 0, 0):
        pad = "valid"
    elif t == b and l == r:
        pad = pair((t, l))
    else:
        pad = "same"  # only 'same' on an even kernel pads asymmetrically
    return f"conv{kh}x{kw}-{n.out_channels}({', '.join(flat_args(n, [f'pad={pad}']))})"


def flat_args(n, padding: list[str]) -> list[str]:
    """A conv-like layer's keyword arguments written out in full (conv and deconv share them)."""
    args = [f"stride={pair(n.stride)}", *padding]
    if n.dilation != (1, 1):
        args.append(f"dilation={pair(n.dilation)}")
    if n.groups != 1:
        args.append(f"groups={n.groups}")
    return args + [f"bias={flag(n.bias)}"]


def field(n, f, spatial):
    return window(f, n.kernel, n.stride, n.dilation)


_CONV = dict(stride=1, pad=Symbol("same", None), dilation=1, groups=1, bias=None, after=None, kernel=None)
register_op(Op("conv", conv, params(**_CONV), kernel_in_name=True, dash="filters", example="conv3-64",
               weighted=True))
register_op(Op("dwconv", conv, params(**_CONV, multiplier=1), kernel_in_name=True, weighted=True))
_RULES = dict(cost=cost, field=field, window=True, weighted=True, fresh=True)
register_kind(Kind(Conv, notation=notation, flat=flat, **_RULES))
register_kind(Kind(FoldedConv, notation=lambda n: notation(n) + "+bn", **_RULES))
register_kind(Kind(FusedConv, notation=lambda n: f"{notation(n)} (fused {len(n.parts)})", **_RULES))
