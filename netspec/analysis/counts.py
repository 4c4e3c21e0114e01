"""What one layer costs: parameters, buffers, multiply-accumulates, other operations, new activations.

All figures are for one sample. A spatial size that is still symbolic ("H/32") makes the
figures that depend on it None; parameters never depend on spatial sizes.

Conventions (documented in docs/ANALYSIS.md):
- MACs count the multiply-accumulates of conv and fully-connected layers only (torchvision's
  published GFLOPS: resnet50 at 224x224 is 4.09 G). A bias add is not a MAC.
- `ops` counts everything else: bias adds, batch-norm scale and shift (2 per element, as it
  runs at inference), activations, pooling window reads, residual adds, gate multiplies.
- `elements` counts the new tensor a layer allocates. Flatten is a view, dropout is the identity
  at inference, and elementwise activations run in place (torchvision's ReLU(inplace=True)),
  so they allocate nothing: this is the accounting of the CS231n VGG-16 memory table.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod

from ..ir import NodeBase


@dataclass(frozen=True, slots=True)
class Cost:
    params: int = 0  # trainable parameters (torch's module.parameters())
    buffers: int = 0  # non-trainable state saved with the model: batch-norm running mean and variance
    macs: int | None = 0
    ops: int | None = 0
    elements: int | None = 0  # activation elements newly allocated

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.params + other.params, self.buffers + other.buffers,
                    add(self.macs, other.macs), add(self.ops, other.ops),
                    add(self.elements, other.elements))


ZERO = Cost()


def numel(shape) -> int | None:
    """Number of elements of a shape, or None while a dimension is symbolic."""
    return prod(shape) if all(type(d) is int for d in shape) else None


def add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def mul(a: int | None, b: int) -> int | None:
    return None if a is None else a * b


def _conv(n) -> Cost:
    kh, kw = n.kernel
    fan_in = n.in_channels // n.groups * kh * kw
    out = numel(n.out_shape)
    return Cost(params=n.out_channels * fan_in + (n.out_channels if n.bias else 0),
                macs=mul(out, fan_in), ops=out if n.bias else 0, elements=out)


def _linear(n) -> Cost:
    return Cost(params=n.in_features * n.out_features + (n.out_features if n.bias else 0),
                macs=n.in_features * n.out_features, ops=n.out_features if n.bias else 0,
                elements=n.out_features)


def _pool(n) -> Cost:
    out = numel(n.out_shape)
    return Cost(ops=mul(out, n.kernel[0] * n.kernel[1]), elements=out)


def _adaptive_pool(n) -> Cost:
    # every input element is read once into exactly one bin (exact when the bins tile the input)
    return Cost(ops=numel(n.in_shape), elements=numel(n.out_shape))


def _batchnorm(n) -> Cost:
    # num_batches_tracked (an int64 step counter torch keeps in the state_dict) is not counted:
    # it is not model state in Keras' sense and does not grow with the model
    out = numel(n.out_shape)
    return Cost(params=2 * n.num_features, buffers=2 * n.num_features, ops=mul(out, 2), elements=out)


def _lrn(n) -> Cost:
    out = numel(n.out_shape)
    # a sum of `size` squares, then scale, power and divide per element
    return Cost(ops=mul(out, n.size + 3), elements=out)


def _activation(n) -> Cost:
    out = numel(n.out_shape)
    if n.fn == "identity":
        return ZERO
    if n.fn == "softmax":  # exp, sum, divide; allocates its result
        return Cost(ops=mul(out, 3), elements=out)
    params = n.num_parameters if n.fn == "prelu" else 0
    return Cost(params=params, ops=out)


def _upsample(n) -> Cost:
    out = numel(n.out_shape)
    return Cost(ops=mul(out, 4) if n.mode == "bilinear" else 0, elements=out)


def _copy(n) -> Cost:
    return Cost(elements=numel(n.out_shape))


def _free(n) -> Cost:
    return ZERO


def _merge(n) -> Cost:
    out = numel(n.out_shape)
    return Cost(ops=mul(out, len(n.refs)) if n.mode == "add" else 0, elements=out)


LEAF_COST = {
    "conv": _conv,
    "linear": _linear,
    "pool": _pool,
    "adaptive_pool": _adaptive_pool,
    "batchnorm": _batchnorm,
    "lrn": _lrn,
    "activation": _activation,
    "dropout": _free,
    "flatten": _free,
    "upsample": _upsample,
    "channel_pad": _copy,
    "save": _free,
    "merge": _merge,
    # what the inference passes produce: the same arithmetic on their own fields
    "folded_conv": _conv,
    "fused_conv": _conv,
    "folded_linear": _linear,
}


def leaf_cost(node: NodeBase) -> Cost:
    return LEAF_COST[node.kind](node)


def join_cost(node: NodeBase) -> Cost:
    """What a combinator itself adds on top of its branches: the add, the multiply, the concat copy."""
    out = numel(node.out_shape)
    kind = node.kind
    if kind in ("residual", "gate"):
        return Cost(ops=out, elements=out)
    if kind in ("concat", "fused_concat"):
        return Cost(elements=out)
    return ZERO
