"""`deconv`: the transposed convolution (U-Net's up-convolution, `deconv2-512/2`).

Along one axis an input of n gives (n-1)*s - pad_before - pad_after + d*(k-1) + output_pad + 1, as
torch's ConvTranspose2d. Weights are laid out as torch's: (in, out/groups, kh, kw), so a
torchvision-style ConvTranspose2d imports as it is. Every input element is multiplied into a
(out/groups) x kh x kw window of the output: that is its MAC count (fvcore's rule)."""

from __future__ import annotations

from fractions import Fraction
from typing import Literal

from ..analysis.counts import Cost, mul, numel
from ..analysis.receptive import Field
from ..diagnostics import error
from ..ir import NodeBase, Pair
from ..shapes import Sym, shape_text
from .conv import bias_of, check_groups, flat_args
from .registry import Kind, Op, params, register_kind, register_op
from .text import pair, stride


class Deconv(NodeBase):
    kind: Literal["deconv"] = "deconv"
    in_channels: int
    out_channels: int
    kernel: Pair
    stride: Pair = (1, 1)
    padding: Pair = (0, 0)  # removed from both sides of the output, as torch's `padding`
    output_padding: Pair = (0, 0)  # added to one side of the output
    dilation: Pair = (1, 1)
    groups: int = 1
    bias: bool = True


def out_size(n, k: int, s: int, p: int, op: int, d: int):
    """The output size along one axis; a symbolic size stays symbolic (H/32 -> H/16 at stride 2)."""
    extra = d * (k - 1) + op + 1 - s - 2 * p  # out = n*s + extra
    if isinstance(n, Sym):
        if n.den % s:
            raise ValueError(f"cannot scale the symbolic size {n} by {s}")
        return Sym(n.name, n.den // s, n.off * s + extra)
    return n * s + extra


def deconv(args):
    args.feature_map()
    c_in, h, w = args.shape
    kernel = args.kernel
    out_c = args.dash_int("the number of filters")
    groups = args.int("groups", "groups")
    check_groups(args, c_in, out_c, groups)
    strides = args.pair("stride", "the stride")
    dilation = args.pair("dilation", "the dilation")
    padding = args.pair("pad", "the padding", minimum=0)
    output_padding = args.pair("output_pad", "the output padding", minimum=0)
    for axis in (0, 1):  # torch's rule: the extra rows must fall inside one stride (or dilation) step
        if output_padding[axis] >= max(strides[axis], dilation[axis]):
            raise error(f"the output padding ({output_padding[axis]}) must be smaller than the stride or the "
                        f"dilation ({max(strides[axis], dilation[axis])})", args.span("output_pad"), code="value")
    try:
        oh, ow = (out_size(n, kernel[a], strides[a], padding[a], output_padding[a], dilation[a])
                  for a, n in ((0, h), (1, w)))
    except ValueError as exc:
        raise error(str(exc), args.where, code="shape") from None
    if any(isinstance(n, int) and n <= 0 for n in (oh, ow)):
        raise error(f"this deconv would produce an empty output from {shape_text(args.shape)}: "
                    "its padding removes more than the kernel adds", args.span("pad"), code="shape")
    out = (out_c, oh, ow)
    return args.node(Deconv, out, in_channels=c_in, out_channels=out_c, kernel=kernel, stride=strides,
                     padding=padding, output_padding=output_padding, dilation=dilation, groups=groups,
                     bias=bias_of(args)), out


def cost(n) -> Cost:
    kh, kw = n.kernel
    per_input = n.out_channels // n.groups * kh * kw
    out = numel(n.out_shape)
    return Cost(params=n.in_channels * per_input + (n.out_channels if n.bias else 0),
                macs=mul(numel(n.in_shape), per_input), ops=out if n.bias else 0, elements=out)


def notation(n) -> str:
    extra = [f"groups={n.groups}"] if n.groups != 1 else []
    return f"deconv{pair(n.kernel)}-{n.out_channels}{stride(n.stride)}" + (f"({', '.join(extra)})" if extra else "")


def flat(n) -> str:
    args = flat_args(n, [f"pad={pair(n.padding)}", f"output_pad={pair(n.output_padding)}"])
    return f"deconv{n.kernel[0]}x{n.kernel[1]}-{n.out_channels}({', '.join(args)})"


def field(n, f: Field, spatial) -> Field:
    # an output unit is written by the inputs whose (dilated) kernel footprint covers it: at most
    # ceil(d*(k-1)+1 / s) neighbouring inputs per axis; the output grid is s times finer
    size, jump = [], []
    for a in (0, 1):
        span = n.dilation[a] * (n.kernel[a] - 1) + 1
        inputs = -(-span // n.stride[a])
        size.append(None if f.size[a] is None else f.size[a] + (inputs - 1) * f.jump[a])
        jump.append(Fraction(f.jump[a], n.stride[a]))
    return Field(tuple(size), tuple(jump))


register_op(Op("deconv", deconv, params(stride=1, pad=0, output_pad=0, dilation=1, groups=1, bias=None, after=None,
                                        kernel=None),
               kernel_in_name=True, dash="filters", example="deconv2-64/2", weighted=True,
               aliases=("upconv", "conv_transpose")))
register_kind(Kind(Deconv, cost, notation, flat, field=field, window=True, weighted=True, fresh=True))
