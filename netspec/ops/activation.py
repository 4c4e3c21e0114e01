"""Activations: one node kind (`activation`, its function in `fn`), one layer word per function."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import ZERO, Cost, mul, numel
from ..ir import NodeBase
from .registry import Kind, Op, params, register_kind, register_op
from .text import number

ActivationFn = Literal[
    "relu", "relu6", "leaky_relu", "prelu", "elu", "selu", "sigmoid", "tanh",
    "hardswish", "hardsigmoid", "silu", "gelu", "softmax", "identity",
]


class Activation(NodeBase):
    kind: Literal["activation"] = "activation"
    fn: ActivationFn
    alpha: float | None = None  # leaky_relu's negative slope, elu's alpha, prelu's initial slope
    num_parameters: int = 1  # prelu only: 1 shared slope, or one per channel


def activation(args):
    fn = args.op.name
    alpha = None
    num_parameters = 1
    if fn == "leaky_relu":
        alpha = args.float("slope", "the negative slope")
    elif fn == "elu":
        alpha = args.float("alpha", "alpha")
    elif fn == "prelu":
        alpha = 0.25  # torch's initial slope
        if args.bool("channels", "channels"):
            num_parameters = args.shape[0]
    return args.node(Activation, args.shape, fn=fn, alpha=alpha, num_parameters=num_parameters), args.shape


def cost(n) -> Cost:
    out = numel(n.out_shape)
    if n.fn == "identity":
        return ZERO
    if n.fn == "softmax":  # exp, sum, divide; allocates its result
        return Cost(ops=mul(out, 3), elements=out)
    params = n.num_parameters if n.fn == "prelu" else 0
    return Cost(params=params, ops=out)


def flat(n) -> str:
    if n.fn in ("leaky_relu", "elu"):
        return f"{n.fn}({number(n.alpha)})"
    if n.fn == "prelu":
        return "prelu(channels=true)" if n.num_parameters > 1 else "prelu"
    return n.fn


_WORDS = {"relu": (), "relu6": (), "selu": (), "sigmoid": (), "tanh": (), "hardswish": ("h_swish",),
          "hardsigmoid": (), "silu": ("swish",), "gelu": (), "softmax": ("soft-max",), "identity": ()}
for _name, _aliases in _WORDS.items():
    register_op(Op(_name, activation, aliases=_aliases))
register_op(Op("leaky_relu", activation, params(slope=0.01), positional=("slope",), aliases=("lrelu", "leakyrelu")))
register_op(Op("elu", activation, params(alpha=1.0), positional=("alpha",)))
register_op(Op("prelu", activation, params(channels=False)))
# in place where the backend can (its output is its input's storage), so not a fresh tensor
register_kind(Kind(Activation, cost, lambda n: n.fn if n.alpha is None else f"{n.fn}({n.alpha:g})", flat,
                   nonlinear=True))
