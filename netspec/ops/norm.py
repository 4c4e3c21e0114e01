"""Normalisation layers: batch norm (`bn`) and local response normalisation (`lrn`, AlexNet)."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import Cost, mul, numel
from ..ir import NodeBase
from .registry import Kind, Op, params, register_kind, register_op
from .text import number


class BatchNorm(NodeBase):
    kind: Literal["batchnorm"] = "batchnorm"
    num_features: int
    eps: float = 1e-5
    momentum: float = 0.1


class LRN(NodeBase):
    """Local response normalisation across channels (AlexNet, VGG A-LRN)."""

    kind: Literal["lrn"] = "lrn"
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 2.0


def batchnorm(args):
    shape = args.shape
    return args.node(BatchNorm, shape, num_features=shape[0], eps=args.float("eps", "eps", low=0),
                     momentum=args.float("momentum", "momentum", low=0, high=1)), shape


def lrn(args):
    args.feature_map()
    return args.node(LRN, args.shape, size=args.int("size", "the LRN size"), alpha=args.float("alpha", "alpha"),
                     beta=args.float("beta", "beta"), k=args.float("k", "k")), args.shape


def batchnorm_cost(n) -> Cost:
    # num_batches_tracked (an int64 step counter torch keeps in the state_dict) is not counted:
    # it is not model state in Keras' sense and does not grow with the model
    out = numel(n.out_shape)
    return Cost(params=2 * n.num_features, buffers=2 * n.num_features, ops=mul(out, 2), elements=out)


def lrn_cost(n) -> Cost:
    out = numel(n.out_shape)
    # a sum of `size` squares, then scale, power and divide per element
    return Cost(ops=mul(out, n.size + 3), elements=out)


register_op(Op("bn", batchnorm, params(eps=1e-5, momentum=0.1), aliases=("batchnorm",)))
register_op(Op("lrn", lrn, params(size=5, alpha=1e-4, beta=0.75, k=2.0), positional=("size",)))
register_kind(Kind(BatchNorm, batchnorm_cost, lambda n: "bn", fresh=True, weighted=True,
                   flat=lambda n: f"bn(eps={number(n.eps)}, momentum={number(n.momentum)})"))
register_kind(Kind(LRN, lrn_cost, lambda n: f"lrn({n.size})", fresh=True, nonlinear=True,
                   flat=lambda n: f"lrn({n.size}, alpha={number(n.alpha)}, beta={number(n.beta)}, k={number(n.k)})"))
