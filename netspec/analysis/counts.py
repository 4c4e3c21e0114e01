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
from typing import TYPE_CHECKING

# the op files import this module for Cost: the registry module imports nothing of netspec, so this
# import is safe from any order (ir.py -> ops/ -> ops/conv.py -> here -> ops/registry.py)
from ..ops.registry import kind

if TYPE_CHECKING:
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


def leaf_cost(node: NodeBase) -> Cost:
    """What a leaf layer costs: the rule its op file registered (netspec/ops/)."""
    return kind(node.kind).cost(node)


def join_cost(node: NodeBase) -> Cost:
    """What a combinator itself adds on top of its branches: the add, the multiply, the concat copy."""
    out = numel(node.out_shape)
    kind = node.kind
    if kind in ("residual", "gate"):
        return Cost(ops=out, elements=out)
    if kind in ("concat", "fused_concat"):
        return Cost(elements=out)
    return ZERO
