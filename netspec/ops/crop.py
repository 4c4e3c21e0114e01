"""`crop(border)`: the centre of a feature map, `border` rows and columns taken off each side (U-Net's
"copy and crop": 568x568 -> `crop(88)` -> 392x392); `crop(top, left)` for unequal borders. A view."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import ZERO
from ..diagnostics import error
from ..ir import NodeBase
from ..shapes import shape_text
from .registry import Kind, Op, params, register_kind, register_op


class Crop(NodeBase):
    kind: Literal["crop"] = "crop"
    top: int  # rows taken off the top and the bottom each
    left: int  # columns taken off the left and the right each


def crop(args):
    args.feature_map()
    c, h, w = args.shape
    top = args.int("border", "the border", minimum=0)
    left = args.int("left", "the left border", minimum=0) if args.given("left") else top
    if not all(isinstance(d, int) for d in (h, w)):
        raise error(f"crop needs a fixed input size, but the feature map is {shape_text(args.shape)}", args.where,
                    code="shape", help="give the input size with --input")
    if 2 * top >= h or 2 * left >= w:
        raise error(f"crop({top}, {left}) would leave nothing of a {shape_text(args.shape)} feature map",
                    args.where, code="shape")
    out = (c, h - 2 * top, w - 2 * left)
    return args.node(Crop, out, top=top, left=left), out


def _text(n) -> str:
    return f"crop({n.top})" if n.top == n.left else f"crop({n.top}, {n.left})"


register_op(Op("crop", crop, params(border=0, left=0), positional=("border", "left")))
register_kind(Kind(Crop, lambda n: ZERO, _text, _text))
