"""Receptive field and effective stride, one layer at a time (the arithmetic of Araujo et al., Distill 2019).

For a unit at a layer's output, `size` is how many input pixels (per axis) can influence it and
`jump` is how far apart, in input pixels, two neighbouring units sit (the effective stride).
A layer with kernel k, dilation d and stride s maps (size, jump) to
(size + d*(k-1)*jump, jump*s). Where paths join (residual, concat, dense, add) the
receptive field is the largest over the paths. Sizes are not clipped to the input: padding
lets a unit's window reach past the border, and the figure is comparable across input sizes.

A size of None means "the whole input": global pooling or a flatten over a map whose
size is still symbolic. Squeeze-excitation gates and side outputs do not widen the
field: a gate rescales channels with global context but moves no spatial information.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from typing import TYPE_CHECKING

from ..ops.registry import kind  # imports nothing of netspec: safe although op files import this module

if TYPE_CHECKING:
    from ..ir import NodeBase

Size = int | Fraction | None
Jump = int | Fraction


@dataclass(frozen=True, slots=True)
class Field:
    size: tuple[Size, Size]
    jump: tuple[Jump, Jump]


INPUT = Field((1, 1), (1, 1))


def widest(fields) -> Field:
    """The receptive field where paths join: the largest over them, per axis."""
    fields = list(fields)
    size = tuple(None if any(f.size[a] is None for f in fields) else max(f.size[a] for f in fields)
                 for a in (0, 1))
    jump = tuple(max(f.jump[a] for f in fields) for a in (0, 1))
    return Field(size, jump)


def window(f: Field, kernel, stride, dilation=(1, 1)) -> Field:
    """A layer of sliding windows with this kernel, stride and dilation."""
    size = tuple(None if f.size[a] is None else f.size[a] + dilation[a] * (kernel[a] - 1) * f.jump[a]
                 for a in (0, 1))
    return Field(size, (f.jump[0] * stride[0], f.jump[1] * stride[1]))


def whole(f: Field, spatial) -> Field:
    """A layer that sees the whole map (flatten into fc, global pooling)."""
    size = tuple(None if f.size[a] is None or type(spatial[a]) is not int
                 else f.size[a] + (spatial[a] - 1) * f.jump[a] for a in (0, 1))
    return Field(size, f.jump)


def is_window(node: NodeBase) -> bool:
    """A layer of sliding windows (conv, pool): its units see a window of their input, not all of it."""
    return kind(node.kind).window


def step(node: NodeBase, f: Field) -> Field:
    """The field at a leaf layer's output given the field at its input: the op file's rule."""
    if len(node.in_shape) != 3:  # a vector: every unit already sees everything it ever will
        return f
    rule = kind(node.kind).field
    return f if rule is None else rule(node, f, node.in_shape[1:])


def fmt(value) -> str:
    if value is None:
        return "all"
    return str(value) if isinstance(value, int) or value.denominator == 1 else f"{float(value):.3g}"


def to_json(value):
    if value is None or isinstance(value, int):
        return value
    return int(value) if value.denominator == 1 else float(value)
