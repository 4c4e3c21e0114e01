"""`zeropad(left, right, top, bottom)`: zero rows and columns around a feature map; a negative
amount takes rows or columns off that side instead (torch's ZeroPad2d, in its order). `zeropad(1)`
pads every side by one. NASNet's factorized reduction shifts the map by one pixel this way,
`zeropad(-1, 1, -1, 1)`, before sampling every second pixel, so its second path reads the pixels
the first path skips."""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

from ..analysis.counts import Cost, numel
from ..diagnostics import error
from ..ir import NodeBase
from ..shapes import Sym, shape_text
from .registry import Kind, Op, params, register_kind, register_op

_SIDES = ("left", "right", "top", "bottom")


class ZeroPad(NodeBase):
    kind: Literal["zeropad"] = "zeropad"
    left: int  # columns added on the left (negative: taken off)
    right: int
    top: int  # rows added on top (negative: taken off)
    bottom: int


def _grow(n, by: int):
    return replace(n, off=n.off + by) if isinstance(n, Sym) else n + by


def zeropad(args):
    args.feature_map()
    c, h, w = args.shape
    left = args.int("left", "the padding on the left", minimum=-(2 ** 31))
    # one number pads every side; otherwise the sides not written are 0
    rest = {s: (args.int(s, f"the padding on the {s}", minimum=-(2 ** 31)) if args.given(s)
                else (left if not any(args.given(x) for x in _SIDES[1:]) else 0)) for s in _SIDES[1:]}
    out = (c, _grow(h, rest["top"] + rest["bottom"]), _grow(w, left + rest["right"]))
    if any(isinstance(d, int) and d <= 0 for d in out[1:]):
        raise error(f"zeropad({left}, {rest['right']}, {rest['top']}, {rest['bottom']}) would leave nothing of a "
                    f"{shape_text(args.shape)} feature map", args.where, code="shape")
    return args.node(ZeroPad, out, left=left, **rest), out


def _text(n) -> str:
    sides = (n.left, n.right, n.top, n.bottom)
    return f"zeropad({n.left})" if len(set(sides)) == 1 else f"zeropad({', '.join(map(str, sides))})"


register_op(Op("zeropad", zeropad, params(left=0, right=0, top=0, bottom=0), positional=_SIDES))
# a new tensor: the input copied into a frame of zeros (or a part of it)
register_kind(Kind(ZeroPad, lambda n: Cost(elements=numel(n.out_shape)), _text, _text, fresh=True))
