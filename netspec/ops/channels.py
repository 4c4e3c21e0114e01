"""`channels(start, stop)`: the channels [start, stop) of the input, a view (no copy).

It is what `split { a | b }` opens each branch with (ShuffleNet V2's channel split: each branch
reads its share of the channels, and the concat joins the branches' outputs), and it may be
written by hand: `concat { channels(0, 58) | channels(58, 116) conv1-58 ... }`."""

from __future__ import annotations

from typing import Literal

from ..analysis.counts import ZERO
from ..diagnostics import error
from ..ir import NodeBase
from .registry import Kind, Op, params, register_kind, register_op


class ChannelSlice(NodeBase):
    kind: Literal["channel_slice"] = "channel_slice"
    start: int
    stop: int


def channels(args):
    args.feature_map()
    c = args.shape[0]
    start = args.int("start", "the first channel", minimum=0)
    stop = args.int("stop", "the channel after the last", minimum=1)
    if not start < stop <= c:
        raise error(f"channels({start}, {stop}) must pick a non-empty range of the input's {c} channels",
                    args.where, code="value")
    out = (stop - start,) + tuple(args.shape[1:])
    return args.node(ChannelSlice, out, start=start, stop=stop), out


register_op(Op("channels", channels, params(start=0, stop=1), positional=("start", "stop")))
register_kind(Kind(ChannelSlice, lambda n: ZERO, lambda n: f"channels({n.start}, {n.stop})",
                   lambda n: f"channels({n.start}, {n.stop})"))
