"""Pooling: windows (`maxpool`, `avgpool`, maxpool3/2) and adaptive ones (`gap`, `gmp`,
`adaptive_avgpool-7x7`, `adaptive_maxpool-1`)."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import Cost, mul, numel
from ..analysis.receptive import whole, window
from ..diagnostics import error
from ..expr import Symbol
from ..ir import NodeBase, Pair
from .registry import Kind, Op, params, register_kind, register_op
from .text import flag, pair, stride


class Pool(NodeBase):
    kind: Literal["pool"] = "pool"
    mode: Literal["max", "avg"]
    kernel: Pair
    stride: Pair
    padding: Pair = (0, 0)  # symmetric, as torch's pooling layers take it
    ceil_mode: bool = False
    count_include_pad: bool = True  # avg only: torch's default


class AdaptivePool(NodeBase):
    kind: Literal["adaptive_pool"] = "adaptive_pool"
    mode: Literal["max", "avg"]
    output_size: Pair  # (1, 1) is global pooling


# ---------------------------------------------------------------- shape rules


def pool(args):
    args.feature_map()
    kernel = args.kernel
    strides = args.pair("stride", "the stride", default=kernel)
    pad_value = args.get("pad")
    if isinstance(pad_value, Symbol) and pad_value.word == "same":
        if kernel[0] % 2 == 0 or kernel[1] % 2 == 0:
            raise error("pad=same needs an odd pooling window", args.span("pad"), code="value")
        pad = (kernel[0] // 2, kernel[1] // 2)
    else:
        pad = args.pair("pad", "the padding", minimum=0)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise error(f"pooling padding {pad[0]}x{pad[1]} is more than half the {kernel[0]}x{kernel[1]} window",
                    args.span("pad"), code="value", help="a pooling window may be padded by at most half its size")
    ceil = args.bool("ceil", "ceil")
    c, h, w = args.shape
    oh = args.window(h, kernel[0], strides[0], pad[0], pad[0], 1, ceil, "this pooling layer")
    ow = args.window(w, kernel[1], strides[1], pad[1], pad[1], 1, ceil, "this pooling layer")
    out = (c, oh, ow)
    mode = "max" if args.op.name == "maxpool" else "avg"
    include = args.bool("count_include_pad", "count_include_pad") if "count_include_pad" in args.op.params else True
    return args.node(Pool, out, mode=mode, kernel=kernel, stride=strides, padding=pad, ceil_mode=ceil,
                     count_include_pad=include), out


def adaptive(args):
    args.feature_map()
    name = args.op.name
    size = (1, 1) if name in ("gap", "gmp") else args.dash_pair("the output size")
    mode = "max" if name in ("gmp", "adaptive_maxpool") else "avg"
    out = (args.shape[0],) + size
    return args.node(AdaptivePool, out, mode=mode, output_size=size), out


# ---------------------------------------------------------------- what the rest of netspec reads


def pool_cost(n) -> Cost:
    out = numel(n.out_shape)
    return Cost(ops=mul(out, n.kernel[0] * n.kernel[1]), elements=out)


def adaptive_cost(n) -> Cost:
    # every input element is read once into exactly one bin (exact when the bins tile the input)
    return Cost(ops=numel(n.in_shape), elements=numel(n.out_shape))


def pool_flat(n) -> str:
    args = [f"pad={pair(n.padding)}", f"ceil={flag(n.ceil_mode)}"]
    if n.mode == "avg" and not n.count_include_pad:
        args.append("count_include_pad=false")
    return f"{n.mode}pool{n.kernel[0]}x{n.kernel[1]}/{pair(n.stride)}({', '.join(args)})"


def adaptive_notation(n) -> str:
    if n.output_size == (1, 1):
        return "gap" if n.mode == "avg" else "global_maxpool"
    return f"adaptive_{n.mode}pool-{pair(n.output_size)}"


def adaptive_field(n, f, spatial):
    if any(type(d) is not int for d in spatial) or n.output_size == (1, 1):
        return whole(f, spatial)
    # torch's bins start at floor(i*n/o) and end at ceil((i+1)*n/o): the widest bin is
    # ceil(n/o), one more when the bins overlap (o does not divide n)
    size, o = spatial, n.output_size
    strides = tuple(max(size[a] // o[a], 1) for a in (0, 1))
    kernel = tuple(-(-size[a] // o[a]) + (size[a] % o[a] != 0) for a in (0, 1))
    return window(f, kernel, strides)


_WINDOW = dict(stride=None, pad=0, ceil=False, kernel=None)
register_op(Op("maxpool", pool, params(**_WINDOW), aliases=("pool",), kernel_in_name=True, kernel=(2, 2)))
register_op(Op("avgpool", pool, params(**_WINDOW, count_include_pad=True), kernel_in_name=True, kernel=(2, 2)))
register_op(Op("gap", adaptive, aliases=("global_avgpool",)))
register_op(Op("gmp", adaptive, aliases=("global_maxpool",)))
register_op(Op("adaptive_avgpool", adaptive, dash="output size", example="adaptive_avgpool-7x7"))
register_op(Op("adaptive_maxpool", adaptive, dash="output size", example="adaptive_maxpool-1"))
register_kind(Kind(Pool, pool_cost, lambda n: f"{n.mode}pool{pair(n.kernel)}{stride(n.stride)}", pool_flat,
                   field=lambda n, f, spatial: window(f, n.kernel, n.stride), window=True, fresh=True,
                   nonlinear=True))
register_kind(Kind(AdaptivePool, adaptive_cost, adaptive_notation,
                   lambda n: f"adaptive_{n.mode}pool-{pair(n.output_size)}", field=adaptive_field, fresh=True,
                   nonlinear=True))
