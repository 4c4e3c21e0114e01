"""Named tensors for skips that do not nest (U-Net): `@name` saves the current tensor, `add(@a)` and
`concat(@a, @b)` merge saved ones in. Their syntax is the elaborator's (elaborate/composites.py);
their kinds are registered here like every other layer's."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import ZERO, Cost, mul, numel
from ..ir import NodeBase, Shape
from .registry import Kind, register_kind


class Save(NodeBase):
    """Names the current tensor so a later Merge can refer to it (U-Net skips)."""

    kind: Literal["save"] = "save"
    ref: str


class Merge(NodeBase):
    """Joins the current tensor with saved ones: channel concat or elementwise add."""

    kind: Literal["merge"] = "merge"
    mode: Literal["concat", "add"]
    refs: tuple[str, ...]
    ref_shapes: tuple[Shape, ...]  # shapes of the saved tensors, in refs order


def merge_cost(n) -> Cost:
    out = numel(n.out_shape)
    return Cost(ops=mul(out, len(n.refs)) if n.mode == "add" else 0, elements=out)


def _merge_text(n, sep: str) -> str:
    return f"{n.mode}({sep.join('@' + r for r in n.refs)})"


register_kind(Kind(Save, lambda n: ZERO, lambda n: f"@{n.ref}", lambda n: f"@{n.ref}"))
register_kind(Kind(Merge, merge_cost, lambda n: _merge_text(n, " "), lambda n: _merge_text(n, ", "), fresh=True,
                   nonlinear=True))
